# isoclr: IsoCLR pre-training and evaluation, from public genomes to the paper's figures.
#   snakemake --cores 8 --use-conda                 (workstation)
#   snakemake --profile profiles/slurm              (SLURM cluster)
#   snakemake results/figures/fig2c_halflife_linear_probe_pearson.pdf   (one figure)
# Stages, in order; each has its rules file here, a script shim in workflow/scripts/ and a
# module in src/isoclr/ of the same name.


# The embedded demo is the default config. A config given with --configfile (for example
# config/paper.yaml) replaces it instead of being merged into it, so no demo species, models or
# label files leak into a real study; --config KEY=VALUE still overrides single keys.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# `snakemake --report results/report.html`: this description, every figure (PNG) with its
# caption, the metrics table and the pre-training curves.
report: "docs/report/workflow.rst"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/isoforms.smk"
include: "rules/homology.smk"
include: "rules/splits.smk"
include: "rules/pretrain.smk"
include: "rules/tasks.smk"
include: "rules/evaluate.smk"
include: "rules/figures.smk"


rule all:
    default_target: True
    input:
        all_targets(),
