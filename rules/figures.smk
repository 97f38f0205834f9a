# Stage: figures, each its own target (results/figures/NAME.pdf and .png). The PNG goes into
# `snakemake --report results/report.html` with its caption (docs/report/); the PDF beside it is
# the vector version (not registered, so the report shows every figure once). Local rules.


include: "figures_common.smk"


localrules:
    figure_fig2a_go_linear_probe,
    figure_fig2b_halflife_linear_probe_mse,
    figure_fig2c_halflife_linear_probe_pearson,
    figure_fig3_halflife_finetune,
    figure_fig_linear_probe_comparison,
    figure_fig4_tsne_go_cellular_component,
    figure_pretrain_curves,


rule figure_fig2a_go_linear_probe:
    input:
        metrics=figure_metrics("fig2a_go_linear_probe"),
    output:
        pdf=results("figures", "fig2a_go_linear_probe.pdf"),
        png=report(
            results("figures", "fig2a_go_linear_probe.png"),
            caption="../docs/report/fig2a_go_linear_probe.rst",
            category=FIGURE_CATEGORY,
            subcategory="Gene Ontology",
            labels={
                "task": "GO molecular function",
                "panel": "linear probe vs supervised",
            },
        ),
    log:
        "logs/figure_fig2a_go_linear_probe/fig2a_go_linear_probe.log",
    benchmark:
        results("benchmarks", "figure_fig2a_go_linear_probe", "fig2a_go_linear_probe.tsv")
    conda:
        "../envs/figures.yaml"
    params:
        name="fig2a_go_linear_probe",
        options=figure_options("fig2a_go_linear_probe"),
    script:
        "../workflow/scripts/figures.py"


rule figure_fig2b_halflife_linear_probe_mse:
    input:
        metrics=figure_metrics("fig2b_halflife_linear_probe_mse"),
    output:
        pdf=results("figures", "fig2b_halflife_linear_probe_mse.pdf"),
        png=report(
            results("figures", "fig2b_halflife_linear_probe_mse.png"),
            caption="../docs/report/fig2b_halflife_linear_probe_mse.rst",
            category=FIGURE_CATEGORY,
            subcategory="RNA half-life",
            labels={"task": "half-life", "panel": "linear probe MSE"},
        ),
    log:
        "logs/figure_fig2b_halflife_linear_probe_mse/fig2b_halflife_linear_probe_mse.log",
    benchmark:
        results(
            "benchmarks",
            "figure_fig2b_halflife_linear_probe_mse",
            "fig2b_halflife_linear_probe_mse.tsv",
        )
    conda:
        "../envs/figures.yaml"
    params:
        name="fig2b_halflife_linear_probe_mse",
        options=figure_options("fig2b_halflife_linear_probe_mse"),
    script:
        "../workflow/scripts/figures.py"


rule figure_fig2c_halflife_linear_probe_pearson:
    input:
        metrics=figure_metrics("fig2c_halflife_linear_probe_pearson"),
    output:
        pdf=results("figures", "fig2c_halflife_linear_probe_pearson.pdf"),
        png=report(
            results("figures", "fig2c_halflife_linear_probe_pearson.png"),
            caption="../docs/report/fig2c_halflife_linear_probe_pearson.rst",
            category=FIGURE_CATEGORY,
            subcategory="RNA half-life",
            labels={"task": "half-life", "panel": "linear probe Pearson"},
        ),
    log:
        "logs/figure_fig2c_halflife_linear_probe_pearson/fig2c_halflife_linear_probe_pearson.log",
    benchmark:
        results(
            "benchmarks",
            "figure_fig2c_halflife_linear_probe_pearson",
            "fig2c_halflife_linear_probe_pearson.tsv",
        )
    conda:
        "../envs/figures.yaml"
    params:
        name="fig2c_halflife_linear_probe_pearson",
        options=figure_options("fig2c_halflife_linear_probe_pearson"),
    script:
        "../workflow/scripts/figures.py"


rule figure_fig3_halflife_finetune:
    input:
        metrics=figure_metrics("fig3_halflife_finetune"),
    output:
        pdf=results("figures", "fig3_halflife_finetune.pdf"),
        png=report(
            results("figures", "fig3_halflife_finetune.png"),
            caption="../docs/report/fig3_halflife_finetune.rst",
            category=FIGURE_CATEGORY,
            subcategory="RNA half-life",
            labels={"task": "half-life", "panel": "fine-tuning"},
        ),
    log:
        "logs/figure_fig3_halflife_finetune/fig3_halflife_finetune.log",
    benchmark:
        results("benchmarks", "figure_fig3_halflife_finetune", "fig3_halflife_finetune.tsv")
    conda:
        "../envs/figures.yaml"
    params:
        name="fig3_halflife_finetune",
        options=figure_options("fig3_halflife_finetune"),
    script:
        "../workflow/scripts/figures.py"


rule figure_fig_linear_probe_comparison:
    input:
        metrics=figure_metrics("fig_linear_probe_comparison"),
    output:
        pdf=results("figures", "fig_linear_probe_comparison.pdf"),
        png=report(
            results("figures", "fig_linear_probe_comparison.png"),
            caption="../docs/report/fig_linear_probe_comparison.rst",
            category=FIGURE_CATEGORY,
            subcategory="Encoders",
            labels={
                "task": "half-life",
                "panel": "linear probes of every encoder",
            },
        ),
    log:
        "logs/figure_fig_linear_probe_comparison/fig_linear_probe_comparison.log",
    benchmark:
        results(
            "benchmarks", "figure_fig_linear_probe_comparison", "fig_linear_probe_comparison.tsv"
        )
    conda:
        "../envs/figures.yaml"
    params:
        name="fig_linear_probe_comparison",
        options=figure_options("fig_linear_probe_comparison"),
    script:
        "../workflow/scripts/figures.py"


rule figure_fig4_tsne_go_cellular_component:
    input:
        embeddings=figure_tsne_embeddings(),
        task_file=figure_tsne_task(),
    output:
        pdf=results("figures", "fig4_tsne_go_cellular_component.pdf"),
        png=report(
            results("figures", "fig4_tsne_go_cellular_component.png"),
            caption="../docs/report/fig4_tsne_go_cellular_component.rst",
            category=FIGURE_CATEGORY,
            subcategory="Latent space",
            labels={"task": "GO cellular component", "panel": "t-SNE"},
        ),
    log:
        "logs/figure_fig4_tsne_go_cellular_component/fig4_tsne_go_cellular_component.log",
    benchmark:
        results(
            "benchmarks",
            "figure_fig4_tsne_go_cellular_component",
            "fig4_tsne_go_cellular_component.tsv",
        )
    conda:
        "../envs/figures.yaml"
    params:
        name="fig4_tsne_go_cellular_component",
        options=figure_options("fig4_tsne_go_cellular_component"),
    script:
        "../workflow/scripts/figures.py"


rule figure_pretrain_curves:
    input:
        checkpoint=results("pretrain", "{model}", "checkpoint.pt"),
    output:
        pdf=results("figures", "pretrain_curves_{model}.pdf"),
        png=report(
            results("figures", "pretrain_curves_{model}.png"),
            caption="../docs/report/pretrain_curves.rst",
            category="Pre-training",
            labels={"model": "{model}", "panel": "loss, alignment/uniformity, learning rate"},
        ),
    log:
        "logs/figure_pretrain_curves/{model}.log",
    benchmark:
        results("benchmarks", "figure_pretrain_curves", "{model}.tsv")
    conda:
        "../envs/figures.yaml"
    params:
        name="fig_pretrain_curves",
        options={"dpi": config["figures"]["dpi"]},
    script:
        "../workflow/scripts/figures.py"
