"""Downstream evaluation: one model on one task, training fraction and fold -> a tidy table.

Models (the ``{model}`` wildcard, docs/interfaces.md "Evaluation outputs"):

=================== ======== ==========================================================
model               kind     what is trained
=================== ======== ==========================================================
isoclr-linear       linear   probe on the frozen IsoCLR encoder's embeddings
mlm-linear          linear   probe on the frozen masked-nucleotide (MLM) encoder
pretrained-NAME-linear linear probe on the frozen encoder of pretrain.models NAME (sizes)
random-linear       linear   probe on a frozen, randomly initialised encoder (seeded)
naive-linear        linear   ridge/logistic on k-mer counts (3..6), GC, UTR/CDS lengths
                             (:mod:`isoclr.evaluate.naive`, as mRNABench's naive baseline)
external-NAME-linear linear  probe on an external encoder (multimolecule/transformers)
isoclr-finetune     network  pre-trained encoder + linear head, trained end to end
supervised          network  the same architecture from random initialisation
saluki              network  the Saluki half-life network (:mod:`isoclr.evaluate.baselines`)
=================== ======== ==========================================================

Every model of a task is scored on the same rows: the split comes only from the task file,
``TaskData.split(fold, fraction)`` (nested training fractions, fixed validation and test
folds). Embeddings are computed once per encoder and task (:func:`embed_task`,
``results/embeddings/{encoder}/{task}.h5``, the layout of :mod:`isoclr.evaluate.embeddings`: ``/h``
(N, D) in task row order, ``/transcript_id``, ``/gene_id``, ``/species``, ``/length``) and read by
every probe job of that pair; probe jobs (:func:`evaluate_linear`) import NumPy, pandas, h5py
and scikit-learn only (never torch), so they start fast and need no GPU. Network jobs
(:func:`evaluate_network`) import torch lazily.

Output of a job: TSV with columns ``task species model fraction run fold split metric value
n_train min_train_applied`` (:mod:`isoclr.evaluate.metrics_table`; metric names in
:mod:`isoclr.evaluate.metrics`); the ``collect`` stage (:mod:`isoclr.evaluate.collect`)
concatenates them into ``results/metrics/metrics.tsv``. The command line is
:mod:`isoclr.evaluate.cli`.

Seeds: every job derives its own seed from the config ``seed`` and the job's identity
(:func:`derive_seed`, a CRC of the names, stable across processes and machines). The random
encoder's seed depends only on the base seed, so ``random-linear`` uses one encoder for every
task, and re-running gives identical embeddings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.config.settings import BUILTIN_ENCODERS, NETWORK_MODELS, PRETRAINED_PREFIX, derive_seed
from isoclr.evaluate.metrics_table import tidy_metrics, write_tsv

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# names and seeds
# ---------------------------------------------------------------------------------------------
def parse_model(model: str) -> tuple[str, str]:
    """``("linear", encoder)`` or ``("network", model)`` for a model name; ValueError otherwise."""
    if model in NETWORK_MODELS:
        return "network", model
    if model.endswith("-linear"):
        encoder = model[: -len("-linear")]
        if encoder in BUILTIN_ENCODERS or any(
            encoder.startswith(p) and len(encoder) > len(p) for p in ("external-", PRETRAINED_PREFIX)
        ):
            return "linear", encoder
    raise ValueError(
        f"unknown model {model!r}: expected one of {', '.join(NETWORK_MODELS)}, "
        f"{', '.join(e + '-linear' for e in BUILTIN_ENCODERS)}, pretrained-NAME-linear or external-NAME-linear"
    )


__all__ = ["derive_seed", "parse_model", "run_job", "embed_task"]


# ---------------------------------------------------------------------------------------------
# task access
# ---------------------------------------------------------------------------------------------
def load_task(path: str | os.PathLike[str]) -> Any:
    """``isoclr.tasks.file.TaskData`` of a task file."""
    from isoclr.tasks.file import TaskData

    return TaskData.load(path)


def task_store_path(task: Any, task_path: str | os.PathLike[str]) -> Path:
    """The store a task names (attr ``store``), as given or relative to the task's folder."""
    store = Path(str(task.attrs["store"]))
    if not store.exists() and not store.is_absolute():
        alt = Path(task_path).parent / store
        if alt.exists():
            return alt
    if not store.exists():
        raise ValueError(f"{task_path}: its store {store} does not exist")
    return store


def read_embeddings(path: str | os.PathLike[str], task: Any) -> npt.NDArray[np.float32]:
    """``/h`` of an embeddings file, checked to be in the task's row order."""
    with h5py.File(path, "r") as f:
        if "h" not in f:
            raise ValueError(f"{path}: no /h dataset (not an evaluation embeddings file)")
        h = f["h"][:]
        ids = f["transcript_id"].asstr()[:] if "transcript_id" in f else None
    if h.ndim != 2 or h.shape[0] != len(task):
        raise ValueError(f"{path}: /h has shape {h.shape} but the task has {len(task)} rows")
    if ids is not None and not np.array_equal(ids, np.asarray(task.transcript_id, dtype=object)):
        raise ValueError(f"{path}: transcript ids differ from the task's rows (stale embeddings?)")
    if not np.all(np.isfinite(h)):
        raise ValueError(f"{path}: embeddings contain NaN or infinity")
    return h


# ---------------------------------------------------------------------------------------------
# embeddings (torch)
# ---------------------------------------------------------------------------------------------
def make_encoder(
    encoder: str,
    checkpoint: str | os.PathLike[str] | None = None,
    model_cfg: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Any:
    """The frozen torch encoder for ``isoclr``, ``mlm``, ``random`` or ``pretrained-NAME`` (any
    pre-trained model's checkpoint)."""
    if encoder in ("isoclr", "mlm") or encoder.startswith(PRETRAINED_PREFIX):
        if checkpoint is None:
            raise ValueError(f"encoder {encoder!r} needs a pre-training checkpoint")
        from isoclr.pretrain.model import load_encoder

        enc, info = load_encoder(checkpoint, map_location="cpu")
        log.info("loaded %s encoder from %s (objective %s)", encoder, checkpoint, info.get("objective"))
        return enc
    if encoder == "random":
        from isoclr.evaluate.baselines import random_encoder

        return random_encoder(dict(model_cfg or {}), seed)
    raise ValueError(f"unknown built-in encoder {encoder!r} (expected isoclr, mlm, random or pretrained-NAME)")


def embed_task(
    task_path: str | os.PathLike[str],
    encoder: str,
    out: str | os.PathLike[str],
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    model_cfg: Mapping[str, Any] | None = None,
    external: Mapping[str, Any] | None = None,
    seed: int = 0,
    batch_size: int = 16,
    device: str | None = "auto",
    threads: int | None = None,
) -> npt.NDArray[np.float32]:
    """Embed every row of a task with one encoder; write ``/h`` (N, D) float32 in row order.
    ``naive``: the naive baseline's features (:mod:`isoclr.evaluate.naive`; no torch)."""
    from isoclr.store.format import IsoformStore

    task = load_task(task_path)
    store = IsoformStore(task_store_path(task, task_path))
    rows = np.asarray(task.transcript, dtype=np.int64)
    if encoder == "naive":
        from isoclr.evaluate.naive import store_features

        h = store_features(store, rows)
        source = "naive: log1p lengths (transcript, 5'UTR, CDS, 3'UTR), GC, k-mer counts k=3..6"
        return _write_embeddings(out, h, task, store, rows, encoder, source, seed, task_path)
    import torch

    from isoclr.core.devices import resolve_device

    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    if encoder.startswith("external-"):
        from isoclr.evaluate.external import ExternalEncoder

        cfg = dict(external or {})
        if "source" not in cfg:
            raise ValueError(f"encoder {encoder!r}: config evaluation.external needs a 'source'")
        ext = ExternalEncoder(
            cfg["source"],
            max_length=cfg.get("max_length"),
            alphabet=cfg.get("alphabet", "rna"),
            device=dev,
            trust_remote_code=bool(cfg.get("trust_remote_code", False)),
        )
        h = ext.embed([store.codes(int(i)) for i in rows], batch_size=int(cfg.get("batch_size", batch_size)))
        source = str(cfg["source"])
    else:
        from isoclr.evaluate.embedder import embed_store

        enc = make_encoder(encoder, checkpoint, model_cfg, seed)
        h = embed_store(enc, store, rows, batch_size=batch_size, device=dev)
        source = str(checkpoint) if checkpoint else f"random(seed={seed})"
    return _write_embeddings(out, h, task, store, rows, encoder, source, seed, task_path)


def _write_embeddings(
    out: str | os.PathLike[str], h: Any, task: Any, store: Any, rows: npt.NDArray[np.int64], encoder: str,
    source: str, seed: int, task_path: str | os.PathLike[str],
) -> npt.NDArray[np.float32]:
    """Write the embeddings file of a task (``/h`` (N, D) float32 in task row order and the
    rows' ids, the layout of :mod:`isoclr.evaluate.embeddings`), atomically."""
    h = np.asarray(h, dtype=np.float32)
    if h.shape[0] != len(rows):
        raise RuntimeError(f"encoder {encoder} returned {h.shape[0]} embeddings for {len(rows)} rows")
    # the one embeddings layout of isoclr.evaluate.embeddings (as `isoclr embed` writes it)
    from isoclr.evaluate.embeddings import Embeddings, write_embeddings

    st = store.table()
    table = pd.DataFrame({
        "transcript_id": np.asarray(task.transcript_id, dtype=object),
        "gene_id": st["gene_id"].to_numpy()[rows] if len(rows) else [],
        "species": store.species or str(task.attrs.get("species", "")) or "unknown",
        "length": store.lengths()[rows],
        "tracks": "annotation",
    })
    write_embeddings(out, Embeddings(table, h, {"encoder": encoder, "task": str(task.attrs.get("task", "")),
                                                "source": source, "seed": int(seed)}))
    log.info("embedded %d rows of %s with %s -> %s (%d dims)", len(rows), task_path, encoder, out, h.shape[1])
    return h


# ---------------------------------------------------------------------------------------------
# jobs
# ---------------------------------------------------------------------------------------------
def evaluate_linear(
    task_path: str | os.PathLike[str],
    embeddings: str | os.PathLike[str],
    model: str,
    fraction: float,
    fold: int,
    probe: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """A linear probe job (no torch): fit on the split's training rows, score the test rows."""
    from isoclr.evaluate.metrics import compute_metrics
    from isoclr.evaluate.probes import DEFAULT_ALPHAS, DEFAULT_CS, linear_probe

    if parse_model(model)[0] != "linear":
        raise ValueError(f"{model} is not a linear-probe model")
    probe = dict(probe or {})
    task = load_task(task_path)
    h = read_embeddings(embeddings, task)
    train, val, test = task.split(int(fold), float(fraction))
    result = linear_probe(
        task.kind, h, task.y, train, val, test,
        alphas=probe.get("alphas", DEFAULT_ALPHAS), cs=probe.get("Cs", DEFAULT_CS),
    )
    log.info("%s %s frac %s fold %s: %d train rows, chose %s", task.attrs.get("task"), model, fraction, fold, len(train), result.chosen)
    metrics = compute_metrics(task.kind, task.y[test], result.predictions, task.label_names)
    info = task.train_info(int(fold), float(fraction))
    return tidy_metrics(
        str(task.attrs["task"]), str(task.attrs["species"]), model, fraction, fold, metrics, len(train),
        info["min_train_applied"],
    )


def build_network(
    model: str,
    n_out: int,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    model_cfg: Mapping[str, Any] | None = None,
    saluki: Mapping[str, Any] | None = None,
    head_dropout: float = 0.1,
    seed: int = 0,
) -> Any:
    """The torch network of a network model, initialised with ``seed``."""
    import torch

    from isoclr.evaluate.finetune import EncoderWithHead

    torch.manual_seed(seed)
    if model == "saluki":
        from isoclr.evaluate.baselines import Saluki

        return Saluki(n_out, dict(saluki or {}))
    if model == "isoclr-finetune":
        if checkpoint is None:
            raise ValueError("isoclr-finetune needs the pre-training checkpoint")
        from isoclr.pretrain.model import load_encoder

        encoder, _ = load_encoder(checkpoint, map_location="cpu")
        encoder.requires_grad_(True)
    elif model == "supervised":
        from isoclr.pretrain.model import build_encoder

        encoder = build_encoder(dict(model_cfg or {}))
    else:
        raise ValueError(f"{model} is not a network model ({', '.join(NETWORK_MODELS)})")
    encoder.train()
    return EncoderWithHead(encoder, n_out, head_dropout)


def evaluate_network(
    task_path: str | os.PathLike[str],
    model: str,
    fraction: float,
    fold: int,
    *,
    finetune: Mapping[str, Any] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    model_cfg: Mapping[str, Any] | None = None,
    saluki: Mapping[str, Any] | None = None,
    seed: int = 0,
    device: str | None = "auto",
    threads: int | None = None,
) -> pd.DataFrame:
    """A network job: train end to end on the split (early stopping on validation), score test."""
    import torch

    from isoclr.evaluate.finetune import Sequences, TrainConfig, train_and_predict
    from isoclr.evaluate.metrics import compute_metrics
    from isoclr.store.format import IsoformStore

    if threads:
        torch.set_num_threads(int(threads))
    cfg = TrainConfig.from_dict(finetune)
    task = load_task(task_path)
    train, val, test = task.split(int(fold), float(fraction))
    store = IsoformStore(task_store_path(task, task_path))
    # Only the rows this job touches are read from the store.
    used = np.unique(np.concatenate([train, val, test]))
    local = np.full(len(task), -1, dtype=np.int64)
    local[used] = np.arange(len(used))
    seqs = Sequences.from_store(store, np.asarray(task.transcript)[used])
    y = np.asarray(task.y)[used]
    n_out = 1 if task.kind == "regression" else int(task.y.shape[1])
    net = build_network(
        model, n_out, checkpoint=checkpoint, model_cfg=model_cfg, saluki=saluki,
        head_dropout=cfg.head_dropout, seed=seed,
    )
    pred, trainer = train_and_predict(
        net, task.kind, seqs, y, (local[train], local[val], local[test]), cfg, seed, device
    )
    log.info(
        "%s %s frac %s fold %s: %d train rows, best epoch %d of %d",
        task.attrs.get("task"), model, fraction, fold, len(train), trainer.best_epoch, len(trainer.history),
    )
    metrics = compute_metrics(task.kind, task.y[test], pred, task.label_names)
    info = task.train_info(int(fold), float(fraction))
    return tidy_metrics(
        str(task.attrs["task"]), str(task.attrs["species"]), model, fraction, fold, metrics, len(train),
        info["min_train_applied"],
    )


def run_job(
    task_path: str | os.PathLike[str],
    model: str,
    fraction: float,
    fold: int,
    out: str | os.PathLike[str],
    *,
    embeddings: str | os.PathLike[str] | None = None,
    probe: Mapping[str, Any] | None = None,
    finetune: Mapping[str, Any] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    model_cfg: Mapping[str, Any] | None = None,
    saluki: Mapping[str, Any] | None = None,
    seed: int = 0,
    device: str | None = "auto",
    threads: int | None = None,
) -> pd.DataFrame:
    """Dispatch one job by model kind and write its table to ``out``."""
    kind, _ = parse_model(model)
    if kind == "linear":
        if embeddings is None:
            raise ValueError(f"{model} needs the embeddings file of its encoder")
        table = evaluate_linear(task_path, embeddings, model, fraction, fold, probe)
    else:
        table = evaluate_network(
            task_path, model, fraction, fold, finetune=finetune, checkpoint=checkpoint,
            model_cfg=model_cfg, saluki=saluki, seed=seed, device=device, threads=threads,
        )
    write_tsv(table, out)
    return table


# ---------------------------------------------------------------------------------------------
# the pipeline's rules (plain values from the shims in workflow/scripts/)
# ---------------------------------------------------------------------------------------------
def embed_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "embed_task",
              wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The ``embed_task`` rule: ``params.settings`` is :class:`isoclr.config.settings.EmbedSettings`."""
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "embed a task's transcripts with one frozen encoder",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    s = dict(params.settings)
    embed_task(inputs.task, s.pop("encoder"), outputs[0], checkpoint=inputs.get("checkpoint"),
               threads=threads, **s)


def evaluate_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "evaluate",
                 wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The ``evaluate_linear`` and ``evaluate_network`` rules: ``params.settings`` is
    :class:`isoclr.config.settings.EvaluationSettings`; the training fraction and fold are the
    job's wildcards."""
    from isoclr.config.settings import EvaluationSettings
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "train and test one model on one task, training fraction and fold",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    s = EvaluationSettings.from_mapping(params.settings, "the rule's params")
    run_job(inputs.task, s.model, float(wildcards.fraction), int(wildcards.fold), outputs[0],
            embeddings=inputs.get("embeddings"), checkpoint=inputs.get("checkpoint"), threads=threads,
            **s.job_kwargs())
