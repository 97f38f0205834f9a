"""Tests for isoclr.homology.merge: transcript sets from isoforms, symbols and homology tables."""

from __future__ import annotations

import gzip
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from isoclr import cli
from isoclr.homology.merge import Source, build_sets, read_sets, write_sets
from isoclr.store.format import write_store


def make_store(path: Path, species: str, taxid: int | None, genes: list[tuple[str, str, int]]) -> Path:
    """A tiny store: genes (gene_id, gene_name, n_transcripts), each transcript 'ACGT'.
    Transcripts of one gene are interleaved with others to exercise tx_index."""
    rows = []
    for k in range(max(n for _, _, n in genes)):
        for gid, name, n in genes:
            if k < n:
                rows.append({"transcript_id": f"{gid}-t{k}", "gene_id": gid, "gene_name": name})
    table = pd.DataFrame(rows)
    n = len(table)
    codes = np.tile(np.array([0, 1, 2, 3], np.uint8), n)
    seq_offset = np.arange(n + 1) * 4
    write_store(path, table, codes, seq_offset, np.full(n, 4), np.arange(n + 1),
                {"species": species, "taxid": "" if taxid is None else taxid})
    return path


@pytest.fixture
def stores(tmp_path):
    human = make_store(tmp_path / "human.h5", "human", 9606, [
        ("ENSG01.3", "TP53", 3), ("ENSG02.1", "BRCA1", 2), ("ENSG03.7", "Y_RNA", 1),
        ("ENSG04.2", "Y_RNA", 1), ("ENSG05.1", "LONE", 1), ("ENSG06.1", "ACTB", 2),
    ])
    mouse = make_store(tmp_path / "mouse.h5", "mouse", 10090, [
        ("ENSMUSG01.1", "Trp53", 2), ("ENSMUSG02.4", "Brca1", 1), ("ENSMUSG03.1", "Actb", 1),
        ("ENSMUSG04.1", "Solo", 1),
    ])
    return {"human": str(human), "mouse": str(mouse)}


def sets_of(sets, species, gene_id):
    names = list(sets.species)
    i = np.flatnonzero((sets.gene_species == names.index(species)) & (sets.gene_id == gene_id))
    assert len(i) == 1
    return int(sets.gene_set[i[0]])


def test_isoforms_and_symbols_only(stores):
    s = build_sets(stores)
    # 6 human genes, Y_RNA pair joined by symbol -> 5 sets; mouse 4 sets
    assert s.n_sets == 9
    assert sets_of(s, "human", "ENSG03.7") == sets_of(s, "human", "ENSG04.2")
    assert len(s.member_species) == 3 + 2 + 1 + 1 + 1 + 2 + 2 + 1 + 1 + 1
    # set 0 = TP53's 3 transcripts, numbered by first gene
    assert s.offset[1] == 3 and sets_of(s, "human", "ENSG01.3") == 0
    # every gene exactly once; members cover each store's transcripts exactly once
    for code in range(2):
        tx = np.sort(s.member_transcript[s.member_species == code])
        with h5py.File(stores[s.species[code]]) as f:
            assert np.array_equal(tx, np.arange(len(f["transcripts/id"])))
    s2 = build_sets(stores, join_symbols=False)
    assert s2.n_sets == 10
    s3 = build_sets(stores, max_genes_per_symbol=1)
    assert s3.n_sets == 10


def test_members_belong_to_their_gene_set(stores):
    s = build_sets(stores)
    for code, sp in enumerate(s.species):
        with h5py.File(stores[sp]) as f:
            gene_of_tx = f["transcripts/gene"][()]
            gene_ids = f["genes/id"].asstr()[()]
        gsets = {g: sets_of(s, sp, g) for g in gene_ids}
        for set_id in range(s.n_sets):
            sl = slice(s.offset[set_id], s.offset[set_id + 1])
            m = s.member_species[sl] == code
            for t in s.member_transcript[sl][m]:
                assert gsets[gene_ids[gene_of_tx[t]]] == set_id


def test_pairs_strip_versions_and_ignore_extra_columns(stores, tmp_path):
    pairs = tmp_path / "orth.txt.gz"
    with gzip.open(pairs, "wt") as fh:
        fh.write("ENSG01\tENSMUSG01\tortholog_one2one\t1.0\t2.0\n")
        fh.write("ENSG02.1\tENSMUSG02\tortholog_one2one\t1.0\t2.0\n")
        fh.write("ENSG99\tENSMUSG03\tortholog_one2one\t1\t2\n")  # human side missing
        fh.write("ENSG98\tENSMUSG98\tortholog_one2one\t1\t2\n")  # both missing
    s = build_sets(stores, [Source("pairs", str(pairs), ("human", "mouse"), "saluki")])
    assert sets_of(s, "human", "ENSG01.3") == sets_of(s, "mouse", "ENSMUSG01.1")
    assert sets_of(s, "human", "ENSG02.1") == sets_of(s, "mouse", "ENSMUSG02.4")
    assert sets_of(s, "human", "ENSG06.1") != sets_of(s, "mouse", "ENSMUSG03.1")
    st = {(a, b): v for a, b, v in s.stats}
    assert st[("source:saluki", "matched_both")] == 2
    assert st[("source:saluki", "unmatched_first_gene_not_in_store")] == 1
    assert st[("source:saluki", "unmatched_both_genes_not_in_store")] == 1
    tp53 = sets_of(s, "human", "ENSG01.3")
    assert s.n_genes[tp53] == 2 and s.n_species[tp53] == 2
    assert s.offset[tp53 + 1] - s.offset[tp53] == 5


def test_pairs_wrong_species_do_not_match(stores, tmp_path):
    pairs = tmp_path / "orth.txt"
    pairs.write_text("ENSG01\tENSMUSG01\n")
    s = build_sets(stores, [Source("pairs", str(pairs), ("mouse", "human"))])
    assert s.n_sets == 9


def test_homologene_by_symbol_with_case_fallback(stores, tmp_path):
    hg = tmp_path / "homologene.data"
    hg.write_text(
        "1\t9606\t7157\tTP53\t1\tNP_1\n"
        "1\t10090\t22059\tTrp53\t2\tNP_2\n"
        "2\t9606\t672\tBRCA1\t3\tNP_3\n"
        "2\t10090\t12189\tBRCA1\t4\tNP_4\n"  # case differs from the store's Brca1
        "3\t9606\t60\tACTB\t5\tNP_5\n"
        "3\t7227\t1\tAct5C\t6\tNP_6\n"  # fly: no store -> taxid not configured
        "4\t9606\t9\tNOPE\t7\tNP_7\n"
    )
    s = build_sets(stores, [Source("homologene", str(hg))])
    assert sets_of(s, "human", "ENSG01.3") == sets_of(s, "mouse", "ENSMUSG01.1")
    assert sets_of(s, "human", "ENSG02.1") == sets_of(s, "mouse", "ENSMUSG02.4")
    assert sets_of(s, "human", "ENSG06.1") != sets_of(s, "mouse", "ENSMUSG03.1")
    st = {(a, b): v for a, b, v in s.stats}
    src = "source:homologene.data"
    assert st[(src, "matched_symbol_exact")] == 4
    assert st[(src, "matched_symbol_case_insensitive")] == 1
    assert st[(src, "unmatched_taxid_not_configured")] == 1
    assert st[(src, "unmatched_symbol_not_in_store")] == 1
    assert st[(src, "groups_with_2plus_matched_genes")] == 2


def test_groups_and_transitivity(stores, tmp_path):
    grp = tmp_path / "groups.tsv"
    grp.write_text("# gene\tgroup\nENSG05\tfam1\nENSMUSG04\tfam1\nENSG06\tfam2\nENSG05.1\tfam2\n")
    s = build_sets(stores, [Source("groups", str(grp))])
    a = sets_of(s, "human", "ENSG05.1")
    assert a == sets_of(s, "mouse", "ENSMUSG04.1") == sets_of(s, "human", "ENSG06.1")
    assert s.n_genes[a] == 3 and s.n_species[a] == 2


def test_bad_homologene_line(stores, tmp_path):
    hg = tmp_path / "bad.data"
    hg.write_text("1\t9606\t7157\tTP53\n2\tnine\t1\tX\n")
    with pytest.raises(ValueError, match=r"bad\.data line 2: TaxID 'nine'"):
        build_sets(stores, [Source("homologene", str(hg))])
    hg.write_text("1\t9606\n")
    with pytest.raises(ValueError, match=r"bad\.data line 1: expected at least 4 columns"):
        build_sets(stores, [Source("homologene", str(hg))])


def test_source_parse(tmp_path):
    assert Source.parse("pairs:a/b.txt:human,mouse") == Source("pairs", "a/b.txt", ("human", "mouse"))
    assert Source.parse("homologene:x.data") == Source("homologene", "x.data")
    assert Source.parse("hg=homologene:x.data").label == "hg"
    with pytest.raises(ValueError, match="FORMAT"):
        Source.parse("nope:x")


def test_write_read_roundtrip_and_cli(stores, tmp_path):
    pairs = tmp_path / "orth.txt"
    pairs.write_text("ENSG01\tENSMUSG01\n")
    out = tmp_path / "sets.h5"
    rc = cli.main(["homology", "--store", f"human={stores['human']}", "--store", f"mouse={stores['mouse']}",
                   "--source", f"pairs:{pairs}:human,mouse", "--out", str(out)])
    assert rc == 0
    s = read_sets(out)
    ref = build_sets(stores, [Source("pairs", str(pairs), ("human", "mouse"))])
    assert s.species == ["human", "mouse"] and s.n_sets == ref.n_sets == 8
    for name in ("member_species", "member_transcript", "offset", "n_genes", "n_species", "gene_set"):
        assert np.array_equal(getattr(s, name), getattr(ref, name)), name
    with h5py.File(out) as f:
        assert f["members/species"].dtype == np.int16 and f["members/transcript"].dtype == np.int32
        assert f["sets/offset"].dtype == np.int64 and f["genes/set"].dtype == np.int32
        assert list(f.attrs["stores"]) == [stores["human"], stores["mouse"]]
    stats = pd.read_csv(tmp_path / "sets.stats.tsv", sep="\t")
    assert list(stats.columns) == ["section", "key", "value"]
    assert stats.query("section == 'totals' and key == 'sets'")["value"].iloc[0] == 8
    write_sets(ref, tmp_path / "again.h5")
    assert (tmp_path / "again.h5").exists()
