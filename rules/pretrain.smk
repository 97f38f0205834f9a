# Stage: pre-training, one job per pretrain.models entry. See docs/interfaces.md ("Pre-training").
# gpu resource > 1 (config pretrain.gpus or resources.pretrain.gpu): the shim launches `torchrun --nproc_per_node=gpus -m isoclr.cli
# pretrain ...` (DDP + synced BN, negatives gathered over all GPUs); otherwise one process.
# A re-run resumes from results/pretrain/{model}/checkpoints/ when the model config is unchanged
# (a changed architecture is refused with the difference named: delete the folder to retrain).


include: "pretrain_common.smk"


rule pretrain:
    input:
        stores=expand(results("stores", "{species}.h5"), species=SPECIES),
        sets=results("homology", "sets.h5"),
        splits=results("splits", "splits.tsv"),
    output:
        checkpoint=results("pretrain", "{model}", "checkpoint.pt"),
        config=results("pretrain", "{model}", "config.yaml"),
        metrics=results("pretrain", "{model}", "metrics.csv"),
    log:
        "logs/pretrain/{model}.log",
    benchmark:
        results("benchmarks", "pretrain", "{model}.tsv")
    conda:
        "../envs/torch.yaml"
    threads: config["pretrain"]["threads"]
    resources:
        gpu=rule_resources("pretrain", "gpu", pretrain_gpus()),
        mem_mb=rule_resources("pretrain", "mem_mb", config["pretrain"]["mem_mb"]),
        runtime=rule_resources("pretrain", "runtime", config["pretrain"]["runtime"]),
    params:
        species=SPECIES,
    script:
        "../workflow/scripts/pretrain.py"
