# rules/evaluate.smk: rules evaluate_linear, evaluate_network; the job is isoclr.evaluate.jobs.evaluate_job.
from isoclr.evaluate.jobs import evaluate_job

evaluate_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
             snakemake.wildcards, snakemake.threads, snakemake.resources)
