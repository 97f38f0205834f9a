import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.tables.summary import write_tables  # noqa: E402

job_log(snakemake, "summarise the metrics over runs and set them beside the paper's values")  # noqa: F821
s = snakemake.params.settings  # noqa: F821  (isoclr.config.settings.TablesSettings)
write_tables(snakemake.input.metrics, Path(snakemake.output.summary).parent,  # noqa: F821
             s["models"], s["tasks"], s["study"], s["note"])
