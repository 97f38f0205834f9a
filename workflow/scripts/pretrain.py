# rules/pretrain.smk: rule pretrain; the job is isoclr.pretrain.loop.pretrain_job.
from isoclr.pretrain.loop import pretrain_job

pretrain_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
             snakemake.wildcards, snakemake.threads, snakemake.resources)
