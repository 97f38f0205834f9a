# Stage: figures, one rule over {figure}: the paper's figures (config figures.names) and each
# model's pre-training curves (pretrain_curves_MODEL), each its own target
# results/figures/{figure}.pdf and .png, collected by `snakemake --report report.zip`. Drawing
# is cheap: a local rule.


localrules:
    figure,


rule figure:
    input:
        unpack(figure_inputs),
    output:
        pdf=report(
            results("figures", "{figure}.pdf"),
            caption="../docs/report/figure.rst",
            category="Figures",
            subcategory=figure_subcategory,
            labels=figure_labels("PDF"),
        ),
        png=report(
            results("figures", "{figure}.png"),
            caption="../docs/report/figure.rst",
            category="Figures",
            subcategory=figure_subcategory,
            labels=figure_labels("PNG"),
        ),
    log:
        log_path("figure", "{figure}.log"),
    benchmark:
        bench_path("figure", "{figure}.tsv")
    wildcard_constraints:
        figure=names_regex(figure_names()),
    conda:
        "../envs/figures.yaml"
    params:
        settings=figure_settings,
        code=code("figures"),
    script:
        "../workflow/scripts/figures.py"
