"""Names the config can use and the code knows: figures (and the models each draws), encoders,
network models and annotation formats."""

from __future__ import annotations

NETWORK_MODELS = ("isoclr-finetune", "supervised", "saluki")
BUILTIN_ENCODERS = ("isoclr", "mlm", "random", "naive")
#: an encoder on any ``pretrain.models`` entry: ``pretrained-NAME`` (linear model
#: ``pretrained-NAME-linear``); the ``pretrained-linear`` token of an ``evaluation.models`` list
#: stands for one per entry that is not already evaluated as isoclr/mlm (isoclr_model, mlm_model)
PRETRAINED_PREFIX = "pretrained-"
PRETRAINED_TOKEN = "pretrained-linear"
#: sizes of the paper's IsoCLR encoders (its size comparison)
PAPER_SIZES = ("small", "medium", "large")

FIGURES = (
    "fig2a_go_linear_probe",
    "fig2b_halflife_linear_probe_mse",
    "fig2c_halflife_linear_probe_pearson",
    "fig3_halflife_finetune",
    "fig4_tsne_go_cellular_component",
    "fig4_tsne_go_molecular_function",
    "fig4_tsne_go_biological_process",
    "fig_linear_probe_comparison",
    "fig_mrl_linear_probe_comparison",
    "fig_halflife_mouse",
    "fig_model_sizes",
)
#: t-SNE figures: config ``figures`` key of their task, and the GO aspect they colour by
TSNE_FIGURES: dict[str, tuple[str, str]] = {
    "fig4_tsne_go_cellular_component": ("tsne_task", "cellular component"),
    "fig4_tsne_go_molecular_function": ("tsne_mf_task", "molecular function"),
    "fig4_tsne_go_biological_process": ("tsne_bp_task", "biological process"),
}
#: references drawn as horizontal lines in fig_model_sizes (when evaluated)
SIZE_REFERENCES = ("random-linear", "naive-linear", "saluki")
#: The models each metrics figure draws; None: every linear probe (and Saluki, the supervised
#: reference of the paper's comparison). A figure's inputs are
#: exactly those models' per-job tables, so asking for one figure runs only the jobs it shows.
FIGURE_MODELS: dict[str, tuple[str, ...] | None] = {
    "fig2a_go_linear_probe": ("isoclr-linear", "supervised", "random-linear"),
    "fig2b_halflife_linear_probe_mse": ("isoclr-linear", "supervised", "random-linear"),
    "fig2c_halflife_linear_probe_pearson": ("isoclr-linear", "supervised", "random-linear"),
    "fig3_halflife_finetune": ("isoclr-finetune", "supervised", "saluki"),
    "fig_linear_probe_comparison": None,
    "fig_mrl_linear_probe_comparison": None,
    "fig_halflife_mouse": ("isoclr-linear", "supervised", "random-linear", "isoclr-finetune", "saluki"),
    "fig_model_sizes": None,  # every pre-trained model's linear probe + SIZE_REFERENCES (figure_jobs)
}

ANNOTATION_FORMATS = ("gtf", "gff3", "genepred", "refflat", "bed12")
#: file-name endings that name an annotation format (used when format is ``auto``)
ANNOTATION_SUFFIXES = {
    "gtf": "gtf", "gff": "gff3", "gff3": "gff3", "genepred": "genepred", "gp": "genepred",
    "refflat": "refflat", "bed": "bed12", "bed12": "bed12",
}
#: the "annotation format" of a species given as transcripts alone (headers carry the annotation)
GENCODE_HEADERS = "gencode_pc_transcripts"
#: species inputs besides genome and annotation: file name in downloads/{species}/ -> config key
SPECIES_INPUTS = {"transcripts.fa": "transcripts", "gene_map.tsv": "gene_map"}
