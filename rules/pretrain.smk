# Stage: pre-training, one job per pretrain.models entry. See docs/interfaces.md ("Pre-training").
# gpu resource > 1 (config pretrain.gpus or resources.pretrain.gpu): the shim launches
# `torchrun --nproc_per_node=gpus -m isoclr.cli pretrain ...` (DDP + synced BN, negatives
# gathered over all GPUs); otherwise one process. params: every training setting of the model,
# so a changed lr (or size, temperature...) reruns it; a re-run resumes from
# results/pretrain/{model}/checkpoints/ only when the settings and input data are the same
# (otherwise it starts fresh in a cleaned folder, and says so in its log).


rule pretrain:
    input:
        unpack(lambda w: model_data(w.model)),  # the study's sets and splits, or the model's own
        stores=[store_path(sp) for sp in SPECIES],
    output:
        checkpoint=results("pretrain", "{model}", "checkpoint.pt"),
        config=results("pretrain", "{model}", "config.yaml"),
        metrics=results("pretrain", "{model}", "metrics.csv"),
    log:
        log_path("pretrain", "{model}.log"),
    benchmark:
        bench_path("pretrain", "{model}.tsv")
    conda:
        "../envs/torch.yaml"
    threads: config["pretrain"]["threads"]
    resources:
        gpu=rule_resources("pretrain", "gpu", pretrain_gpus()),
        mem_mb=rule_resources("pretrain", "mem_mb", config["pretrain"]["mem_mb"]),
        runtime=rule_resources("pretrain", "runtime", config["pretrain"]["runtime"]),
    params:
        species=SPECIES,
        settings=pretrain_settings,
        code=code("pretrain"),
    script:
        "../workflow/scripts/pretrain.py"
