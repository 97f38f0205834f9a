# rules/download.smk: rule download; the job is isoclr.download.fetch.download_job.
from isoclr.download.fetch import download_job

download_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
             snakemake.wildcards, snakemake.threads, snakemake.resources, config=snakemake.config)
