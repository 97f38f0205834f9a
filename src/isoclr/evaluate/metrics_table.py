"""The tidy metrics table of an evaluation job (one row per task, model, fraction, run, split and
metric) and its TSV files: the columns, one job's rows, atomic writing and checked reading."""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from isoclr.core.files import atomic_path

#: The tidy metrics table (one row per task, model, fraction, run, split and metric): run r
#: tests on fold r (``fold``); ``split`` is the rows scored (``test``); ``n_train`` the rows the
#: model trained on; ``min_train_applied`` true where ``tasks.min_train`` lifted the fraction.
COLUMNS = [
    "task", "species", "model", "fraction", "run", "fold", "split", "metric", "value", "n_train",
    "min_train_applied",
]


def tidy_metrics(
    task: str,
    species: str,
    model: str,
    fraction: float,
    fold: int,
    metrics: Mapping[str, float],
    n_train: int,
    min_train_applied: bool = False,
    split: str = "test",
) -> pd.DataFrame:
    """One row per metric, in the contract's column order (run ``fold`` tests on fold ``fold``)."""
    return pd.DataFrame(
        {
            "task": task,
            "species": species,
            "model": model,
            "fraction": float(fraction),
            "run": int(fold),
            "fold": int(fold),
            "split": split,
            "metric": list(metrics),
            "value": [float(v) for v in metrics.values()],
            "n_train": int(n_train),
            "min_train_applied": bool(min_train_applied),
        },
        columns=COLUMNS,
    )


def write_tsv(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a metrics table atomically (NaN written as ``NaN``)."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="NaN", float_format="%.6g")


def read_tsv(path: str | os.PathLike[str]) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t")
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: not an evaluation table, missing column(s) {missing}")
    return table[COLUMNS]
