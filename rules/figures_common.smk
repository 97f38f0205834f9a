# Helpers of the figures stage (rules/figures.smk): config look-ups and targets. Kept apart from
# the rules because snakemake --lint wants functions and rules in separate files.

FIGURE_CATEGORY = "Figures"


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
