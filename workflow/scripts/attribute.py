# rules/attribute.smk: rule attribute; the job is isoclr.attribute.job.attribute_job.
from isoclr.attribute.job import attribute_job

attribute_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
              snakemake.wildcards, snakemake.threads, snakemake.resources)
