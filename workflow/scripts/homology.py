# rules/homology.smk: rule homology; the job is isoclr.homology.merge.homology_job.
from isoclr.homology.merge import homology_job

homology_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
             snakemake.wildcards, snakemake.threads, snakemake.resources)
