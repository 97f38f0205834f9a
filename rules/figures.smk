# Stage: figures, one rule (figures) over {figure}: the paper's figures (config figures.names) and each
# model's pre-training curves (pretrain_curves_MODEL), each its own target
# results/figures/{figure}.pdf and .png. The PNG goes into `snakemake --report results/report.html`
# with its caption (docs/report/figure.rst); the PDF beside it is the vector version (not
# registered, so the report shows every figure once). Drawing is cheap: a local rule.


localrules:
    figures,


rule figures:
    input:
        unpack(figure_inputs),
    output:
        pdf=results("figures", "{figure}.pdf"),
        png=report(
            results("figures", "{figure}.png"),
            caption="../docs/report/figure.rst",
            category=figure_category,
            subcategory=figure_subcategory,
            labels=figure_labels(),
        ),
    log:
        log_path("figures", "{figure}.log"),
    benchmark:
        bench_path("figures", "{figure}.tsv")
    wildcard_constraints:
        figure=names_regex(figure_names()),
    conda:
        "../envs/figures.yaml"
    params:
        settings=figure_settings,
        code=code("figures"),
    script:
        "../workflow/scripts/figures.py"
