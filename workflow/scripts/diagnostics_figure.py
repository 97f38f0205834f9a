import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.figures.diagnostics import fig_diagnostics  # noqa: E402

job_log(snakemake, "draw the frozen-encoder diagnostics figure (PDF and PNG)")  # noqa: F821
fig_diagnostics(list(snakemake.input), snakemake.output.pdf, study=snakemake.params.study)  # noqa: F821
