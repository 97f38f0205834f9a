"""The task file format: ``results/tasks/{task}.h5`` (docs/interfaces.md, "Task datasets").
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from isoclr.core.files import atomic_path, h5_create
from isoclr.tasks.folds import assign_folds, min_train_applied, n_train_rows, train_ranks
from isoclr.tasks.labels import JoinReport

log = logging.getLogger(__name__)

_STR = h5py.string_dtype("utf-8")
SELECTION_RULE = (
    "one transcript per gene: Ensembl_canonical > MANE_Select > APPRIS principal (smaller N "
    "first) > longest CDS > longest transcript > transcript id"
)


# ---------------------------------------------------------------------------------------------
# task files
# ---------------------------------------------------------------------------------------------
@dataclass
class TaskData:
    """A task file in memory (docs/interfaces.md, "Task datasets")."""

    attrs: dict[str, Any]
    transcript: npt.NDArray[np.int32]
    transcript_id: npt.NDArray[np.object_]
    gene_id: npt.NDArray[np.object_]
    y: npt.NDArray[Any]
    group: npt.NDArray[np.int32]
    fold: npt.NDArray[np.int8]
    train_rank: npt.NDArray[np.int32]
    path: Path | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TaskData:
        """Read a task file; its datasets are checked first (:func:`check_task`)."""
        if not Path(path).exists():
            raise FileNotFoundError(f"task file not found: {path}")
        if not h5py.is_hdf5(path):
            raise ValueError(f"{path}: not an HDF5 file (not a task file written by isoclr)")
        with h5py.File(path, "r") as f:
            attrs: dict[str, Any] = {}
            for k, v in f.attrs.items():
                if isinstance(v, bytes):
                    v = v.decode()
                elif isinstance(v, np.ndarray):
                    v = [x.decode() if isinstance(x, bytes) else x.item() if hasattr(x, "item") else x for x in v]
                elif isinstance(v, np.generic):
                    v = v.item()
                attrs[k] = v
            check_task(f, path, attrs)
            return cls(
                attrs=attrs,
                transcript=f["transcript"][:],
                transcript_id=f["transcript_id"].asstr()[:],
                gene_id=f["gene_id"].asstr()[:],
                y=f["y"][:],
                group=f["group"][:],
                fold=f["fold"][:],
                train_rank=f["train_rank"][:],
                path=Path(path),
            )

    def __len__(self) -> int:
        return len(self.transcript)

    @property
    def n_folds(self) -> int:
        return int(self.attrs.get("n_folds", self.train_rank.shape[0]))

    @property
    def kind(self) -> str:
        return str(self.attrs["kind"])

    @property
    def label_names(self) -> list[str]:
        names = self.attrs.get("label_names", [])
        return [names] if isinstance(names, str) else list(names)

    @property
    def join_report(self) -> list[dict[str, Any]]:
        return json.loads(self.attrs.get("join_report", "[]"))

    def _min_train(self, min_train: int | None) -> int:
        return int(self.attrs.get("min_train", 1) if min_train is None else min_train)

    def train_info(self, fold: int, fraction: float = 1.0, min_train: int | None = None) -> dict[str, Any]:
        """How a run's training set at ``fraction`` was made: ``n_train`` (rows used),
        ``n_train_full`` (the run's training rows at fraction 1.0), ``min_train_applied``
        (``min_train`` lifted the fraction above ``round(fraction * n_train_full)``)."""
        n = self.n_folds
        if not 0 <= fold < n:
            raise ValueError(f"{self.path}: fold must be in 0..{n - 1}, got {fold}")
        full = int((self.train_rank[fold] >= 0).sum())
        mt = self._min_train(min_train)
        return {
            "n_train": n_train_rows(full, fraction, mt),
            "n_train_full": full,
            "min_train_applied": bool(min_train_applied(full, fraction, mt)),
        }

    def split(self, fold: int, fraction: float = 1.0, min_train: int | None = None) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(train_idx, val_idx, test_idx) row indices for ``fold`` at training ``fraction``.

        ``min_train`` defaults to the value the file was built with (attr ``min_train``)."""
        n = self.n_folds
        if not 0 <= fold < n:
            raise ValueError(f"{self.path}: fold must be in 0..{n - 1}, got {fold}")
        mt = self._min_train(min_train)
        rank = self.train_rank[fold]
        n_train = int((rank >= 0).sum())
        k = n_train_rows(n_train, fraction, mt)
        train = np.flatnonzero((rank >= 0) & (rank < k))
        val = np.flatnonzero(self.fold == (fold + 1) % n)
        test = np.flatnonzero(self.fold == fold)
        return train.astype(np.int64), val.astype(np.int64), test.astype(np.int64)


#: the datasets of a task file: dtype kind ('i' integer, 's' string, 'y' labels)
TASK_DATASETS = {"transcript": "i", "transcript_id": "s", "gene_id": "s", "y": "y",
                 "group": "i", "fold": "i", "train_rank": "i"}


def check_task(f: h5py.File, path: str | os.PathLike[str], attrs: Mapping[str, Any]) -> None:
    """Check an open task file against what :func:`write_task` writes: the ``kind``,
    ``n_folds`` and ``label_names`` attributes; every dataset present, of its dtype kind, with
    one row per labelled transcript; transcript rows >= 0; labels finite (regression) or 0/1
    with one column per label name (multilabel); folds in ``0..n_folds-1``; training ranks a
    ``(n_folds, n)`` array of -1 or ranks below ``n``. Raises ``ValueError`` naming the file,
    the dataset and what is wrong; nothing is read beyond these arrays."""

    def fail(what: str, msg: str) -> ValueError:
        return ValueError(f"{path}: {what}: {msg}")

    kind = attrs.get("kind")
    if kind not in ("regression", "multilabel"):
        raise fail("attribute kind", f"{kind!r} is not regression or multilabel")
    n_folds = attrs.get("n_folds")
    if not isinstance(n_folds, int) or n_folds < 2:
        raise fail("attribute n_folds", f"{n_folds!r} is not an integer >= 2")
    for name, k in TASK_DATASETS.items():
        ds = f.get(name)
        if not isinstance(ds, h5py.Dataset):
            raise fail(f"/{name}", "missing (required dataset)")
        dt = ds.dtype
        ok = {"i": dt.kind in "iu", "s": h5py.check_string_dtype(dt) is not None,
              "y": dt.kind in "fiub"}[k]
        if not ok:
            raise fail(f"/{name}", f"has dtype {dt}, expected "
                       f"{ {'i': 'integers', 's': 'strings', 'y': 'numbers'}[k] }")
    n = f["transcript"].shape[0] if f["transcript"].ndim == 1 else -1
    for name in ("transcript", "transcript_id", "gene_id", "group", "fold"):
        if f[name].shape != (n,):
            raise fail(f"/{name}", f"has shape {f[name].shape}, expected ({n},)")
    names = attrs.get("label_names", [])
    n_labels = 1 if isinstance(names, str) else len(names)
    want_y = (n,) if kind == "regression" and n_labels <= 1 else (n, n_labels)
    if f["y"].shape != want_y and not (kind == "regression" and f["y"].shape in ((n,), (n, 1))):
        raise fail("/y", f"has shape {f['y'].shape}, expected {want_y} ({kind}, "
                   f"{n_labels} label name(s))")
    if f["train_rank"].shape != (n_folds, n):
        raise fail("/train_rank", f"has shape {f['train_rank'].shape}, expected ({n_folds}, {n})")
    y = f["y"][:]
    if kind == "regression" and not np.isfinite(y).all():
        raise fail("/y", f"row {int(np.flatnonzero(~np.isfinite(y.reshape(n, -1)).all(axis=1))[0])} "
                   "holds NaN or infinity")
    if kind == "multilabel" and y.size and not np.isin(y, (0, 1)).all():
        raise fail("/y", "multilabel values must be 0 or 1")
    tx = f["transcript"][:]
    if n and tx.min() < 0:
        raise fail("/transcript", f"row {int(np.argmin(tx))}: store row {tx.min()} < 0")
    fold = f["fold"][:]
    if n and (fold.min() < 0 or fold.max() >= n_folds):
        i = int(np.flatnonzero((fold < 0) | (fold >= n_folds))[0])
        raise fail("/fold", f"row {i}: fold {fold[i]} outside 0-{n_folds - 1}")
    rank = f["train_rank"][:]
    if rank.size and (rank.min() < -1 or rank.max() >= n):
        raise fail("/train_rank", f"values must be -1 (not in training) or ranks 0-{n - 1}")


def write_task(
    path: str | os.PathLike[str],
    *,
    task: str,
    species: str,
    kind: str,
    label_names: Sequence[str],
    store: str,
    transcript: npt.ArrayLike,
    transcript_id: Sequence[str],
    gene_id: Sequence[str],
    y: npt.ArrayLike,
    group: npt.ArrayLike,
    n_folds: int,
    fractions: Sequence[float],
    seed: int,
    min_train: int,
    report: JoinReport,
    extra_attrs: Mapping[str, Any] | None = None,
) -> TaskData:
    """Assign folds and training ranks, then write the task file atomically."""
    if kind not in ("regression", "multilabel"):
        raise ValueError(f"kind must be regression or multilabel, got {kind!r}")
    y = np.asarray(y, dtype=np.float32 if kind == "regression" else np.uint8)
    n = len(y)
    if n < n_folds:
        raise ValueError(f"task {task}: only {n} labelled rows, fewer than {n_folds} folds ({report.frame().to_string(index=False)})")
    group = np.asarray(group, dtype=np.int32)
    fold = assign_folds(group, n_folds, seed)
    ranks = train_ranks(fold, n_folds, seed)
    for k in range(n_folds):
        n_tr = int((ranks[k] >= 0).sum())
        used = {f: n_train_rows(n_tr, f, min_train) if n_tr else 0 for f in fractions}
        report.add("folds", f"fold{k}", int((fold == k).sum()), note="rows; n_train by fraction " + " ".join(f"{f:g}:{u}" for f, u in used.items()))
    attrs: dict[str, Any] = {
        "task": task,
        "species": species,
        "kind": kind,
        "label_names": list(label_names),
        "store": str(store),
        "selection_rule": SELECTION_RULE,
        "n_folds": int(n_folds),
        "fractions": [float(f) for f in fractions],
        "seed": int(seed),
        "min_train": int(min_train),
        "n_rows": int(n),
    }
    attrs.update(extra_attrs or {})
    attrs["join_report"] = report.to_json()
    with atomic_path(path, suffix=".h5") as tmp:  # noqa: SIM117 (the file must close before the rename)
        with h5_create(tmp) as f:
            for k, v in attrs.items():
                f.attrs[k] = v
            f.create_dataset("transcript", data=np.asarray(transcript, dtype=np.int32))
            f.create_dataset("transcript_id", data=np.asarray(list(transcript_id), dtype=object), dtype=_STR)
            f.create_dataset("gene_id", data=np.asarray(list(gene_id), dtype=object), dtype=_STR)
            f.create_dataset("y", data=y)
            f.create_dataset("group", data=group)
            f.create_dataset("fold", data=fold.astype(np.int8))
            f.create_dataset("train_rank", data=ranks)
    return TaskData.load(path)


