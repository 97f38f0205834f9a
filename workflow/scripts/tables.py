import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

import logging  # noqa: E402

from isoclr.tables import write_tables  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, force=True,  # noqa: F821
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
s = snakemake.params.settings  # noqa: F821  (isoclr.settings.TablesSettings)
write_tables(snakemake.input.metrics, Path(snakemake.output.summary).parent,  # noqa: F821
             s["models"], s["tasks"], s["study"], s["note"])
