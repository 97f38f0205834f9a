import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.jobs import start as start_job  # noqa: E402

from isoclr.isoforms import build_store, write_stats  # noqa: E402

start_job(snakemake.log[0], snakemake.rule)  # noqa: F821
p, out, inp = snakemake.params, snakemake.output, snakemake.input  # noqa: F821
filters = {"max_length": p.filters["max_length"], "chromosomes_include": p.filters["chromosomes_include"],
           "chromosomes_exclude": p.filters["chromosomes_exclude"], "biotypes": p.filters["biotypes"]}
if inp.get("transcripts"):  # transcript sequences in place of a genome (isoclr.transcriptome)
    from isoclr.transcriptome import build_store_from_transcripts, read_gene_map

    gene_map = read_gene_map(inp.gene_map, p.gene_map["gene_column"], p.gene_map["name_column"]) \
        if inp.get("gene_map") else None
    stats = build_store_from_transcripts(
        inp.transcripts, inp.annotation, snakemake.wildcards.species, out.store, fmt=p.fmt,  # noqa: F821
        gene_map=gene_map, provenance={k: v for k, v in p.provenance.items() if k != "genome_url"}, **filters)
else:
    stats = build_store(
        inp.genome, inp.annotation, snakemake.wildcards.species, out.store, fmt=p.fmt,  # noqa: F821
        aliases=p.aliases, provenance={k: v for k, v in p.provenance.items() if k != "transcripts_url"},
        strict=p.filters.get("strict", False), **filters)
write_stats(stats, out.stats)
