"""Homology-aware cross-validation folds and nested training fractions of a task.

As the paper's sources use them (Fradkin et al. 2023, arXiv:2310.08738, evaluating on Saluki's
10-fold human/mouse half-life data): ``n_folds`` folds (default 10); run ``r`` tests on fold
``r``, validates on fold ``r + 1`` and trains on the other ``n_folds - 2`` (about 80 % of the
labelled genes at 10 folds); a study evaluates a few runs (config ``evaluation.runs``, 3).

Folds (``assign_folds``). Rows are grouped by homology set (``set_id`` of
``results/splits/genes.tsv``); whole groups are dealt to ``n_folds`` folds, largest group first,
each to the fold with the fewest rows so far, groups of equal size in a seeded random order. Fold
``k`` tests on ``fold == k``, validates on ``fold == (k + 1) % n_folds`` and trains on the rest.

Training fractions (``train_ranks``). In fold ``k`` the training rows get a seeded random rank
``0..n_train-1``; fraction ``f`` trains on the rows with rank below
``min(n_train, max(min_train, round(f * n_train)))``. Smaller fractions are therefore subsets of
larger ones (nested) and the same seed gives the same subsets (deterministic). ``min_train``
keeps tiny fractions of tiny data sets trainable (the demo's human half-life has ~60 genes, so
0.5 % of its training rows would be zero rows).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.core.files import open_text
from isoclr.tasks.labels import JoinReport, strip_version

log = logging.getLogger(__name__)



# ---------------------------------------------------------------------------------------------
# homology groups, folds, fractions
# ---------------------------------------------------------------------------------------------
def read_gene_groups(path: str | os.PathLike[str] | None, species: str) -> pd.DataFrame | None:
    """``results/splits/genes.tsv`` rows of one species: ``gene_id, set_id`` (None without path)."""
    if not path:
        return None
    with open_text(path) as fh:
        df = pd.read_csv(fh, sep="\t", dtype={"species": str, "gene_id": str})
    need = {"species", "gene_id", "set_id"}
    if not need <= set(df.columns):
        raise ValueError(f"{path}: line 1: header needs columns {sorted(need)}, got {list(df.columns)}")
    return df.loc[df["species"] == species, ["gene_id", "set_id"]].reset_index(drop=True)


def homology_groups(gene_ids: Sequence[str], groups: pd.DataFrame | None, report: JoinReport) -> npt.NDArray[np.int32]:
    """Homology set id per row (exact gene id, else version-stripped). Genes without a set
    (or no table) become singleton groups numbered after the largest known set id; isoforms of
    one gene always share a group."""
    gid = pd.Series(list(gene_ids), dtype=object).astype(str)
    out = pd.Series(np.nan, index=gid.index)
    if groups is not None and len(groups):
        exact = dict(zip(groups["gene_id"].astype(str), groups["set_id"]))
        out = gid.map(exact)
        miss = out.isna()
        if miss.any():
            stripped = dict(zip(strip_version(groups["gene_id"]), groups["set_id"]))
            out[miss] = strip_version(gid[miss]).map(stripped).to_numpy()
        base = int(groups["set_id"].max()) + 1
    else:
        base = 0
    miss = out.isna()
    report.add("groups", "rows_with_homology_set", int((~miss).sum()))
    if miss.any():
        codes, _ = pd.factorize(gid[miss])
        out[miss] = base + codes
        report.add("groups", "singleton_group_no_set", gid[miss].unique().tolist(), note="gene not in splits/genes.tsv: own group")
    return out.to_numpy(dtype=np.int64).astype(np.int32)


def assign_folds(groups: npt.ArrayLike, n_folds: int = 10, seed: int = 0) -> npt.NDArray[np.int8]:
    """Fold (0..n_folds-1) of every row; a group's rows always share a fold (module docstring)."""
    if n_folds < 3:
        raise ValueError(f"n_folds must be >= 3 (one test, one validation and >= 1 training fold), got {n_folds}")
    g = np.asarray(groups)
    uniq, inv, size = np.unique(g, return_inverse=True, return_counts=True)
    rng = np.random.default_rng([seed, 17])
    tiebreak = rng.permutation(len(uniq))
    order = np.lexsort((tiebreak, -size))
    load = np.zeros(n_folds, dtype=np.int64)
    fold_of = np.zeros(len(uniq), dtype=np.int8)
    for u in order:
        k = int(np.argmin(load))
        fold_of[u] = k
        load[k] += size[u]
    return fold_of[inv]


def train_ranks(fold: npt.ArrayLike, n_folds: int, seed: int = 0) -> npt.NDArray[np.int32]:
    """(n_folds, N): rank of each row among fold k's training rows, -1 if it does not train."""
    fold = np.asarray(fold)
    ranks = np.full((n_folds, len(fold)), -1, dtype=np.int32)
    for k in range(n_folds):
        train = np.flatnonzero((fold != k) & (fold != (k + 1) % n_folds))
        perm = np.random.default_rng([seed, 29, k]).permutation(len(train))
        ranks[k, train[perm]] = np.arange(len(train), dtype=np.int32)
    return ranks


def min_train_applied(n_train: int, fraction: float, min_train: int) -> bool:
    """Whether ``min_train`` lifted ``fraction``: more rows train than ``round(f * n_train)``."""
    return n_train_rows(n_train, fraction, min_train) > min(n_train, round(fraction * n_train))


def n_train_rows(n_train: int, fraction: float, min_train: int) -> int:
    """Training rows used at ``fraction``: ``min(n_train, max(min_train, round(f * n_train)))``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return int(min(n_train, max(min_train, round(fraction * n_train))))


