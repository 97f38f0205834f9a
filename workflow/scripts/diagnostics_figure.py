# rules/diagnostics.smk: rule diagnostics_figure; the job is isoclr.figures.diagnostics.figure_job.
from isoclr.figures.diagnostics import figure_job

figure_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule)
