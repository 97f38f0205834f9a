# Helpers of the figures stage (rules/figures.smk): config look-ups and targets. Kept apart from
# the rules because snakemake --lint wants functions and rules in separate files.

FIGURE_CATEGORY = "Figures"

# The models each metrics figure draws (as in src/isoclr/figures.py); None: every linear probe.
# A figure's inputs are exactly those models' per-job tables, so asking for one figure runs only
# the jobs it shows (not the whole evaluation behind results/metrics/metrics.tsv).
FIGURE_MODELS = {
    "fig2a_go_linear_probe": ["isoclr-linear", "supervised", "random-linear"],
    "fig2b_halflife_linear_probe_mse": ["isoclr-linear", "supervised", "random-linear"],
    "fig2c_halflife_linear_probe_pearson": ["isoclr-linear", "supervised", "random-linear"],
    "fig3_halflife_finetune": ["isoclr-finetune", "supervised", "saluki"],
    "fig_linear_probe_comparison": None,
}


def figures_seed():
    seed = config["figures"]["seed"]
    return config["seed"] if seed is None else seed


def figure_options(name):
    """Keyword options of figure `name` for isoclr.figures.draw (task, dpi, ...)."""
    f = config["figures"]
    opts = {"dpi": f["dpi"]}
    if name == "fig2a_go_linear_probe":
        opts["task"] = f["go_task"]
    elif name == "fig4_tsne_go_cellular_component":
        opts.update({"max_per_class": f["tsne_max_per_class"], "seed": figures_seed()})
    else:
        opts["task"] = f["halflife_task"]
    return opts


def figure_metrics(name):
    """The per-job metric tables (results/eval/...) that figure `name` draws."""
    task = figure_options(name)["task"]
    if task not in eval_tasks():
        return []
    wanted = FIGURE_MODELS[name]
    models = [
        m for m in eval_models(task) if (m.endswith("-linear") if wanted is None else m in wanted)
    ]
    fractions = eval_fractions()
    if wanted is None and "1.0" in fractions:
        fractions = ["1.0"]  # the comparison figure shows the full training set only
    return [eval_table(task, m, f, k) for m in models for f in fractions for k in eval_folds()]


def pretrain_models():
    return list(config.get("pretrain", {}).get("models", {}))


def figure_targets():
    """Every configured figure (PDF; the PNG is made beside it) and the pre-training curves."""
    names = list(config["figures"]["names"])
    return [results("figures", f"{n}.pdf") for n in names] + expand(
        results("figures", "pretrain_curves_{model}.pdf"), model=pretrain_models()
    )


def figure_tsne_embeddings():
    f = config["figures"]
    return results("embeddings", f["tsne_encoder"], f"{f['tsne_task']}.h5")


def figure_tsne_task():
    return results("tasks", f"{config['figures']['tsne_task']}.h5")
