"""Diagnostics of a frozen encoder: what did it learn, apart from the downstream scores?

Three measures, on embeddings ``h`` (n, D) of transcripts no encoder saw in pre-training:

* **effective rank** (Roy & Vetterli 2007; RankMe, Garrido et al. 2023): ``exp`` of the
  Shannon entropy of the singular values of ``h`` normalised to sum 1. It is 1 for a collapsed
  embedding (every row on one line) and ``min(n, D)`` when every direction carries the same
  variance. ``h`` is used as it is (not centred), as in both papers.
* **alignment and uniformity** (Wang & Isola 2020) of the L2-normalised embeddings of positive
  pairs (two transcripts of one held-out transcript set): alignment ``E ||z1 - z2||^2`` (0 =
  pairs identical, 4 = opposite), uniformity ``log E exp(-2 ||zi - zj||^2)`` over every pair of
  distinct points of both views (``-4`` at most spread on a high-dimensional sphere, 0 when
  every point is the same).
* **ortholog retrieval**: for each held-out human transcript, the rank of its gene's mouse
  ortholog among every held-out mouse transcript, by cosine similarity (rank 1 = the most
  similar). Ties are broken at random in expectation (the rank is the expected place of the
  first positive, top-k the probability that it is within the first k), so a constant
  (collapsed) encoder scores chance (``positives / n_candidates``), never a perfect 1.

The functions here need numpy only (pandas for the pairs file) and import nothing else of
isoclr, so pre-training logs them without depending on the evaluation code. The job that
measures one encoder on a study's held-out data (the ``diagnostics`` rule, ``isoclr
diagnostics``) is :mod:`isoclr.diagnostics.run`; its table (:data:`COLUMNS`) has one row per metric.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: the diagnostics table: one row per metric of one encoder (``model``); ``n``: the rows
#: (transcripts, pairs or queries) the metric was measured on
COLUMNS = ["model", "metric", "value", "n"]
#: the held-out ortholog pairs, as :func:`read_heldout_orthologs` gives them: the query species'
#: ("human") transcript and gene, the candidate species' ("mouse")
ORTHOLOG_COLUMNS = ("human_transcript", "human_gene", "mouse_transcript", "mouse_gene")
#: the splits stage's file (``splits/heldout_orthologs.tsv``, rows of ``homology/orthologs.tsv``):
#: species A is the query side, B the candidates
SPLITS_COLUMNS = {"transcript_a": "human_transcript", "gene_a": "human_gene", "transcript_b": "mouse_transcript",
                  "gene_b": "mouse_gene", "species_a": "species_a", "species_b": "species_b"}
#: metrics in the order of the figure's panels
METRICS = ("effective_rank", "alignment", "uniformity", "retrieval_top1", "retrieval_top10", "retrieval_median_rank")


# ---------------------------------------------------------------------------------------------
# the measures (numpy)
# ---------------------------------------------------------------------------------------------
def effective_rank(h: npt.ArrayLike, eps: float = 1e-12) -> float:
    """``exp(H(p))``, ``p`` the singular values of ``h`` (n, D) divided by their sum (Roy &
    Vetterli 2007). 0 for an all-zero matrix."""
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 2:
        raise ValueError(f"effective_rank: expected a 2-D matrix, got shape {h.shape}")
    if h.size == 0:
        return 0.0
    s = np.linalg.svd(h, compute_uv=False)
    total = s.sum()
    if total <= eps:
        return 0.0
    p = s / total
    p = p[p > eps]
    return float(np.exp(-(p * np.log(p)).sum()))


def normalise(h: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Rows scaled to unit L2 norm (an all-zero row stays zero)."""
    h = np.asarray(h, dtype=np.float64)
    norm = np.linalg.norm(h, axis=1, keepdims=True)
    return np.divide(h, norm, out=np.zeros_like(h), where=norm > 0)


def alignment(z1: npt.ArrayLike, z2: npt.ArrayLike) -> float:
    """Wang & Isola (2020) alignment ``E ||z1 - z2||^2`` of the normalised pairs (rows)."""
    a, b = normalise(z1), normalise(z2)
    if a.shape != b.shape:
        raise ValueError(f"alignment: the two views differ in shape ({a.shape} vs {b.shape})")
    if len(a) == 0:
        return float("nan")
    return float(((a - b) ** 2).sum(axis=1).mean())


def uniformity(z: npt.ArrayLike, t: float = 2.0, max_points: int = 4096, seed: int = 0) -> float:
    """Wang & Isola (2020) uniformity ``log E exp(-t ||zi - zj||^2)`` over the pairs i < j of
    the normalised rows (at most ``max_points`` rows, a seeded sample, so the cost is bounded)."""
    z = normalise(z)
    if len(z) > max_points:
        z = z[np.sort(np.random.default_rng(seed).choice(len(z), max_points, replace=False))]
    if len(z) < 2:
        return float("nan")
    sq = np.maximum(2.0 - 2.0 * (z @ z.T), 0.0)  # unit rows: ||a - b||^2 = 2 - 2 a.b
    iu = np.triu_indices(len(z), k=1)
    vals = -t * sq[iu]
    m = vals.max()
    return float(m + np.log(np.exp(vals - m).mean()))  # log-mean-exp, stable


def alignment_uniformity(z1: npt.ArrayLike, z2: npt.ArrayLike, max_points: int = 4096,
                         seed: int = 0) -> tuple[float, float]:
    """(alignment, uniformity) of positive pairs ``(z1[i], z2[i])``; uniformity over both views,
    as pre-training logs them."""
    return alignment(z1, z2), uniformity(np.concatenate([np.asarray(z1), np.asarray(z2)]), max_points=max_points,
                                         seed=seed)


@dataclass(frozen=True)
class Retrieval:
    """Ortholog retrieval scores (module docstring): ranks are 1-based."""

    ranks: npt.NDArray[np.float64]  # expected rank of each query's best positive
    top1: float
    top10: float
    median_rank: float
    n_queries: int
    n_candidates: int

    @property
    def chance_top1(self) -> float:
        return 1.0 / self.n_candidates if self.n_candidates else float("nan")


def retrieval(queries: npt.ArrayLike, candidates: npt.ArrayLike, positives: Sequence[npt.ArrayLike],
              ks: Sequence[int] = (1, 10)) -> tuple[Retrieval, dict[int, float]]:
    """Rank ``candidates`` (m, D) for every row of ``queries`` (q, D) by cosine similarity;
    ``positives[i]``: the candidate rows that are a correct answer for query ``i`` (at least
    one). A query's rank is that of its best-placed positive, ties broken at random in
    expectation. Returns the :class:`Retrieval` and top-k accuracy for every ``k`` of ``ks``."""
    q, c = normalise(queries), normalise(candidates)
    if len(positives) != len(q):
        raise ValueError(f"retrieval: {len(q)} queries but {len(positives)} positive lists")
    if q.shape[1:] != c.shape[1:]:
        raise ValueError(f"retrieval: queries have {q.shape[1:]} dimensions, candidates {c.shape[1:]}")
    m = len(c)
    sim = q @ c.T  # (q, m)
    ranks = np.empty(len(q))
    topk = {int(k): np.empty(len(q)) for k in ks}
    for i, pos in enumerate(positives):
        pos = np.unique(np.asarray(pos, dtype=np.int64))
        if len(pos) == 0 or pos.min() < 0 or pos.max() >= m:
            raise ValueError(f"retrieval: query {i} has no valid positive among {m} candidates ({pos})")
        row = sim[i]
        best = row[pos].max()
        neg = np.ones(m, dtype=bool)
        neg[pos] = False
        better = int((row[neg] > best).sum())
        tied = int((row[neg] == best).sum())
        e = int((row[pos] == best).sum())  # positives tied at the best similarity
        # the tied block (e positives, `tied` negatives) in random order after the `better`
        ranks[i] = 1 + better + tied / (e + 1)  # expected place of its first positive
        for k in topk:
            j = k - better  # places of the block within the top k
            miss = 1.0  # P(no positive among the block's first j places)
            for t in range(max(0, min(j, tied + 1))):
                miss *= max(tied - t, 0) / (e + tied - t)
            topk[k][i] = 0.0 if j <= 0 else 1.0 - miss
    acc = {k: float(v.mean()) if len(v) else float("nan") for k, v in topk.items()}
    result = Retrieval(ranks, acc.get(1, float("nan")), acc.get(10, float("nan")),
                       float(np.median(ranks)) if len(ranks) else float("nan"), len(q), m)
    return result, acc


def read_heldout_orthologs(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The held-out ortholog pairs: the splits stage's ``heldout_orthologs.tsv`` (columns
    ``species_a gene_a transcript_a species_b gene_b transcript_b ...``; A the queries, B the
    candidates) or a table with the columns :data:`ORTHOLOG_COLUMNS` (tab-separated, header).
    Returns :data:`ORTHOLOG_COLUMNS` (plus ``species_a``/``species_b`` when given)."""
    import pandas as pd

    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if {"transcript_a", "gene_a", "transcript_b", "gene_b"} <= set(table.columns):
        table = table.rename(columns=SPLITS_COLUMNS)
    extra = [c for c in ("species_a", "species_b") if c in table.columns]
    missing = [c for c in ORTHOLOG_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} (expected {', '.join(ORTHOLOG_COLUMNS)})")
    for col in ORTHOLOG_COLUMNS:
        empty = table[col].str.strip() == ""
        if empty.any():
            raise ValueError(f"{path} line {int(np.argmax(empty.to_numpy())) + 2}: empty {col}")
    return table[[*ORTHOLOG_COLUMNS, *extra]].drop_duplicates().reset_index(drop=True)


def ortholog_retrieval(pairs: pd.DataFrame, human: Mapping[str, int], mouse: Mapping[str, int],
                       h_human: npt.ArrayLike, h_mouse: npt.ArrayLike,
                       candidates: Sequence[str] = ()) -> Retrieval:
    """Retrieval of each held-out human transcript's mouse ortholog among every mouse transcript
    of ``pairs`` and of ``candidates`` (e.g. every held-out mouse transcript). ``human``/``mouse``:
    transcript id -> row of ``h_human``/``h_mouse``. A query is right on any mouse transcript of
    a gene paired with its human gene."""
    h_human, h_mouse = np.asarray(h_human), np.asarray(h_mouse)
    cand_ids = list(dict.fromkeys([*pairs["mouse_transcript"], *candidates]))
    cand_pos = {t: i for i, t in enumerate(cand_ids)}
    mouse_of_gene: dict[str, list[int]] = {}
    for t, g in zip(pairs["mouse_transcript"], pairs["mouse_gene"]):
        mouse_of_gene.setdefault(g, []).append(cand_pos[t])
    genes_of_human: dict[str, set[str]] = {}
    for hg, mg in zip(pairs["human_gene"], pairs["mouse_gene"]):
        genes_of_human.setdefault(hg, set()).add(mg)
    queries = list(dict.fromkeys(zip(pairs["human_transcript"], pairs["human_gene"])))
    positives = [np.concatenate([mouse_of_gene[g] for g in sorted(genes_of_human[hg])]) for _, hg in queries]
    q = h_human[[human[t] for t, _ in queries]]
    c = h_mouse[[mouse[t] for t in cand_ids]]
    result, _ = retrieval(q, c, positives)
    return result


__all__ = ["effective_rank", "normalise", "alignment", "uniformity", "alignment_uniformity", "retrieval", "Retrieval",
           "ortholog_retrieval", "read_heldout_orthologs", "COLUMNS", "METRICS", "ORTHOLOG_COLUMNS"]
