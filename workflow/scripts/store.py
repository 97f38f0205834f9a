import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

import logging  # noqa: E402

from isoclr.isoforms import build_store, write_stats  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, force=True,  # noqa: F821
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
s, out = snakemake.params.settings, snakemake.output  # noqa: F821  (isoclr.settings.StoreSettings)
stats = build_store(
    snakemake.input.genome, snakemake.input.annotation, s["species"], out.store,  # noqa: F821
    fmt=s["format"], max_length=s["max_length"], chromosomes_include=s["chromosomes_include"],
    chromosomes_exclude=s["chromosomes_exclude"], biotypes=s["biotypes"],
    aliases=s["aliases"], provenance=s["provenance"],
)
write_stats(stats, out.stats)
