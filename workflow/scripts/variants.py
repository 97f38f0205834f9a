# rules/variants.smk: rule variants; the job is isoclr.variants.score.variants_job.
from isoclr.variants.score import variants_job

variants_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
             snakemake.wildcards, snakemake.threads, snakemake.resources)
