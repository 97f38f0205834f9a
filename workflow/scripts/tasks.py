import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.config.settings.tasks import TaskStageSettings  # noqa: E402
from isoclr.tasks.build import build_task  # noqa: E402

job_log(snakemake, "build one downstream task dataset with homology-aware folds")  # noqa: F821
inp, out, s = snakemake.input, snakemake.output, snakemake.params.settings  # noqa: F821  (TaskStageSettings)
spec = dict(s["spec"])
build_task(
    s["name"], spec.pop("kind"), out.task, report_tsv=out.report,
    store=inp.get("store"), annotation=inp.get("annotation"), genes_tsv=inp.get("genes"),
    labels=inp.get("labels"), obo=inp.get("obo"), gaf=inp.get("gaf"), gene_ids=inp.get("gene_ids"),
    task_store=out.get("store"), species=spec.pop("species"),
    **{k: v for k, v in spec.items() if k not in ("labels", "obo", "gaf", "gene_ids")},
    settings=TaskStageSettings.from_params(s),
)
