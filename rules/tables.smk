# Stage: study tables from the tidy metrics table (src/isoclr/tables/summary.py): summary.tsv (mean,
# SD and 95% interval over runs) and paper_comparison.{tsv,md} (the paper's reported values,
# ours with its interval, the difference). Cheap: a local rule.


localrules:
    tables,


rule tables:
    input:
        metrics=results("metrics", "metrics.tsv"),
    output:
        summary=results("tables", "summary.tsv"),
        comparison=results("tables", "paper_comparison.tsv"),
        markdown=results("tables", "paper_comparison.md"),
        html=report(
            results("tables", "paper_comparison.html"),
            caption="../docs/report/paper_comparison.rst",
            category="Metrics",
            labels={"table": "against the paper: reported value, ours with its 95% interval"},
        ),
    log:
        log_path("tables", "tables.log"),
    conda:
        "../envs/evaluate.yaml"
    params:
        settings=tables_settings(),
        code=code("tables"),
    script:
        "../workflow/scripts/tables.py"
