"""`isoclr build`: correctness against gffread on every real genome set, and hand-made cases.

gffread (Debian 0.12.7) is the reference: ``gffread -w`` writes the spliced exons of every
transcript (reverse-complemented on the minus strand). ``gffread -x`` writes the CDS; for a GTF
whose ``stop_codon`` rows follow the CDS (GENCODE), gffread joins the stop codon to the CDS and
skips the ``phase`` bases of a 5'-incomplete CDS. Our ``--cds-fasta`` writes
``seq[cds_start + cds_phase:cds_end]``, which is the same thing, so the files are compared
sequence by sequence (gffread adds ``CDS=a-b`` to -w headers and orders records by position, so
records are matched by id, not byte for byte). gffread needs an uncompressed, indexed FASTA: the
genomes are decompressed to ``tmp_path``.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from isoclr.cli import main as cli_main
from isoclr.core.encoding import CODON_BIT, SPLICE_BIT, decode_sequence
from isoclr.store.export import export_store
from isoclr.store.builder import build_store
from isoclr.store.format import IsoformStore

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "genomes"  # beside the checkout
SHARED_SETS = ["human_hg38_chr19_1-2Mb", "human_hg38_chr1-3_first1Mb", "mouse_mm10_chr9_1-4Mb", "fly_dm6_chr2L2R_1Mb"]
DEMO_SETS = ["human", "mouse", "fly"]
GENOME_SETS = [pytest.param(DATA / s, id=s) for s in SHARED_SETS] + [
    pytest.param(ROOT / "resources" / "demo" / s, id=f"demo-{s}") for s in DEMO_SETS
]
HAS_GFFREAD = shutil.which("gffread") is not None


def read_fasta(path: Path) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    opener = gzip.open if path.suffix == ".gz" else open
    key = None
    with opener(path, "rt") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith(">"):
                key = line[1:].split()[0]
                out[key] = []
            elif key is not None:
                out[key].append(line)
    return {k: "".join(v) for k, v in out.items()}


def gunzip(src: Path, dst: Path) -> Path:
    with gzip.open(src, "rb") as fi, open(dst, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    return dst


@pytest.mark.skipif(not HAS_GFFREAD, reason="gffread not installed")
@pytest.mark.parametrize("folder", GENOME_SETS)
def test_matches_gffread(folder: Path, tmp_path: Path) -> None:
    if not folder.exists():
        pytest.skip(f"{folder} not available")
    genome = gunzip(folder / "genome.fa.gz", tmp_path / "genome.fa")
    gtf = gunzip(folder / "annotation.gtf.gz", tmp_path / "annotation.gtf")
    subprocess.run(
        ["gffread", "-g", str(genome), "-w", str(tmp_path / "gw.fa"), "-x", str(tmp_path / "gx.fa"), str(gtf)],
        check=True, capture_output=True,
    )
    ref_tx, ref_cds = read_fasta(tmp_path / "gw.fa"), read_fasta(tmp_path / "gx.fa")
    # the compressed FASTA straight from the data folder (our reader streams gzip)
    stats = build_store(folder / "genome.fa.gz", folder / "annotation.gtf.gz", "sp", tmp_path / "s.h5")
    export_store(tmp_path / "s.h5", fasta=tmp_path / "w.fa", cds_fasta=tmp_path / "x.fa")
    ours_tx, ours_cds = read_fasta(tmp_path / "w.fa"), read_fasta(tmp_path / "x.fa")
    too_long = {k for k, v in ref_tx.items() if len(v) > 12288}
    assert set(ours_tx) == set(ref_tx) - too_long
    assert stats["dropped"]["too_long"] == len(too_long)
    assert sum(stats["dropped"].values()) == len(too_long)
    assert all(ours_tx[k] == ref_tx[k] for k in ours_tx)
    assert set(ours_cds) == set(ref_cds) - too_long
    assert all(ours_cds[k] == ref_cds[k] for k in ours_cds)
    store = IsoformStore(tmp_path / "s.h5")
    assert stats["summary"]["transcripts"] == len(store) == len(ours_tx)
    assert store.attrs["genome_sha256"] and store.attrs["annotation_sha256"]


def test_fly_matches_flybase_and_refflat(tmp_path: Path) -> None:
    """FlyBase's own 309 mRNA sequences (headers ``>FBtr... type=mRNA; ...``), compared by id;
    the refFlat of the same 356 transcripts gives the same store sequences as the GTF."""
    folder = DATA / "fly_dm6_chr2L2R_1Mb"
    if not folder.exists():
        pytest.skip("shared fly data not available")
    build_store(folder / "genome.fa.gz", folder / "annotation.gtf.gz", "fly", tmp_path / "gtf.h5", max_length=None)
    build_store(folder / "genome.fa.gz", folder / "annotation.refflat.gz", "fly", tmp_path / "rf.h5", max_length=None)
    export_store(tmp_path / "gtf.h5", fasta=tmp_path / "gtf.fa", width=0)
    export_store(tmp_path / "rf.h5", fasta=tmp_path / "rf.fa", width=0)
    ours = read_fasta(tmp_path / "gtf.fa")
    expected = read_fasta(folder / "expected_transcripts.fa.gz")
    assert len(expected) == 309 and set(expected) <= set(ours)
    assert all(ours[k] == v for k, v in expected.items())
    assert read_fasta(tmp_path / "rf.fa") == ours


# --- hand-made examples -------------------------------------------------------------------
#            1         2         3         4         5         6
#   1234567890123456789012345678901234567890123456789012345678901234567890
CHR1 = (
    "ccATGAAACCCGGGTTTaaaaaaaaaaCCCAAATAGccccccccccRYNNACGTACGTAAACCCGGGTTTA" + "ACGT" * 20
)


def write_inputs(tmp_path: Path, gtf_rows: list[str], fasta: str | None = None) -> tuple[Path, Path]:
    genome = tmp_path / "genome.fa"
    seq = CHR1 if fasta is None else fasta
    genome.write_text(">chr1 test\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n>chr2\nACGTACGTAC\n")
    gtf = tmp_path / "a.gtf"
    gtf.write_text("".join(r + "\n" for r in gtf_rows))
    return genome, gtf


def row(chrom: str, feature: str, start: int, end: int, strand: str, tid: str, gid: str = "G1", frame: str = ".", extra: str = "") -> str:
    attrs = f'gene_id "{gid}"; transcript_id "{tid}"; gene_name "{gid}n"; transcript_type "protein_coding";{extra}'
    return "\t".join([chrom, "t", feature, str(start), str(end), ".", strand, frame, attrs])


def test_plus_minus_tracks_and_phase(tmp_path: Path) -> None:
    rows = [
        # plus strand, 2 exons (3-17, 28-36), CDS 3-17 + 28-33, stop 34-36 (TAG)
        row("chr1", "exon", 3, 17, "+", "T1"), row("chr1", "exon", 28, 36, "+", "T1"),
        row("chr1", "CDS", 3, 17, "+", "T1", frame="0"), row("chr1", "CDS", 28, 33, "+", "T1", frame="0"),
        row("chr1", "stop_codon", 34, 36, "+", "T1", frame="0"),
        # minus strand, same exons; 5'-incomplete CDS (phase 2) at the 3' genomic end
        row("chr1", "exon", 3, 17, "-", "T2", gid="G2", extra=' tag "cds_start_NF";'),
        row("chr1", "exon", 28, 36, "-", "T2", gid="G2"),
        row("chr1", "CDS", 10, 17, "-", "T2", gid="G2", frame="0"),
        row("chr1", "CDS", 28, 36, "-", "T2", gid="G2", frame="2"),
        # single exon with IUPAC R, Y, N (positions 47-50)
        row("chr1", "exon", 45, 52, "+", "T3", gid="G3"),
    ]
    genome, gtf = write_inputs(tmp_path, rows)
    stats = build_store(genome, gtf, "test", tmp_path / "s.h5")
    st = IsoformStore(tmp_path / "s.h5")
    t = st.table()
    assert list(t["transcript_id"]) == ["T1", "T2", "T3"]
    ex1 = CHR1[2:17] + CHR1[27:36]
    assert decode_sequence(st.codes(0)) == ex1.upper()
    comp = str.maketrans("ACGTacgt", "TGCAtgca")
    assert decode_sequence(st.codes(1)) == ex1.translate(comp)[::-1].upper()
    assert decode_sequence(st.codes(2)) == "CCNNNNAC"
    assert stats["summary"]["transcript_iupac_nt"] == 2 and stats["summary"]["transcript_n_nt"] == 4
    # T1: CDS 0..24 (ATG...TAG incl. stop), exon ends at 15 and 24
    assert (t.loc[0, "cds_start"], t.loc[0, "cds_end"], t.loc[0, "cds_phase"]) == (0, 24, 0)
    m = st.marks(0)
    assert np.flatnonzero(m & SPLICE_BIT).tolist() == [14, 23]
    assert np.flatnonzero(m & CODON_BIT).tolist() == list(range(0, 24, 3))
    assert decode_sequence(st.codes(0))[t.loc[0, "cds_end"] - 3 : t.loc[0, "cds_end"]] == "TAG"
    # T2 (minus): exons in transcript order are 28-36 (9 nt) then 3-17 (15 nt); CDS genomic
    # 10..36 -> transcript 0..(9 + 17 - 10 + 1) = 0..17, phase 2: codons start at 2, 5, ...
    assert (t.loc[1, "cds_start"], t.loc[1, "cds_end"], t.loc[1, "cds_phase"]) == (0, 17, 2)
    m2 = st.marks(1)
    assert np.flatnonzero(m2 & SPLICE_BIT).tolist() == [8, 23]
    assert np.flatnonzero(m2 & CODON_BIT).tolist() == [2, 5, 8, 11, 14]
    ex = st.exons()
    assert ex.loc[ex.tx == 1, ["start", "end"]].values.tolist() == [[27, 36], [2, 17]]
    tracks = st.tracks(1)
    assert tracks.shape == (6, 24) and tracks[4].sum() == 5 and tracks[5].sum() == 2
    assert "cds_start_NF" in t.loc[1, "tags"]
    # genes grouped; isoform histogram
    assert st.n_genes == 3 and stats["isoforms_per_gene"] == {1: 3}


def test_drops_counted(tmp_path: Path) -> None:
    rows = [
        row("chr1", "exon", 3, 17, "+", "OK"),
        row("chr1", "exon", 1, 60, "+", "LONG", gid="G2"),
        row("chr2", "exon", 1, 5, "+", "EXCL", gid="G3"),
        row("chrUn", "exon", 1, 5, "+", "MISSING", gid="G4"),
        row("chr1", "exon", 20, 30, "+", "LNC", gid="G5").replace("protein_coding", "lincRNA"),
    ]
    genome, gtf = write_inputs(tmp_path, rows)
    stats = build_store(
        genome, gtf, "test", tmp_path / "s.h5", max_length=40,
        chromosomes_exclude=[r"chr2"], biotypes=["protein_coding"],
    )
    assert stats["dropped"] == {"contig_missing": 1, "chrom_excluded": 1, "biotype": 1, "too_long": 1}
    assert stats["dropped_contig"] == {"chrUn": 1}
    assert IsoformStore(tmp_path / "s.h5").table()["transcript_id"].tolist() == ["OK"]
    # include regexes match whole names: "chr" alone keeps nothing
    with pytest.raises(ValueError):
        build_store(genome, gtf, "test", tmp_path / "t.h5", chromosomes_include=["chr"])


def test_exon_beyond_contig_end_is_an_error(tmp_path: Path) -> None:
    rows = [row("chr1", "exon", 3, 17, "+", "OK"), row("chr2", "exon", 5, 12, "+", "BAD", gid="G2")]
    genome, gtf = write_inputs(tmp_path, rows)
    with pytest.raises(ValueError, match=r"a\.gtf line 2: transcript BAD .*beyond the end of chr2 \(10 bp\)"):
        build_store(genome, gtf, "test", tmp_path / "s.h5")
    assert not (tmp_path / "s.h5").exists()


def test_bad_fasta_character(tmp_path: Path) -> None:
    genome, gtf = write_inputs(tmp_path, [row("chr1", "exon", 3, 17, "+", "OK")], fasta="ACGT" * 20 + "AC1T")
    with pytest.raises(ValueError, match=r"genome\.fa line 3: invalid character '1'"):
        build_store(genome, gtf, "test", tmp_path / "s.h5")


def test_cli_build_with_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    genome, gtf = write_inputs(tmp_path, [row("chr1", "exon", 3, 17, "+", "A"), row("chr1", "exon", 20, 40, "-", "B")])
    rc = cli_main(["build", "--genome", str(genome), "--annotation", str(gtf), "--species", "x",
                   "--out", str(tmp_path / "x.h5"), "--stats", str(tmp_path / "x.tsv"), "--taxid", "9606"])
    assert rc == 0
    import pandas as pd

    s = pd.read_csv(tmp_path / "x.tsv", sep="\t")
    assert list(s.columns) == ["section", "key", "value"]
    summary = s[s.section == "summary"].set_index("key")["value"]
    assert summary["transcripts"] == "2" and summary["genes"] == "1"
    assert set(s.section) >= {"summary", "isoforms_per_gene", "dropped"}
    st = IsoformStore(tmp_path / "x.h5")
    assert st.attrs["taxid"] == "9606" and st.species == "x" and st.attrs["format_version"] == 1
    # bad input -> message without traceback, rc 1
    rc = cli_main(["build", "--genome", str(tmp_path / "nope.fa"), "--annotation", str(gtf), "--species", "x",
                   "--out", str(tmp_path / "y.h5")])
    assert rc == 1


@pytest.mark.parametrize("batch_nt", [1, 7, 1 << 22])
def test_gather_exons_matches_naive(batch_nt: int) -> None:
    from isoclr.store.genome_source import gather_exons

    rng = np.random.default_rng(batch_nt)
    contig = rng.integers(0, 7, 5000).astype(np.uint8)
    start = rng.integers(0, 4900, 60)
    end = start + rng.integers(1, 100, 60)
    minus = rng.random(60) < 0.5
    lengths = end - start
    dest = np.cumsum(np.r_[0, lengths[:-1]])
    perm = rng.permutation(60)[:30]  # some non-contiguous destinations
    dest[perm] += 10_000
    out = np.full(20_000, 99, dtype=np.uint8)
    gather_exons(contig, start, end, minus, dest, out, batch_nt=batch_nt)
    comp = np.array([3, 2, 1, 0, 4, 5, 6], dtype=np.uint8)
    for s, e, m, d in zip(start, end, minus, dest):
        piece = contig[s:e]
        expect = comp[piece[::-1]] if m else piece
        assert np.array_equal(out[d : d + (e - s)], expect)
