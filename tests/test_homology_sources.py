"""The taxon_groups homology source (HomoloGene-style group tables), ortholog pairs, a model's
own sets on the study's split, and the held-out ortholog pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_homology import make_store, sets_of

from isoclr.homology.merge import Source, build_sets, run_stage, within_species_sources, write_sets
from isoclr.homology.sources import orthologs_table, read_entrez_map
from isoclr.splits.assign import heldout_orthologs, make_splits, subset_sets

TABLE = """hid\ttaxid\tgene_id\tsymbol
1\t9606\t7157\tTP53
1\t10090\t22059\tTrp53
2\t9606\t672\tBRCA1
2\t10090\t12189\tBrca1
3\t9606\t100\tSMIM46
3\t10090\t555\tSmim46
4\t10090\t666\tOlfr483
4\t9606\t9999\tOLDNAME
5\t10116\t24842\tTp53
6\t10090\t777\taBc
7\t9606\t8888\tTP53
"""


@pytest.fixture
def example(tmp_path: Path) -> dict[str, object]:
    human = make_store(tmp_path / "human.h5", "human", 9606, [
        ("ENSG01.1", "TP53", 2), ("ENSG02.1", "BRCA1", 1), ("ENSG03.1", "SMIM46", 1),
        ("ENSG04.1", "NEWGENE", 1), ("9999", "OLDNAME", 1)])
    mouse = make_store(tmp_path / "mouse.h5", "mouse", 10090, [
        ("ENSMUSG01.3", "Trp53", 1), ("ENSMUSG02.1", "Brca1", 2), ("ENSMUSG03.2", "SMIM46", 1),
        ("ENSMUSG04.1", "Or5p59", 1), ("ENSMUSG05.1", "Abc", 1), ("ENSMUSG06.1", "ABC", 1)])
    table = tmp_path / "groups.tsv"
    table.write_text(TABLE)
    ids = tmp_path / "ids.tsv"
    ids.write_text("entrez_gene_id\tsymbol\tensembl_gene_id\n7157\tTP53\tENSG01\n672\tBRCA1\tENSG02\n"
                   "100\tSMIM46\tENSG03\n4444\tNEWGENE\tENSG04\n9999\tOLDNAME\t\n")
    return {"stores": {"human": str(human), "mouse": str(mouse)}, "table": str(table), "ids": str(ids)}


def build(example: dict, **kw: object):
    src = Source("taxon_groups", example["table"], (), "homologene")
    entrez = {"human": read_entrez_map(example["ids"], "entrez_gene_id", "ensembl_gene_id")}
    return build_sets(example["stores"], [src], entrez_ids=entrez, **kw)


def test_taxon_groups_join_by_entrez_id_and_symbol(example: dict) -> None:
    s = build(example)
    for h, m in (("ENSG01.1", "ENSMUSG01.3"), ("ENSG02.1", "ENSMUSG02.1"), ("ENSG03.1", "ENSMUSG03.2")):
        assert sets_of(s, "human", h) == sets_of(s, "mouse", m)
    # group 4: OLDNAME (a store gene keyed by its Entrez id) finds no mouse partner (Olfr483 is Or5p59 now)
    alone = [("human", "9999"), ("human", "ENSG04.1"), ("mouse", "ENSMUSG04.1"), ("mouse", "ENSMUSG05.1"),
             ("mouse", "ENSMUSG06.1")]
    assert len({sets_of(s, sp, g) for sp, g in alone}) == len(alone)
    # an Entrez id the map does not know (8888) does not fall back to its symbol TP53
    assert sets_of(s, "human", "ENSG01.1") != sets_of(s, "human", "ENSG04.1")
    stats = {(sec, key): v for sec, key, v in s.stats}
    src = "source:homologene"
    expected = {
        "rows": 11, "rows_taxid_not_configured": 1,
        "human:rows": 5, "human:rows_matched_by_entrez_id": 4, "human:rows_unmatched": 1,
        "human:genes_matched": 4, "human:genes_unmatched": 1,
        "mouse:rows": 5, "mouse:rows_matched_by_symbol": 2, "mouse:rows_matched_by_symbol_case_insensitive": 1,
        "mouse:rows_unmatched": 2, "mouse:genes_matched": 3, "mouse:genes_unmatched": 3,
        "groups_with_2plus_matched_genes": 3, "groups_with_2plus_species": 3,
    }
    assert {k: stats[(src, k)] for k in expected} == expected
    assert stats[("totals", "multi_species_sets")] == 3


def test_symbol_case_rules(example: dict, tmp_path: Path) -> None:
    """Without an Entrez map the human side matches by symbol too: exact first, then case-folded
    when unique; 'aBc' is ambiguous among the mouse genes Abc / ABC and matches nothing."""
    src = Source("taxon_groups", example["table"], (), "hg")
    s = build_sets(example["stores"], [src])
    stats = {(sec, key): v for sec, key, v in s.stats}
    assert stats[("source:hg", "human:rows_matched_by_symbol")] == 5  # TP53 twice, BRCA1, SMIM46, OLDNAME
    assert stats[("source:hg", "mouse:rows_matched_by_symbol_case_insensitive")] == 1
    assert sets_of(s, "mouse", "ENSMUSG05.1") != sets_of(s, "mouse", "ENSMUSG06.1")


def test_bad_rows_are_errors(example: dict, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\t9606\t7157\tTP53\n2\thuman\t672\tBRCA1\n")
    with pytest.raises(ValueError, match=r"bad.tsv line 2: taxid 'human' is not a number"):
        build_sets(example["stores"], [Source("taxon_groups", str(bad))])
    short = tmp_path / "short.tsv"
    short.write_text("1\t9606\t7157\n")
    with pytest.raises(ValueError, match=r"short.tsv line 1: expected 4 columns"):
        build_sets(example["stores"], [Source("taxon_groups", str(short))])


def test_kept_apart_and_ortholog_pairs(example: dict) -> None:
    s = build(example)
    pairs = orthologs_table(s, "human", "mouse")
    assert sorted(zip(pairs["gene_a"], pairs["gene_b"])) == [
        ("ENSG01.1", "ENSMUSG01.3"), ("ENSG02.1", "ENSMUSG02.1"), ("ENSG03.1", "ENSMUSG03.2")]
    assert set(pairs["transcript_a"]) == {"ENSG01.1-t0", "ENSG02.1-t0", "ENSG03.1-t0"}
    assert (pairs["set_id"].to_numpy() == [sets_of(s, "human", g) for g in pairs["gene_a"]]).all()
    apart = build_sets(example["stores"], within_species_sources([Source("taxon_groups", example["table"])]))
    assert all(n == 1 for n in apart.n_species)


def test_model_sets_inherit_the_split_and_heldout_pairs(example: dict, tmp_path: Path) -> None:
    joined, apart = build(example), build_sets(example["stores"])
    write_sets(joined, tmp_path / "sets.h5")
    write_sets(apart, tmp_path / "sets.isoforms.h5")
    _, genes, _ = make_splits(tmp_path / "sets.h5", {"train": 0.5, "validation": 0.25, "test": 0.25}, seed=3)
    split_of = dict(zip(zip(genes["species"], genes["gene_id"]), genes["split"]))
    for path, species in ((tmp_path / "sets.h5", ["human"]), (tmp_path / "sets.isoforms.h5", ["human", "mouse"]),
                          (tmp_path / "sets.isoforms.h5", [])):
        sub, splits = subset_sets(path, genes, species)
        assert sub.species == (species or ["human", "mouse"])
        assert len(splits) == sub.n_sets == len(np.diff(sub.offset))
        for code, g, st in zip(sub.gene_species, sub.gene_id, sub.gene_set):
            assert splits["split"][st] == split_of[(sub.species[code], g)]  # the same held-out genes
    sub, _ = subset_sets(tmp_path / "sets.h5", genes, ["human"])
    assert (sub.member_species == 0).all() and len(sub.member_transcript) == 6
    # a set straddling two splits cannot inherit one
    wrong = genes.assign(split=np.where(genes["gene_id"] == "ENSMUSG01.3", "train", "test"))
    with pytest.raises(ValueError, match="holds genes of different splits"):
        subset_sets(tmp_path / "sets.h5", wrong.assign(split=np.where(wrong["gene_id"] == "ENSG01.1", "test", wrong["split"])), [])
    # held-out pairs: not in training, and one-to-one
    pairs = orthologs_table(joined, "human", "mouse").astype(str)
    extra = pairs.iloc[[0]].assign(gene_a="ENSG04.1")  # a second human partner of one mouse gene
    genes2 = genes.assign(split="test")
    held = heldout_orthologs(pd.concat([pairs, extra]), genes2)
    assert pairs["gene_b"].iloc[0] not in set(held["gene_b"]) and len(held) == 2
    genes3 = genes.assign(split=np.where(genes["gene_id"].isin(["ENSG02.1", "ENSMUSG02.1"]), "train", "validation"))
    held = heldout_orthologs(pairs, genes3)
    assert sorted(held["gene_a"]) == ["ENSG01.1", "ENSG03.1"] and set(held["split"]) == {"validation"}


def test_run_stage_writes_the_pairs(example: dict, tmp_path: Path) -> None:
    settings = {"species": ["human", "mouse"], "taxids": {}, "join_symbols": True, "max_genes_per_symbol": None,
                "sources": [{"name": "homologene", "format": "taxon_groups", "species": []}],
                "entrez_ids": {"human": {"file": "ids", "entrez_column": "entrez_gene_id", "gene_column": "ensembl_gene_id"}},
                "orthologs": ["human", "mouse"]}
    run_stage(settings, list(example["stores"].values()), [example["table"]], [example["ids"]],
              tmp_path / "sets.h5", tmp_path / "sets.stats.tsv", tmp_path / "orthologs.tsv")
    table = pd.read_csv(tmp_path / "orthologs.tsv", sep="\t")
    assert len(table) == 3 and list(table.columns[:3]) == ["set_id", "species_a", "gene_a"]


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "homology" / "homologene_b68"


@pytest.mark.skipif(not SHARED.exists(), reason="curated data collection not available")
def test_homologene_copy_is_the_curated_set() -> None:
    ours = Path(__file__).resolve().parents[1] / "resources" / "human_mouse_mrna"
    for name in ("homologene_human_mouse.tsv.gz", "LICENSE.homologene.md"):
        assert (ours / name).read_bytes() == (SHARED / name).read_bytes(), name


def test_cli_homology_and_splits(example: dict, tmp_path: Path) -> None:
    from isoclr.cli import main as cli_main

    st = example["stores"]
    common = ["homology", "--store", f"human={st['human']}", "--store", f"mouse={st['mouse']}",
              "--source", f"homologene=taxon_groups:{example['table']}",
              "--entrez-ids", f"human={example['ids']}:entrez_gene_id:ensembl_gene_id"]
    assert cli_main([*common, "--out", str(tmp_path / "sets.h5"), "--orthologs", "human,mouse"]) == 0
    assert len(pd.read_csv(tmp_path / "orthologs.tsv", sep="\t")) == 3
    assert cli_main([*common, "--out", str(tmp_path / "apart.h5"), "--within-species"]) == 0
    assert cli_main(["splits", "--sets", str(tmp_path / "sets.h5"), "--seed", "1", "--out", str(tmp_path / "s.tsv"),
                     "--genes", str(tmp_path / "g.tsv"), "--orthologs", str(tmp_path / "orthologs.tsv"),
                     "--heldout", str(tmp_path / "held.tsv"), "--train", "0.4", "--validation", "0.3", "--test", "0.3"]) == 0
    held = pd.read_csv(tmp_path / "held.tsv", sep="\t")
    assert set(held["split"]) <= {"validation", "test"}
    assert cli_main(["splits", "--sets", str(tmp_path / "apart.h5"), "--inherit", str(tmp_path / "g.tsv"),
                     "--species", "human", "--out-sets", str(tmp_path / "h.h5"), "--out", str(tmp_path / "h.tsv")]) == 0
    assert len(pd.read_csv(tmp_path / "h.tsv", sep="\t")) == 5
