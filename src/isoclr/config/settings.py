"""One typed settings object per pipeline stage, read from the pipeline config.

Every stage (download, store, homology, splits, pretrain, tasks, evaluation, figures) has one
frozen dataclass here with ``from_config(config, **wildcards)``; it owns the stage's defaults
(the same as ``config/schema.yaml``: ``tests/test_settings.py`` compares them), its seed
derivation and its model lists. The Snakemake rules (``rules/common.smk``), the ``isoclr`` CLI
and the library all get their settings from these objects, so a setting is read in one place.

``to_params()`` gives the plain dict a rule passes as its ``params`` (exactly the settings that
job uses, so Snakemake's default ``params`` rerun trigger sees every change that matters and no
other), and :func:`source_fingerprint` gives a sha256 over the library modules a stage imports
(its ``code`` param: editing one of them reruns the stage's jobs).

This module imports nothing heavy (no torch, numpy or pandas): the Snakefile imports it.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import hashlib
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isoclr.pretrain import architecture as _architecture  # torch-free: presets and parameter counts

PACKAGE_DIR = Path(__file__).resolve().parents[1]

#: Species, model, task, download-file and homology-source names (they become file names and
#: wildcard values): letters, digits, ``_``, ``-`` and ``.``, not starting with ``.``.
NAME_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"

NETWORK_MODELS = ("isoclr-finetune", "supervised", "saluki")
BUILTIN_ENCODERS = ("isoclr", "mlm", "random", "naive")
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


class ConfigError(ValueError):
    """A config value is wrong or points at something that does not exist; names the key."""


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def derive_seed(base: int, *parts: object) -> int:
    """A job's seed from the base seed and names (CRC32 of ``base|part|...``, 31 bits)."""
    text = "|".join(str(p) for p in (base, *parts))
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def _section(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    return dict(config.get(key) or {})


def _suggest(key: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else f" (valid: {', '.join(sorted(valid))})"


def _lookup(config: Mapping[str, Any], path: str, name: str) -> Any:
    """``config[path][name]`` where ``path`` is dotted; a missing name is a :class:`ConfigError`
    naming the key and the names that exist."""
    node: Any = config
    for part in path.split("."):
        node = (node or {}).get(part) or {}
    if name not in node:
        have = ", ".join(sorted(node)) or "none"
        raise ConfigError(f"config {path} has no entry {name!r} (have: {have})")
    return node[name]


def _plain(value: Any) -> Any:
    """Tuples -> lists, dataclasses -> dicts, recursively (YAML/JSON-safe params)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Settings:
    """Shared by the stage dataclasses."""

    def to_params(self) -> dict[str, Any]:
        """Plain types (dicts, lists, numbers, strings) for a rule's params or a YAML file."""
        return _plain(self)  # type: ignore[no-any-return]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str) -> Any:
        """Build from a mapping, refusing unknown keys (named, with the closest valid one)."""
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        for key in values:
            if key not in names:
                raise ConfigError(f"config {where}: unknown key {key!r}{_suggest(key, names)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**kwargs)


def base_seed(config: Mapping[str, Any]) -> int:
    return int(config.get("seed", 0))


def _seed(config: Mapping[str, Any], value: int | None) -> int:
    return base_seed(config) if value is None else int(value)


# ---------------------------------------------------------------------------------------------
# download
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DownloadSettings(_Settings):
    """How one URL is fetched: what (url, sha256, size: the rule's params) and how (config
    ``download``: retries, timeout, backoff). The how does not change the file, so it is not
    in the params: raising ``download.timeout`` reruns nothing."""

    url: str = ""
    sha256: str | None = None
    size: int | None = None
    retries: int = 3
    timeout: float = 120
    deadline: float = 21600
    backoff: float = 5

    TRANSPORT = ("retries", "timeout", "deadline", "backoff")

    @classmethod
    def from_config(cls, config: Mapping[str, Any], path: str) -> DownloadSettings:
        """``path``: the download's path under ``{results}/downloads/`` (see :func:`downloads`)."""
        table = downloads(config)
        if path not in table:
            raise ConfigError(f"no configured download is written to downloads/{path}")
        remote = table[path]
        dl = {k: v for k, v in _section(config, "download").items() if k in cls.TRANSPORT}
        return cls(**dl, url=remote["url"], sha256=remote.get("sha256"), size=remote.get("size"))

    def job_params(self) -> dict[str, Any]:
        """What is fetched (the download rule's params)."""
        return {k: v for k, v in self.to_params().items() if k not in self.TRANSPORT}


def annotation_format(config: Mapping[str, Any], species: str) -> str:
    """The annotation format of a species: from config, or from the URL's file name."""
    sp = _lookup(config, "species", species)
    if "annotation" not in sp:  # transcripts alone: a GENCODE pc_transcripts FASTA (store/gencode.py)
        return GENCODE_HEADERS
    ann = sp["annotation"]
    fmt = ann.get("format", "auto")
    if fmt != "auto":
        return str(fmt)
    name = re.sub(r"\.(gz|bgz)$", "", ann["url"].rsplit("/", 1)[-1].lower())
    ext = name.rsplit(".", 1)[-1]
    if ext not in ANNOTATION_SUFFIXES:
        raise ConfigError(
            f"config species.{species}.annotation: cannot tell the format from {ann['url']}; "
            f"set species.{species}.annotation.format to one of {list(ANNOTATION_FORMATS)}"
        )
    return ANNOTATION_SUFFIXES[ext]


#: the "annotation format" of a species given as transcripts alone (headers carry the annotation)
GENCODE_HEADERS = "gencode_pc_transcripts"


def genome_download(species: str) -> str:
    return f"{species}/genome.fa.gz"


#: species inputs besides genome and annotation: file name in downloads/{species}/ -> config key
SPECIES_INPUTS = {"transcripts.fa": "transcripts", "gene_map.tsv": "gene_map"}


def species_input_download(species: str, key: str) -> str:
    """``{species}/transcripts.fa.gz`` or ``{species}/gene_map.tsv.gz``."""
    name = {v: k for k, v in SPECIES_INPUTS.items()}[key]
    return f"{species}/{name}.gz"


def annotation_download(config: Mapping[str, Any], species: str) -> str:
    return f"{species}/annotation.{annotation_format(config, species)}.gz"


def homology_download(name: str) -> str:
    return f"homology/{name}.gz"


def file_download(name: str) -> str:
    return f"files/{name}.gz"


def downloads(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every configured download: its path under ``downloads/`` -> its remote (url, sha256...)."""
    table: dict[str, dict[str, Any]] = {}
    remote_keys = ("url", "sha256", "size")
    for sp, spec in _section(config, "species").items():
        if "genome" in spec:
            table[genome_download(sp)] = dict(spec["genome"])
        for key in SPECIES_INPUTS.values():
            if key in spec:
                table[species_input_download(sp, key)] = {k: v for k, v in spec[key].items() if k in remote_keys}
        if "annotation" in spec:
            table[annotation_download(config, sp)] = {
                k: v for k, v in spec["annotation"].items() if k in ("url", "sha256", "size")
            }
    for name, src in _section(_section(config, "homology"), "sources").items():
        table[homology_download(name)] = {k: v for k, v in src.items() if k in ("url", "sha256", "size")}
    for name, src in _section(_section(config, "download"), "files").items():
        table[file_download(name)] = dict(src)
    return table


# ---------------------------------------------------------------------------------------------
# store
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreSettings(_Settings):
    """One species store: its annotation format, transcript filters, aliases and provenance."""

    species: str
    format: str
    max_length: int = 12288
    chromosomes_include: tuple[str, ...] = ()
    chromosomes_exclude: tuple[str, ...] = ()
    biotypes: tuple[str, ...] = ()
    strict: bool = False
    aliases: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    #: transcript stores (``species.NAME.transcripts``): the gene map's columns, if one is given
    gene_map: dict[str, str | None] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], species: str) -> StoreSettings:
        sp = _lookup(config, "species", species)
        filters = {**_section(config, "filters"), **dict(sp.get("filters") or {})}
        provenance = {"taxid": sp.get("taxid", "")}
        if "genome" in sp:
            provenance["genome_url"] = sp["genome"]["url"]
        if "transcripts" in sp:
            provenance["transcripts_url"] = sp["transcripts"]["url"]
        if "annotation" in sp:
            provenance.update(annotation_url=sp["annotation"]["url"], annotation_version=sp["annotation"].get("version", ""))
        gm = sp.get("gene_map")
        return cls(
            species=species, format=annotation_format(config, species),
            **{k: tuple(v) if isinstance(v, list) else v for k, v in filters.items()},
            aliases=dict(sp.get("chrom_aliases") or {}), provenance=provenance,
            gene_map={"gene_column": gm.get("gene_column"), "name_column": gm.get("name_column")} if gm else None,
        )


# ---------------------------------------------------------------------------------------------
# homology
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HomologySource(_Settings):
    name: str
    format: str
    species: tuple[str, ...] = ()


@dataclass(frozen=True)
class HomologySettings(_Settings):
    """Transcript sets: the species (store order), homology tables and symbol joining."""

    species: tuple[str, ...]
    sources: tuple[HomologySource, ...] = ()
    taxids: dict[str, int] = field(default_factory=dict)
    join_symbols: bool = True
    max_genes_per_symbol: int | None = None
    #: species -> {file (a download.files name), entrez_column, gene_column} (taxon_groups sources)
    entrez_ids: dict[str, dict[str, str]] = field(default_factory=dict)
    #: two species whose directly linked gene pairs are written (homology/orthologs.tsv)
    orthologs: tuple[str, ...] = ()
    #: the sets with species kept apart (homology/sets.isoforms.h5): within-species sources only
    within_species: bool = False

    def to_params(self) -> dict[str, Any]:
        """The rule's params; the optional keys only when set (so configs without them keep
        their params, and their jobs are not rerun)."""
        p = super().to_params()
        for key in ("entrez_ids", "orthologs", "within_species"):
            if not p[key]:
                del p[key]
        return p

    @classmethod
    def from_config(cls, config: Mapping[str, Any], within_species: bool = False) -> HomologySettings:
        h = _section(config, "homology")
        species = _section(config, "species")
        sources = []
        for name, src in _section(h, "sources").items():
            for sp in src.get("species", []):
                if sp not in species:
                    raise ConfigError(
                        f"config homology.sources.{name}.species names {sp!r}, which is not a "
                        f"`species` entry (have: {', '.join(species)})"
                    )
            sources.append(HomologySource(name, src["format"], tuple(src.get("species", []))))
        entrez = {sp: dict(v) for sp, v in dict(h.get("entrez_ids") or {}).items()}
        orthologs = tuple(h.get("orthologs") or ())
        files = _section(_section(config, "download"), "files")
        for sp in [*entrez, *orthologs]:
            if sp not in species:
                raise ConfigError(f"config homology: species {sp!r} (entrez_ids / orthologs) is not a "
                                  f"`species` entry (have: {', '.join(species)})")
        for sp, spec in entrez.items():
            if spec.get("file") not in files:
                raise ConfigError(f"config homology.entrez_ids.{sp}.file is {spec.get('file')!r}, which "
                                  f"is not a download.files entry (have: {', '.join(files) or 'none'})")
        if within_species:
            sources = [src for src in sources if len(src.species) == 1]
        return cls(
            species=tuple(species), sources=tuple(sources),
            taxids={sp: int(c["taxid"]) for sp, c in species.items() if "taxid" in c},
            join_symbols=bool(h.get("join_symbols", True)),
            max_genes_per_symbol=h.get("max_genes_per_symbol"),
            entrez_ids=entrez, orthologs=orthologs, within_species=within_species,
        )


# ---------------------------------------------------------------------------------------------
# splits
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitsSettings(_Settings):
    """Leakage-free splits: target fractions, what they count, and the seed (resolved)."""

    fractions: dict[str, float] = field(default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    weight: str = "transcripts"
    seed: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SplitsSettings:
        s = _section(config, "splits")
        base = cls()
        return cls(
            fractions=dict(s.get("fractions") or base.fractions),
            weight=str(s.get("weight", base.weight)),
            seed=_seed(config, s.get("seed")),
        )


# ---------------------------------------------------------------------------------------------
# pretrain
# ---------------------------------------------------------------------------------------------
#: architecture keys of a model entry (isoclr.pretrain.architecture.ARCH_KEYS less in_channels)
ARCH_KEYS = tuple(k for k in _architecture.ARCH_KEYS if k != "in_channels")


@dataclass(frozen=True)
class PretrainSettings(_Settings):
    """One pre-training run (config ``pretrain.models.NAME``; defaults = config/schema.yaml).

    ``architecture`` holds the keys given for the encoder (``size`` preset plus overrides);
    :func:`isoclr.pretrain.model.resolve_config` turns them into the full architecture.
    """

    name: str = "model"
    objective: str = "dcl"
    size: str = "tiny"
    architecture: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    batch_size: int = 64
    accumulate: int = 1
    #: optimiser steps; None: ``epochs`` x steps per epoch of the training sets actually built
    #: (the job's training split), or DEFAULT_STEPS when neither is given. Given, it wins.
    steps: int | None = None
    epochs: float | None = None
    lr: float = 1e-3
    weight_decay: float = 1e-6
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "sqrt"
    warmup_steps: int | None = None
    warmup_epochs: float | None = None
    decay_fraction: float = 0.1
    min_lr_ratio: float = 0.0
    temperature: float = 0.1
    weight_c: float = 0.4
    mask_prob: float = 0.15
    grad_clip: float = 1.0
    amp: str | bool = "auto"
    compile: bool = False
    device: str = "auto"
    num_workers: int = 2
    bucket: bool = True
    chunk_batches: int = 50
    length_groups: int = 4
    log_every: int = 10
    progress_every: int = 100  # a progress line in the log (steps, loss, nt/s, ETA) every this many steps
    val_every: int = 50
    val_batches: int = 8
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    mlm_hidden: int = 32
    threads: int | None = None
    #: the species whose transcripts the model trains on (empty: every species)
    species: tuple[str, ...] = ()
    #: its sets: ``orthology`` (species joined by the homology sources) or ``isoforms``
    #: (species kept apart); both on the study's one split (isoclr.splits.assign.subset_sets)
    homology: str = "orthology"
    #: data paths (the rule passes its inputs; the CLI its options); not part of the params
    sets: str | None = None
    splits: str | None = None
    stores: dict[str, str] | None = None

    DEFAULT_STEPS = 200
    DEFAULT_WARMUP_STEPS = 20
    OBJECTIVES = ("dcl", "ntxent", "mlm")
    SCHEDULES = ("sqrt", "cosine", "constant")
    #: fields that are where the data lie or how fast it runs, not what is trained; left out of
    #: the rule's params (paths are its inputs) and of the resume fingerprint
    NOT_TRAINING = ("sets", "splits", "stores", "threads", "keep_checkpoints", "name", "species", "homology")
    HOMOLOGY = ("orthology", "isoforms")

    def __post_init__(self) -> None:
        where = f"pretrain.models.{self.name}"
        if self.objective not in self.OBJECTIVES:
            raise ConfigError(f"config {where}.objective must be one of {self.OBJECTIVES}, got {self.objective!r}")
        if self.homology not in self.HOMOLOGY:
            raise ConfigError(f"config {where}.homology must be one of {self.HOMOLOGY}, got {self.homology!r}")
        if self.schedule not in self.SCHEDULES:
            raise ConfigError(f"config {where}.schedule must be one of {self.SCHEDULES}, got {self.schedule!r}")
        for key in ("batch_size", "accumulate", "steps"):
            if getattr(self, key) is not None and int(getattr(self, key)) < 1:
                raise ConfigError(f"config {where}.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("epochs", "warmup_epochs"):
            if getattr(self, key) is not None and float(getattr(self, key)) < 0:
                raise ConfigError(f"config {where}.{key} must be >= 0, got {getattr(self, key)}")

    def schedule_steps(self, steps_per_epoch: int) -> tuple[int, int]:
        """(total steps, warm-up steps) for ``steps_per_epoch`` optimiser steps per epoch (the
        job's training sets / batch): an explicit ``steps`` / ``warmup_steps`` wins, else
        ``epochs`` / ``warmup_epochs`` x steps per epoch (rounded up, at least 1), else the
        defaults (200, 20)."""
        spe = max(1, int(steps_per_epoch))
        if self.steps is not None:
            total = int(self.steps)
        elif self.epochs is not None:
            total = max(1, math.ceil(float(self.epochs) * spe))
        else:
            total = self.DEFAULT_STEPS
        if self.warmup_steps is not None:
            warmup = int(self.warmup_steps)
        elif self.warmup_epochs is not None:
            warmup = math.ceil(float(self.warmup_epochs) * spe)
        else:
            warmup = self.DEFAULT_WARMUP_STEPS
        return total, min(warmup, total)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], name: str, seed: int = 0, results: str = "results") -> PretrainSettings:
        """A model entry (as in ``pretrain.models.NAME``) -> settings, seed and paths resolved."""
        entry = dict(entry or {})
        arch = dict(entry.pop("architecture", None) or entry.pop("model", None) or {})
        arch.pop("size", None)
        arch.pop("in_channels", None)
        for key in ARCH_KEYS:
            if key in entry:
                arch[key] = entry.pop(key)
        names = [f.name for f in dataclasses.fields(cls)]
        for key in entry:
            if key not in names:
                raise ConfigError(
                    f"config pretrain.models.{name}: unknown key {key!r}{_suggest(key, names + list(ARCH_KEYS))}"
                )
        entry["name"] = name
        entry["seed"] = seed if entry.get("seed") is None else int(entry["seed"])
        entry["sets"] = entry.get("sets") or str(Path(results) / "homology" / "sets.h5")
        entry["splits"] = entry.get("splits") or str(Path(results) / "splits" / "splits.tsv")
        if "betas" in entry:
            entry["betas"] = tuple(float(b) for b in entry["betas"])
        return cls(**entry, architecture={k: _plain(v) for k, v in arch.items() if v is not None})

    @classmethod
    def from_config(cls, config: Mapping[str, Any], model: str | None = None) -> PretrainSettings:
        models = _section(_section(config, "pretrain"), "models")
        if not models:
            raise ConfigError("config pretrain.models is empty (no model to pre-train)")
        if model is None:
            if len(models) > 1:
                raise ConfigError(f"config pretrain.models has several models ({', '.join(models)}); pick one with --model")
            model = next(iter(models))
        entry = _lookup(config, "pretrain.models", model)
        return cls.from_entry(entry, model, base_seed(config), str(config.get("results", "results")))

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **extra: Any) -> PretrainSettings:
        """Back from :meth:`job_params` (a rule's params), with the data paths added."""
        d = {**dict(params), **extra}
        name = str(d.pop("name", "model"))
        return cls.from_entry(d, name, seed=int(d.get("seed") or 0))

    def job_params(self) -> dict[str, Any]:
        """Every setting of the job but its data paths and threads (the rule's inputs and
        threads): the pretrain rule's params."""
        p = {k: v for k, v in self.to_params().items() if k not in ("sets", "splits", "stores", "threads")}
        for key, default in (("species", []), ("homology", "orthology")):  # data: in the params only when set
            if p[key] == default:
                del p[key]
        return p

    def arch_config(self) -> dict[str, Any]:
        """The architecture keys for :func:`isoclr.pretrain.model.resolve_config`."""
        return {"size": self.size, **self.architecture}

    def training(self) -> dict[str, Any]:
        """Every setting that shapes the trained weights (rule params, resume fingerprint)."""
        return {k: v for k, v in self.to_params().items() if k not in self.NOT_TRAINING}

    def replace(self, **changes: Any) -> PretrainSettings:
        return dataclasses.replace(self, **changes)


def pretrain_models(config: Mapping[str, Any]) -> list[str]:
    return list(_section(_section(config, "pretrain"), "models"))


def pretrain_data(config: Mapping[str, Any], model: str) -> str | None:
    """The sets variant a model trains on: None for every species joined by orthology (the
    homology stage's sets.h5 and the study's splits.tsv), else ``SPECIES+SPECIES.HOMOLOGY``
    (results/splits/models/VARIANT/, made by the splits stage's ``model_sets`` rule)."""
    entry = dict(_lookup(config, "pretrain.models", model) or {})
    species = list(entry.get("species") or [])
    homology = str(entry.get("homology") or "orthology")
    have = list(_section(config, "species"))
    for sp in species:
        if sp not in have:
            raise ConfigError(f"config pretrain.models.{model}.species names {sp!r}, which is not a "
                              f"`species` entry (have: {', '.join(have)})")
    chosen = [sp for sp in have if sp in species] if species else have
    if chosen == have and homology == "orthology":
        return None
    return "+".join(chosen) + "." + homology


# ---------------------------------------------------------------------------------------------
# tasks
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskStageSettings(_Settings):
    """Folds, fractions and seed shared by every task (config ``tasks``), plus one task's spec."""

    name: str
    spec: dict[str, Any]
    n_folds: int = 10
    fractions: tuple[float, ...] = (1.0, 0.3, 0.1, 0.01, 0.005)
    min_train: int = 8
    seed: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], task: str) -> TaskStageSettings:
        t = _section(config, "tasks")
        spec = dict(_lookup(config, "tasks.datasets", task))
        if spec["kind"] != "mrl_arrays" and spec.get("species") not in _section(config, "species"):
            raise ConfigError(
                f"config tasks.datasets.{task}.species is {spec.get('species')!r}, which is not a "
                f"`species` entry (have: {', '.join(_section(config, 'species'))})"
            )
        base = cls(task, {})
        return cls(
            name=task, spec=spec, n_folds=int(t.get("n_folds", base.n_folds)),
            fractions=tuple(float(f) for f in t.get("fractions", base.fractions)),
            min_train=int(t.get("min_train", base.min_train)), seed=_seed(config, t.get("seed")),
        )


def task_names(config: Mapping[str, Any]) -> list[str]:
    return list(_section(_section(config, "tasks"), "datasets"))


def task_kind(config: Mapping[str, Any], task: str) -> str:
    return str(_lookup(config, "tasks.datasets", task)["kind"])


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------
_ENCODER_MODEL_KEY = {"isoclr": "isoclr_model", "mlm": "mlm_model", "random": "isoclr_model"}


def _evaluation(config: Mapping[str, Any]) -> dict[str, Any]:
    return _section(config, "evaluation")


#: an encoder on any ``pretrain.models`` entry: ``pretrained-NAME`` (linear model
#: ``pretrained-NAME-linear``); the ``pretrained-linear`` token of an ``evaluation.models`` list
#: stands for one per entry that is not already evaluated as isoclr/mlm (isoclr_model, mlm_model)
PRETRAINED_PREFIX = "pretrained-"
PRETRAINED_TOKEN = "pretrained-linear"


def pretrained_encoders(config: Mapping[str, Any]) -> list[str]:
    """``pretrained-NAME`` for every pre-trained model not evaluated as isoclr or mlm."""
    ev = _evaluation(config)
    headline = {ev.get("isoclr_model"), ev.get("mlm_model")}
    return [PRETRAINED_PREFIX + m for m in pretrain_models(config) if m not in headline]


def pretrain_model_of(config: Mapping[str, Any], encoder: str) -> str:
    """The ``pretrain.models`` entry behind an encoder (isoclr, mlm, random, pretrained-NAME)."""
    if encoder.startswith(PRETRAINED_PREFIX):
        name = encoder.removeprefix(PRETRAINED_PREFIX)
        _lookup(config, "pretrain.models", name)  # a ConfigError naming the key when missing
        return name
    key = _ENCODER_MODEL_KEY[encoder]
    name = _evaluation(config).get(key)
    models = pretrain_models(config)
    if name not in models:
        raise ConfigError(
            f"config evaluation.{key} is {name!r}, which is not a pretrain.models entry "
            f"({', '.join(models) or 'none'}); the {encoder} encoder needs it"
        )
    return str(name)


def encoder_architecture(config: Mapping[str, Any], encoder: str = "isoclr") -> dict[str, Any]:
    """The architecture keys (size + overrides) of the model behind ``encoder``: only these, so
    a supervised or random job does not depend on the pre-training's learning rate."""
    return PretrainSettings.from_config(config, pretrain_model_of(config, encoder)).arch_config()


def eval_tasks(config: Mapping[str, Any]) -> list[str]:
    """Tasks evaluated (config evaluation.tasks keys), each checked to be a configured task."""
    tasks = list(_evaluation(config).get("tasks") or {})
    known = task_names(config)
    for t in tasks:
        if t not in known:
            raise ConfigError(
                f"config evaluation.tasks names {t!r}, which is not a tasks.datasets entry (have: {', '.join(known)})"
            )
    return tasks


def eval_models(config: Mapping[str, Any], task: str) -> list[str]:
    """Models evaluated on a task (evaluation.tasks.TASK, or evaluation.models when null)."""
    ev = _evaluation(config)
    models = (ev.get("tasks") or {})[task]
    out: list[str] = []
    for m in ev.get("models", []) if models is None else models:
        if m == PRETRAINED_TOKEN:  # a linear probe on every other pre-trained model
            out += [f"{e}-linear" for e in pretrained_encoders(config) if f"{e}-linear" not in out]
        elif m not in out:
            out.append(m)
    return out


def eval_fractions(config: Mapping[str, Any]) -> list[str]:
    """Training fractions (as wildcard strings): evaluation.fractions, or tasks.fractions."""
    fractions = _evaluation(config).get("fractions") or _section(config, "tasks").get(
        "fractions", TaskStageSettings.fractions
    )
    return [str(float(f)) for f in fractions]


#: default number of runs (evaluation.runs, as the schema): the paper's "mean and SD over three"
DEFAULT_RUNS = 3


def eval_folds(config: Mapping[str, Any]) -> list[int]:
    """Test folds, one per run: evaluation.folds when given, else folds 0 .. evaluation.runs-1
    (run r tests on fold r, validates on fold r+1, trains on the other n_folds-2)."""
    ev = _evaluation(config)
    n = int(_section(config, "tasks").get("n_folds", TaskStageSettings.n_folds))
    folds = ev.get("folds")
    if folds is None:
        runs = int(ev.get("runs", DEFAULT_RUNS))
        if runs > n:
            raise ConfigError(f"config evaluation.runs is {runs}, more than tasks.n_folds ({n}): one test fold per run")
        return list(range(runs))
    bad = [int(k) for k in folds if not 0 <= int(k) < n]
    if bad:
        raise ConfigError(f"config evaluation.folds names fold(s) {bad}, outside 0..{n - 1} (tasks.n_folds is {n})")
    return [int(k) for k in folds]


def eval_jobs(config: Mapping[str, Any]) -> list[tuple[str, str, str, int]]:
    """Every evaluation job: (task, model, fraction, fold)."""
    return [
        (task, model, fraction, fold)
        for task in eval_tasks(config)
        for model in eval_models(config, task)
        for fraction in eval_fractions(config)
        for fold in eval_folds(config)
    ]


def eval_encoders(config: Mapping[str, Any]) -> list[str]:
    return (list(BUILTIN_ENCODERS) + pretrained_encoders(config)
            + [f"external-{n}" for n in _evaluation(config).get("external") or {}])


@dataclass(frozen=True)
class ProbeSettings(_Settings):
    alphas: tuple[float, ...] = (1.0e-3, 1.0e-2, 0.1, 1.0, 10.0, 100.0, 1.0e3, 1.0e4, 1.0e5)
    Cs: tuple[float, ...] = (1.0e-5, 1.0e-4, 1.0e-3, 1.0e-2, 0.1, 1.0, 10.0)


@dataclass(frozen=True)
class FinetuneSettings(_Settings):
    max_epochs: int = 30
    patience: int = 5
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-2
    batch_size: int = 32
    grad_clip: float = 1.0
    head_dropout: float = 0.1
    amp: bool = True


@dataclass(frozen=True)
class SalukiSettings(_Settings):
    channels: int = 64
    width: int = 5
    blocks: int = 6
    gru: int = 64
    hidden: int = 64
    dropout: float = 0.3


@dataclass(frozen=True)
class EmbedSettings(_Settings):
    """One embedding job (encoder x task): batch size, device, and for the random encoder its
    architecture and seed, for an external encoder its settings."""

    encoder: str
    batch_size: int = 16
    device: str = "auto"
    model_cfg: dict[str, Any] | None = None
    seed: int = 0
    external: dict[str, Any] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], encoder: str) -> EmbedSettings:
        ev = _evaluation(config)
        kw: dict[str, Any] = {
            "batch_size": int(ev.get("embed_batch_size", 16)), "device": str(ev.get("device", "auto")),
        }
        if encoder == "random":
            kw["model_cfg"] = encoder_architecture(config, "random")
            kw["seed"] = derive_seed(base_seed(config), "random-encoder")
        elif encoder.startswith("external-"):
            name = encoder.removeprefix("external-")
            kw["external"] = dict(_lookup(config, "evaluation.external", name))
            kw["seed"] = base_seed(config)
        elif encoder.startswith(PRETRAINED_PREFIX):
            pretrain_model_of(config, encoder)  # names a pretrain.models entry (its checkpoint is the input)
        elif encoder not in BUILTIN_ENCODERS:
            raise ConfigError(f"unknown encoder {encoder!r} (expected one of {eval_encoders(config)})")
        return cls(encoder=encoder, **kw)


@dataclass(frozen=True)
class EvaluationSettings(_Settings):
    """One evaluation job (task x model): exactly the settings that model uses.

    Linear probes: ``probe`` only. Networks: ``finetune`` (with ``finetune_by_model``), seed,
    device, and the architecture (supervised) or Saluki widths (saluki).
    """

    task: str
    model: str
    probe: ProbeSettings | None = None
    finetune: FinetuneSettings | None = None
    saluki: SalukiSettings | None = None
    model_cfg: dict[str, Any] | None = None
    seed: int = 0
    device: str = "auto"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], task: str, model: str) -> EvaluationSettings:
        ev = _evaluation(config)
        if model not in NETWORK_MODELS:
            return cls(task=task, model=model, probe=ProbeSettings.from_mapping(ev.get("probe") or {}, "evaluation.probe"))
        tune = {**(ev.get("finetune") or {}), **(ev.get("finetune_by_model") or {}).get(model, {})}
        kw: dict[str, Any] = {
            "finetune": FinetuneSettings.from_mapping(tune, f"evaluation.finetune ({model})"),
            "seed": derive_seed(base_seed(config), task, model),
            "device": str(ev.get("device", "auto")),
        }
        if model == "supervised":
            kw["model_cfg"] = encoder_architecture(config, "isoclr")
        elif model == "saluki":
            kw["saluki"] = SalukiSettings.from_mapping(ev.get("saluki") or {}, "evaluation.saluki")
        return cls(task=task, model=model, **kw)

    def job_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`isoclr.evaluate.jobs.run_job` (plain types)."""
        p = self.to_params()
        return {k: p[k] for k in ("probe", "finetune", "saluki", "model_cfg", "seed", "device") if p[k] is not None}


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FigureSettings(_Settings):
    """One figure: its options for :func:`isoclr.figures.draw.draw` (task, dpi, t-SNE settings, the
    size figure's encoders) and the study's scale (``study``, ``demo_below``: a figure of the
    demo study, or whose largest training set has fewer than ``demo_below`` rows, says on
    itself that it is demo-sized; both are params, so the figure reruns when they change)."""

    name: str
    dpi: int = 200
    task: str | None = None
    max_per_class: int | None = None
    seed: int | None = None
    #: t-SNE: the GO aspect of the title, and how many of the task's most frequent terms colour it
    aspect: str | None = None
    classes: int | None = None
    #: fig_model_sizes: its tasks (half-life, MRL), the fraction drawn, and per evaluated model
    #: its pre-trained model, size, objective and encoder parameters (isoclr.pretrain.architecture)
    tasks: tuple[str, ...] | None = None
    fraction: float | None = None
    encoders: dict[str, dict[str, Any]] | None = None
    study: str = ""
    demo_below: int = 1000

    #: config ``figures`` keys and their defaults (schema), read by from_config
    DEFAULTS = {
        "halflife_task": "halflife_human", "go_task": "go_mf_human", "mrl_task": "mrl_human",
        "mouse_halflife_task": "halflife_mouse", "tsne_task": "go_cc_human",
        "tsne_mf_task": "go_mf_human", "tsne_bp_task": "go_bp_human", "tsne_classes": 3,
        "tsne_encoder": "isoclr", "tsne_max_per_class": 500, "dpi": 200, "seed": None,
        "demo_below": 1000, "names": list(FIGURES),
    }

    @classmethod
    def section(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        return {**cls.DEFAULTS, **_section(config, "figures")}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], figure: str) -> FigureSettings:
        f = cls.section(config)
        scale = {"dpi": int(f["dpi"]), "study": str(config.get("study", "")), "demo_below": int(f["demo_below"])}
        if figure.startswith("pretrain_curves_"):
            return cls(name="fig_pretrain_curves", **scale)
        if figure not in FIGURES:
            raise ConfigError(f"unknown figure {figure!r}{_suggest(figure, FIGURES)}")
        if figure in TSNE_FIGURES:
            key, aspect = TSNE_FIGURES[figure]
            return cls(name=figure, task=str(f[key]), max_per_class=int(f["tsne_max_per_class"]),
                       seed=_seed(config, f["seed"]), aspect=aspect, classes=int(f["tsne_classes"]), **scale)
        if figure == "fig_model_sizes":
            fractions = [float(x) for x in eval_fractions(config)] if config else [1.0]
            return cls(name=figure, tasks=(str(f["halflife_task"]), str(f["mrl_task"])),
                       fraction=max(fractions), encoders=size_encoders(config), **scale)
        key = {"fig2a_go_linear_probe": "go_task", "fig_mrl_linear_probe_comparison": "mrl_task",
               "fig_halflife_mouse": "mouse_halflife_task"}.get(figure, "halflife_task")
        task = f[key]
        return cls(name=figure, task=str(task), **scale)

    def options(self) -> dict[str, Any]:
        """Keyword options of :func:`isoclr.figures.draw.draw`."""
        return {k: v for k, v in self.to_params().items() if k != "name" and v is not None}


def pretrained_linear_models(config: Mapping[str, Any]) -> dict[str, str]:
    """Linear probe name -> the ``pretrain.models`` entry it probes (isoclr-linear,
    mlm-linear and every pretrained-NAME-linear), for the models the config pre-trains."""
    ev = _evaluation(config)
    models = pretrain_models(config)
    out = {}
    for probe, key in (("isoclr-linear", "isoclr_model"), ("mlm-linear", "mlm_model")):
        if ev.get(key) in models:
            out[probe] = str(ev[key])
    for enc in pretrained_encoders(config):
        out[f"{enc}-linear"] = enc.removeprefix(PRETRAINED_PREFIX)
    return out


def size_encoders(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """fig_model_sizes: each pre-trained model's linear probe evaluated on the half-life or MRL
    task -> its model, size, objective and encoder parameters (from the architecture)."""
    f = FigureSettings.section(config)
    tasks = [t for t in (f["halflife_task"], f["mrl_task"]) if t in (eval_tasks(config) if config else [])]
    evaluated = {m for t in tasks for m in eval_models(config, t)}
    out: dict[str, dict[str, Any]] = {}
    for probe, model in pretrained_linear_models(config).items():
        if probe not in evaluated:
            continue
        s = PretrainSettings.from_config(config, model)
        out[probe] = {"model": model, "size": s.size, "objective": s.objective,
                      "parameters": _architecture.encoder_parameters(s.arch_config())}
    return out


#: sizes of the paper's IsoCLR encoders (its size comparison)
PAPER_SIZES = ("small", "medium", "large")


@dataclass(frozen=True)
class TablesSettings(_Settings):
    """The study tables (isoclr.tables.summary): which of this study's models plays each model the paper
    reports on (``models``: role -> model name), which tasks are its half-life and MRL tasks."""

    study: str = ""
    models: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TablesSettings:
        f = FigureSettings.section(config)
        evaluated = set(eval_tasks(config)) if config else set()
        tasks = {role: str(f[key]) for role, key in (("halflife", "halflife_task"), ("mrl", "mrl_task"))
                 if f.get(key) in evaluated}
        names = {m for t in evaluated for m in eval_models(config, t)}
        ev = _evaluation(config)
        models: dict[str, str] = {}
        notes = []
        for m, entry in _section(_section(config, "pretrain"), "models").items():
            entry = entry or {}
            name = "isoclr-linear" if m == ev.get("isoclr_model") else f"{PRETRAINED_PREFIX}{m}-linear"
            size = entry.get("size", PretrainSettings.size)
            if entry.get("objective", "dcl") != "mlm" and size in PAPER_SIZES and name in names:
                models.setdefault(f"isoclr_{size}", name)
        if "isoclr_small" not in models and "isoclr-linear" in names:
            head = ev.get("isoclr_model")
            size = ((_section(_section(config, "pretrain"), "models").get(head) or {}).get("size", PretrainSettings.size))
            models["isoclr_small"] = "isoclr-linear"
            notes.append(f"IsoCLR small is played by {head} (size {size}), not the paper's model.")
        for role, name in (("saluki", "saluki"), ("isoclr_finetune", "isoclr-finetune"), ("random", "random-linear")):
            if name in names:
                models[role] = name
        for ext, spec in (ev.get("external") or {}).items():
            if str((spec or {}).get("source", "")).rstrip("/").endswith("rnafm") and f"external-{ext}-linear" in names:
                models.setdefault("rnafm", f"external-{ext}-linear")
        study = str(config.get("study", ""))
        if study == "demo":
            notes.append("Demo-sized data (a few dozen genes): not comparable with the paper.")
        return cls(study=study, models=models, tasks=tasks, note=" ".join(notes))


def figure_jobs(config: Mapping[str, Any], figure: str) -> list[tuple[str, str, str, int]]:
    """The evaluation jobs (task, model, fraction, fold) whose tables a metrics figure draws."""
    s = FigureSettings.from_config(config, figure)
    if figure == "fig_model_sizes":
        wanted = set(s.encoders or {}) | set(SIZE_REFERENCES)
        frac = [x for x in eval_fractions(config) if float(x) == s.fraction]
        return [(t, m, x, k) for t in (s.tasks or ()) if t in eval_tasks(config)
                for m in eval_models(config, t) if m in wanted for x in frac for k in eval_folds(config)]
    if s.task is None or s.task not in eval_tasks(config) or figure in TSNE_FIGURES:
        return []
    wanted = FIGURE_MODELS[figure]
    models = [m for m in eval_models(config, s.task)
              if ((m.endswith("-linear") or m == "saluki") if wanted is None else m in wanted)]
    fractions = eval_fractions(config)
    if wanted is None and "1.0" in fractions:
        fractions = ["1.0"]  # the comparison figure shows the full training set only
    return [(s.task, m, f, k) for m in models for f in fractions for k in eval_folds(config)]


def tsne_jobs(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(encoder, task) of the embeddings the configured t-SNE figures (figures.names) read."""
    f = FigureSettings.section(config)
    out = []
    for name in f["names"]:
        if name in TSNE_FIGURES and (str(f["tsne_encoder"]), str(f[TSNE_FIGURES[name][0]])) not in out:
            out.append((str(f["tsne_encoder"]), str(f[TSNE_FIGURES[name][0]])))
    return out


def embedding_jobs(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every embedding the study builds, (encoder, task): one per linear model of each
    evaluated task, plus those of the configured t-SNE figures."""
    out = []
    for task in eval_tasks(config):
        for model in eval_models(config, task):
            if model not in NETWORK_MODELS and (model.removesuffix("-linear"), task) not in out:
                out.append((model.removesuffix("-linear"), task))
    return out + [job for job in tsne_jobs(config) if job not in out]


def built_tasks(config: Mapping[str, Any]) -> list[str]:
    """The tasks the study builds: the evaluated ones and the t-SNE figures' (in config order)."""
    used = set(eval_tasks(config)) | {task for _, task in embedding_jobs(config)}
    return [t for t in task_names(config) if t in used]


# ---------------------------------------------------------------------------------------------
# config checks: unknown keys (every level) and cross-references
# ---------------------------------------------------------------------------------------------
def _resolve_schema(node: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    """``$ref`` and ``allOf`` merged into one schema dict (properties united)."""
    node = dict(node)
    if "$ref" in node:
        ref = node.pop("$ref")
        target: Any = root
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        node = {**_resolve_schema(target, root), **node}
    for sub in node.pop("allOf", []):
        sub = _resolve_schema(sub, root)
        props = {**sub.get("properties", {}), **node.get("properties", {})}
        node = {**sub, **node, "properties": props}
    return node


def unknown_keys(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every config key the schema does not know, at any level, each as ``'KEY' at PATH; did
    you mean 'X'?`` (difflib's closest valid key)."""
    problems: list[str] = []

    def walk(value: Any, node: Mapping[str, Any], path: str) -> None:
        node = _resolve_schema(node, schema)
        if not isinstance(value, Mapping):
            return
        props = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        if node.get("unevaluatedProperties") is False and "additionalProperties" not in node:
            extra = False
        for key, sub in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in props:
                walk(sub, props[key], where)
            elif isinstance(extra, Mapping):
                walk(sub, extra, where)
            elif extra is False:
                at = path or "the top level"
                problems.append(f"unknown key {key!r} at {at}{_suggest(str(key), list(props))}")

    walk(config, schema, "")
    return problems


def check_keys(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Refuse unknown keys at every level, naming each and the closest valid one (run before
    the schema validation, whose message for them names neither)."""
    problems = unknown_keys(config, schema)
    if problems:
        raise ConfigError("config: " + "; ".join(problems))


def check_references(config: Mapping[str, Any]) -> None:
    """Refuse names that point at nothing (a task's species, evaluation tasks and encoders),
    each error naming the config key at fault (run after the schema validation)."""
    species = _section(config, "species")
    for task, spec in _section(_section(config, "tasks"), "datasets").items():
        if (spec or {}).get("kind") != "mrl_arrays" and (spec or {}).get("species") not in species:
            raise ConfigError(
                f"config tasks.datasets.{task}.species is {spec.get('species')!r}, which is not a "
                f"`species` entry (have: {', '.join(species) or 'none'})"
            )
    HomologySettings.from_config(config)
    tasks = eval_tasks(config)
    models = {m for t in tasks for m in eval_models(config, t)}
    for encoder, needs in (("isoclr", ("isoclr-linear", "isoclr-finetune", "supervised", "random-linear")),
                           ("mlm", ("mlm-linear",))):
        if models & set(needs):
            pretrain_model_of(config, encoder)


def check_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """:func:`check_keys` then :func:`check_references` (the pipeline validates in between)."""
    check_keys(config, schema)
    check_references(config)


# ---------------------------------------------------------------------------------------------
# studies: which config files make the config
# ---------------------------------------------------------------------------------------------
def study_of(path: str | Path) -> str | None:
    """The ``study`` a config file declares (a complete study config), or None (an override)."""
    import yaml

    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    return data.get("study") if isinstance(data, dict) else None


def needs_default_config(configfiles: Sequence[str | Path]) -> bool:
    """Whether the demo config (config/config.yaml) is the base of these ``--configfile`` files.

    A file declaring ``study:`` is a complete study and the base: it must come first, and only
    one may. Files without it are overrides layered (deep-merged, in order) over the base, so
    ``--configfile my_overrides.yaml`` changes the demo and ``--configfile config/paper.yaml
    my_cluster.yaml`` changes the paper study.
    """
    studies = [(i, str(p), study_of(p)) for i, p in enumerate(configfiles)]
    named = [(i, p, s) for i, p, s in studies if s]
    if len(named) > 1:
        raise ConfigError(f"--configfile: {named[0][1]} and {named[1][1]} both declare a study; give one")
    if named and named[0][0] != 0:
        raise ConfigError(f"--configfile: the study config {named[0][1]} must come first (overrides after it)")
    return not named


# ---------------------------------------------------------------------------------------------
# code fingerprints
# ---------------------------------------------------------------------------------------------
#: the library module each stage's jobs run (their imports are followed)
STAGE_MODULES = {
    "download": ("download.fetch",),
    "store": ("store.builder",),
    "homology": ("homology.merge",),
    "splits": ("splits.assign",),
    "pretrain": ("pretrain.loop",),
    "tasks": ("tasks.build",),
    "embed": ("evaluate.jobs", "evaluate.embedder", "evaluate.baselines", "evaluate.external",
              "evaluate.naive"),
    "evaluate": ("evaluate.jobs", "evaluate.probes", "evaluate.metrics", "evaluate.finetune",
                 "evaluate.baselines"),
    "collect": ("evaluate.collect",),
    "figures": ("figures.draw",),
    "tables": ("tables.summary",),
    "variants_genome": ("variants.genome",),
    "variants": ("variants.score",),
}


@functools.lru_cache(maxsize=None)
def _imports(module: str) -> frozenset[str]:
    """isoclr modules imported anywhere in ``isoclr.<module>`` (static: the AST; each module
    parsed once per process: the stages share most modules, and planning reads them all)."""
    path = PACKAGE_DIR / f"{module.replace('.', '/')}.py"
    if not path.exists():
        path = PACKAGE_DIR / module.replace(".", "/") / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "isoclr" or node.module.startswith("isoclr."):
                package = node.module.removeprefix("isoclr").lstrip(".")
                for alias in node.names:  # `from isoclr.pkg import module` names a module
                    sub = f"{package}.{alias.name}" if package else alias.name
                    found.add(sub if _is_module(sub) else package)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("isoclr.") for a in node.names if a.name.startswith("isoclr."))
    return frozenset(m for m in found if m and _is_module(m))


def _is_module(module: str) -> bool:
    """Whether ``isoclr.<module>`` is a module or package of this library."""
    return ((PACKAGE_DIR / f"{module.replace('.', '/')}.py").exists()
            or (PACKAGE_DIR / module.replace(".", "/") / "__init__.py").exists())


def stage_modules(stage: str) -> list[str]:
    """Every isoclr module a stage's jobs can run: its modules and their isoclr imports."""
    todo, seen = list(STAGE_MODULES[stage]), set()
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(_imports(m) - seen)
    return sorted(seen)


@functools.lru_cache(maxsize=None)
def source_fingerprint(stage: str) -> str:
    """sha256 over the source of every library module a stage runs (name and bytes), e.g. for
    a rule's ``code`` param: editing one of them changes it, so Snakemake reruns the jobs."""
    digest = hashlib.sha256()
    for m in stage_modules(stage):
        path = PACKAGE_DIR / f"{m.replace('.', '/')}.py"
        if not path.exists():
            path = PACKAGE_DIR / m.replace(".", "/") / "__init__.py"
        digest.update(m.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
