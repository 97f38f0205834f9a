# Stage: homology merge into transcript sets. See docs/interfaces.md ("Transcript sets").


rule homology_sets:
    input:
        stores=expand(results("stores", "{species}.h5"), species=SPECIES),
        sources=[homology_path(name) for name in homology_sources()],
    output:
        sets=results("homology", "sets.h5"),
        stats=results("homology", "sets.stats.tsv"),
    log:
        "logs/homology_sets/sets.log",
    benchmark:
        results("benchmarks", "homology_sets", "sets.tsv")
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=rule_resources("homology_sets", "mem_mb", 8000),
        runtime=rule_resources("homology_sets", "runtime", 60),
    params:
        species=SPECIES,
        sources=homology_source_specs(),
        taxids=species_taxids(),
        join_symbols=config["homology"]["join_symbols"],
        max_genes_per_symbol=config["homology"]["max_genes_per_symbol"],
    script:
        "../workflow/scripts/homology.py"
