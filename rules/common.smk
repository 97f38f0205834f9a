# Shared by every rules file (the only file with functions; rules files hold rules only):
# config checks, paths, wildcard constraints, the settings of each job (isoclr.config.settings,
# one typed object per stage) and the target lists. See docs/settings.md.
#
# Every rule's params are exactly the settings its job uses (`settings`) plus `code`, a sha256
# over the library code the stage's jobs run (isoclr.config.fingerprint), so Snakemake's
# default rerun triggers (params, code, input, mtime) see a changed setting or library code.
import os
import re

from snakemake.utils import min_version

min_version("8.0")
# stdlib + yaml + jsonschema only
from isoclr.config import graph, load, registry, study  # noqa: E402
from isoclr.config.fingerprint import source_fingerprint  # noqa: E402
from isoclr.config.safe_yaml import check_config_files  # noqa: E402
from isoclr.config.settings.attribute import AttributeSettings, attribute_heads  # noqa: E402
from isoclr.config.settings.diagnostics import DiagnosticsSettings  # noqa: E402
from isoclr.config.settings.download import DownloadSettings  # noqa: E402
from isoclr.config.settings.embed import EmbedSettings  # noqa: E402
from isoclr.config.settings.evaluate import EvaluationSettings  # noqa: E402
from isoclr.config.settings.figures import FigureSettings  # noqa: E402
from isoclr.config.settings.homology import HomologySettings  # noqa: E402
from isoclr.config.settings.pretrain import PretrainSettings  # noqa: E402
from isoclr.config.settings.splits import SplitsSettings  # noqa: E402
from isoclr.config.settings.store import StoreSettings  # noqa: E402
from isoclr.config.settings.tables import TablesSettings  # noqa: E402
from isoclr.config.settings.tasks import TaskStageSettings  # noqa: E402
from isoclr.variants import settings as VS  # noqa: E402  (stdlib only)

# The one config loader (isoclr.config.load, as `isoclr plan` and every --config option): the
# schema validates the config Snakemake layered and fills every default (unknown keys named,
# with the closest valid one), then names that point at nothing are refused (by config key).
# Snakemake has parsed the config files itself: they are read again, bounded (alias bombs,
# duplicate and non-string keys), before the schema's validator works on what they hold.
check_config_files(
    [*workflow.configfiles, *(workflow.overwrite_configfiles or [])], workflow.basedir
)
load.complete(config)
VS.check(config)

RESULTS = config["results"]
SPECIES = list(config["species"])
PRETRAIN_MODELS = study.pretrain_models(config)


def names_regex(names):
    """A wildcard constraint matching exactly one of `names`, escaped (nothing when empty)."""
    names = list(names)
    return "|".join(re.escape(str(n)) for n in names) if names else "(?!x)x"


wildcard_constraints:
    species=names_regex(SPECIES),
    model=names_regex(PRETRAIN_MODELS),
    vcf=names_regex(VS.vcf_names(config)),
    variant=names_regex({v for v in (study.pretrain_data(config, m) for m in PRETRAIN_MODELS) if v}),


def results(*parts):
    """A path under the study's results folder (config `results`)."""
    return os.path.join(RESULTS, *parts)


def log_path(rule_name, *parts):
    """A job's log, under the study's results folder (results/logs/RULE/...)."""
    return results("logs", rule_name, *parts)


def bench_path(rule_name, *parts):
    return results("benchmarks", rule_name, *parts)


def rule_resources(rule_name, key, default):
    """A resource for a rule from config `resources` (see config/schema.yaml)."""
    return config.get("resources", {}).get(rule_name, {}).get(key, default)


def code(stage):
    """The source fingerprint of a stage's library modules (a rule's `code` param)."""
    return source_fingerprint(stage)


# --- paths -----------------------------------------------------------------------------------
def download_path(relative):
    return results("downloads", relative)


def genome_path(species):
    return download_path(study.genome_download(species))


def annotation_path(species):
    return download_path(study.annotation_download(config, species))


def homology_path(name):
    return download_path(study.homology_download(name))


def downloaded_file(name):
    """The local copy of config `download.files.NAME`."""
    return download_path(study.file_download(name))


def store_path(species):
    return results("stores", f"{species}.h5")


def eval_table(task, model, fraction, fold):
    return results("eval", task, model, f"frac{fraction}", f"fold{fold}.tsv")


def pretrain_checkpoint(encoder):
    return results("pretrain", study.pretrain_model_of(config, encoder), "checkpoint.pt")


# --- download --------------------------------------------------------------------------------
def download_regex():
    return names_regex(study.downloads(config))


def download_settings(wildcards):
    """What is fetched (url, sha256, size); how (retries, timeout) is read by the shim."""
    return DownloadSettings.from_config(config, wildcards.path).job_params()


# --- store -----------------------------------------------------------------------------------
def store_inputs(wildcards):
    """The store's sequence source: the genome, or transcripts (+ gene map) in its place."""
    sp = config["species"][wildcards.species]
    out = {"annotation": annotation_path(wildcards.species)} if "annotation" in sp else {}
    if "transcripts" in sp:
        out["transcripts"] = download_path(
            study.species_input_download(wildcards.species, "transcripts")
        )
        if "gene_map" in sp:
            out["gene_map"] = download_path(
                study.species_input_download(wildcards.species, "gene_map")
            )
    else:
        out["genome"] = genome_path(wildcards.species)
    return out


def store_settings(wildcards):
    return StoreSettings.from_config(config, wildcards.species).to_params()


# --- homology and splits ---------------------------------------------------------------------
def homology_settings(within_species=False):
    return HomologySettings.from_config(config, within_species).to_params()


def homology_inputs(within_species=False):
    s = homology_settings(within_species)
    out = {
        "stores": [store_path(sp) for sp in SPECIES],
        "sources": [homology_path(src["name"]) for src in s["sources"]],
    }
    if s.get("entrez_ids"):  # taxon_groups sources' Entrez id maps, in species order
        out["entrez_ids"] = [downloaded_file(m["file"]) for m in s["entrez_ids"].values()]
    return out


def homology_outputs():
    """The ortholog pairs, when config homology.orthologs names two species."""
    return (
        {"orthologs": results("homology", "orthologs.tsv")}
        if HomologySettings.from_config(config).orthologs
        else {}
    )


def splits_orthologs():
    """(input, output) of the splits stage for the held-out ortholog pairs, when configured."""
    if not homology_outputs():
        return {}, {}
    return {"orthologs": results("homology", "orthologs.tsv")}, {
        "heldout": results("splits", "heldout_orthologs.tsv")
    }


# --- a pre-training model's own species and homology sets (config pretrain.models.NAME) --------
MODEL_SETS = {m: study.pretrain_data(config, m) for m in PRETRAIN_MODELS}


def model_data(model):
    """The sets and splits a model trains on: the study's, or its variant's (rule model_sets)."""
    variant = MODEL_SETS[model]
    if variant is None:
        return {"sets": results("homology", "sets.h5"), "splits": results("splits", "splits.tsv")}
    return {
        "sets": results("splits", "models", variant, "sets.h5"),
        "splits": results("splits", "models", variant, "splits.tsv"),
    }


def variant_sets(wildcards):
    """A variant's source sets: joined by orthology, or with species kept apart."""
    mode = wildcards.variant.rsplit(".", 1)[1]
    return results("homology", "sets.h5" if mode == "orthology" else "sets.isoforms.h5")


def splits_settings():
    return SplitsSettings.from_config(config).to_params()


# --- pretrain --------------------------------------------------------------------------------
def pretrain_settings(wildcards):
    """Every setting of the model's job (not its data paths and threads: inputs, threads)."""
    return PretrainSettings.from_config(config, wildcards.model).job_params()


def pretrain_gpus():
    return int(config["pretrain"]["gpus"])


# --- tasks -----------------------------------------------------------------------------------
def array_tasks():
    """Tasks built from ready-made arrays (they write their own task-local store)."""
    return [t for t in study.task_names(config) if study.task_kind(config, t) == "mrl_arrays"]


def store_tasks():
    return [t for t in study.task_names(config) if study.task_kind(config, t) != "mrl_arrays"]


def task_file(value):
    """A label/GO source: a `download.files` name (its local copy) or a path (as given)."""
    if value in config["download"]["files"]:
        return downloaded_file(value)
    return value


def task_inputs(wildcards):
    """Everything one task reads: its species store, the annotation (for the join report),
    the homology groups, and its label files."""
    s = TaskStageSettings.from_config(config, wildcards.task)
    inputs = {"genes": results("splits", "genes.tsv")}
    if s.spec["kind"] != "mrl_arrays":
        inputs["store"] = store_path(s.spec["species"])
        if "annotation" in config["species"][s.spec["species"]]:  # none: a GENCODE header FASTA
            inputs["annotation"] = annotation_path(s.spec["species"])
    for key in ("labels", "obo", "gaf", "gene_ids"):
        if s.spec.get(key):
            inputs[key] = task_file(s.spec[key])
    return inputs


def task_settings(wildcards):
    return TaskStageSettings.from_config(config, wildcards.task).to_params()


# --- evaluation ------------------------------------------------------------------------------
def eval_encoders_regex():
    return names_regex(study.eval_encoders(config))


def network_regex():
    return names_regex(registry.NETWORK_MODELS)


def embed_inputs(wildcards):
    """The task and, for isoclr/mlm, the checkpoint an embedding job reads."""
    inputs = {"task": results("tasks", f"{wildcards.task}.h5")}
    if wildcards.encoder in ("isoclr", "mlm") or wildcards.encoder.startswith(
        registry.PRETRAINED_PREFIX
    ):
        inputs["checkpoint"] = pretrain_checkpoint(wildcards.encoder)
    return inputs


def embed_settings(wildcards):
    return EmbedSettings.from_config(config, wildcards.encoder).to_params()


def linear_inputs(wildcards):
    return {
        "task": results("tasks", f"{wildcards.task}.h5"),
        "embeddings": results("embeddings", wildcards.encoder, f"{wildcards.task}.h5"),
    }


def linear_settings(wildcards):
    return EvaluationSettings.from_config(
        config, wildcards.task, f"{wildcards.encoder}-linear"
    ).to_params()


def network_inputs(wildcards):
    inputs = {"task": results("tasks", f"{wildcards.task}.h5")}
    if wildcards.netmodel == "isoclr-finetune":
        inputs["checkpoint"] = pretrain_checkpoint("isoclr")
    return inputs


def network_settings(wildcards):
    return EvaluationSettings.from_config(config, wildcards.task, wildcards.netmodel).to_params()


def evaluation_tables():
    """Every evaluation job's TSV: each task x its models x fractions x folds."""
    return [eval_table(*job) for job in study.eval_jobs(config)]


# --- diagnostics (rules/diagnostics.smk) ----------------------------------------------------
def diagnostics_inputs(wildcards):
    inputs = {
        "stores": [store_path(sp) for sp in SPECIES],
        "sets": results("homology", "sets.h5"),
        "splits": results("splits", "splits.tsv"),
    }
    if len(SPECIES) > 1:
        inputs["orthologs"] = results("splits", "heldout_orthologs.tsv")
    if wildcards.encoder in ("isoclr", "mlm") or wildcards.encoder.startswith(
        registry.PRETRAINED_PREFIX
    ):
        inputs["checkpoint"] = pretrain_checkpoint(wildcards.encoder)
    return inputs


def diagnostics_settings(wildcards):
    return DiagnosticsSettings.from_config(config, wildcards.encoder).to_params()


def diagnostics_tables():
    return [results("diagnostics", f"{e}.tsv") for e in study.diagnostics_encoders(config)]


def diagnostics_targets():
    """Each encoder's table and the figure, when config diagnostics.encoders names any."""
    tables = diagnostics_tables()
    return tables + [results("figures", "fig_diagnostics.pdf")] if tables else []


# --- tables ----------------------------------------------------------------------------------
def tables_settings():
    return TablesSettings.from_config(config).to_params()


def table_targets():
    """summary.tsv and paper_comparison.{tsv,md} (with the metrics table)."""
    if not study.eval_tasks(config):
        return []
    return [
        results("tables", n)
        for n in (
            "summary.tsv",
            "paper_comparison.tsv",
            "paper_comparison.md",
            "paper_comparison.html",
        )
    ]


# --- figures ---------------------------------------------------------------------------------
FIGURE_SUBCATEGORY = {
    "fig2a_go_linear_probe": "Gene Ontology",
    "fig2b_halflife_linear_probe_mse": "RNA half-life",
    "fig2c_halflife_linear_probe_pearson": "RNA half-life",
    "fig3_halflife_finetune": "RNA half-life",
    "fig4_tsne_go_cellular_component": "Latent space",
    "fig4_tsne_go_molecular_function": "Latent space",
    "fig4_tsne_go_biological_process": "Latent space",
    "fig_linear_probe_comparison": "Encoders",
    "fig_mrl_linear_probe_comparison": "Encoders",
    "fig_halflife_mouse": "RNA half-life",
    "fig_model_sizes": "Encoders",
}
FIGURE_LABELS = {
    "fig2a_go_linear_probe": ("GO molecular function", "linear probe vs supervised"),
    "fig2b_halflife_linear_probe_mse": ("half-life", "linear probe MSE"),
    "fig2c_halflife_linear_probe_pearson": ("half-life", "linear probe Pearson"),
    "fig3_halflife_finetune": ("half-life", "fine-tuning"),
    "fig4_tsne_go_cellular_component": ("GO cellular component", "t-SNE"),
    "fig4_tsne_go_molecular_function": ("GO molecular function", "t-SNE"),
    "fig4_tsne_go_biological_process": ("GO biological process", "t-SNE"),
    "fig_linear_probe_comparison": ("half-life", "linear probes of every encoder"),
    "fig_mrl_linear_probe_comparison": ("mean ribosome load", "linear probes of every encoder"),
    "fig_halflife_mouse": ("mouse half-life", "linear probe and fine-tuning"),
    "fig_model_sizes": ("half-life and mean ribosome load", "linear probe vs encoder parameters"),
}


def figure_names():
    """Every figure the {figure} wildcard can take: the paper's and each model's curves."""
    return list(registry.FIGURES) + [f"pretrain_curves_{m}" for m in PRETRAIN_MODELS]


def figure_inputs(wildcards):
    """A figure's inputs: its evaluation tables, or t-SNE embeddings + task, or a model's
    pre-training metrics."""
    name = wildcards.figure
    if name.startswith("pretrain_curves_"):
        return {"pretrain_metrics": results("pretrain", name[16:], "metrics.csv")}
    if name in registry.TSNE_FIGURES:
        task = FigureSettings.from_config(config, name).task
        encoder = config["figures"]["tsne_encoder"]
        return {
            "embeddings": results("embeddings", encoder, f"{task}.h5"),
            "task_file": results("tasks", f"{task}.h5"),
        }
    return {"metrics": [eval_table(*job) for job in graph.figure_jobs(config, name)]}


def figure_settings(wildcards):
    return FigureSettings.from_config(config, wildcards.figure).to_params()


def figure_category(wildcards):
    """Report category: the pre-training curves have their own, every other figure is a Figure."""
    return "Pre-training" if wildcards.figure.startswith("pretrain_curves_") else "Figures"


def figure_subcategory(wildcards):
    if wildcards.figure.startswith("pretrain_curves_"):
        return "Pre-training"
    return FIGURE_SUBCATEGORY[wildcards.figure]


def figure_labels():
    def labels(wildcards):
        if wildcards.figure.startswith("pretrain_curves_"):
            return {
                "model": wildcards.figure[16:],
                "panel": "loss, alignment/uniformity, learning rate",
            }
        task, panel = FIGURE_LABELS[wildcards.figure]
        return {"task": task, "panel": panel}

    return labels


# --- variants --------------------------------------------------------------------------------
def variants_inputs(wildcards):
    """A VCF's job: the VCF, its species' random-access genome and annotation, the encoder."""
    s = VS.VariantsSettings.from_config(config, wildcards.vcf)
    return {
        "vcf": s.vcf,
        "genome": results("variants", "genomes", f"{s.species}.fa.gz"),
        "fai": results("variants", "genomes", f"{s.species}.fa.gz.fai"),
        "annotation": annotation_path(s.species),
        "checkpoint": results("pretrain", s.model, "checkpoint.pt"),
        "heads": s.heads,
    }


def variants_settings(wildcards):
    return VS.VariantsSettings.from_config(config, wildcards.vcf).to_params()


def variant_effect_targets():
    """One table per VCF of config `variants.vcfs`."""
    return [results("variants", f"{name}.tsv") for name in VS.vcf_names(config)]


# --- attributions ----------------------------------------------------------------------------
def kept_head(task, netmodel):
    """The folder a network job keeps its trained head in (rule evaluate_network_head)."""
    return study.kept_head_path(config, task, netmodel)


def attribute_inputs(wildcards):
    """A head's job: the kept head, its task and the task's species store."""
    species = config["tasks"]["datasets"][wildcards.task]["species"]
    return {
        "head": kept_head(wildcards.task, wildcards.netmodel),
        "task": results("tasks", f"{wildcards.task}.h5"),
        "store": store_path(species),
    }


def attribute_settings(wildcards):
    return AttributeSettings.from_config(config, wildcards.task, wildcards.netmodel).to_params()


def attribution_targets():
    """One attributions file per head of config `attribute.heads`."""
    return [results("attributions", task, f"{model}.h5") for task, model in attribute_heads(config)]


# --- targets ---------------------------------------------------------------------------------
def data_targets():
    """The data stage's outputs: every species store, the transcript sets and the splits."""
    return (
        [store_path(sp) for sp in SPECIES]
        + [
            results("homology", "sets.h5"),
            results("splits", "splits.tsv"),
        ]
        + list(splits_orthologs()[1].values())
    )


def pretrain_targets():
    return expand(
        results("pretrain", "{model}", "{file}"),
        model=PRETRAIN_MODELS,
        file=["checkpoint.pt", "metrics.csv"],
    )


def tsne_embeddings():
    """The embeddings the configured t-SNE figures read (config figures.tsne_*task, tsne_encoder)."""
    return [results("embeddings", enc, f"{task}.h5") for enc, task in graph.tsne_jobs(config)]


def evaluation_targets():
    """metrics.tsv (every job) plus the embeddings the figures read directly."""
    if not study.eval_tasks(config):
        return []
    return [
        results("metrics", "metrics.tsv"),
        results("metrics", "metrics.html"),
    ] + tsne_embeddings()


def figure_targets():
    """Every configured figure (PDF; the PNG is made beside it) and the pre-training curves."""
    names = list(config["figures"]["names"])
    names += [f"pretrain_curves_{m}" for m in PRETRAIN_MODELS]
    return [results("figures", f"{n}.pdf") for n in names]


def all_targets():
    """Everything `snakemake` with no target builds: each stage adds its own list."""
    return (
        data_targets()
        + pretrain_targets()
        + evaluation_targets()
        + table_targets()
        + figure_targets()
        + diagnostics_targets()
        + variant_effect_targets()
        + attribution_targets()
    )
