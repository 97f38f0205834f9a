# Stage: downstream evaluation, one job per task x model x fraction x fold (docs/interfaces.md,
# "Evaluation outputs"). Embeddings are computed once per encoder and task and shared by every
# linear-probe job of that pair; probe jobs are CPU-only (no torch import); only the jobs that
# train networks (isoclr-finetune, supervised, saluki) ask for a GPU (config resources).


rule embed_task:
    input:
        unpack(embed_inputs),
    output:
        results("embeddings", "{encoder}", "{task}.h5"),
    log:
        log_path("embed_task", "{encoder}", "{task}.log"),
    benchmark:
        results("benchmarks", "embed_task", "{encoder}", "{task}.tsv")
    wildcard_constraints:
        encoder=eval_encoders_regex(),
    conda:
        "../envs/torch.yaml"
    threads: rule_resources("embed_task", "threads", 1)
    resources:
        mem_mb=rule_resources("embed_task", "mem_mb", 8000),
        runtime=rule_resources("embed_task", "runtime", 60),
        gpu=rule_resources("embed_task", "gpu", 0),
    params:
        settings=embed_settings,
        code=code("embed"),
    script:
        "../workflow/scripts/embed_task.py"


rule evaluate_linear:
    input:
        unpack(linear_inputs),
    output:
        results("eval", "{task}", "{encoder}-linear", "frac{fraction}", "fold{fold}.tsv"),
    log:
        log_path(
            "evaluate_linear", "{task}", "{encoder}-linear", "frac{fraction}", "fold{fold}.log"
        ),
    benchmark:
        bench_path(
            "evaluate_linear",
            "{task}",
            "{encoder}-linear",
            "frac{fraction}",
            "fold{fold}.tsv",
        )
    wildcard_constraints:
        encoder=eval_encoders_regex(),
        fraction=r"[0-9.e-]+",
        fold=r"[0-9]+",
    conda:
        "../envs/evaluate.yaml"
    threads: rule_resources("evaluate_linear", "threads", 1)
    resources:
        mem_mb=rule_resources("evaluate_linear", "mem_mb", 4000),
        runtime=rule_resources("evaluate_linear", "runtime", 30),
    params:
        settings=linear_settings,
        code=code("evaluate"),
    script:
        "../workflow/scripts/evaluate.py"


rule evaluate_network:
    input:
        unpack(network_inputs),
    output:
        results("eval", "{task}", "{netmodel}", "frac{fraction}", "fold{fold}.tsv"),
    log:
        log_path("evaluate_network", "{task}", "{netmodel}", "frac{fraction}", "fold{fold}.log"),
    benchmark:
        bench_path(
            "evaluate_network",
            "{task}",
            "{netmodel}",
            "frac{fraction}",
            "fold{fold}.tsv",
        )
    wildcard_constraints:
        netmodel=network_regex(),
        fraction=r"[0-9.e-]+",
        fold=r"[0-9]+",
    conda:
        "../envs/torch.yaml"
    threads: rule_resources("evaluate_network", "threads", 1)
    resources:
        mem_mb=rule_resources("evaluate_network", "mem_mb", 16000),
        runtime=rule_resources("evaluate_network", "runtime", 240),
        gpu=rule_resources("evaluate_network", "gpu", 0),
    params:
        settings=network_settings,
        code=code("evaluate"),
    script:
        "../workflow/scripts/evaluate.py"


# The network jobs at full training data on fold 0 also keep their trained network
# (fold0.head/: the heads that attributions and variant effects read, docs/models.md); the
# same job as evaluate_network, with the head folder as a declared output.
ruleorder: evaluate_network_head > evaluate_network


rule evaluate_network_head:
    input:
        unpack(network_inputs),
    output:
        results("eval", "{task}", "{netmodel}", "frac{fraction}", "fold{fold}.tsv"),
        head=directory(results("eval", "{task}", "{netmodel}", "frac{fraction}", "fold{fold}.head")),
    log:
        log_path("evaluate_network", "{task}", "{netmodel}", "frac{fraction}", "fold{fold}.log"),
    benchmark:
        bench_path(
            "evaluate_network",
            "{task}",
            "{netmodel}",
            "frac{fraction}",
            "fold{fold}.tsv",
        )
    wildcard_constraints:
        netmodel=network_regex(),
        fraction=re.escape(study.KEPT_FRACTION),
        fold=str(study.KEPT_FOLD),
    conda:
        "../envs/torch.yaml"
    threads: rule_resources("evaluate_network", "threads", 1)
    resources:
        mem_mb=rule_resources("evaluate_network", "mem_mb", 16000),
        runtime=rule_resources("evaluate_network", "runtime", 240),
        gpu=rule_resources("evaluate_network", "gpu", 0),
    params:
        settings=network_settings,
        code=code("evaluate"),
    script:
        "../workflow/scripts/evaluate.py"


rule collect_metrics:
    input:
        evaluation_tables(),
    output:
        tsv=results("metrics", "metrics.tsv"),
        html=report(
            results("metrics", "metrics.html"),
            caption="../docs/report/metrics.rst",
            category="Metrics",
            labels={"table": "every task, model, fraction: mean ± SD over folds"},
        ),
    log:
        log_path("collect_metrics", "collect_metrics.log"),
    conda:
        "../envs/evaluate.yaml"
    params:
        code=code("collect"),
    script:
        "../workflow/scripts/collect_metrics.py"
