import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.jobs import start as start_job  # noqa: E402

from isoclr.figures import draw  # noqa: E402

start_job(snakemake.log[0], snakemake.rule)  # noqa: F821
inp, name, options = snakemake.input, snakemake.params.name, dict(snakemake.params.options)  # noqa: F821
if name == "fig_pretrain_curves":  # metrics.csv lies beside the final checkpoint (docs/interfaces.md)
    options["pretrain_metrics"] = str(Path(inp.checkpoint).parent / "metrics.csv")
draw(name, snakemake.output.pdf, inp.get("metrics"), embeddings=inp.get("embeddings"),  # noqa: F821
     task_file=inp.get("task_file"), **options)
