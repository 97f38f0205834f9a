# rules/variants.smk: rule variants_genome; the job is isoclr.variants.genome.variants_genome_job.
from isoclr.variants.genome import variants_genome_job

variants_genome_job(snakemake.input, snakemake.output, snakemake.params, snakemake.log[0], snakemake.rule,
                    snakemake.wildcards, snakemake.threads, snakemake.resources)
