# rules/tasks.smk: rules task, task_arrays; the job is isoclr.tasks.build.tasks_job.
from isoclr.tasks.build import tasks_job

tasks_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
          snakemake.wildcards, snakemake.threads, snakemake.resources)
