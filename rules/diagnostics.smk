# Stage: diagnostics of the frozen encoders (config `diagnostics.encoders`; off when empty), one
# job per encoder: effective rank, alignment/uniformity on held-out pairs and, with two or more
# species, ortholog retrieval on the splits stage's held-out ortholog pairs
# (src/isoclr/diagnostics/measures.py, diagnose.py); the random encoder and k-mer profiles are the references.
# Targets: results/diagnostics/{encoder}.tsv and results/figures/fig_diagnostics.{pdf,png}.


rule diagnostics:
    input:
        unpack(diagnostics_inputs),
    output:
        results("diagnostics", "{encoder}.tsv"),
    log:
        log_path("diagnostics", "{encoder}.log"),
    benchmark:
        bench_path("diagnostics", "{encoder}.tsv")
    wildcard_constraints:
        encoder=names_regex(study.diagnostics_encoders(config)),
    conda:
        "../envs/torch.yaml"
    threads: rule_resources("diagnostics", "threads", 1)
    resources:
        mem_mb=rule_resources("diagnostics", "mem_mb", 8000),
        runtime=rule_resources("diagnostics", "runtime", 60),
        gpu=rule_resources("diagnostics", "gpu", 0),
    params:
        species=SPECIES,
        settings=diagnostics_settings,
        code=code("diagnostics"),
    script:
        "../workflow/scripts/diagnostics.py"


rule diagnostics_figure:
    input:
        diagnostics_tables(),
    output:
        pdf=results("figures", "fig_diagnostics.pdf"),
        png=report(
            results("figures", "fig_diagnostics.png"),
            caption="../docs/report/figure.rst",
            category="Figures",
            subcategory="Encoders",
            labels={"task": "held-out transcripts", "panel": "frozen-encoder diagnostics"},
        ),
    log:
        log_path("diagnostics_figure", "fig_diagnostics.log"),
    conda:
        "../envs/figures.yaml"
    params:
        study=config.get("study", ""),
        code=code("diagnostics_figure"),
    script:
        "../workflow/scripts/diagnostics_figure.py"
