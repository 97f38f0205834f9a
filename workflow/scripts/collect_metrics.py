# rules/evaluate.smk: rule collect_metrics; the job is isoclr.evaluate.collect.collect_job.
from isoclr.evaluate.collect import collect_job

collect_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
            snakemake.wildcards, snakemake.threads, snakemake.resources)
