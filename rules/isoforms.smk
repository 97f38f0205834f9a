# Stage: species isoform stores (HDF5). See docs/interfaces.md ("Species store").


rule build_store:
    input:
        unpack(store_inputs),
    output:
        store=results("stores", "{species}.h5"),
        stats=results("stores", "{species}.stats.tsv"),
    log:
        "logs/build_store/{species}.log",
    benchmark:
        results("benchmarks", "build_store", "{species}.tsv")
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=rule_resources("build_store", "mem_mb", 16000),
        runtime=rule_resources("build_store", "runtime", 120),
    params:
        fmt=store_format,
        filters=store_filters,
        aliases=store_aliases,
        provenance=store_provenance,
        gene_map=store_gene_map,
    script:
        "../workflow/scripts/build_store.py"
