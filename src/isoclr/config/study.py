"""What a study holds, read from its (schema-filled) config: the downloads, models, tasks and
the evaluation grid (tasks x models x fractions x folds).

The job lists that also need the figures' settings (embeddings, t-SNE, built tasks) are in
:mod:`isoclr.config.graph`. Imports nothing heavy: the Snakefile imports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from isoclr.config.base import ConfigError, lookup, section
from isoclr.config.registry import (
    ANNOTATION_FORMATS,
    ANNOTATION_SUFFIXES,
    BUILTIN_ENCODERS,
    GENCODE_HEADERS,
    PRETRAINED_PREFIX,
    PRETRAINED_TOKEN,
    SPECIES_INPUTS,
)

_ENCODER_MODEL_KEY = {"isoclr": "isoclr_model", "mlm": "mlm_model", "random": "isoclr_model"}


# ---------------------------------------------------------------------------------------------
# downloads
# ---------------------------------------------------------------------------------------------
def annotation_format(config: Mapping[str, Any], species: str) -> str:
    """The annotation format of a species: from config, or from the URL's file name."""
    sp = lookup(config, "species", species)
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


def genome_download(species: str) -> str:
    return f"{species}/genome.fa.gz"


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
    for sp, spec in section(config, "species").items():
        if "genome" in spec:
            table[genome_download(sp)] = dict(spec["genome"])
        for key in SPECIES_INPUTS.values():
            if key in spec:
                table[species_input_download(sp, key)] = {k: v for k, v in spec[key].items() if k in remote_keys}
        if "annotation" in spec:
            table[annotation_download(config, sp)] = {
                k: v for k, v in spec["annotation"].items() if k in remote_keys
            }
    for name, src in section(section(config, "homology"), "sources").items():
        table[homology_download(name)] = {k: v for k, v in src.items() if k in remote_keys}
    for name, src in section(section(config, "download"), "files").items():
        table[file_download(name)] = dict(src)
    return table


# ---------------------------------------------------------------------------------------------
# models and tasks
# ---------------------------------------------------------------------------------------------
def pretrain_models(config: Mapping[str, Any]) -> list[str]:
    return list(section(section(config, "pretrain"), "models"))


def pretrain_data(config: Mapping[str, Any], model: str) -> str | None:
    """The sets variant a model trains on: None for every species joined by orthology (the
    homology stage's sets.h5 and the study's splits.tsv), else ``SPECIES+SPECIES.HOMOLOGY``
    (results/splits/models/VARIANT/, made by the splits stage's ``model_sets`` rule)."""
    entry = dict(lookup(config, "pretrain.models", model) or {})
    species = list(entry.get("species") or [])
    homology = str(entry.get("homology") or "orthology")
    have = list(section(config, "species"))
    for sp in species:
        if sp not in have:
            raise ConfigError(f"config pretrain.models.{model}.species names {sp!r}, which is not a "
                              f"`species` entry (have: {', '.join(have)})")
    chosen = [sp for sp in have if sp in species] if species else have
    if chosen == have and homology == "orthology":
        return None
    return "+".join(chosen) + "." + homology


def task_names(config: Mapping[str, Any]) -> list[str]:
    return list(section(section(config, "tasks"), "datasets"))


def task_kind(config: Mapping[str, Any], task: str) -> str:
    return str(lookup(config, "tasks.datasets", task)["kind"])


def evaluation(config: Mapping[str, Any]) -> dict[str, Any]:
    return section(config, "evaluation")


def pretrained_encoders(config: Mapping[str, Any]) -> list[str]:
    """``pretrained-NAME`` for every pre-trained model not evaluated as isoclr or mlm."""
    ev = evaluation(config)
    headline = {ev.get("isoclr_model"), ev.get("mlm_model")}
    return [PRETRAINED_PREFIX + m for m in pretrain_models(config) if m not in headline]


def pretrain_model_of(config: Mapping[str, Any], encoder: str) -> str:
    """The ``pretrain.models`` entry behind an encoder (isoclr, mlm, random, pretrained-NAME)."""
    if encoder.startswith(PRETRAINED_PREFIX):
        name = encoder.removeprefix(PRETRAINED_PREFIX)
        lookup(config, "pretrain.models", name)  # a ConfigError naming the key when missing
        return name
    key = _ENCODER_MODEL_KEY[encoder]
    name = evaluation(config).get(key)
    models = pretrain_models(config)
    if name not in models:
        raise ConfigError(
            f"config evaluation.{key} is {name!r}, which is not a pretrain.models entry "
            f"({', '.join(models) or 'none'}); the {encoder} encoder needs it"
        )
    return str(name)


# ---------------------------------------------------------------------------------------------
# the evaluation grid
# ---------------------------------------------------------------------------------------------
def eval_tasks(config: Mapping[str, Any]) -> list[str]:
    """Tasks evaluated (config evaluation.tasks keys), each checked to be a configured task."""
    tasks = list(evaluation(config).get("tasks") or {})
    known = task_names(config)
    for t in tasks:
        if t not in known:
            raise ConfigError(
                f"config evaluation.tasks names {t!r}, which is not a tasks.datasets entry (have: {', '.join(known)})"
            )
    return tasks


def eval_models(config: Mapping[str, Any], task: str) -> list[str]:
    """Models evaluated on a task (evaluation.tasks.TASK, or evaluation.models when null)."""
    ev = evaluation(config)
    models = (ev.get("tasks") or {})[task]
    out: list[str] = []
    for m in ev["models"] if models is None else models:
        if m == PRETRAINED_TOKEN:  # a linear probe on every other pre-trained model
            out += [f"{e}-linear" for e in pretrained_encoders(config) if f"{e}-linear" not in out]
        elif m not in out:
            out.append(m)
    return out


def eval_fractions(config: Mapping[str, Any]) -> list[str]:
    """Training fractions (as wildcard strings): evaluation.fractions, or tasks.fractions."""
    fractions = evaluation(config)["fractions"] or config["tasks"]["fractions"]
    return [str(float(f)) for f in fractions]


def model_fractions(config: Mapping[str, Any], model: str) -> list[str]:
    """The fractions a model is evaluated at: ``evaluation.fractions_by_model[model]`` (checked
    to be a subset of the evaluated fractions), else every evaluated fraction."""
    fractions = eval_fractions(config)
    chosen = (evaluation(config).get("fractions_by_model") or {}).get(model)
    if chosen is None:
        return fractions
    wanted = [str(float(f)) for f in chosen]
    extra = [f for f in wanted if f not in fractions]
    if extra:
        raise ConfigError(f"config evaluation.fractions_by_model.{model} names fraction(s) {', '.join(extra)}, "
                          f"which are not evaluated (evaluation.fractions / tasks.fractions: {', '.join(fractions)})")
    return [f for f in fractions if f in wanted]


def eval_folds(config: Mapping[str, Any]) -> list[int]:
    """Test folds, one per run: evaluation.folds when given, else folds 0 .. evaluation.runs-1
    (run r tests on fold r, validates on fold r+1, trains on the other n_folds-2)."""
    ev = evaluation(config)
    n = int(config["tasks"]["n_folds"])
    folds = ev["folds"]
    if folds is None:
        runs = int(ev["runs"])
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
        for fraction in model_fractions(config, model)
        for fold in eval_folds(config)
    ]


def eval_encoders(config: Mapping[str, Any]) -> list[str]:
    return (list(BUILTIN_ENCODERS) + pretrained_encoders(config)
            + [f"external-{n}" for n in evaluation(config).get("external") or {}])


def pretrained_linear_models(config: Mapping[str, Any]) -> dict[str, str]:
    """Linear probe name -> the ``pretrain.models`` entry it probes (isoclr-linear,
    mlm-linear and every pretrained-NAME-linear), for the models the config pre-trains."""
    ev = evaluation(config)
    models = pretrain_models(config)
    out = {}
    for probe, key in (("isoclr-linear", "isoclr_model"), ("mlm-linear", "mlm_model")):
        if ev.get(key) in models:
            out[probe] = str(ev[key])
    for enc in pretrained_encoders(config):
        out[f"{enc}-linear"] = enc.removeprefix(PRETRAINED_PREFIX)
    return out


def drop_tracks(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The tracks a study zeroes for every species, in pre-training and evaluation alike
    (config ``encoding.drop_tracks``; names of :data:`isoclr.core.encoding.MARK_TRACKS`)."""
    from isoclr.core.encoding import check_drop_tracks

    try:
        return check_drop_tracks(section(config, "encoding").get("drop_tracks") or ())
    except ValueError as err:
        raise ConfigError(f"config {err}") from err


#: always diagnosed beside the configured encoders: the random encoder and the k-mer profiles
DIAGNOSTICS_REFERENCES = ("random", "naive")


def diagnostics_encoders(config: Mapping[str, Any]) -> list[str]:
    """Config ``diagnostics.encoders`` plus the references; empty when none is configured."""
    named = [str(e) for e in (section(config, "diagnostics").get("encoders") or [])]
    return list(dict.fromkeys(named + list(DIAGNOSTICS_REFERENCES))) if named else []


# ---------------------------------------------------------------------------------------------
# the heads the evaluation keeps (attributions, variant effects)
# ---------------------------------------------------------------------------------------------
#: the training fraction and test fold whose network jobs keep their trained network
KEPT_FRACTION, KEPT_FOLD = "1.0", 0


def kept_heads(config: Mapping[str, Any]) -> list[str]:
    """``TASK/MODEL`` of every network job that keeps its head (full training data, fold 0)."""
    from isoclr.config.registry import NETWORK_MODELS

    return [f"{task}/{model}" for task, model, fraction, fold in eval_jobs(config)
            if model in NETWORK_MODELS and fraction == KEPT_FRACTION and fold == KEPT_FOLD]


def kept_head_parts(config: Mapping[str, Any], name: str, key: str) -> tuple[str, str]:
    """(task, model) of a kept head named ``TASK/MODEL`` at config ``key``; a ConfigError that
    says why when the study keeps no such head."""
    from isoclr.config.registry import NETWORK_MODELS

    task, sep, model = str(name).partition("/")
    if not sep or not task or not model:
        raise ConfigError(f"config {key}: {name!r} is not TASK/MODEL (e.g. halflife_human/isoclr-finetune)")
    if task not in eval_tasks(config):
        raise ConfigError(f"config {key}: {name!r}: task {task!r} is not evaluated (evaluation.tasks: "
                          f"{', '.join(eval_tasks(config)) or 'none'})")
    if model not in NETWORK_MODELS:
        raise ConfigError(f"config {key}: {name!r}: only the network models keep a head "
                          f"({', '.join(NETWORK_MODELS)}), not {model!r}")
    if name not in kept_heads(config):
        raise ConfigError(f"config {key}: {name!r}: the study keeps no such head (a head is kept by a network "
                          f"model evaluated on the task at fraction 1.0 on fold 0; kept: "
                          f"{', '.join(kept_heads(config)) or 'none'})")
    return task, model


def kept_head_path(config: Mapping[str, Any], task: str, model: str) -> str:
    """The folder a kept head is written to (the network job's table with ``.head``)."""
    import os

    return os.path.join(str(config["results"]), "eval", task, model, f"frac{KEPT_FRACTION}", f"fold{KEPT_FOLD}.head")
