# rules/evaluate.smk: rule embed_task; the job is isoclr.evaluate.jobs.embed_job.
from isoclr.evaluate.jobs import embed_job

embed_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
          snakemake.wildcards, snakemake.threads, snakemake.resources)
