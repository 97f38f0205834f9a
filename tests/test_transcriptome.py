"""`isoclr build --transcripts`: a store from mature sequences plus an annotation.

The oracle is the genome build: for every real genome set, ``gffread -w`` writes the spliced
transcripts, and the store built from them plus the annotation must equal, dataset by dataset
(and so track by track), the store built from the genome. The CPAT set (4,000 RefSeq mRNAs,
BED12 on hg19, no genome) must build with the counts its README states.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from isoclr.cli import main as cli_main
from isoclr.core.encoding import decode_sequence
from isoclr.store.builder import build_store
from isoclr.store.format import IsoformStore
from isoclr.store.transcriptome import build_store_from_transcripts, match_ids, read_gene_map

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"  # beside the checkout
GENOMES = SHARED / "genomes"
SETS = sorted(p.name for p in GENOMES.iterdir()) if GENOMES.exists() else []
CPAT_SHARED = SHARED / "transcriptomes" / "human_refseq_cpat"
CPAT = ROOT / "resources" / "human_mrna"  # the project's copy (the study config's input)
HAS_GFFREAD = shutil.which("gffread") is not None
DEMO = ROOT / "resources" / "demo" / "human"


def gunzip(src: Path, dst: Path) -> Path:
    with gzip.open(src, "rb") as fi, open(dst, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    return dst


def datasets(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                out[name] = obj.asstr()[:] if h5py.check_string_dtype(obj.dtype) else obj[:]
        f.visititems(visit)
    return out


def assert_same_store(a: Path, b: Path) -> None:
    da, db = datasets(a), datasets(b)
    assert sorted(da) == sorted(db)
    for name in da:
        assert np.array_equal(da[name], db[name]), name
    sa, sb = IsoformStore(a), IsoformStore(b)
    for i in range(len(sa)):
        assert np.array_equal(sa.tracks(i), sb.tracks(i)), i


def write_fasta(path: Path, records: dict[str, str], width: int = 60) -> Path:
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n")
            fh.writelines(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
    return path


def store_fasta(store: Path) -> dict[str, str]:
    st = IsoformStore(store)
    ids = st.table()["transcript_id"]
    return {t: decode_sequence(st.codes(i)) for i, t in enumerate(ids)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The human demo set built from its genome, and its transcripts as FASTA."""
    tmp = tmp_path_factory.mktemp("demo")
    build_store(DEMO / "genome.fa.gz", DEMO / "annotation.gtf.gz", "human", tmp / "g.h5", max_length=0)
    return {"store": tmp / "g.h5", "gtf": DEMO / "annotation.gtf.gz",
            "fasta": write_fasta(tmp / "tx.fa", store_fasta(tmp / "g.h5"))}


@pytest.mark.skipif(not HAS_GFFREAD, reason="gffread not installed")
@pytest.mark.parametrize("name", SETS)
def test_gffread_transcripts_give_the_genome_store(name: str, tmp_path: Path) -> None:
    folder = GENOMES / name
    genome = gunzip(folder / "genome.fa.gz", tmp_path / "genome.fa")
    gtf = gunzip(folder / "annotation.gtf.gz", tmp_path / "annotation.gtf")
    subprocess.run(["gffread", "-g", str(genome), "-w", str(tmp_path / "gw.fa"), str(gtf)],
                   check=True, capture_output=True)
    gs = build_store(folder / "genome.fa.gz", folder / "annotation.gtf.gz", "sp", tmp_path / "g.h5")
    ts = build_store_from_transcripts(tmp_path / "gw.fa", folder / "annotation.gtf.gz", "sp", tmp_path / "t.h5")
    assert_same_store(tmp_path / "g.h5", tmp_path / "t.h5")
    assert ts["dropped"]["too_long"] == gs["dropped"]["too_long"]
    assert sum(ts["dropped"].values()) == ts["dropped"]["too_long"]
    for key in ("transcripts", "genes", "coding_transcripts", "exons", "nucleotides", "transcript_n_nt"):
        assert ts["summary"][key] == gs["summary"][key], key
    attrs = IsoformStore(tmp_path / "t.h5").attrs
    assert attrs["source"] == "transcripts" and attrs["transcripts_sha256"] and attrs["annotation_sha256"]


def test_case_u_and_gencode_headers(demo: dict[str, Path], tmp_path: Path) -> None:
    """Lower-case (soft-masked) bases are upper-cased, U reads as T, and GENCODE-style names
    (``ENST...|ENSG...|...``) and missing versions still find their annotation ids."""
    recs = store_fasta(demo["store"])
    ids = list(recs)
    changed = {}
    for k, (tid, seq) in enumerate(recs.items()):
        name = f"{tid}|GENE|x|" if k % 3 == 0 else tid.split(".")[0] if k % 3 == 1 else tid
        changed[name] = seq.lower().replace("t", "u") if k % 2 else seq[:10].lower() + seq[10:]
    fa = write_fasta(tmp_path / "odd.fa", changed)
    stats = build_store_from_transcripts(fa, demo["gtf"], "human", tmp_path / "t.h5", max_length=0)
    assert stats["dropped"]["missing_sequence"] == stats["dropped"]["missing_annotation"] == 0
    assert_same_store(demo["store"], tmp_path / "t.h5")
    assert len(ids) == stats["summary"]["transcripts"]


def test_exon_sum_mismatch_is_an_error_or_a_counted_drop(demo: dict[str, Path], tmp_path: Path) -> None:
    recs = store_fasta(demo["store"])
    victim = list(recs)[5]
    recs[victim] = recs[victim][:-1]
    fa = write_fasta(tmp_path / "short.fa", recs)
    with pytest.raises(ValueError, match=rf"short.fa line \d+: transcript {victim} has \d+ nt but its exons"):
        build_store_from_transcripts(fa, demo["gtf"], "human", tmp_path / "t.h5", max_length=0)
    assert not (tmp_path / "t.h5").exists()  # nothing half-written
    stats = build_store_from_transcripts(fa, demo["gtf"], "human", tmp_path / "t.h5", max_length=0,
                                         length_mismatch="drop")
    assert stats["dropped"]["length_mismatch"] == 1
    assert victim not in set(IsoformStore(tmp_path / "t.h5").table()["transcript_id"])
    assert stats["summary"]["transcripts"] == len(recs) - 1


def test_missing_ids_counted_or_errors(demo: dict[str, Path], tmp_path: Path) -> None:
    recs = store_fasta(demo["store"])
    gone = next(iter(recs))
    del recs[gone]
    recs["NOVEL_ISOFORM_1"] = "ACGU" * 50
    recs["NOVEL_ISOFORM_2"] = "ACGT" * 50
    fa = write_fasta(tmp_path / "mixed.fa", recs)
    stats = build_store_from_transcripts(fa, demo["gtf"], "human", tmp_path / "t.h5", max_length=0)
    assert stats["dropped"]["missing_sequence"] == 1
    assert stats["dropped"]["missing_annotation"] == 2
    table = IsoformStore(tmp_path / "t.h5").table()
    assert gone not in set(table["transcript_id"]) and len(table) == len(recs) - 2
    with pytest.raises(ValueError, match=rf"transcript {gone} has no record in .*mixed.fa"):
        build_store_from_transcripts(fa, demo["gtf"], "human", tmp_path / "e.h5", missing="error")
    del recs["NOVEL_ISOFORM_1"], recs["NOVEL_ISOFORM_2"]
    recs[gone] = "A"  # now only the FASTA has an extra record ... with the wrong length
    recs["NOVEL_ISOFORM_3"] = "ACGT"
    fa2 = write_fasta(tmp_path / "extra.fa", recs)
    with pytest.raises(ValueError, match=r"extra.fa line \d+: sequence 'NOVEL_ISOFORM_3' is not in the annotation"):
        build_store_from_transcripts(fa2, demo["gtf"], "human", tmp_path / "e.h5", missing="error")
    nothing = write_fasta(tmp_path / "none.fa", {"X1": "ACGT", "X2": "ACGT"})
    with pytest.raises(ValueError, match="no FASTA name matches a transcript id"):
        build_store_from_transcripts(nothing, demo["gtf"], "human", tmp_path / "e.h5")


def test_match_ids() -> None:
    fa = ["A.1", "B.2|GB|x", "C", "D.1", "D.2"]
    ann = ["A.1", "B.2", "C.5", "D", "E"]
    assert match_ids(fa, ann).tolist() == [0, 1, 2, -1, -1]  # D is ambiguous (D.1, D.2)


@pytest.mark.skipif(not CPAT_SHARED.exists(), reason="curated data collection not available")
def test_cpat_copy_is_the_curated_set() -> None:
    for name in ("transcripts.fa.gz", "structure.bed12.gz", "genes.tsv.gz", "make_files.py"):
        assert (CPAT / name).read_bytes() == (CPAT_SHARED / name).read_bytes(), name


def test_cpat_set_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The counts of the set's README: 4,000 transcripts (block sums = FASTA lengths), 3,551
    Entrez genes + 8 unmapped accessions, 379 isoform groups (326 x 2, 46 x 3, 5 x 4, 2 x 5),
    11,921,673 nt, 184 single-exon, 3,998 CDS starting ATG, all ending in a stop; 10 longer than
    12,288 nt (dropped by the default maximum). Alternative-haplotype contigs are kept."""
    args = ["build", "--transcripts", str(CPAT / "transcripts.fa.gz"), "--annotation",
            str(CPAT / "structure.bed12.gz"), "--species", "human", "--gene-map", str(CPAT / "genes.tsv.gz"),
            "--gene-column", "entrez_id", "--gene-name-column", "symbol", "--max-length", "0",
            "--out", str(tmp_path / "all.h5"), "--stats", str(tmp_path / "all.tsv")]
    assert cli_main(args) == 0
    assert "4000 transcripts, 3559 genes, 11921673 nt" in capsys.readouterr().out
    st = IsoformStore(tmp_path / "all.h5")
    t = st.table()
    assert len(t) == 4000 and t["transcript_id"].is_unique
    assert (t["strand"] == "+").sum() == 2026
    assert (t["n_exons"] == 1).sum() == 184 and t["n_exons"].max() == 146
    per_gene = t.groupby("gene_id").size().value_counts().to_dict()
    assert per_gene == {1: 3172 + 8, 2: 326, 3: 46, 4: 5, 5: 2}
    genes = pd.read_csv(CPAT / "genes.tsv.gz", sep="\t", dtype=str, keep_default_na=False).set_index("transcript_id")
    mapped = genes.loc[t["transcript_id"], "entrez_id"].to_numpy()
    assert np.array_equal(np.where(mapped != "", mapped, t["transcript_id"]), t["gene_id"])
    assert (t["chrom"].str.contains("_")).sum() == 21
    assert (t["cds_start"] >= 0).all()
    codes = st.all_codes()
    off = st.index["seq_offset"]
    start = np.stack([codes[off[:-1] + t["cds_start"] + k] for k in range(3)], axis=1)
    stop = np.stack([codes[off[:-1] + t["cds_end"] - 3 + k] for k in range(3)], axis=1)
    assert int((start == [0, 3, 2]).all(axis=1).sum()) == 3998  # ATG
    stops = {(3, 0, 0), (3, 0, 2), (3, 2, 0)}
    assert all(tuple(s) in stops for s in stop.tolist())
    stats = pd.read_csv(tmp_path / "all.tsv", sep="\t")
    assert stats.query("section == 'annotation' and key == 'gene_map_unmapped'")["value"].astype(int).item() == 8
    # the default maximum length drops the README's 10 transcripts over 12,288 nt
    s = build_store_from_transcripts(CPAT / "transcripts.fa.gz", CPAT / "structure.bed12.gz", "human",
                                     tmp_path / "d.h5", gene_map=read_gene_map(CPAT / "genes.tsv.gz", "entrez_id"))
    assert s["dropped"]["too_long"] == 10 and s["summary"]["transcripts"] == 3990
    assert s["summary"]["max_length"] <= 12288


def test_cli_transcripts_and_genome_exclusive(demo: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main(["build", "--transcripts", str(demo["fasta"]), "--genome", "g.fa", "--annotation",
                  str(demo["gtf"]), "--species", "x", "--out", str(tmp_path / "x.h5")])
    assert cli_main(["build", "--transcripts", str(demo["fasta"]), "--annotation", str(demo["gtf"]),
                     "--species", "human", "--max-length", "0", "--out", str(tmp_path / "x.h5")]) == 0
    assert_same_store(demo["store"], tmp_path / "x.h5")


def test_n_and_iupac_codes_counted(demo: dict[str, Path], tmp_path: Path) -> None:
    recs = store_fasta(demo["store"])
    first = next(iter(recs))
    seq = recs[first]
    recs[first] = seq[:5] + "Rn" + seq[7:]
    stats = build_store_from_transcripts(write_fasta(tmp_path / "iupac.fa", recs), demo["gtf"], "human",
                                         tmp_path / "t.h5", max_length=0)
    base = build_store(DEMO / "genome.fa.gz", DEMO / "annotation.gtf.gz", "human", tmp_path / "g.h5", max_length=0)
    assert stats["summary"]["transcript_iupac_nt"] == 1
    assert stats["summary"]["transcript_n_nt"] == base["summary"]["transcript_n_nt"] + 2
    st = IsoformStore(tmp_path / "t.h5")
    row = int(np.flatnonzero(st.table()["transcript_id"] == first)[0])
    assert st.codes(row)[5:7].tolist() == [4, 4] and int(st.all_codes().max()) == 4
