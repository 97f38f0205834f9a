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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from isoclr.homology.merge import Sets, read_sets
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


def run_stage(settings: Mapping[str, Any], sets: str | os.PathLike[str], out_splits: str | os.PathLike[str],
              out_genes: str | os.PathLike[str], out_summary: str | os.PathLike[str] | None,
              orthologs: str | os.PathLike[str] | None = None, heldout: str | os.PathLike[str] | None = None) -> None:
    """The splits rule: the splits, genes and summary tables from the settings' params
    (:class:`isoclr.config.settings.SplitsSettings`); with ``orthologs`` (the homology stage's
    pairs), also the held-out pairs (:func:`heldout_orthologs`) to ``heldout``."""
    splits, genes, summary = make_splits(sets, settings["fractions"], settings["seed"], settings["weight"])
    write_tsv(splits, out_splits)
    write_tsv(genes, out_genes)
    if out_summary:
        write_tsv(summary, out_summary)
    log.info("splits by %s:\n%s", settings["weight"], summary.to_string(index=False))
    if orthologs is not None and heldout is not None:
        pairs = pd.read_csv(orthologs, sep="\t", dtype=str, keep_default_na=False)
        held = heldout_orthologs(pairs, genes)
        write_tsv(held, heldout)
        log.info("%d ortholog pairs, %d held out of every model's training one-to-one (%s)", len(pairs),
                 len(held), ", ".join(f"{k} {v}" for k, v in held["split"].value_counts().sort_index().items()))


def write_model_sets(sets: str | os.PathLike[str], genes: str | os.PathLike[str], species: Sequence[str],
                     out_sets: str | os.PathLike[str], out_splits: str | os.PathLike[str]) -> None:
    """The model_sets rule: :func:`subset_sets` written as a sets file and its splits table."""
    from isoclr.homology.merge import write_sets

    table = pd.read_csv(genes, sep="\t", dtype={"species": str, "gene_id": str, "split": str}, keep_default_na=False)
    sub, splits = subset_sets(sets, table, list(species))
    write_sets(sub, out_sets)
    write_tsv(splits, out_splits)
    counts = splits["split"].value_counts()
    log.info("%s of %s: %d sets (%s), %d genes", "+".join(sub.species), sets, len(splits),
             ", ".join(f"{k} {counts.get(k, 0)}" for k in SPLITS), len(sub.gene_id))


def splits_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "splits",
               wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The pipeline's ``splits`` rule (plain values from ``workflow/scripts/splits.py``):
    :func:`run_stage` with ``params.settings`` (:class:`isoclr.config.settings.SplitsSettings`)."""
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "split the transcript sets into train/validation/test by connected component",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    run_stage(params.settings, inputs.sets, outputs.splits, outputs.genes, outputs.summary,
              inputs.get("orthologs"), outputs.get("heldout"))


def model_sets_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "model_sets",
                   wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The pipeline's ``model_sets`` rule (plain values from ``workflow/scripts/model_sets.py``):
    :func:`write_model_sets` for ``params.species``."""
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "a model's own sets (its species, joined or kept apart) on the study's split",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    write_model_sets(inputs.sets, inputs.genes, params.species, outputs.sets, outputs.splits)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sets", required=True, help="sets.h5 from `isoclr homology`")
    parser.add_argument("--train", type=float, default=0.8, help="fraction for training")
    parser.add_argument("--validation", type=float, default=0.1, help="fraction for validation")
    parser.add_argument("--test", type=float, default=0.1, help="fraction for testing")
    parser.add_argument("--weight", choices=WEIGHTS, default="transcripts",
                        help="what the fractions count: transcripts (default), genes or sets")
    parser.add_argument("--seed", type=int, help="random seed (ties in set order); required unless --inherit")
    parser.add_argument("--out", required=True, help="splits.tsv (set_id, split)")
    parser.add_argument("--genes", help="genes.tsv (species, gene_id, set_id, split); required unless --inherit")
    parser.add_argument("--summary", default=None, help="optional summary TSV (counts per split)")
    parser.add_argument("--orthologs", help="orthologs.tsv of `isoclr homology --orthologs`: write the "
                        "pairs held out of training (one-to-one) to --heldout")
    parser.add_argument("--heldout", help="heldout_orthologs.tsv (with --orthologs)")
    m = parser.add_argument_group("a model's own sets on an existing split")
    m.add_argument("--inherit", metavar="GENES.tsv", help="instead of splitting: give each set of --sets "
                   "the split its genes have in this genes table (made on the sets joined by orthology); "
                   "writes --out-sets and --out")
    m.add_argument("--species", action="append", default=[], help="with --inherit: keep only these species (repeat)")
    m.add_argument("--out-sets", help="with --inherit: the model's sets.h5")


def run(args: argparse.Namespace) -> int:
    if bool(args.orthologs) != bool(args.heldout):
        raise ValueError("--orthologs and --heldout go together")
    if args.inherit:
        if not args.out_sets:
            raise ValueError("--inherit needs --out-sets (the model's sets.h5)")
        write_model_sets(args.sets, args.inherit, args.species, args.out_sets, args.out)
        return 0
    if args.seed is None or not args.genes:
        raise ValueError("--seed and --genes are required (unless --inherit)")
    fractions = {"train": args.train, "validation": args.validation, "test": args.test}
    settings = {"fractions": fractions, "seed": args.seed, "weight": args.weight}
    run_stage(settings, args.sets, args.out, args.genes, args.summary, args.orthologs, args.heldout)
    return 0


# --- per-model sets: a species subset and a homology mode, on the study's one split ----------
def subset_sets(sets_path: str | os.PathLike[str], genes: pd.DataFrame, species: list[str] | tuple[str, ...],
                ) -> tuple[Sets, pd.DataFrame]:
    """The sets of ``sets_path`` restricted to ``species`` (empty: all), each with the split
    its genes have in the study's split (``genes``: the genes table of :func:`make_splits`,
    columns species, gene_id, split).

    The study's split is made once, on the sets that join species by orthology; a model that
    sees fewer species, or the sets with species kept apart (whose links are a subset of those),
    inherits it gene by gene, so every model holds out the same genes. Returns the new sets and
    their splits table (set_id, split). A set whose genes had different splits is an error
    (its links are then not a subset of the split's sets)."""
    sets = read_sets(sets_path)
    species = list(species) or list(sets.species)
    for sp in species:
        if sp not in sets.species:
            raise ValueError(f"{sets_path}: no species {sp!r} (has {', '.join(sets.species)})")
    keep_codes = [i for i, sp in enumerate(sets.species) if sp in species]  # store order
    remap = np.full(len(sets.species), -1, np.int16)
    remap[keep_codes] = np.arange(len(keep_codes), dtype=np.int16)
    sp_names = np.array(sets.species, dtype=object)
    split_of = genes.set_index(["species", "gene_id"])["split"]
    g_keep = np.isin(sets.gene_species, keep_codes)
    keys = pd.MultiIndex.from_arrays([sp_names[sets.gene_species[g_keep]], sets.gene_id[g_keep].astype(str)])
    g_split = split_of.reindex(keys).to_numpy(dtype=object)
    if pd.isna(g_split).any():
        i = int(np.flatnonzero(pd.isna(g_split))[0])
        raise ValueError(f"{sets_path}: gene {keys[i][1]} ({keys[i][0]}) is not in the study's split "
                         "(genes.tsv of another study?)")
    g_set = sets.gene_set[g_keep].astype(np.int64)
    per_set = pd.DataFrame({"set": g_set, "split": g_split}).drop_duplicates()
    if per_set["set"].duplicated().any():
        bad = int(per_set.loc[per_set["set"].duplicated(), "set"].iloc[0])
        raise ValueError(f"{sets_path}: set {bad} holds genes of different splits; its links are not "
                         "a subset of those the study's split was made on")
    # members of the kept species, in their sets' order; sets with no member left are dropped
    m_keep = np.isin(sets.member_species, keep_codes)
    m_set = np.repeat(np.arange(sets.n_sets), np.diff(sets.offset))[m_keep]
    old_ids = np.unique(m_set)
    new_id = np.full(sets.n_sets, -1, np.int64)
    new_id[old_ids] = np.arange(len(old_ids))
    counts = np.bincount(new_id[m_set], minlength=len(old_ids))
    n_genes = np.bincount(new_id[g_set], minlength=len(old_ids)).astype(np.int32)
    pairs = np.unique(new_id[g_set] * 65536 + remap[sets.gene_species[g_keep]])
    n_species = np.bincount(pairs // 65536, minlength=len(old_ids)).astype(np.int16)
    sub = Sets(
        species=[sets.species[i] for i in keep_codes],
        stores=[sets.stores[i] for i in keep_codes],
        member_species=remap[sets.member_species[m_keep]],
        member_transcript=sets.member_transcript[m_keep],
        offset=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        n_genes=n_genes,
        n_species=n_species,
        gene_species=remap[sets.gene_species[g_keep]],
        gene_id=sets.gene_id[g_keep],
        gene_set=new_id[g_set].astype(np.int32),
    )
    split_by_old = per_set.set_index("set")["split"]
    splits = pd.DataFrame({"set_id": np.arange(len(old_ids), dtype=np.int64),
                           "split": split_by_old.reindex(old_ids).to_numpy(dtype=object)})
    return sub, splits


def heldout_orthologs(orthologs: pd.DataFrame, genes: pd.DataFrame) -> pd.DataFrame:
    """The ortholog pairs (``orthologs.tsv`` of the homology stage) that no model trains on:
    both genes outside the training split (a pair's genes share one set, so one split), and
    one-to-one among those pairs (a gene in two held-out pairs is left out: its partner would
    not be unique). Adds the column ``split`` (validation or test)."""
    split_of = genes.set_index(["species", "gene_id"])["split"]
    sa = split_of.reindex(pd.MultiIndex.from_arrays([orthologs["species_a"], orthologs["gene_a"]])).to_numpy(dtype=object)
    sb = split_of.reindex(pd.MultiIndex.from_arrays([orthologs["species_b"], orthologs["gene_b"]])).to_numpy(dtype=object)
    if (sa != sb).any():
        i = int(np.flatnonzero(sa != sb)[0])
        raise ValueError(f"ortholog pair {orthologs['gene_a'].iloc[i]} / {orthologs['gene_b'].iloc[i]} has genes "
                         f"in splits {sa[i]} and {sb[i]}: the orthologs and the split are of different sets")
    held = orthologs.assign(split=sa)
    held = held[held["split"] != "train"]
    one = ~held["gene_a"].duplicated(keep=False) & ~held["gene_b"].duplicated(keep=False)
    return held[one].reset_index(drop=True)
