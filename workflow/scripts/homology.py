import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.jobs import start as start_job  # noqa: E402

from isoclr.homology import Source, build_sets, write_sets  # noqa: E402

start_job(snakemake.log[0], snakemake.rule)  # noqa: F821
p = snakemake.params  # noqa: F821
stores = dict(zip(p.species, snakemake.input.stores))  # noqa: F821
sources = [Source(s["format"], s["path"], tuple(s["species"]), s["name"]) for s in p.sources]
sets = build_sets(stores, sources, taxids=p.taxids, join_symbols=p.join_symbols,
                  max_genes_per_symbol=p.max_genes_per_symbol)
write_sets(sets, snakemake.output.sets, snakemake.output.stats)  # noqa: F821
