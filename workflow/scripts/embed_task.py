import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.evaluate.jobs import embed_task  # noqa: E402

job_log(snakemake, "embed a task's transcripts with one frozen encoder")  # noqa: F821
sm = snakemake  # noqa: F821
s = dict(sm.params.settings)  # isoclr.config.settings.EmbedSettings
embed_task(sm.input.task, s.pop("encoder"), sm.output[0], checkpoint=sm.input.get("checkpoint"),
           threads=sm.threads, **s)
