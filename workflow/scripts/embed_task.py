import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.jobs import start as start_job  # noqa: E402

from isoclr.evaluate import embed_task  # noqa: E402

start_job(snakemake.log[0], snakemake.rule)  # noqa: F821
sm = snakemake  # noqa: F821
embed_task(sm.input.task, sm.wildcards.encoder, sm.output[0], checkpoint=sm.input.get("checkpoint"),
           threads=sm.threads, **sm.params.settings)
