import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

import logging  # noqa: E402

from isoclr.evaluate import collect_metrics  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, force=True,  # noqa: F821
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
collect_metrics(list(snakemake.input), snakemake.output[0])  # noqa: F821
