# Helpers of the tasks stage (rules/tasks.smk): config look-ups, inputs and targets. Kept apart
# from the rules because snakemake --lint wants functions and rules in separate files.


def task_settings():
    """Folds, fractions, min_train and seed shared by every task (config `tasks`)."""
    t = config["tasks"]
    return {
        "n_folds": t["n_folds"],
        "fractions": t["fractions"],
        "min_train": t["min_train"],
        "seed": config["seed"] if t["seed"] is None else t["seed"],
    }


def task_names():
    return list(config["tasks"]["datasets"])


def task_kind(name):
    return config["tasks"]["datasets"][name]["kind"]


def array_tasks():
    """Tasks built from ready-made arrays (they write their own task-local store)."""
    return [n for n in task_names() if task_kind(n) == "mrl_arrays"]


def store_tasks():
    return [n for n in task_names() if task_kind(n) != "mrl_arrays"]


def task_file(value):
    """A label/GO source: a `download.files` name (its local copy) or a path (as given)."""
    if value in config["download"]["files"]:
        return downloaded_file(value)
    return value


def task_inputs(wildcards):
    """Everything one task reads: its species store, the annotation (for the join report),
    the homology groups, and its label files."""
    spec = config["tasks"]["datasets"][wildcards.task]
    species = spec["species"]
    inputs = {"genes": results("splits", "genes.tsv")}
    if spec["kind"] != "mrl_arrays":
        inputs["store"] = results("stores", f"{species}.h5")
        inputs["annotation"] = annotation_path(species)
    for key in ("labels", "obo", "gaf", "gene_ids"):
        if spec.get(key):
            inputs[key] = task_file(spec[key])
    return inputs


def task_spec(wildcards):
    """The task's config entry (kind, species, columns, GO settings) for the script."""
    return dict(config["tasks"]["datasets"][wildcards.task])


def task_targets():
    """Every configured task file (evaluation pulls these in through its own inputs)."""
    return expand(results("tasks", "{task}.h5"), task=task_names())
