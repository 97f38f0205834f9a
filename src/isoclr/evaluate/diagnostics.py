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

The functions here need numpy only; :func:`diagnose` (one encoder on the held-out data of a
study, the ``diagnostics`` rule's job) imports torch only for a torch encoder. Its table
(:data:`COLUMNS`) has one row per metric.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import numpy.typing as npt

from isoclr.core.files import atomic_path

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: the diagnostics table: one row per metric of one encoder (``model``); ``n``: the rows
#: (transcripts, pairs or queries) the metric was measured on
COLUMNS = ["model", "metric", "value", "n"]
#: the held-out ortholog pairs file (splits stage, ``splits/heldout_orthologs.tsv``)
ORTHOLOG_COLUMNS = ("human_transcript", "human_gene", "mouse_transcript", "mouse_gene")
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
    """The held-out ortholog pairs (:data:`ORTHOLOG_COLUMNS`, tab-separated, with a header)."""
    import pandas as pd

    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in ORTHOLOG_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} (expected {', '.join(ORTHOLOG_COLUMNS)})")
    for col in ORTHOLOG_COLUMNS:
        empty = table[col].str.strip() == ""
        if empty.any():
            raise ValueError(f"{path} line {int(np.argmax(empty.to_numpy())) + 2}: empty {col}")
    return table[list(ORTHOLOG_COLUMNS)].drop_duplicates().reset_index(drop=True)


def ortholog_retrieval(pairs: pd.DataFrame, human: Mapping[str, int], mouse: Mapping[str, int],
                       h_human: npt.ArrayLike, h_mouse: npt.ArrayLike) -> Retrieval:
    """Retrieval of each held-out human transcript's mouse ortholog among every mouse transcript
    of ``pairs``. ``human``/``mouse``: transcript id -> row of ``h_human``/``h_mouse``. A query
    is right on any mouse transcript of a gene paired with its human gene."""
    h_human, h_mouse = np.asarray(h_human), np.asarray(h_mouse)
    cand_ids = list(dict.fromkeys(pairs["mouse_transcript"]))
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


# ---------------------------------------------------------------------------------------------
# k-mer profiles (the retrieval reference that knows only sequence composition)
# ---------------------------------------------------------------------------------------------
def kmer_profiles(seqs: Sequence[npt.NDArray[np.uint8]], ks: Sequence[int] = (3, 4, 5, 6)) -> npt.NDArray[np.float32]:
    """(n, sum 4**k) k-mer frequencies (each k's block sums to 1; the counts of
    :func:`isoclr.evaluate.naive.kmer_counts`), a length-free composition profile."""
    from isoclr.evaluate.naive import kmer_counts

    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    codes = np.concatenate([np.asarray(s, dtype=np.uint8) for s in seqs]) if len(seqs) else np.zeros(0, np.uint8)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    blocks = []
    for k in ks:
        counts = kmer_counts(codes, offsets, k)
        total = counts.sum(axis=1, keepdims=True)
        blocks.append(np.divide(counts, total, out=np.zeros_like(counts), where=total > 0))
    return np.concatenate(blocks, axis=1).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# one encoder on a study's held-out data (the pipeline job)
# ---------------------------------------------------------------------------------------------
#: (store, rows) -> (len(rows), D) embeddings
EmbedFn = Callable[[Any, npt.NDArray[np.int64]], npt.NDArray[np.float32]]


def heldout_members(sets: Any, splits: npt.NDArray[np.object_], split: str = "test") -> npt.NDArray[np.int64]:
    """Member positions (into ``sets.member_*``) of every set of ``split``."""
    ids = np.flatnonzero(splits == split)
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    starts, stops = sets.offset[ids], sets.offset[ids + 1]
    return np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)]).astype(np.int64)


def heldout_pairs(sets: Any, splits: npt.NDArray[np.object_], max_pairs: int, seed: int,
                  split: str = "test") -> npt.NDArray[np.int64]:
    """(p, 2) member positions: two distinct members of each ``split`` set with two or more
    (a seeded choice per set; at most ``max_pairs`` sets, a seeded sample)."""
    rng = np.random.default_rng(seed)
    ids = np.flatnonzero((splits == split) & (np.diff(sets.offset) > 1))
    if len(ids) > max_pairs:
        ids = np.sort(rng.choice(ids, max_pairs, replace=False))
    out = np.empty((len(ids), 2), dtype=np.int64)
    for row, s in enumerate(ids):
        out[row] = sets.offset[s] + rng.choice(int(sets.offset[s + 1] - sets.offset[s]), 2, replace=False)
    return out


def diagnose(
    model: str,
    embed: EmbedFn,
    sets_path: str | os.PathLike[str],
    splits_path: str | os.PathLike[str],
    stores: Mapping[str, str] | None = None,
    orthologs: str | os.PathLike[str] | None = None,
    *,
    max_transcripts: int = 2000,
    max_pairs: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The diagnostics table (:data:`COLUMNS`) of one encoder (``embed``) on a study's test split:
    effective rank over (at most ``max_transcripts``, a seeded sample of) the test sets'
    transcripts; alignment and uniformity over one positive pair per test set (at most
    ``max_pairs``); with ``orthologs`` (two or more species), ortholog retrieval."""
    import pandas as pd

    from isoclr.pretrain.loader import TranscriptSets, read_splits
    from isoclr.store.format import IsoformStore

    sets = TranscriptSets.load(sets_path, dict(stores) if stores else None)
    splits = read_splits(splits_path, sets.n_sets)
    rng = np.random.default_rng(seed)
    members = heldout_members(sets, splits)
    if len(members) == 0:
        raise ValueError(f"{splits_path}: no test sets, nothing to diagnose")
    if len(members) > max_transcripts:
        members = np.sort(rng.choice(members, max_transcripts, replace=False))
    pairs = heldout_pairs(sets, splits, max_pairs, seed)
    opened = [IsoformStore(p) for p in sets.stores]
    # every transcript needed, embedded once per species
    wanted: dict[int, set[int]] = {}
    for m in np.concatenate([members, pairs.ravel()]):
        wanted.setdefault(int(sets.member_species[m]), set()).add(int(sets.member_transcript[m]))
    table = None
    if orthologs is not None:
        table = read_heldout_orthologs(orthologs)
        ids = {sp: {t: i for i, t in enumerate(st.table()["transcript_id"].astype(str))} for sp, st in enumerate(opened)}
        where: dict[str, tuple[int, int]] = {}
        for col in ("human_transcript", "mouse_transcript"):
            for t in table[col]:
                hit = next(((sp, rows[t]) for sp, rows in ids.items() if t in rows), None)
                if hit is None:
                    raise ValueError(f"{orthologs}: transcript {t} ({col}) is in no species store "
                                     f"({', '.join(sets.species)})")
                where[t] = hit
                wanted.setdefault(hit[0], set()).add(hit[1])
    h: dict[tuple[int, int], npt.NDArray[np.float32]] = {}
    for sp, rows_set in sorted(wanted.items()):
        rows = np.array(sorted(rows_set), dtype=np.int64)
        emb = np.asarray(embed(opened[sp], rows), dtype=np.float32)
        if emb.shape[0] != len(rows) or not np.all(np.isfinite(emb)):
            raise RuntimeError(f"{model}: the encoder gave {emb.shape} (or non-finite) embeddings for {len(rows)} rows")
        h.update({(sp, int(r)): emb[i] for i, r in enumerate(rows)})

    def of(positions: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return np.stack([h[(int(sets.member_species[m]), int(sets.member_transcript[m]))] for m in positions])

    hm = of(members)
    rows: list[tuple[str, float, int]] = [
        ("effective_rank", effective_rank(hm), len(hm)),
        ("effective_rank_max", float(min(hm.shape)), len(hm)),
        ("dimensions", float(hm.shape[1]), len(hm)),
    ]
    if len(pairs):
        a, u = alignment_uniformity(of(pairs[:, 0]), of(pairs[:, 1]), seed=seed)
        rows += [("alignment", a, len(pairs)), ("uniformity", u, len(pairs))]
    if table is not None and len(table):
        keys = list(where)
        lookup = {t: i for i, t in enumerate(keys)}
        mat = np.stack([h[where[t]] for t in keys])
        r = ortholog_retrieval(table, lookup, lookup, mat, mat)
        rows += [("retrieval_top1", r.top1, r.n_queries), ("retrieval_top10", r.top10, r.n_queries),
                 ("retrieval_median_rank", r.median_rank, r.n_queries),
                 ("retrieval_chance_top1", r.chance_top1, r.n_candidates),
                 ("retrieval_candidates", float(r.n_candidates), r.n_candidates)]
    out = pd.DataFrame([(model, m, v, n) for m, v, n in rows], columns=COLUMNS)
    log.info("%s: %s", model, ", ".join(f"{m} {v:.4g}" for m, v, _ in rows))
    return out


def torch_embedder(encoder: Any, batch_size: int = 16, device: str | None = "auto",
                   drop_tracks: Sequence[str] = ()) -> EmbedFn:
    """An :data:`EmbedFn` of a frozen torch encoder (:func:`isoclr.evaluate.embedder.embed_store`)."""
    from isoclr.evaluate.embedder import embed_store
    from isoclr.evaluate.finetune import resolve_device

    dev = resolve_device(device)

    def embed(store: Any, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return embed_store(encoder, store, rows, batch_size=batch_size, device=dev, drop_tracks=drop_tracks)

    return embed


def kmer_embedder(store: Any, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """The k-mer profile :data:`EmbedFn` (:func:`kmer_profiles`)."""
    return kmer_profiles([store.codes(int(r)) for r in rows])


def run_diagnostics(
    encoder: str,
    out: str | os.PathLike[str],
    sets: str | os.PathLike[str],
    splits: str | os.PathLike[str],
    stores: Mapping[str, str] | None = None,
    orthologs: str | os.PathLike[str] | None = None,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    model_cfg: Mapping[str, Any] | None = None,
    seed: int = 0,
    sample_seed: int = 0,
    batch_size: int = 16,
    device: str | None = "auto",
    drop_tracks: Sequence[str] = (),
    max_transcripts: int = 2000,
    max_pairs: int = 1000,
    threads: int | None = None,
) -> pd.DataFrame:
    """One frozen encoder's diagnostics table, written to ``out`` (TSV, atomically). ``naive``
    is the k-mer-profile reference; every other encoder is built as the embedding jobs build it
    (:func:`isoclr.evaluate.jobs.make_encoder`, ``seed`` the random encoder's). ``sample_seed``
    picks the held-out transcripts and pairs: the same for every encoder of a study."""
    if encoder == "naive":
        embed = kmer_embedder
    else:
        import torch

        from isoclr.evaluate.jobs import make_encoder

        if threads:
            torch.set_num_threads(int(threads))
        embed = torch_embedder(make_encoder(encoder, checkpoint, model_cfg, seed), batch_size, device, drop_tracks)
    table = diagnose(encoder, embed, sets, splits, stores, orthologs, max_transcripts=max_transcripts,
                     max_pairs=max_pairs, seed=sample_seed)
    write_table(table, out)
    return table


def write_table(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    with atomic_path(path, suffix=".tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="NaN", float_format="%.6g")


def read_tables(paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Diagnostics tables concatenated (checked for :data:`COLUMNS`)."""
    import pandas as pd

    parts = []
    for p in paths:
        t = pd.read_csv(p, sep="\t")
        missing = [c for c in COLUMNS if c not in t.columns]
        if missing:
            raise ValueError(f"{p}: not a diagnostics table, missing column(s) {missing}")
        parts.append(t[COLUMNS])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


# ---------------------------------------------------------------------------------------------
# CLI: isoclr diagnostics
# ---------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    job = sub.add_parser("run", help="one encoder's diagnostics table")
    job.add_argument("--encoder", required=True, help="isoclr, mlm, random, naive (k-mer profiles) or pretrained-NAME")
    job.add_argument("--out", required=True, help="output TSV")
    job.add_argument("--sets", required=True, help="results/homology/sets.h5")
    job.add_argument("--splits", required=True, help="results/splits/splits.tsv")
    job.add_argument("--orthologs", help="results/splits/heldout_orthologs.tsv (ortholog retrieval)")
    job.add_argument("--checkpoint", help="pre-training checkpoint (isoclr, mlm, pretrained-NAME)")
    job.add_argument("--store", action="append", default=[], metavar="SPECIES=PATH", help="store path override (repeatable)")
    job.add_argument("--config", help="pipeline config YAML (seed, random encoder, encoding, diagnostics)")
    job.add_argument("--device", default=None)
    job.add_argument("--threads", type=int, default=None)
    fig = sub.add_parser("figure", help="the diagnostics figure (PDF and PNG) from the tables")
    fig.add_argument("--out", required=True, help="PDF path; the PNG is written beside it")
    fig.add_argument("--study", default="", help="the study drawn (demo: the figure says it is demo-sized)")
    fig.add_argument("tables", nargs="+")


def run(args: argparse.Namespace) -> int:
    if args.action == "figure":
        from isoclr.figures.diagnostics import fig_diagnostics

        fig_diagnostics(args.tables, args.out, study=args.study)
        return 0
    import yaml

    from isoclr.config.settings import DiagnosticsSettings

    config: dict[str, Any] = {}
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            config = yaml.safe_load(fh) or {}
    kw = DiagnosticsSettings.from_config(config, args.encoder).to_params() if config else {"encoder": args.encoder}
    kw.pop("encoder")
    if args.device:
        kw["device"] = args.device
    stores = dict(x.split("=", 1) for x in args.store) if args.store else None
    table = run_diagnostics(args.encoder, args.out, args.sets, args.splits, stores, args.orthologs,
                            checkpoint=args.checkpoint, threads=args.threads, **kw)
    print(table.to_string(index=False))
    return 0


__all__ = ["effective_rank", "alignment", "uniformity", "alignment_uniformity", "retrieval", "Retrieval",
           "ortholog_retrieval", "read_heldout_orthologs", "kmer_profiles", "diagnose", "run_diagnostics",
           "read_tables", "COLUMNS", "METRICS"]
