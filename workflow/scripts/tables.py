# rules/tables.smk: rule tables; the job is isoclr.tables.summary.tables_job.
from isoclr.tables.summary import tables_job

tables_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
           snakemake.wildcards, snakemake.threads, snakemake.resources)
