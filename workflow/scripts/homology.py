import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.homology.merge import Source, build_sets, write_sets  # noqa: E402

job_log(snakemake, "merge isoform groups and homology tables into transcript sets")  # noqa: F821
s, inp = snakemake.params.settings, snakemake.input  # noqa: F821  (isoclr.config.settings.HomologySettings)
stores = dict(zip(s["species"], inp.stores))
sources = [Source(src["format"], path, tuple(src["species"]), src["name"]) for src, path in zip(s["sources"], inp.sources)]
sets = build_sets(stores, sources, taxids=s["taxids"], join_symbols=s["join_symbols"],
                  max_genes_per_symbol=s["max_genes_per_symbol"])
write_sets(sets, snakemake.output.sets, snakemake.output.stats)  # noqa: F821
