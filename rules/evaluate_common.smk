# Helpers of the evaluation stage (rules/evaluate.smk): the job list from config, inputs and
# params. Kept apart from the rules (snakemake --lint wants functions and rules in separate files).
# Fan-out is known from the config alone (tasks x models x fractions x folds): expand, never
# checkpoints.
import re

EVAL_NETWORK_MODELS = ["isoclr-finetune", "supervised", "saluki"]
EVAL_BUILTIN_ENCODERS = ["isoclr", "mlm", "random"]


def _evaluation():
    return config.get("evaluation", {})


def eval_default_models():
    return list(_evaluation().get("models", []))


def eval_tasks():
    """Tasks evaluated (config evaluation.tasks keys), each checked to be a configured task."""
    tasks = list(_evaluation().get("tasks", {}))
    known = set(config.get("tasks", {}).get("datasets", {}))
    missing = [t for t in tasks if t not in known]
    if missing:
        raise ValueError(
            f"config evaluation.tasks names {missing}, which are not in tasks.datasets {sorted(known)}"
        )
    return tasks


def eval_models(task):
    """Models evaluated on a task (evaluation.tasks.TASK, or evaluation.models when null)."""
    models = _evaluation()["tasks"][task]
    return list(eval_default_models() if models is None else models)


def eval_fractions():
    """Training fractions: evaluation.fractions, or the task stage's tasks.fractions when null."""
    fractions = _evaluation().get("fractions") or config["tasks"]["fractions"]
    return [str(float(f)) for f in fractions]


def eval_folds():
    """Test folds: evaluation.folds, or every one of the task stage's tasks.n_folds when null."""
    folds = _evaluation().get("folds")
    return [int(k) for k in (range(config["tasks"]["n_folds"]) if folds is None else folds)]


def eval_table(task, model, fraction, fold):
    return results("eval", task, model, f"frac{fraction}", f"fold{fold}.tsv")


def evaluation_tables():
    """Every job's TSV: each task x its models x fractions x folds."""
    return [
        eval_table(task, model, fraction, fold)
        for task in eval_tasks()
        for model in eval_models(task)
        for fraction in eval_fractions()
        for fold in eval_folds()
    ]


def pretrain_model_of(encoder):
    """The pre-training model (pretrain.models key) behind a built-in encoder name."""
    key = {"isoclr": "isoclr_model", "mlm": "mlm_model", "random": "isoclr_model"}[encoder]
    name = _evaluation().get(key)
    models = config.get("pretrain", {}).get("models", {})
    if name not in models:
        raise ValueError(
            f"config evaluation.{key} is {name!r}, which is not a pretrain.models entry "
            f"({sorted(models)}); the {encoder} encoder needs it"
        )
    return name


def pretrain_checkpoint(encoder):
    return results("pretrain", pretrain_model_of(encoder), "checkpoint.pt")


def embed_checkpoint(wildcards):
    """The checkpoint an embedding job reads (none for random and external encoders)."""
    if wildcards.encoder in ("isoclr", "mlm"):
        return {"checkpoint": pretrain_checkpoint(wildcards.encoder)}
    return {}


def embed_settings(wildcards):
    """What embed_task needs besides its files: architecture (random), seed, external config."""
    seed = config["seed"]
    settings = {
        "batch_size": _evaluation().get("embed_batch_size", 16),
        "device": _evaluation().get("device", "auto"),
    }
    if wildcards.encoder == "random":
        settings["model_cfg"] = dict(config["pretrain"]["models"][pretrain_model_of("random")])
        settings["seed"] = eval_seed(seed, "random-encoder")
    elif wildcards.encoder.startswith("external-"):
        name = wildcards.encoder[len("external-") :]
        external = _evaluation().get("external", {})
        if name not in external:
            raise ValueError(
                f"encoder {wildcards.encoder}: no evaluation.external.{name} entry in the config"
            )
        settings["external"] = dict(external[name])
    return settings


def eval_seed(base, *parts):
    """Same derivation as isoclr.evaluate.derive_seed (CRC32 of the names, 31 bits)."""
    import zlib

    text = "|".join(str(p) for p in (base, *parts))
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def linear_inputs(wildcards):
    return {
        "task": results("tasks", f"{wildcards.task}.h5"),
        "embeddings": results("embeddings", wildcards.encoder, f"{wildcards.task}.h5"),
    }


def linear_settings(wildcards):
    return {"probe": dict(_evaluation().get("probe", {}))}


def linear_model(wildcards):
    return f"{wildcards.encoder}-linear"


def network_inputs(wildcards):
    inputs = {"task": results("tasks", f"{wildcards.task}.h5")}
    if wildcards.netmodel == "isoclr-finetune":
        inputs["checkpoint"] = pretrain_checkpoint("isoclr")
    return inputs


def network_settings(wildcards):
    """Trainer, architecture and seed of a network job (only what that model uses)."""
    ev = _evaluation()
    settings = {
        "finetune": {
            **ev.get("finetune", {}),
            **ev.get("finetune_by_model", {}).get(wildcards.netmodel, {}),
        },
        "seed": eval_seed(config["seed"], wildcards.task, wildcards.netmodel),
        "device": ev.get("device", "auto"),
    }
    if wildcards.netmodel == "supervised":
        settings["model_cfg"] = dict(config["pretrain"]["models"][pretrain_model_of("isoclr")])
    elif wildcards.netmodel == "saluki":
        settings["saluki"] = dict(ev.get("saluki", {}))
    return settings


def eval_encoders_regex():
    names = EVAL_BUILTIN_ENCODERS + [f"external-{n}" for n in _evaluation().get("external", {})]
    return "|".join(re.escape(n) for n in names)


def tsne_embeddings():
    """The embeddings the t-SNE figure reads (config figures.tsne_task / tsne_encoder)."""
    figures = config.get("figures", {})
    task, encoder = figures.get("tsne_task"), figures.get("tsne_encoder")
    if not task or not encoder:
        return []
    return [results("embeddings", encoder, f"{task}.h5")]


def evaluation_targets():
    """metrics.tsv (every job) plus the embeddings the figures read directly."""
    if not _evaluation().get("tasks"):
        return []
    return [
        results("metrics", "metrics.tsv"),
        results("metrics", "metrics.html"),
    ] + tsne_embeddings()
