"""Task datasets: joins on the real Saluki/GO files, GO depth, folds and fractions, the
principal-isoform rule, ready-made arrays and the MRL table format."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from isoclr.tasks import build as T
from isoclr.core.encoding import make_marks, tracks_numpy
from isoclr.store.builder import build_store
from isoclr.store.format import IsoformStore

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GENOMES = SHARED / "genomes"
SALUKI = SHARED / "labels" / "saluki"
GO = SHARED / "go"
pytestmark = pytest.mark.skipif(not SHARED.exists(), reason="shared/data not present")


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("stores")
    paths = {}
    for name, species in [("human_hg38_chr19_1-2Mb", "human"), ("human_hg38_chr1-3_first1Mb", "human"), ("mouse_mm10_chr9_1-4Mb", "mouse")]:
        d = GENOMES / name
        paths[name] = out / f"{name}.h5"
        build_store(d / "genome.fa.gz", d / "annotation.gtf.gz", species, paths[name])
    return paths


@pytest.fixture(scope="module")
def go_files() -> tuple[T.GoDag, pd.DataFrame, pd.DataFrame]:
    return T.read_obo(GO / "go-basic.obo.gz"), T.read_gaf(GO / "goa_human.gaf.gz"), T.read_gene_id_map(GO / "human_gene_ids.tsv.gz")


# -- half-life joins: the counts documented in shared/data/README.md ------------------------------
@pytest.mark.parametrize(
    "name,species,matched",
    [("human_hg38_chr19_1-2Mb", "human", 56), ("human_hg38_chr1-3_first1Mb", "human", 7), ("mouse_mm10_chr9_1-4Mb", "mouse", 4)],
)
def test_halflife_join_counts(stores: dict[str, Path], name: str, species: str, matched: int) -> None:
    table = IsoformStore(stores[name]).table()
    labels = T.read_value_table(SALUKI / f"all_HLs_{species}_PC1.txt")
    assert len(labels) == {"human": 13921, "mouse": 14463}[species]
    report = T.JoinReport("hl")
    rows = T.build_halflife(table, labels, report, T.annotation_ids(GENOMES / name / "annotation.gtf.gz"))
    assert len(rows) == matched == report.count("labels", "matched")
    assert rows["gene_id"].is_unique
    # every label is accounted for: matched + not in annotation + filtered out of the store
    acc = sum(report.count("labels", r) for r in ("matched", "not_in_annotation", "filtered_out_of_store"))
    assert acc == len(labels)
    # GENCODE ids are versioned, Saluki's are not
    assert report.count("labels", "matched_after_version_strip") == matched
    assert report.count("store", "no_label") == table["gene_id"].nunique() - matched


def test_halflife_task_file_end_to_end(stores: dict[str, Path], tmp_path: Path) -> None:
    store = stores["human_hg38_chr19_1-2Mb"]
    genes = IsoformStore(store).table()[["gene_id"]].drop_duplicates()
    # a toy homology table: pairs of consecutive genes share a set
    gt = pd.DataFrame({"species": "human", "gene_id": genes["gene_id"], "set_id": np.arange(len(genes)) // 2, "split": "train"})
    gt.to_csv(tmp_path / "genes.tsv", sep="\t", index=False)
    out = tmp_path / "halflife_human.h5"
    data = T.build_task(
        "halflife_human", "halflife", out, store=store, labels=SALUKI / "all_HLs_human_PC1.txt",
        genes_tsv=tmp_path / "genes.tsv", annotation=GENOMES / "human_hg38_chr19_1-2Mb" / "annotation.gtf.gz",
        settings=T.TaskSettings(n_folds=3, fractions=(1.0, 0.1, 0.005), seed=7, min_train=8),
    )
    assert len(data) == 56 and data.kind == "regression" and data.y.dtype == np.float32
    assert data.attrs["n_folds"] == 3 and list(data.attrs["fractions"]) == [1.0, 0.1, 0.005]
    report = pd.read_csv(out.with_suffix(".report.tsv"), sep="\t")
    assert int(report.loc[report["reason"] == "matched", "count"].iloc[0]) == 56
    assert {r["reason"] for r in data.join_report} >= {"matched", "not_in_annotation", "no_label"}
    # y equals the Saluki value of each gene
    lab = T.read_value_table(SALUKI / "all_HLs_human_PC1.txt").set_index("id")["value"]
    np.testing.assert_allclose(data.y, lab.loc[T.strip_version(data.gene_id)].to_numpy(), rtol=1e-6)
    for k in range(3):
        tr, va, te = data.split(k, 1.0)
        assert len(set(tr) | set(va) | set(te)) == 56 and not (set(tr) & set(te)) and not (set(va) & set(te))
        assert len(data.split(k, 0.005)[0]) == 8  # min_train
        assert not set(data.group[tr]) & set(data.group[te])


# -- Gene Ontology ---------------------------------------------------------------------------------
def test_obo_depth3_molecular_function(go_files: tuple[T.GoDag, pd.DataFrame, pd.DataFrame]) -> None:
    dag, _, _ = go_files
    assert len(dag.name) == 43558 and len(dag.obsolete) == 3910
    depth = dag.depths("GO:0003674")
    level3 = {t for t, d in depth.items() if d == 3}
    assert len(level3) == 924  # shortest is_a path; goatools' `level` gives the same set
    assert {"GO:0019899", "GO:0043169", "GO:0003676"} <= level3  # enzyme binding, cation binding, nucleic acid binding
    assert depth["GO:0005488"] == 1 and depth["GO:0005515"] == 2  # binding, protein binding
    assert all(dag.namespace[t] == "molecular_function" for t in level3)
    longest = dag.depths("GO:0003674", mode="longest")
    assert all(longest[t] >= depth[t] for t in depth) and max(longest.values()) > max(depth.values())
    # relation names are filtered: regulates edges exist but are never followed
    assert {"part_of", "regulates", "negatively_regulates", "positively_regulates"} <= set(dag.parents)
    cc1 = {t for t, d in dag.depths("GO:0005575").items() if d == 1}
    assert cc1 == {"GO:0032991", "GO:0044423", "GO:0110165"}


def test_go_join_counts_chr19(stores: dict[str, Path], go_files: tuple[T.GoDag, pd.DataFrame, pd.DataFrame]) -> None:
    dag, gaf, id_map = go_files
    assert len(gaf) == 348116
    table = IsoformStore(stores["human_hg38_chr19_1-2Mb"]).table()
    report = T.JoinReport("go_mf_human")
    rows, y, terms, ranking = T.build_go(table, dag, gaf, id_map, report, "molecular_function", 3, 10, "shortest", False)
    # README: chr19 set, 85 genes map to an Entrez id, 71 have >= 1 GO annotation
    assert report.count("store", "gene_in_id_map") == 85
    assert report.count("store", "gene_with_any_go_annotation") == 71
    assert y.shape == (len(rows), 10) and y.dtype == np.uint8 and y.any(axis=1).all()
    assert len(rows) == report.count("labels", "matched") > 30
    assert ranking["n_genes"].is_monotonic_decreasing
    assert list(ranking["go_id"].head(10)) == terms
    # propagation: a gene annotated only below "nucleic acid binding" is labelled with it
    k = terms.index("GO:0003676")
    assert y[:, k].sum() == ranking.set_index("go_id").loc["GO:0003676", "n_genes"]


def test_go_propagation_toy() -> None:
    obo = """format-version: 1.2

[Term]
id: GO:0003674
name: molecular_function
namespace: molecular_function

[Term]
id: GO:1
name: a
namespace: molecular_function
is_a: GO:0003674 ! mf

[Term]
id: GO:2
name: b
namespace: molecular_function
is_a: GO:1 ! a

[Term]
id: GO:3
name: c
namespace: molecular_function
is_a: GO:2 ! b

[Term]
id: GO:4
name: d
namespace: molecular_function
is_a: GO:3 ! c
relationship: part_of GO:9 ! x

[Term]
id: GO:9
name: x
namespace: molecular_function
is_a: GO:2 ! b
alt_id: GO:99
"""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".obo", delete=False) as fh:
        fh.write(obo)
    dag = T.read_obo(fh.name)
    ann = pd.DataFrame({"gene": ["g1", "g2", "g3"], "go_id": ["GO:4", "GO:99", "GO:1"]})
    y, terms, _ = T.go_term_labels(dag, ann, ["g1", "g2", "g3"], "molecular_function", 3, 5, "shortest", False)
    # depth 3: GO:3 and GO:9; g1 reaches GO:3 by is_a, g2 is annotated to GO:9 via its alt id
    assert terms == ["GO:3", "GO:9"]
    assert y.tolist() == [[1, 0], [0, 1], [0, 0]]
    y2, terms2, _ = T.go_term_labels(dag, ann, ["g1", "g2", "g3"], "molecular_function", 3, 5, "shortest", True)
    assert y2[0, terms2.index("GO:9")] == 1  # part_of followed only on request


# -- principal isoform rule ------------------------------------------------------------------------
def test_principal_isoform_rule() -> None:
    t = pd.DataFrame(
        {
            "transcript_id": ["a1", "a2", "a3", "b1", "b2", "c1", "c2", "c3", "d1", "d2", "e2", "e1", "f1", "f2"],
            "gene_id": ["A", "A", "A", "B", "B", "C", "C", "C", "D", "D", "E", "E", "F", "F"],
            "tags": ["basic,MANE_Select", "Ensembl_canonical", "appris_principal_1", "appris_principal_2", "appris_principal_1",
                     "", "basic", "", "appris_principal", "appris_alternative_1", "", "", "MANE_Select", "appris_principal_1"],
            "cds_start": [0, 0, 0, 0, 0, 0, 10, -1, 0, 0, -1, -1, 0, 0],
            "cds_end": [90, 30, 300, 300, 30, 30, 70, -1, 30, 300, -1, -1, 30, 300],
            "length": [100, 100, 400, 400, 100, 50, 80, 900, 100, 400, 500, 500, 100, 400],
        }
    )
    p = T.principal_isoforms(t).set_index("gene_id")["transcript_id"].to_dict()
    assert p == {"A": "a2", "B": "b2", "C": "c2", "D": "d1", "E": "e1", "F": "f1"}
    # canonical > MANE > APPRIS (smaller N) > longest CDS (c2: 60 > 30 > non-coding) > length > id


# -- folds and fractions ---------------------------------------------------------------------------
def test_folds_and_fractions_properties() -> None:
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 300, size=1000)
    fold = T.assign_folds(groups, 3, seed=5)
    assert np.array_equal(fold, T.assign_folds(groups, 3, seed=5))  # deterministic
    assert not np.array_equal(fold, T.assign_folds(groups, 3, seed=6))
    for g in np.unique(groups):  # no homology group straddles folds
        assert len(np.unique(fold[groups == g])) == 1
    sizes = np.bincount(fold, minlength=3)
    assert sizes.max() - sizes.min() <= np.bincount(groups).max()  # balanced up to one group
    ranks = T.train_ranks(fold, 3, seed=5)
    assert np.array_equal(ranks, T.train_ranks(fold, 3, seed=5))
    for k in range(3):
        train = ranks[k] >= 0
        assert np.array_equal(train, (fold != k) & (fold != (k + 1) % 3))
        assert sorted(ranks[k][train]) == list(range(train.sum()))
    with pytest.raises(ValueError, match="n_folds"):
        T.assign_folds(groups, 2)
    assert T.n_train_rows(1000, 0.005, 8) == 8 and T.n_train_rows(1000, 0.3, 8) == 300 and T.n_train_rows(5, 0.01, 8) == 5


def test_split_nested_and_min_train(tmp_path: Path) -> None:
    n = 60
    groups = np.arange(n) // 3
    data = T.write_task(
        tmp_path / "t.h5", task="t", species="human", kind="regression", label_names=["y"], store="s.h5",
        transcript=np.arange(n), transcript_id=[f"t{i}" for i in range(n)], gene_id=[f"g{i // 3}" for i in range(n)],
        y=np.arange(n, dtype=float), group=groups, n_folds=3, fractions=[1.0, 0.3, 0.1, 0.01, 0.005], seed=1, min_train=8,
        report=T.JoinReport("t"),
    )
    for k in range(3):
        prev = None
        for f in (1.0, 0.3, 0.1, 0.01, 0.005):
            tr, va, te = data.split(k, f)
            assert len(tr) >= 8
            if prev is not None:
                assert set(tr) <= prev  # nested
            prev = set(tr)
            assert not set(groups[tr]) & set(groups[te]) and not set(groups[va]) & set(groups[te])
        assert len(data.split(k, 0.01)[0]) == 8
    assert {int(x) for x in data.fold} == {0, 1, 2}


# -- mean ribosome load: TSV and ready-made arrays --------------------------------------------------
def test_mrl_table_join(stores: dict[str, Path], tmp_path: Path) -> None:
    table = IsoformStore(stores["human_hg38_chr19_1-2Mb"]).table()
    tids = table["transcript_id"].tolist()
    lines = ["transcript_id\tmrl"]
    lines += [f"{t.split('.')[0]}\t{i / 10}" for i, t in enumerate(tids[:20])]  # unversioned
    lines += [f"{tids[20].split('.')[0]}.99\t1.5", "ENST00000000000\t2.0", f"{tids[21]}\tNA"]
    path = tmp_path / "mrl.tsv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    report = T.JoinReport("mrl")
    rows = T.build_mrl_table(table, T.read_value_table(path), report)
    assert len(rows) == 21 and report.count("labels", "matched") == 21
    assert report.count("labels", "id_version_mismatch") == 1
    assert report.count("labels", "not_in_store") == 1 and report.count("labels", "no_value") == 1
    assert rows["transcript"].is_unique


def _fixture_arrays(tmp_path: Path) -> tuple[Path, list[dict]]:
    rng = np.random.default_rng(3)
    specs = [
        {"len": 50, "exons": [20, 50], "cds": (5, 41)},
        {"len": 33, "exons": [33], "cds": None},
        {"len": 70, "exons": [10, 40, 70], "cds": (12, 69)},
    ]
    specs = specs + [dict(s) for s in specs]
    x = np.zeros((len(specs), 80, 6), dtype=np.float32)
    for i, s in enumerate(specs):
        codes = rng.integers(0, 5, size=s["len"]).astype(np.uint8)
        s["codes"] = codes
        cs, ce = s["cds"] or (-1, -1)
        x[i, : s["len"]] = tracks_numpy(codes, make_marks(s["len"], s["exons"], cs, ce, 0)).T
    path = tmp_path / "mrl_isoform_resolved.npz"
    y = np.array([[1.0], [np.nan], [2.5], [0.5], [0.7], [0.9]])
    np.savez_compressed(path, X=x, y=y, genes=np.array(["ENSG1", "ENSG1", "ENSG2", "ENSG3", "ENSG3", "ENSG4"]))
    return path, specs


def test_ready_made_arrays_roundtrip(tmp_path: Path) -> None:
    path, specs = _fixture_arrays(tmp_path)
    parts = T.arrays_to_store_parts(np.load(path)["X"], chunk=2)
    for i, s in enumerate(specs):
        a, b = parts["seq_offset"][i], parts["seq_offset"][i + 1]
        assert np.array_equal(parts["codes"][a:b], s["codes"])
        ea, eb = parts["exon_offset"][i], parts["exon_offset"][i + 1]
        assert parts["exon_tx_end"][ea:eb].tolist() == s["exons"]
        cs = parts["cds_start"][i], parts["cds_end"][i]
        if s["cds"] is None:
            assert cs == (-1, -1)
        else:  # the last codon mark + 3: exact when the CDS length is a multiple of 3
            assert cs[0] == s["cds"][0] and cs[1] == min(s["cds"][0] + 3 * ((s["cds"][1] - s["cds"][0] - 1) // 3) + 3, s["len"])
    data = T.build_task("mrl_human", "mrl_arrays", tmp_path / "mrl_human.h5", labels=path, task_store=tmp_path / "mrl_human.store.h5",
                        settings=T.TaskSettings(n_folds=3, min_train=1))
    # row 1 has no label (NaN) and is dropped; isoforms of one gene share a group
    assert len(data) == 5 and data.attrs["store"].endswith("mrl_human.store.h5")
    assert data.group[3] == data.group[2]  # ENSG3's two isoforms
    store = IsoformStore(tmp_path / "mrl_human.store.h5")
    assert len(store) == 6
    for row, src in zip(data.transcript, (0, 2, 3, 4, 5)):
        x = np.load(path)["X"][src, : specs[src]["len"]].T
        assert np.array_equal(store.tracks(int(row)), x)  # the six tracks survive the round trip
    assert {r["reason"] for r in data.join_report} >= {"matched", "no_value"}
    # a gzip-compressed copy (as the download rule keeps it) reads the same
    gz = tmp_path / "arrays.npz.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert np.array_equal(T.read_ready_made(gz)["X"], T.read_ready_made(path)["X"])


def test_bad_inputs_name_the_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.tsv"
    p.write_text("id\tvalue\nA\t1.0\nB\tabc\n")
    with pytest.raises(ValueError, match=r"bad.tsv: line 3"):
        T.read_value_table(p)
    npz = tmp_path / "x.npz"
    np.savez(npz, X=np.zeros((2, 5, 6)), y=np.zeros(2))
    with pytest.raises(ValueError, match="genes"):
        T.read_ready_made(npz)
