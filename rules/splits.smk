# Stage: leakage-free splits by connected component. See docs/interfaces.md ("Splits").


rule splits:
    input:
        sets=results("homology", "sets.h5"),
    output:
        splits=results("splits", "splits.tsv"),
        genes=results("splits", "genes.tsv"),
        summary=results("splits", "summary.tsv"),
    log:
        log_path("splits", "splits.log"),
    benchmark:
        bench_path("splits", "splits.tsv")
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=rule_resources("splits", "mem_mb", 4000),
        runtime=rule_resources("splits", "runtime", 30),
    params:
        settings=splits_settings(),
        code=code("splits"),
    script:
        "../workflow/scripts/splits.py"
