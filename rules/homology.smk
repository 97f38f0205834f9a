# Stage: homology merge into transcript sets. See docs/interfaces.md ("Transcript sets").


rule homology:
    input:
        **homology_inputs(),
    output:
        **homology_outputs(),
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


# The sets with species kept apart (isoforms, symbols and single-species sources only), for the
# models with `homology: isoforms`; made only when such a model is configured.
rule homology_isoforms:
    input:
        **homology_inputs(within_species=True),
    output:
        sets=results("homology", "sets.isoforms.h5"),
        stats=results("homology", "sets.isoforms.stats.tsv"),
    log:
        log_path("homology", "sets.isoforms.log"),
    benchmark:
        bench_path("homology", "sets.isoforms.tsv")
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=rule_resources("homology", "mem_mb", 8000),
        runtime=rule_resources("homology", "runtime", 60),
    params:
        settings=homology_settings(within_species=True),
        code=code("homology"),
    script:
        "../workflow/scripts/homology.py"
