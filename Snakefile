# isoclr: IsoCLR pre-training and evaluation, from public genomes to the paper's figures.
#   snakemake --cores 8 --use-conda                 (workstation; the demo study, into results/)
#   snakemake --configfile config/paper.yaml        (the paper study, into results/paper/)
#   snakemake --profile profiles/slurm              (SLURM cluster)
#   snakemake results/figures/fig2c_halflife_linear_probe_pearson.pdf   (one figure)
# Stages, in order; each has its rules file here, a script shim in workflow/scripts/ and a
# module in src/isoclr/ (docs/settings.md has the table); shared helpers: rules/common.smk.
import os

try:  # the package, installed in the Python that runs snakemake (docs/install.md)
    from isoclr.config.load import needs_default_config
except ImportError as exc:
    raise WorkflowError(
        f"{exc}: isoclr is not installed in the Python that runs snakemake; "
        "run `pip install -e .` in this repository (or `bash scripts/setup.sh`, docs/install.md)"
    ) from exc

# With --use-conda, each environment in envs/ gets this checkout's isoclr (editable, no other
# package) from its post-deploy script, which finds the checkout here (docs/install.md).
os.environ.update(ISOCLR_ROOT=workflow.basedir)

# Config layering (docs/settings.md): the demo config/config.yaml is the base unless the first
# --configfile declares a `study:` (a complete study config such as config/paper.yaml, so no
# demo species, models or label files leak into it). Every other --configfile is an override
# layered over the base (deep-merged, in order), and --config KEY=VALUE comes last.
if needs_default_config(workflow.overwrite_configfiles or []):

    configfile: "config/config.yaml"


# `snakemake --report results/report.html`: this description, every figure (PNG) with its
# caption, the metrics table and the pre-training curves.
report: "docs/report/workflow.rst"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/store.smk"
include: "rules/homology.smk"
include: "rules/splits.smk"
include: "rules/pretrain.smk"
include: "rules/tasks.smk"
include: "rules/evaluate.smk"
include: "rules/diagnostics.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"
include: "rules/variants.smk"
include: "rules/attribute.smk"


rule all:
    default_target: True
    input:
        all_targets(),
