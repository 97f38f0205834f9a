import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.jobs import start as start_job  # noqa: E402

from isoclr.evaluate import collect_metrics  # noqa: E402

start_job(snakemake.log[0], snakemake.rule)  # noqa: F821
collect_metrics(list(snakemake.input), snakemake.output[0])  # noqa: F821
