import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

import logging  # noqa: E402

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.splits.assign import make_splits, write_tsv  # noqa: E402

job_log(snakemake, "split the transcript sets into train/validation/test by connected component")  # noqa: F821
s, out = snakemake.params.settings, snakemake.output  # noqa: F821  (isoclr.config.settings.SplitsSettings)
splits, genes, summary = make_splits(snakemake.input.sets, s["fractions"], s["seed"], s["weight"])  # noqa: F821
write_tsv(splits, out.splits)
write_tsv(genes, out.genes)
write_tsv(summary, out.summary)
logging.getLogger("isoclr.splits.assign").info("splits by %s:\n%s", s["weight"], summary.to_string(index=False))
