import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.figures.draw import draw  # noqa: E402

job_log(snakemake, "draw one figure (PDF and PNG)")  # noqa: F821
inp, s = snakemake.input, dict(snakemake.params.settings)  # noqa: F821  (isoclr.config.settings.FigureSettings)
options = {k: v for k, v in s.items() if k != "name" and v is not None}
draw(s["name"], snakemake.output.pdf, inp.get("metrics"), embeddings=inp.get("embeddings"),  # noqa: F821
     task_file=inp.get("task_file"), pretrain_metrics=inp.get("pretrain_metrics"), **options)
