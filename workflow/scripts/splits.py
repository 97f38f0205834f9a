# rules/splits.smk: rule splits; the job is isoclr.splits.assign.splits_job.
from isoclr.splits.assign import splits_job

splits_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
           snakemake.wildcards, snakemake.threads, snakemake.resources)
