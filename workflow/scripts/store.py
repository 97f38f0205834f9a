import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.store.builder import build_store, write_stats  # noqa: E402

job_log(snakemake, "build the isoform store (HDF5, every mature transcript encoded) of one species")  # noqa: F821
s, out, inp = snakemake.params.settings, snakemake.output, snakemake.input  # noqa: F821  (StoreSettings)
filters = {k: s[k] for k in ("max_length", "chromosomes_include", "chromosomes_exclude", "biotypes")}
if inp.get("transcripts"):  # transcript sequences in place of a genome (isoclr.store.transcriptome)
    from isoclr.store.transcriptome import build_store_from_transcripts, read_gene_map

    gm = s["gene_map"] or {}
    gene_map = read_gene_map(inp.gene_map, gm.get("gene_column"), gm.get("name_column")) \
        if inp.get("gene_map") else None
    stats = build_store_from_transcripts(
        inp.transcripts, inp.annotation, s["species"], out.store, fmt=s["format"],
        gene_map=gene_map, provenance=s["provenance"], **filters)
else:
    stats = build_store(
        inp.genome, inp.annotation, s["species"], out.store, fmt=s["format"],
        aliases=s["aliases"], provenance=s["provenance"], strict=s["strict"], **filters)
write_stats(stats, out.stats)
