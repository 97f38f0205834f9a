# Stage: leakage-free splits by connected component. See docs/interfaces.md ("Splits").


rule splits:
    input:
        **splits_orthologs()[0],
        sets=results("homology", "sets.h5"),
    output:
        **splits_orthologs()[1],
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


# A model's own sets (config pretrain.models.NAME.species / homology): the chosen species'
# members of the sets joined by orthology or kept apart, each set with the split its genes
# have in the study's split, so every model holds out the same genes.
rule model_sets:
    input:
        sets=variant_sets,
        genes=results("splits", "genes.tsv"),
    output:
        sets=results("splits", "models", "{variant}", "sets.h5"),
        splits=results("splits", "models", "{variant}", "splits.tsv"),
    log:
        log_path("splits", "models", "{variant}.log"),
    benchmark:
        bench_path("splits", "models", "{variant}.tsv")
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=rule_resources("splits", "mem_mb", 4000),
        runtime=rule_resources("splits", "runtime", 30),
    params:
        species=lambda w: w.variant.rsplit(".", 1)[0].split("+"),
        code=code("splits"),
    script:
        "../workflow/scripts/model_sets.py"
