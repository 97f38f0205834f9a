import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.splits.assign import run_stage  # noqa: E402

job_log(snakemake, "split the transcript sets into train/validation/test by connected component")  # noqa: F821
sm = snakemake  # noqa: F821  (settings: isoclr.config.settings.SplitsSettings)
run_stage(sm.params.settings, sm.input.sets, sm.output.splits, sm.output.genes, sm.output.summary,
          sm.input.get("orthologs"), sm.output.get("heldout"))
