# rules/diagnostics.smk: rule diagnostics; the job is isoclr.diagnostics.run.diagnostics_job.
from isoclr.diagnostics.run import diagnostics_job

diagnostics_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
                snakemake.wildcards, snakemake.threads, snakemake.resources)
