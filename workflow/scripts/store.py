# rules/store.smk: rule store; the job is isoclr.store.builder.store_job.
from isoclr.store.builder import store_job

store_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
          snakemake.wildcards, snakemake.threads, snakemake.resources)
