import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.evaluate.collect import collect_metrics  # noqa: E402

job_log(snakemake, "collect every evaluation job's metrics into one table")  # noqa: F821
collect_metrics(list(snakemake.input), snakemake.output.tsv, html=snakemake.output.html)  # noqa: F821
