# Stage: species isoform stores (HDF5). See docs/interfaces.md ("Species store").


rule store:
    input:
        unpack(store_inputs),
    output:
        store=results("stores", "{species}.h5"),
        stats=results("stores", "{species}.stats.tsv"),
    log:
        log_path("store", "{species}.log"),
    benchmark:
        bench_path("store", "{species}.tsv")
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=rule_resources("store", "mem_mb", 16000),
        runtime=rule_resources("store", "runtime", 120),
    params:
        settings=store_settings,
        code=code("store"),
    script:
        "../workflow/scripts/store.py"
