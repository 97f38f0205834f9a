# Stage: downstream task datasets (half-life, GO, mean ribosome load). See docs/interfaces.md
# ("Task datasets") and the module docstring of src/isoclr/tasks/build.py (selection rule, folds).


rule tasks:
    input:
        unpack(task_inputs),
    output:
        task=results("tasks", "{task}.h5"),
        report=results("tasks", "{task}.report.tsv"),
    log:
        log_path("tasks", "{task}.log"),
    benchmark:
        bench_path("tasks", "{task}.tsv")
    wildcard_constraints:
        task=names_regex(store_tasks()),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=rule_resources("tasks", "mem_mb", 8000),
        runtime=rule_resources("tasks", "runtime", 30),
    params:
        settings=task_settings,
        code=code("tasks"),
    script:
        "../workflow/scripts/tasks.py"


rule task_arrays:
    input:
        unpack(task_inputs),
    output:
        task=results("tasks", "{task}.h5"),
        report=results("tasks", "{task}.report.tsv"),
        store=results("tasks", "{task}.store.h5"),
    log:
        log_path("task_arrays", "{task}.log"),
    benchmark:
        bench_path("task_arrays", "{task}.tsv")
    wildcard_constraints:
        task=names_regex(array_tasks()),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=rule_resources("task_arrays", "mem_mb", 32000),
        runtime=rule_resources("task_arrays", "runtime", 60),
    params:
        settings=task_settings,
        code=code("tasks"),
    script:
        "../workflow/scripts/tasks.py"
