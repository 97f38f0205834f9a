import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.logs import job_log  # noqa: E402
from isoclr.isoforms import build_store, write_stats  # noqa: E402

job_log(snakemake, "build the isoform store (HDF5, every mature transcript encoded) of one species")  # noqa: F821
p, out = snakemake.params, snakemake.output  # noqa: F821
stats = build_store(
    snakemake.input.genome, snakemake.input.annotation, snakemake.wildcards.species,  # noqa: F821
    out.store, fmt=p.fmt, max_length=p.filters["max_length"],
    chromosomes_include=p.filters["chromosomes_include"],
    chromosomes_exclude=p.filters["chromosomes_exclude"], biotypes=p.filters["biotypes"],
    aliases=p.aliases, provenance=p.provenance,
)
write_stats(stats, out.stats)
