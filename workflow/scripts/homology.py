import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.homology.merge import run_stage  # noqa: E402

job_log(snakemake, "merge isoform groups and homology tables into transcript sets")  # noqa: F821
sm = snakemake  # noqa: F821  (settings: isoclr.config.settings.HomologySettings)
run_stage(sm.params.settings, sm.input.stores, sm.input.sources, sm.input.get("entrez_ids", []),
          sm.output.sets, sm.output.stats, sm.output.get("orthologs"))
