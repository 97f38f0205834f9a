# rules/splits.smk: rule model_sets; the job is isoclr.splits.assign.model_sets_job.
from isoclr.splits.assign import model_sets_job

model_sets_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
               snakemake.wildcards, snakemake.threads, snakemake.resources)
