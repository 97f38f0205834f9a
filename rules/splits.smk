# Stage: leakage-free splits by connected component. See docs/interfaces.md ("Splits").


rule splits:
    input:
        sets=results("homology", "sets.h5"),
    output:
        splits=results("splits", "splits.tsv"),
        genes=results("splits", "genes.tsv"),
        summary=results("splits", "summary.tsv"),
    log:
        "logs/splits/splits.log",
    benchmark:
        results("benchmarks", "splits", "splits.tsv")
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=rule_resources("splits", "mem_mb", 4000),
        runtime=rule_resources("splits", "runtime", 30),
    params:
        fractions=config["splits"]["fractions"],
        weight=config["splits"]["weight"],
        seed=splits_seed(),
    script:
        "../workflow/scripts/splits.py"
