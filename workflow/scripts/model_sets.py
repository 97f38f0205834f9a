import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.splits.assign import write_model_sets  # noqa: E402

job_log(snakemake, "a model's own sets (its species, joined or kept apart) on the study's split")  # noqa: F821
sm = snakemake  # noqa: F821
write_model_sets(sm.input.sets, sm.input.genes, sm.params.species, sm.output.sets, sm.output.splits)
