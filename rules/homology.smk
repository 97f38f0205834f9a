# Stage: homology merge into transcript sets. See docs/interfaces.md ("Transcript sets").


rule homology:
    input:
        **homology_inputs(),
    output:
        sets=results("homology", "sets.h5"),
        stats=results("homology", "sets.stats.tsv"),
    log:
        log_path("homology", "sets.log"),
    benchmark:
        bench_path("homology", "sets.tsv")
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=rule_resources("homology", "mem_mb", 8000),
        runtime=rule_resources("homology", "runtime", 60),
    params:
        settings=homology_settings(),
        code=code("homology"),
    script:
        "../workflow/scripts/homology.py"
