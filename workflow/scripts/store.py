import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.store.builder import run_stage  # noqa: E402

job_log(snakemake, "build the isoform store (HDF5, every mature transcript encoded) of one species")  # noqa: F821
sm = snakemake  # noqa: F821  (settings: isoclr.config.settings.StoreSettings)
run_stage(sm.params.settings, sm.output.store, sm.output.stats, genome=sm.input.get("genome"),
          transcripts=sm.input.get("transcripts"), annotation=sm.input.get("annotation"),
          gene_map=sm.input.get("gene_map"))
