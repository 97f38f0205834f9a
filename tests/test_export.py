"""`isoclr export`: FASTA wrapping, CDS FASTA, BED12 (checked with bedtools and against refFlat)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from isoclr.cli import main as cli_main
from isoclr.core.encoding import decode_sequence
from isoclr.store.export import _wrap, export_store
from isoclr.store.builder import build_store
from isoclr.store.format import IsoformStore

ROOT = Path(__file__).resolve().parents[1]
HUMAN = ROOT / "resources" / "demo" / "human"
FLY = ROOT / "resources" / "demo" / "fly"


def read_fasta(path: Path) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    key = None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            key = line[1:].split()[0]
            out[key] = []
        else:
            out[key].append(line)  # type: ignore[index]
    return {k: "".join(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def human_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("human")
    build_store(HUMAN / "genome.fa.gz", HUMAN / "annotation.gtf.gz", "human", d / "s.h5")
    return d / "s.h5"


def test_wrap() -> None:
    seq = np.frombuffer(b"ACGTACGTAC", dtype=np.uint8)
    assert _wrap(seq, 4) == b"ACGT\nACGT\nAC\n"
    assert _wrap(seq[:8], 4) == b"ACGT\nACGT\n"
    assert _wrap(seq, 0) == b"ACGTACGTAC\n"


def test_fasta_and_cds(human_store: Path, tmp_path: Path) -> None:
    rc = cli_main(["export", str(human_store), "--fasta", str(tmp_path / "t.fa"),
                   "--cds-fasta", str(tmp_path / "c.fa"), "--width", "60"])
    assert rc == 0
    lines = (tmp_path / "t.fa").read_text().splitlines()
    assert max(len(x) for x in lines if not x.startswith(">")) == 60
    st = IsoformStore(human_store)
    t = st.table()
    fa = read_fasta(tmp_path / "t.fa")
    assert list(fa) == t["transcript_id"].tolist()  # store order, ids as annotated
    i = len(st) // 2
    assert fa[t.transcript_id[i]] == decode_sequence(st.codes(i))
    cds = read_fasta(tmp_path / "c.fa")
    coding = t[t.cds_start >= 0]
    assert list(cds) == coding["transcript_id"].tolist()
    stops = sum(s[-3:] in ("TAA", "TAG", "TGA") for s in cds.values())
    assert stops > 0.6 * len(cds)  # GENCODE: most CDS are 3'-complete, stop included
    assert (tmp_path / "t.fa").stat().st_mode & 0o777  # file exists, written atomically


@pytest.mark.skipif(shutil.which("bedtools") is None, reason="bedtools not installed")
def test_bed12_with_bedtools(human_store: Path, tmp_path: Path) -> None:
    export_store(human_store, fasta=tmp_path / "t.fa", bed12=tmp_path / "t.bed")
    genome = tmp_path / "g.fa"
    with gzip.open(HUMAN / "genome.fa.gz", "rb") as fi, open(genome, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    out = subprocess.run(
        ["bedtools", "getfasta", "-fi", str(genome), "-bed", str(tmp_path / "t.bed"), "-split", "-s", "-name"],
        check=True, capture_output=True, text=True,
    ).stdout
    bt: dict[str, str] = {}
    key = ""
    for line in out.splitlines():
        if line.startswith(">"):
            key = line[1:].split("::")[0].split("(")[0]
        else:
            bt[key] = bt.get(key, "") + line.upper()
    assert bt == read_fasta(tmp_path / "t.fa")
    # thickStart/thickEnd: the CDS (stop included) in genomic coordinates
    bed = pd.read_csv(tmp_path / "t.bed", sep="\t", header=None)
    st = IsoformStore(human_store)
    t = st.table()
    coding = (t.cds_start >= 0).to_numpy()
    assert (bed[6][coding] < bed[7][coding]).all()
    assert (bed[6][~coding] == bed[2][~coding]).all() and (bed[7][~coding] == bed[2][~coding]).all()
    assert ((bed[6] >= bed[1]) & (bed[7] <= bed[2])).all()
    cds_len = (t.cds_end - t.cds_start)[coding].to_numpy()
    span = (bed[7] - bed[6])[coding].to_numpy()
    assert (span >= cds_len).all()  # genomic span covers the CDS plus its introns


def test_bed12_matches_refflat(tmp_path: Path) -> None:
    build_store(FLY / "genome.fa.gz", FLY / "annotation.gtf.gz", "fly", tmp_path / "f.h5", max_length=None)
    export_store(tmp_path / "f.h5", bed12=tmp_path / "f.bed")
    bed = pd.read_csv(tmp_path / "f.bed", sep="\t", header=None).set_index(3)
    rf = pd.read_csv(FLY / "annotation.refflat.gz", sep="\t", header=None).set_index(1)
    assert set(bed.index) == set(rf.index)
    rf = rf.loc[bed.index]
    assert (bed[0] == rf[2]).all() and (bed[5] == rf[3]).all()
    assert (bed[1] == rf[4]).all() and (bed[2] == rf[5]).all()
    starts = [",".join(str(int(s) - a) for s in x.rstrip(",").split(",")) + "," for x, a in zip(rf[9], rf[4])]
    assert bed[11].tolist() == starts
    # no CDS in this GTF: thickStart = thickEnd = txEnd, as the refFlat's cdsStart = cdsEnd
    assert (bed[6] == rf[6]).all() and (bed[7] == rf[7]).all()


def test_export_needs_an_output(human_store: Path) -> None:
    assert cli_main(["export", str(human_store)]) == 1
