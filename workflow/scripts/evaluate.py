import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.evaluate.jobs import run_job  # noqa: E402  (imports torch only for network models)

job_log(snakemake, "train and test one model on one task, training fraction and fold")  # noqa: F821
sm = snakemake  # noqa: F821
s = sm.params.settings  # isoclr.config.settings.EvaluationSettings
run_job(
    sm.input.task, s["model"], float(sm.wildcards.fraction), int(sm.wildcards.fold), sm.output[0],
    embeddings=sm.input.get("embeddings"), checkpoint=sm.input.get("checkpoint"), threads=sm.threads,
    **{k: s[k] for k in ("probe", "finetune", "saluki", "model_cfg", "seed", "device", "drop_tracks")
       if s.get(k) is not None},
)
