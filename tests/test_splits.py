"""Tests for isoclr.splits.assign: whole sets per split, determinism, fractions, edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_homology import make_store

from isoclr import cli
from isoclr.homology.merge import Source, build_sets, write_sets
from isoclr.splits.assign import assign_splits, make_splits

FR = {"train": 0.8, "validation": 0.1, "test": 0.1}


@pytest.fixture(scope="module")
def sets_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("splits")
    rng = np.random.default_rng(1)
    human = [(f"ENSG{i:05d}.1", f"H{i // 2}", int(rng.integers(1, 6))) for i in range(300)]
    mouse = [(f"ENSMUSG{i:05d}.2", f"M{i}", int(rng.integers(1, 4))) for i in range(200)]
    make_store(tmp / "human.h5", "human", 9606, human)
    make_store(tmp / "mouse.h5", "mouse", 10090, mouse)
    pairs = tmp / "pairs.txt"
    pairs.write_text("".join(f"ENSG{i:05d}\tENSMUSG{i:05d}\n" for i in range(0, 200, 3)))
    sets = build_sets({"human": tmp / "human.h5", "mouse": tmp / "mouse.h5"},
                      [Source("pairs", str(pairs), ("human", "mouse"))])
    write_sets(sets, tmp / "sets.h5")
    return tmp / "sets.h5"


def test_no_straddling_and_every_gene_once(sets_file):
    splits, genes, _ = make_splits(sets_file, FR, seed=7)
    assert list(splits.columns) == ["set_id", "split"] and splits["set_id"].is_unique
    assert list(genes.columns) == ["species", "gene_id", "set_id", "split"]
    assert len(genes) == 500 and not genes.duplicated(["species", "gene_id"]).any()
    # one split per set, and the gene table agrees with the set table
    assert (genes.groupby("set_id")["split"].nunique() == 1).all()
    merged = genes.merge(splits, on="set_id", suffixes=("", "_set"))
    assert (merged["split"] == merged["split_set"]).all()
    # homologs (paired genes) and genes sharing a symbol are together
    g = genes.set_index(["species", "gene_id"])["split"]
    for i in range(0, 200, 3):
        assert g[("human", f"ENSG{i:05d}.1")] == g[("mouse", f"ENSMUSG{i:05d}.2")]
    for i in range(0, 300, 2):
        assert g[("human", f"ENSG{i:05d}.1")] == g[("human", f"ENSG{i + 1:05d}.1")]


def test_deterministic_and_seed_dependent(sets_file):
    a = make_splits(sets_file, FR, seed=7)[0]
    b = make_splits(sets_file, FR, seed=7)[0]
    c = make_splits(sets_file, FR, seed=8)[0]
    assert a.equals(b)
    assert not a.equals(c)


@pytest.mark.parametrize("weight", ["transcripts", "genes", "sets"])
def test_fractions_close_to_target(sets_file, weight):
    _, _, summary = make_splits(sets_file, FR, seed=3, weight=weight)
    got = summary.set_index("split")[f"{weight}_fraction"]
    for k, v in FR.items():
        assert abs(got[k] - v) < 0.02, (weight, summary)


def test_assign_edge_cases():
    assert assign_splits(np.array([5.0]), FR, seed=0).tolist() == [0]  # one set -> train
    assert assign_splits(np.zeros(0), FR, seed=0).tolist() == []
    out = assign_splits(np.ones(100), {"train": 0.5, "validation": 0.0, "test": 0.5}, seed=0)
    assert (out != 1).all() and (out == 0).sum() == 50
    with pytest.raises(ValueError, match="sum to 1"):
        assign_splits(np.ones(3), {"train": 0.5, "validation": 0.1, "test": 0.1}, seed=0)
    with pytest.raises(ValueError, match="unknown split"):
        assign_splits(np.ones(3), {"train": 0.9, "dev": 0.1}, seed=0)


def test_cli(sets_file, tmp_path):
    rc = cli.main(["splits", "--sets", str(sets_file), "--seed", "7", "--out", str(tmp_path / "s.tsv"),
                   "--genes", str(tmp_path / "g.tsv"), "--summary", str(tmp_path / "sum.tsv")])
    assert rc == 0
    s = pd.read_csv(tmp_path / "s.tsv", sep="\t")
    assert s.equals(make_splits(sets_file, FR, seed=7)[0])
    assert set(s["split"]) == {"train", "validation", "test"}


def test_set_size_mix_similar_across_splits(sets_file):
    # big-first filling would leave validation/test with only the small sets
    _, _, summary = make_splits(sets_file, FR, seed=5)
    per_set = (summary["transcripts"] / summary["sets"]).to_numpy()
    assert per_set.max() / per_set.min() < 1.5, summary
