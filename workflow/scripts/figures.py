# rules/figures.smk: rules figure_*; the job is isoclr.figures.draw.figure_job.
from isoclr.figures.draw import figure_job

figure_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
           snakemake.wildcards, snakemake.threads, snakemake.resources)
