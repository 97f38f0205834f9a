# rules/evaluate.smk: rule collect_metrics; the job is isoclr.evaluate.jobs.collect_job.
from isoclr.evaluate.jobs import collect_job

collect_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
            snakemake.wildcards, snakemake.threads, snakemake.resources)
