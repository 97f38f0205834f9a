# Helpers of the pre-training stage (rules/pretrain.smk), kept apart from the rule
# (snakemake --lint wants functions and rules in separate files).


PRETRAIN_MODELS = list(config["pretrain"]["models"])


wildcard_constraints:
    model="|".join(PRETRAIN_MODELS) if PRETRAIN_MODELS else "no-model",


def pretrain_targets():
    return expand(
        results("pretrain", "{model}", "{file}"),
        model=PRETRAIN_MODELS,
        file=["checkpoint.pt", "metrics.csv"],
    )


def pretrain_gpus():
    return int(config["pretrain"]["gpus"])
