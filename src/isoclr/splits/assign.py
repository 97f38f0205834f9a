"""Splits stage: leakage-free train / validation / test splits by transcript set.

Each transcript set of ``sets.h5`` (a connected component of the isoform + homology graph, see
:mod:`isoclr.homology.merge`) goes whole into one split, so no gene, isoform or homolog straddles two
splits.

Assignment (deterministic given the sets, the fractions and the seed):

1. every set gets a weight: its number of transcripts (``weight="transcripts"``, the default,
   because pre-training draws its views from transcripts), of genes (``"genes"``, closer to
   downstream tasks that use one transcript per gene) or 1 (``"sets"``);
2. the sets are put in a seeded random order (``numpy.random.default_rng(seed)``);
3. each set in turn goes to the split that is furthest behind its target *relative to the
   target*, ``(fraction * total - assigned) / fraction``; a split with fraction 0 gets nothing.

Random order (not biggest-first) keeps the set-size mix the same in every split: filling big
sets first would put all large isoform families in train and leave validation/test with
single-isoform genes. Each split ends within about one set of its target, so fractions are close
whenever no single set is a large part of the data (the summary TSV reports what was reached).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from isoclr.homology.merge import read_sets
from isoclr.core.files import atomic_path

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
WEIGHTS = ("transcripts", "genes", "sets")


def check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    """Validate {train, validation, test} fractions: non-negative, known names, sum 1 (+-1e-6)."""
    unknown = set(fractions) - set(SPLITS)
    if unknown:
        raise ValueError(f"split fractions: unknown split(s) {sorted(unknown)}; use {', '.join(SPLITS)}")
    fr = {k: float(fractions.get(k, 0.0)) for k in SPLITS}
    if any(v < 0 for v in fr.values()):
        raise ValueError(f"split fractions must be >= 0, got {fr}")
    if abs(sum(fr.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fr} (sum {sum(fr.values()):.6f})")
    return fr


def assign_splits(weights: np.ndarray, fractions: Mapping[str, float], seed: int) -> np.ndarray:
    """Split index (0 train, 1 validation, 2 test) for each set with the given weights."""
    fr = check_fractions(fractions)
    target = np.array([fr[k] for k in SPLITS]) * float(np.sum(weights))
    w = np.asarray(weights, dtype=np.float64)
    order = np.random.default_rng(seed).permutation(len(w))
    allowed = [k for k, name in enumerate(SPLITS) if fr[name] > 0]
    tgt = target.tolist()
    assigned = [0.0] * len(SPLITS)
    out = np.empty(len(w), dtype=np.int8)
    # One pass over sets (not nucleotides) in plain Python floats: ~0.1 s per 100k sets.
    for i, wi in zip(order.tolist(), w[order].tolist()):
        k = max(allowed, key=lambda j: (tgt[j] - assigned[j]) / tgt[j] if tgt[j] > 0 else -1.0)
        out[i] = k
        assigned[k] += wi
    return out


def make_splits(sets_path: str | os.PathLike[str], fractions: Mapping[str, float], seed: int,
                weight: str = "transcripts") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(splits table: set_id, split), (genes table: species, gene_id, set_id, split), summary."""
    if weight not in WEIGHTS:
        raise ValueError(f"split weight must be one of {', '.join(WEIGHTS)}, got {weight!r}")
    sets = read_sets(sets_path)
    n_tx = np.diff(sets.offset)
    w = {"transcripts": n_tx, "genes": sets.n_genes, "sets": np.ones(sets.n_sets)}[weight]
    split_idx = assign_splits(w, fractions, seed)
    names = np.array(SPLITS, dtype=object)
    splits = pd.DataFrame({"set_id": np.arange(sets.n_sets, dtype=np.int64), "split": names[split_idx]})
    species = np.array(sets.species, dtype=object)
    genes = pd.DataFrame({
        "species": species[sets.gene_species],
        "gene_id": sets.gene_id,
        "set_id": sets.gene_set.astype(np.int64),
        "split": names[split_idx[sets.gene_set]],
    })
    summary = pd.DataFrame({
        "split": list(SPLITS),
        "target": [check_fractions(fractions)[k] for k in SPLITS],
        "sets": np.bincount(split_idx, minlength=3),
        "genes": np.bincount(split_idx, weights=sets.n_genes, minlength=3).astype(np.int64),
        "transcripts": np.bincount(split_idx, weights=n_tx, minlength=3).astype(np.int64),
    })
    for col in ("sets", "genes", "transcripts"):
        total = summary[col].sum()
        summary[f"{col}_fraction"] = (summary[col] / total).round(4) if total else 0.0
    return splits, genes, summary


def write_tsv(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    with atomic_path(path, suffix=".tsv") as tmp:
        df.to_csv(tmp, sep="\t", index=False)


def splits_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "splits",
               wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The pipeline's ``splits`` rule (plain values from ``workflow/scripts/splits.py``):
    ``params.settings`` is :class:`isoclr.config.settings.SplitsSettings`."""
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "split the transcript sets into train/validation/test by connected component",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    s = params.settings
    splits, genes, summary = make_splits(inputs.sets, s["fractions"], s["seed"], s["weight"])
    write_tsv(splits, outputs.splits)
    write_tsv(genes, outputs.genes)
    write_tsv(summary, outputs.summary)
    log.info("splits by %s:\n%s", s["weight"], summary.to_string(index=False))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sets", required=True, help="sets.h5 from `isoclr homology`")
    parser.add_argument("--train", type=float, default=0.8, help="fraction for training")
    parser.add_argument("--validation", type=float, default=0.1, help="fraction for validation")
    parser.add_argument("--test", type=float, default=0.1, help="fraction for testing")
    parser.add_argument("--weight", choices=WEIGHTS, default="transcripts",
                        help="what the fractions count: transcripts (default), genes or sets")
    parser.add_argument("--seed", type=int, required=True, help="random seed (ties in set order)")
    parser.add_argument("--out", required=True, help="splits.tsv (set_id, split)")
    parser.add_argument("--genes", required=True, help="genes.tsv (species, gene_id, set_id, split)")
    parser.add_argument("--summary", default=None, help="optional summary TSV (counts per split)")


def run(args: argparse.Namespace) -> int:
    fractions = {"train": args.train, "validation": args.validation, "test": args.test}
    splits, genes, summary = make_splits(args.sets, fractions, args.seed, args.weight)
    write_tsv(splits, args.out)
    write_tsv(genes, args.genes)
    if args.summary:
        write_tsv(summary, args.summary)
    log.info("splits by %s:\n%s", args.weight, summary.to_string(index=False))
    return 0
