import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.jobs import start as start_job  # noqa: E402

from isoclr.evaluate import embed_task  # noqa: E402

start_job(snakemake.log[0], snakemake.rule)  # noqa: F821
sm = snakemake  # noqa: F821
s = dict(sm.params.settings)  # isoclr.settings.EmbedSettings
embed_task(sm.input.task, s.pop("encoder"), sm.output[0], checkpoint=sm.input.get("checkpoint"),
           threads=sm.threads, **s)
