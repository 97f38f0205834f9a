"""Robustness, second round (issue #20): flawed annotation records at genome scale, stores and
other pipeline files checked when read, bounded config loading, messages naming file and record.
"""

from __future__ import annotations

import logging
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

from isoclr.store.annotation import read_annotation

# ---------------------------------------------------------------------------------------------
# annotations: repairs (as gffread), drops, Parent cycles

#: a TAIR10-style excerpt (TAIR10_GFF3_genes.gff layout: a protein row, CDS rows parented to
#: both the mRNA and the protein) whose mRNA has UTR and CDS rows but no exon rows
TAIR10 = """\
##gff-version 3
Chr1\tTAIR10\tgene\t100\t900\t.\t+\t.\tID=AT1G01010;Note=protein_coding_gene;Name=AT1G01010
Chr1\tTAIR10\tmRNA\t100\t900\t.\t+\t.\tID=AT1G01010.1;Parent=AT1G01010;Name=AT1G01010.1;Index=1
Chr1\tTAIR10\tprotein\t200\t800\t.\t+\t.\tID=AT1G01010.1-Protein;Name=AT1G01010.1;Derives_from=AT1G01010.1
Chr1\tTAIR10\tfive_prime_UTR\t100\t199\t.\t+\t.\tParent=AT1G01010.1
Chr1\tTAIR10\tCDS\t200\t400\t.\t+\t0\tParent=AT1G01010.1,AT1G01010.1-Protein;
Chr1\tTAIR10\tCDS\t500\t800\t.\t+\t0\tParent=AT1G01010.1,AT1G01010.1-Protein;
Chr1\tTAIR10\tthree_prime_UTR\t801\t900\t.\t+\t.\tParent=AT1G01010.1
Chr1\tTAIR10\tgene\t1000\t1500\t.\t-\t.\tID=AT1G01020;Note=protein_coding_gene;Name=AT1G01020
Chr1\tTAIR10\tmRNA\t1000\t1500\t.\t-\t.\tID=AT1G01020.1;Parent=AT1G01020;Name=AT1G01020.1;Index=1
Chr1\tTAIR10\tprotein\t1100\t1400\t.\t-\t.\tID=AT1G01020.1-Protein;Name=AT1G01020.1;Derives_from=AT1G01020.1
Chr1\tTAIR10\texon\t1000\t1200\t.\t-\t.\tParent=AT1G01020.1
Chr1\tTAIR10\texon\t1300\t1500\t.\t-\t.\tParent=AT1G01020.1
Chr1\tTAIR10\tCDS\t1100\t1200\t.\t-\t2\tParent=AT1G01020.1,AT1G01020.1-Protein;
Chr1\tTAIR10\tCDS\t1300\t1400\t.\t-\t0\tParent=AT1G01020.1,AT1G01020.1-Protein;
"""

#: a WormBase-style excerpt (c_elegans.PRJNA13758 annotations GFF3 layout): the second CDS row
#: of Transcript:Y74C9A.2a.1 runs 50 nt past its exon row
WORMBASE = """\
##gff-version 3
Chr1\tWormBase\tgene\t1000\t1500\t.\t+\t.\tID=Gene:WBGene00022276;Name=WBGene00022276;locus=nlp-40;biotype=protein_coding
Chr1\tWormBase\tmRNA\t1000\t1350\t.\t+\t.\tID=Transcript:Y74C9A.2a.1;Parent=Gene:WBGene00022276;Name=Y74C9A.2a.1;wormpep=CE:CE24660;locus=nlp-40;biotype=protein_coding
Chr1\tWormBase\texon\t1000\t1100\t.\t+\t.\tParent=Transcript:Y74C9A.2a.1
Chr1\tWormBase\texon\t1200\t1300\t.\t+\t.\tParent=Transcript:Y74C9A.2a.1
Chr1\tWormBase\tCDS\t1050\t1100\t.\t+\t0\tID=CDS:Y74C9A.2a;Parent=Transcript:Y74C9A.2a.1;wormpep=CE:CE24660;locus=nlp-40
Chr1\tWormBase\tCDS\t1200\t1350\t.\t+\t0\tID=CDS:Y74C9A.2a;Parent=Transcript:Y74C9A.2a.1;wormpep=CE:CE24660;locus=nlp-40
Chr1\tWormBase\tgene\t1600\t1900\t.\t+\t.\tID=Gene:WBGene00022277;Name=WBGene00022277;biotype=protein_coding
Chr1\tWormBase\tmRNA\t1600\t1900\t.\t+\t.\tID=Transcript:Y74C9A.3.1;Parent=Gene:WBGene00022277;Name=Y74C9A.3.1;biotype=protein_coding
Chr1\tWormBase\texon\t1600\t1700\t.\t+\t.\tParent=Transcript:Y74C9A.3.1
Chr1\tWormBase\texon\t1800\t1900\t.\t+\t.\tParent=Transcript:Y74C9A.3.1
Chr1\tWormBase\tCDS\t1650\t1700\t.\t+\t0\tID=CDS:Y74C9A.3;Parent=Transcript:Y74C9A.3.1
Chr1\tWormBase\tCDS\t1800\t1850\t.\t+\t0\tID=CDS:Y74C9A.3;Parent=Transcript:Y74C9A.3.1
"""


def _genome(tmp_path: Path, n: int = 2000) -> Path:
    rng = random.Random(7)
    p = tmp_path / "g.fa"
    p.write_text(">Chr1\n" + "".join(rng.choice("ACGT") for _ in range(n)) + "\n")
    return p


def _gffread_exons(path: Path) -> dict[str, list[tuple[int, int]]]:
    """Exons per transcript as gffread builds them (0-based half-open)."""
    out = subprocess.run(["gffread", str(path), "-T", "-o-"], check=True, capture_output=True,
                         text=True).stdout
    got: dict[str, list[tuple[int, int]]] = {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) == 9 and f[2] == "exon":
            tid = f[8].split('transcript_id "')[1].split('"')[0]
            got.setdefault(tid, []).append((int(f[3]) - 1, int(f[4])))
    return {k: sorted(v) for k, v in got.items()}


def _exons(ann) -> dict[str, list[tuple[int, int]]]:
    ids = ann.transcripts["transcript_id"].to_numpy()
    got: dict[str, list[tuple[int, int]]] = {}
    for t, s, e in ann.exons[["tx", "start", "end"]].itertuples(index=False):
        got.setdefault(ids[t], []).append((int(s), int(e)))
    return got


def test_tair10_utr_and_cds_without_exon_rows_as_gffread(tmp_path: Path) -> None:
    p = tmp_path / "tair10.gff3"
    p.write_text(TAIR10)
    ann = read_annotation(p)
    assert list(ann.transcripts["transcript_id"]) == ["AT1G01010.1", "AT1G01020.1"]  # no protein
    assert _exons(ann) == _gffread_exons(p)
    assert _exons(ann)["AT1G01010.1"] == [(99, 400), (499, 900)]  # the UTRs are kept
    assert ann.counts["exons_from_cds"] == 1
    assert ann.examples["exons_from_cds"] == ["AT1G01010.1 (line 5)"]
    t = ann.transcripts.set_index("transcript_id")
    assert (t.loc["AT1G01010.1", "cds_start"], t.loc["AT1G01010.1", "cds_end"]) == (199, 800)


def test_wormbase_cds_past_its_exon_is_extended_as_gffread(tmp_path: Path) -> None:
    p = tmp_path / "wormbase.gff3"
    p.write_text(WORMBASE)
    ann = read_annotation(p)
    assert _exons(ann) == _gffread_exons(p)
    assert _exons(ann)["Transcript:Y74C9A.2a.1"] == [(999, 1100), (1199, 1350)]
    assert ann.counts["exon_extended_to_cds"] == 1
    assert ann.examples["exon_extended_to_cds"] == ["Transcript:Y74C9A.2a.1 (line 7)"]
    with pytest.raises(ValueError, match=r"wormbase\.gff3: line 7: CDS/stop codon 1199-1350 of "
                       r"transcript Transcript:Y74C9A.2a.1 lies outside its exons"):
        read_annotation(p, strict=True)


def test_repaired_store_matches_gffread_w(tmp_path: Path) -> None:
    """The store built from both excerpts holds gffread -w's sequences; stats count the
    repairs with their first ids and lines."""
    from isoclr.store.builder import build_store
    from isoclr.store.export import export_store

    genome = _genome(tmp_path)
    p = tmp_path / "both.gff3"
    p.write_text(TAIR10 + "".join(WORMBASE.splitlines(keepends=True)[1:]))
    subprocess.run(["gffread", "-g", str(genome), "-w", str(tmp_path / "gw.fa"), str(p)],
                   check=True, capture_output=True)
    stats = build_store(genome, p, "sp", tmp_path / "s.h5")
    export_store(tmp_path / "s.h5", fasta=tmp_path / "w.fa")

    def fasta(path: Path) -> dict[str, str]:
        recs = path.read_text().split(">")[1:]
        return {r.split("\n", 1)[0].split()[0]: r.split("\n", 1)[1].replace("\n", "") for r in recs}

    assert fasta(tmp_path / "w.fa") == fasta(tmp_path / "gw.fa")
    assert stats["annotation"]["exons_from_cds"] == 1
    assert stats["annotation"]["exon_extended_to_cds"] == 1
    assert stats["annotation_examples"]["exon_extended_to_cds"] == "Transcript:Y74C9A.2a.1 (line 21)"


def test_gff3_parent_cycle_is_an_error_naming_ids_and_lines(tmp_path: Path) -> None:
    text = ("##gff-version 3\n"
            "c\t.\tmRNA\t1\t100\t.\t+\t.\tID=A;Parent=B\n"
            "c\t.\tgene\t1\t100\t.\t+\t.\tID=B;Parent=A\n"
            "c\t.\texon\t1\t100\t.\t+\t.\tParent=A\n")
    p = tmp_path / "cycle.gff3"
    p.write_text(text)
    for strict in (False, True):
        with pytest.raises(ValueError, match=r"cycle\.gff3: line 2: Parent cycle: A \(line 2\) -> "
                           r"B \(line 3\) -> A"):
            read_annotation(p, strict=strict)
    p.write_text("c\t.\tmRNA\t1\t100\t.\t+\t.\tID=A;Parent=A\nc\t.\texon\t1\t100\t.\t+\t.\tParent=A\n")
    with pytest.raises(ValueError, match=r"line 1: Parent cycle: A \(line 1\) -> A"):
        read_annotation(p)


def _gtf(chrom, feat, start, end, strand, tid, gid="G", phase="."):
    return (f"{chrom}\tT\t{feat}\t{start}\t{end}\t.\t{strand}\t{phase}\t"
            f'gene_id "{gid}"; transcript_id "{tid}";\n')


FLAWED = [  # (reason, rows of the flawed transcript)
    ("overlapping_exons", [("1", "exon", 1, 100, "+", "OV"), ("1", "exon", 50, 150, "+", "OV")]),
    ("two_strands", [("1", "exon", 1, 100, "+", "ST"), ("1", "exon", 201, 300, "-", "ST")]),
    ("two_chromosomes", [("1", "exon", 1, 100, "+", "CH"), ("2", "exon", 201, 300, "+", "CH")]),
    ("two_gene_ids", [("1", "exon", 1, 100, "+", "GI"), ("1", "exon", 201, 300, "+", "GI", "H")]),
    ("bad_strand", [("1", "exon", 1, 100, ".", "BS")]),
    ("bad_coordinates", [("1", "exon", 100, 50, "+", "BC")]),
    ("cds_outside_exons", [("1", "exon", 1, 100, "+", "CO"), ("1", "exon", 301, 400, "+", "CO"),
                           ("1", "CDS", 151, 250, "+", "CO", "G", "0")]),
]


@pytest.mark.parametrize("reason,rows", FLAWED, ids=[r for r, _ in FLAWED])
def test_flawed_transcript_dropped_and_counted(tmp_path: Path, reason: str, rows: list,
                                               caplog: pytest.LogCaptureFixture) -> None:
    good = _gtf("1", "exon", 501, 600, "+", "OK", "K") + _gtf("1", "exon", 701, 800, "+", "OK", "K")
    text = good + "".join(_gtf(*r) for r in rows) + _gtf("1", "exon", 901, 950, "+", "OK2", "K")
    p = tmp_path / "x.gtf"
    p.write_text(text)
    with caplog.at_level(logging.WARNING):
        ann = read_annotation(p)
    assert list(ann.transcripts["transcript_id"]) == ["OK", "OK2"]
    assert ann.counts[reason] == 1
    tid = rows[0][5]
    first_bad = {"overlapping_exons": 4, "two_strands": 4, "two_chromosomes": 4,
                 "two_gene_ids": 4, "cds_outside_exons": 5}.get(reason, 3)
    assert ann.examples[reason] == [f"{tid} (line {first_bad})"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"{reason}: 1" in warnings[0].getMessage()
    assert str(p) in warnings[0].getMessage()
    assert _exons(ann) == {"OK": [(500, 600), (700, 800)], "OK2": [(900, 950)]}
    with pytest.raises(ValueError, match=rf"x\.gtf: line {first_bad}: "):
        read_annotation(p, strict=True)


def test_many_flaws_counted_once_each_with_first_examples(tmp_path: Path) -> None:
    text = _gtf("1", "exon", 1, 10, "+", "OK")
    for i in range(8):
        text += _gtf("1", "exon", 100, 200, "+", f"T{i}") + _gtf("1", "exon", 150, 250, "+", f"T{i}")
    text += _gtf("2", "exon", 100, 200, "+", "T0")  # a second flaw of T0: counted once, by
    p = tmp_path / "m.gtf"  # the first check that finds one (one chromosome per transcript)
    p.write_text(text)
    ann = read_annotation(p)
    assert ann.counts["overlapping_exons"] == 7 and ann.counts["two_chromosomes"] == 1
    assert ann.examples["overlapping_exons"] == [f"T{i} (line {3 + 2 * i})" for i in range(1, 6)]
    assert ann.examples["two_chromosomes"] == ["T0 (line 18)"]
    assert list(ann.transcripts["transcript_id"]) == ["OK"]


def test_every_transcript_flawed_is_an_error_with_the_summary(tmp_path: Path) -> None:
    p = tmp_path / "all.gtf"
    p.write_text(_gtf("1", "exon", 1, 100, ".", "T"))
    with pytest.raises(ValueError, match=r"all\.gtf: empty annotation: every transcript has a "
                       r"structural flaw .*bad_strand: 1, e\.g\. T \(line 1\)"):
        read_annotation(p)


def test_genepred_cds_in_an_intron_dropped(tmp_path: Path) -> None:
    rows = ["T1\tchr1\t+\t100\t600\t250\t551\t3\t100,300,500,\t200,400,600,",
            "T2\tchr1\t+\t100\t600\t150\t551\t3\t100,300,500,\t200,400,600,"]
    p = tmp_path / "x.genePred"
    p.write_text("\n".join(rows) + "\n")
    ann = read_annotation(p)
    assert list(ann.transcripts["transcript_id"]) == ["T2"]
    assert ann.counts["cds_outside_exons"] == 1 and ann.examples["cds_outside_exons"] == ["T1 (line 1)"]


def test_gtf_stop_codon_after_the_last_exon_extends_it(tmp_path: Path) -> None:
    text = (_gtf("Chr1", "exon", 100, 200, "+", "T1") + _gtf("Chr1", "exon", 300, 400, "+", "T1")
            + _gtf("Chr1", "CDS", 150, 200, "+", "T1", phase="0")
            + _gtf("Chr1", "CDS", 300, 400, "+", "T1", phase="0")
            + _gtf("Chr1", "stop_codon", 401, 403, "+", "T1", phase="0"))
    p = tmp_path / "s.gtf"
    p.write_text(text)
    ann = read_annotation(p)
    assert _exons(ann) == _gffread_exons(p) == {"T1": [(99, 200), (299, 403)]}
    assert ann.counts["exon_extended_to_cds"] == 1
    assert (ann.transcripts["cds_start"][0], ann.transcripts["cds_end"][0]) == (149, 403)


def test_gtf_utr_rows_make_exons_when_there_are_none(tmp_path: Path) -> None:
    text = (_gtf("Chr1", "UTR", 100, 149, "+", "T1") + _gtf("Chr1", "CDS", 150, 200, "+", "T1", phase="0")
            + _gtf("Chr1", "CDS", 300, 380, "+", "T1", phase="0")
            + _gtf("Chr1", "UTR", 381, 400, "+", "T1"))
    p = tmp_path / "u.gtf"
    p.write_text(text)
    ann = read_annotation(p)
    assert _exons(ann) == _gffread_exons(p) == {"T1": [(99, 200), (299, 400)]}
    assert ann.counts["exons_from_cds"] == 1


# ---------------------------------------------------------------------------------------------
# stores: checked when opened; nothing is computed from a bad one


def _store(tmp_path: Path) -> Path:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_store import random_store

    path = tmp_path / "good.h5"
    random_store(path, n=12, seed=3, max_len=600)
    return path


def _crafted(tmp_path: Path, edit) -> Path:
    import shutil

    import h5py

    good = _store(tmp_path)
    bad = tmp_path / "bad.h5"
    shutil.copy(good, bad)
    with h5py.File(bad, "r+") as f:
        edit(f)
    return bad


def _replace(f, name: str, fn) -> None:
    data = fn(f[name][:])
    del f[name]
    f.create_dataset(name, data=data)


def _set(name: str, i: int, value):
    def edit(f):
        _replace(f, name, lambda a: np.concatenate([a[:i], np.asarray([value], dtype=a.dtype),
                                                    a[i + 1:]]))
    return edit


CRAFTED = [
    ("negative_seq_offset", _set("transcripts/seq_offset", 2, -5),
     r"/transcripts/seq_offset: offsets must rise from 0 to \d+, the length of /seq"),
    ("seq_offset_past_the_end", lambda f: _replace(f, "transcripts/seq_offset",
                                                    lambda a: a + np.r_[0, np.full(len(a) - 1, 7)]),
     r"/transcripts/seq_offset: offsets must rise from 0 to \d+"),
    ("non_monotone_exon_offset", lambda f: _replace(f, "transcripts/exon_offset",
                                                     lambda a: np.r_[a[:3], a[4], a[3], a[5:]]),
     r"/transcripts/exon_offset: offsets must rise strictly"),
    ("negative_exon_end", _set("exons/tx_end", 0, -3), r"/exons/tx_end: exon 0 of transcript 0"),
    ("negative_genomic_exon_end", _set("exons/end", 1, -1), r"/exons/start: exon 1: genomic start \d+, end -1: not 0 <= start < end"),
    ("cds_start_1e9", _set("transcripts/cds_start", 0, 10**9),
     r"/transcripts/cds_start: transcript 0: CDS 1000000000-"),
    ("cds_phase_7", _set("transcripts/cds_phase", 1, 7), r"/transcripts/cds_phase: transcript 1"),
    ("bad_gene_index", _set("transcripts/gene", 4, 999),
     r"/transcripts/gene: entry 4: gene row 999 outside"),
    ("string_offsets", lambda f: _replace(f, "transcripts/seq_offset",
                                           lambda a: np.asarray([str(x).encode() for x in a])),
     r"/transcripts/seq_offset: has dtype \|S\d+, expected integers"),
    ("missing_strand", lambda f: f.__delitem__("transcripts/strand"),
     r"/transcripts/strand: missing \(required dataset\)"),
    ("strand_dot", _set("transcripts/strand", 0, b"."), r"/transcripts/strand: transcript 0: strand '\.' is not \+ or -"),
    ("short_cds_end", lambda f: _replace(f, "transcripts/cds_end", lambda a: a[:-1]),
     r"/transcripts/cds_end: has 11 entries, expected 12"),
    ("tx_index_repeats", lambda f: _replace(f, "genes/tx_index", lambda a: np.zeros_like(a)),
     r"/genes/tx_index: must list each transcript"),
    ("format_version_2", lambda f: f.attrs.__setitem__("format_version", 2),
     r"store format_version 2; this isoclr reads version 1"),
    ("no_format_version", lambda f: f.attrs.__delitem__("format_version"),
     r"no format_version attribute"),
]


@pytest.mark.parametrize("name,edit,match", CRAFTED, ids=[c[0] for c in CRAFTED])
def test_crafted_store_refused_on_open(tmp_path: Path, name: str, edit, match: str) -> None:
    from isoclr.store.format import IsoformStore

    bad = _crafted(tmp_path, edit)
    with pytest.raises(ValueError, match=match) as exc:
        IsoformStore(bad)
    assert str(bad) in str(exc.value)


@pytest.mark.parametrize("name,edit,match", CRAFTED[:6], ids=[c[0] for c in CRAFTED[:6]])
def test_export_of_a_crafted_store_fails_and_writes_nothing(
        tmp_path: Path, name: str, edit, match: str, capsys: pytest.CaptureFixture[str]) -> None:
    from isoclr.cli import main

    bad = _crafted(tmp_path, edit)
    rc = main(["export", str(bad), "--fasta", str(tmp_path / "o.fa"),
               "--cds-fasta", str(tmp_path / "o.cds.fa")])
    assert rc == 1
    assert str(bad) in capsys.readouterr().err
    assert not (tmp_path / "o.fa").exists() and not (tmp_path / "o.cds.fa").exists()


def test_nucleotide_code_out_of_range_refused_when_read(tmp_path: Path) -> None:
    from isoclr.store.export import export_store
    from isoclr.store.format import IsoformStore

    bad = _crafted(tmp_path, lambda f: _replace(f, "seq", lambda a: np.where(
        np.arange(len(a)) == 3, np.uint8(9), a).astype(np.uint8)))
    st = IsoformStore(bad)
    with pytest.raises(ValueError, match=rf"{bad}: /seq: transcript 0: code 9 is not 0-4"):
        st.codes(0)
    with pytest.raises(ValueError, match=r"/seq: nucleotide codes: code 9"):
        export_store(bad, fasta=tmp_path / "o.fa")
    assert not (tmp_path / "o.fa").exists()


def test_not_hdf5_named(tmp_path: Path) -> None:
    from isoclr.store.format import IsoformStore

    p = tmp_path / "fake.h5"
    p.write_text(">not a store\nACGT\n")
    with pytest.raises(ValueError, match=rf"{p}: not an HDF5 file: not an isoform store"):
        IsoformStore(p)


def test_export_writes_all_outputs_or_none(tmp_path: Path, monkeypatch) -> None:
    from isoclr.store import export

    good = _store(tmp_path)
    real = export.write_fasta

    def fail_on_cds(store, fh, width=70, cds=False):
        if cds:
            raise OSError("disk gone")
        return real(store, fh, width, cds)

    monkeypatch.setattr(export, "write_fasta", fail_on_cds)
    with pytest.raises(OSError):
        export.export_store(good, fasta=tmp_path / "o.fa", cds_fasta=tmp_path / "o.cds.fa",
                            bed12=tmp_path / "o.bed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.h5"]  # no output, no temp file
    monkeypatch.setattr(export, "write_fasta", real)
    done = export.export_store(good, fasta=tmp_path / "o.fa", cds_fasta=tmp_path / "o.cds.fa",
                               bed12=tmp_path / "o.bed")
    assert done["fasta"] == 12 and (tmp_path / "o.bed").exists()


# ---------------------------------------------------------------------------------------------
# task files and embeddings: checked when read


def _task(tmp_path: Path, kind: str = "regression") -> Path:
    from isoclr.tasks import file as T
    from isoclr.tasks.labels import JoinReport

    n = 30
    y = np.arange(n, dtype=float) if kind == "regression" else (np.arange(2 * n).reshape(n, 2) % 2)
    T.write_task(tmp_path / "t.h5", task="t", species="human", kind=kind,
                 label_names=["y"] if kind == "regression" else ["a", "b"], store="s.h5",
                 transcript=np.arange(n), transcript_id=[f"t{i}" for i in range(n)],
                 gene_id=[f"g{i // 3}" for i in range(n)], y=y, group=np.arange(n) // 3,
                 n_folds=3, fractions=[1.0], seed=1, min_train=2, report=JoinReport("t"))
    return tmp_path / "t.h5"


TASK_CASES = [
    ("missing_fold", lambda f: f.__delitem__("fold"), r"/fold: missing \(required dataset\)"),
    ("fold_out_of_range", lambda f: _replace(f, "fold", lambda a: np.where(
        np.arange(len(a)) == 5, 7, a).astype(a.dtype)), r"/fold: row 5: fold 7 outside 0-2"),
    ("short_gene_id", lambda f: _replace(f, "gene_id", lambda a: a[:-1].astype(object)),
     r"/gene_id: has shape \(29,\), expected \(30,\)"),
    ("string_group", lambda f: _replace(f, "group", lambda a: a.astype("S4")),
     r"/group: has dtype \|S4, expected integers"),
    ("nan_label", lambda f: _replace(f, "y", lambda a: np.where(np.arange(len(a)) == 2, np.nan, a)),
     r"/y: row 2 holds NaN"),
    ("train_rank_shape", lambda f: _replace(f, "train_rank", lambda a: a[:2]),
     r"/train_rank: has shape \(2, 30\), expected \(3, 30\)"),
    ("negative_transcript", lambda f: _replace(f, "transcript", lambda a: a - 1),
     r"/transcript: row 0: store row -1 < 0"),
    ("bad_kind", lambda f: f.attrs.__setitem__("kind", "classification"),
     r"attribute kind: 'classification' is not regression or multilabel"),
]


@pytest.mark.parametrize("name,edit,match", TASK_CASES, ids=[c[0] for c in TASK_CASES])
def test_crafted_task_file_refused(tmp_path: Path, name: str, edit, match: str) -> None:
    import h5py

    from isoclr.tasks.file import TaskData

    p = _task(tmp_path)
    with h5py.File(p, "r+") as f:
        edit(f)
    with pytest.raises(ValueError, match=match) as exc:
        TaskData.load(p)
    assert str(p) in str(exc.value)


def test_multilabel_task_values_must_be_0_or_1(tmp_path: Path) -> None:
    import h5py

    from isoclr.tasks.file import TaskData

    p = _task(tmp_path, "multilabel")
    assert TaskData.load(p).y.shape == (30, 2)
    with h5py.File(p, "r+") as f:
        _replace(f, "y", lambda a: a * 3)
    with pytest.raises(ValueError, match=rf"{p}: /y: multilabel values must be 0 or 1"):
        TaskData.load(p)
    p2 = tmp_path / "x.h5"
    p2.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match=rf"{p2}: not an HDF5 file"):
        TaskData.load(p2)


def _emb():
    import pandas as pd

    from isoclr.evaluate.embeddings import Embeddings

    table = pd.DataFrame({"transcript_id": ["a", "b", "c"], "gene_id": ["g", "g", "h"],
                          "species": "human", "length": [10, 20, 30], "tracks": "annotation"})
    return Embeddings(table, np.arange(12, dtype=np.float32).reshape(3, 4), {"encoder": "x"})


def test_npz_embeddings_with_object_arrays_named(tmp_path: Path) -> None:
    from isoclr.evaluate.embeddings import read_embeddings

    p = tmp_path / "e.npz"
    np.savez(p, h=np.zeros((2, 3), np.float32), attrs=np.asarray("{}"),
             transcript_id=np.asarray(["a", None], dtype=object), gene_id=np.asarray(["g", "g"]),
             species=np.asarray(["s", "s"]), length=np.asarray([1, 2]),
             tracks=np.asarray(["none", "none"]))
    with pytest.raises(ValueError, match=rf"{p}: array 'transcript_id' is a pickled object array"):
        read_embeddings(p)


@pytest.mark.parametrize("ext", [".h5", ".npz", ".parquet", ".tsv"])
def test_embeddings_with_bad_values_named(tmp_path: Path, ext: str) -> None:
    from isoclr.evaluate.embeddings import Embeddings, read_embeddings, write_embeddings

    good = _emb()
    p = tmp_path / f"ok{ext}"
    write_embeddings(p, good)
    assert read_embeddings(p).h.shape == (3, 4)
    h = good.h.copy()
    h[1, 2] = np.nan
    bad = tmp_path / f"nan{ext}"
    write_embeddings(bad, Embeddings(good.table, h, good.attrs))
    with pytest.raises(ValueError, match=rf"{bad}: .*h: row 1 holds NaN or infinity"):
        read_embeddings(bad)
    t = good.table.copy()
    t["length"] = [10, 0, 30]
    bad = tmp_path / f"len{ext}"
    write_embeddings(bad, Embeddings(t, good.h, good.attrs))
    with pytest.raises(ValueError, match=rf"{bad}: .*length: row 1 \(b\) has length 0"):
        read_embeddings(bad)
    t = good.table.copy()
    t["tracks"] = ["annotation", "guess", "none"]
    bad = tmp_path / f"tr{ext}"
    write_embeddings(bad, Embeddings(t, good.h, good.attrs))
    with pytest.raises(ValueError, match=rf"{bad}: .*tracks: row 1 is 'guess'"):
        read_embeddings(bad)


# ---------------------------------------------------------------------------------------------
# config files: bounded YAML, results folder

REPO = Path(__file__).resolve().parents[1]


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["seed:", "  - &l1 [" + ", ".join(["1"] * width) + "]"]
    for i in range(2, levels + 1):
        lines.append(f"  - &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_refused_in_under_a_second(tmp_path: Path) -> None:
    import time

    from isoclr.config.safe_yaml import load_yaml

    p = tmp_path / "bomb.yaml"
    p.write_text(_bomb())
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=rf"{p}: line \d+: this node expands to more than "
                       r"100,000 nodes through its aliases"):
        load_yaml(p)
    assert time.perf_counter() - t0 < 1.0
    p.write_text(_bomb(levels=3))  # 1 + 9 + 81 + 729 + ...: well inside the budget
    assert len(load_yaml(p)["seed"]) == 3


def test_alias_bomb_refused_by_snakemake_n(tmp_path: Path) -> None:
    import os
    import sys
    import time

    p = tmp_path / "bomb.yaml"
    p.write_text(_bomb())
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(p)],
                         check=False, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    took = time.perf_counter() - t0
    assert out.returncode != 0
    assert f"{p}: line" in out.stdout + out.stderr and "aliases" in out.stdout + out.stderr
    assert took < 60  # Snakemake's own start-up is most of it; the refusal takes milliseconds


def test_self_containing_alias_refused(tmp_path: Path) -> None:
    from isoclr.config.safe_yaml import load_yaml

    p = tmp_path / "rec.yaml"
    p.write_text("seed: &a [1, *a]\n")
    with pytest.raises(ValueError, match=rf"{p}: line 1: an alias \(\*name\) that contains itself"):
        load_yaml(p)


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    from isoclr.config.safe_yaml import load_yaml

    p = tmp_path / "dup.yaml"
    p.write_text("seed: 1\nspecies:\n  human: {}\n  mouse: {}\n  human: {}\nresults: r\n")
    with pytest.raises(ValueError, match=rf"{p}: line 5: duplicate key 'human' \(first on line 3, "
                       r"again on line 5\)"):
        load_yaml(p)
    p.write_text("seed: 1\nseed: 2\n")
    with pytest.raises(ValueError, match=r"line 2: duplicate key 'seed' \(first on line 1"):
        load_yaml(p)


@pytest.mark.parametrize("key", ["1", "true", "null", "2.5", "[a, b]", "{a: 1}"])
def test_non_string_keys_refused(tmp_path: Path, key: str) -> None:
    from isoclr.config.safe_yaml import load_yaml

    p = tmp_path / "k.yaml"
    p.write_text(f"seed: 1\nspecies:\n  {key}: x\n" if not key.startswith(("[", "{"))
                 else f"seed: 1\n? {key}\n: x\n")
    with pytest.raises(ValueError, match=rf"{p}: line \d: key .* is not a string"):
        load_yaml(p)


def test_project_configs_load_as_before_and_merge_keys_work(tmp_path: Path) -> None:
    import yaml

    from isoclr.config.safe_yaml import load_yaml

    for name in ("config.yaml", "paper.yaml", "human_mrna.yaml"):
        path = REPO / "config" / name
        assert load_yaml(path) == yaml.safe_load(path.read_text())
    p = tmp_path / "m.yaml"
    p.write_text("base: &b {x: 1, y: 2}\nover:\n  <<: *b\n  y: 3\n")
    assert load_yaml(p)["over"] == {"x": 1, "y": 3}
    p.write_text("")
    assert load_yaml(p) == {}
    p.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match=r"a config file is a mapping"):
        load_yaml(p)
    p.write_text("seed: [1,\n")
    with pytest.raises(ValueError, match=rf"{p}: line \d: not valid YAML"):
        load_yaml(p)


@pytest.mark.parametrize("value", ["/", "/usr", "/etc", "/bin", "/home", "/tmp", "/var", "src",
                                   "rules", "config", "config/out", "./src/x", "."])
def test_results_folder_refused(value: str) -> None:
    from isoclr.config.safe_yaml import check_results_folder

    with pytest.raises(ValueError, match=r"config key 'results': "):
        check_results_folder({"results": value}, REPO)


@pytest.mark.parametrize("value", ["results", "results/paper", "/tmp/study", "../elsewhere"])
def test_results_folder_accepted(value: str) -> None:
    from isoclr.config.safe_yaml import check_results_folder

    check_results_folder({"results": value}, REPO)


def test_results_root_refused_by_snakemake_n_and_plan(tmp_path: Path) -> None:
    import os
    import sys

    from isoclr.config.load import load_config

    over = tmp_path / "root.yaml"
    over.write_text("results: /\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(over)],
                         check=False, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode != 0
    assert "config key 'results': '/' is the filesystem root" in out.stdout + out.stderr
    import contextlib

    with contextlib.chdir(REPO), pytest.raises(ValueError, match=r"'results': '/' is the filesystem root"):
        load_config([str(over)])
    dup = tmp_path / "dup.yaml"
    dup.write_text("seed: 1\nseed: 2\n")
    with contextlib.chdir(REPO), pytest.raises(ValueError, match=rf"{dup}: line 2: duplicate key"):
        load_config([str(dup)])


# ---------------------------------------------------------------------------------------------
# isoclr embed: messages name the file and the record; sequences past the training maximum

TINY = {"size": "tiny", "widths": [8, 8, 8, 8], "stem_width": 8, "projector": [16, 16, 8]}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from isoclr.pretrain.model import build_encoder, save_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "ckpt.pt"
    torch.manual_seed(0)
    save_checkpoint(path, build_encoder(TINY), "dcl")
    return path


def test_embed_fasta_with_an_empty_record_names_it(tmp_path: Path, ckpt: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from isoclr.cli import main

    fa = tmp_path / "x.fa"
    fa.write_text(">a\nACGTACGTAC\n>empty_one\n>b\nACGTTT\n")
    rc = main(["embed", "--checkpoint", str(ckpt), "--transcripts", str(fa), "--out",
               str(tmp_path / "e.h5")])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"{fa}: record 2 (empty_one): empty sequence (0 nt)" in err
    assert not (tmp_path / "e.h5").exists()


def test_embed_codes_out_of_range_named(tmp_path: Path, ckpt: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from isoclr.cli import main
    from isoclr.evaluate.embedder import Embedder, FastaSequences

    seqs = FastaSequences(["s1", "s2"], ["g", "g"], [np.array([0, 1, 2, 3], np.uint8),
                                                     np.array([0, 9, 2], np.uint8)], source="mine.fa")
    with pytest.raises(ValueError, match=r"mine\.fa: record 2 \(s2\): nucleotide code 9 is not 0-4"):
        Embedder.from_checkpoint(ckpt).embeddings_of_fasta(seqs)
    bad = _crafted(tmp_path, lambda f: _replace(f, "seq", lambda a: np.where(
        np.arange(len(a)) == 3, np.uint8(9), a).astype(np.uint8)))
    rc = main(["embed", "--checkpoint", str(ckpt), "--store", str(bad), "--out",
               str(tmp_path / "e.h5")])
    assert rc == 1 and f"{bad}: /seq: transcript 0: code 9 is not 0-4" in capsys.readouterr().err


def test_sequences_past_the_training_maximum(tmp_path: Path, ckpt: Path,
                                             caplog: pytest.LogCaptureFixture,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from isoclr.cli import main
    from isoclr.evaluate.embedder import TRAINING_MAX_LENGTH, Embedder
    from isoclr.evaluate.embeddings import read_embeddings

    fa = tmp_path / "x.fa"
    fa.write_text(">short\n" + "ACGT" * 10 + "\n>long1\n" + "ACGT" * 30 + "\n>long2\n"
                  + "ACGT" * 20 + "\n")
    emb = Embedder.from_checkpoint(ckpt, max_length=50)
    with caplog.at_level(logging.WARNING):
        res = emb.embeddings_of_fasta(fa)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and f"{fa}: 2 of 3 sequences are longer than 50 nt" in warned[0]
    assert "longest: long1, 120 nt" in warned[0] and len(res) == 3
    res = Embedder.from_checkpoint(ckpt, max_length=50, too_long="skip").embeddings_of_fasta(fa)
    assert list(res.table["transcript_id"]) == ["short"] and res.h.shape[0] == 1
    with pytest.raises(ValueError, match=rf"{fa}: 2 of 3 sequences are longer than 50 nt"):
        Embedder.from_checkpoint(ckpt, max_length=50, too_long="refuse").embeddings_of_fasta(fa)
    assert Embedder.from_checkpoint(ckpt).max_length == TRAINING_MAX_LENGTH == 12288
    out = tmp_path / "e.tsv"
    assert main(["embed", "--checkpoint", str(ckpt), "--transcripts", str(fa), "--out", str(out),
                 "--max-length", "100", "--too-long", "skip"]) == 0
    assert list(read_embeddings(out).table["transcript_id"]) == ["short", "long2"]
    assert main(["embed", "--checkpoint", str(ckpt), "--transcripts", str(fa), "--out", str(out),
                 "--max-length", "100", "--too-long", "refuse"]) == 1
    assert "1 of 3 sequences are longer than 100 nt" in capsys.readouterr().err


def _sets(tmp_path: Path) -> Path:
    from isoclr.homology.merge import Sets, write_sets

    sets = Sets(species=["human", "mouse"], stores=["h.h5", "m.h5"],
                member_species=np.array([0, 1, 0, 0, 1], np.int16),
                member_transcript=np.array([0, 3, 1, 2, 0], np.int32),
                offset=np.array([0, 2, 5]), n_genes=np.array([2, 3], np.int32),
                n_species=np.array([2, 2], np.int16), gene_species=np.array([0, 1, 0, 1], np.int16),
                gene_id=np.array(["g1", "m1", "g2", "m2"], object),
                gene_set=np.array([0, 0, 1, 1], np.int32))
    write_sets(sets, tmp_path / "sets.h5")
    return tmp_path / "sets.h5"


SETS_CASES = [
    ("offset_past_members", lambda f: _replace(f, "sets/offset", lambda a: a + np.r_[0, 0, 2]),
     r"/sets/offset: offsets must rise from 0 to 5"),
    ("species_code", lambda f: _replace(f, "members/species", lambda a: a * 3),
     r"/members/species: species codes must be 0-1"),
    ("negative_member", lambda f: _replace(f, "members/transcript", lambda a: a - 1),
     r"/members/transcript: store row -1 < 0"),
    ("gene_set_range", lambda f: _replace(f, "genes/set", lambda a: a + 5),
     r"/genes/set: set ids must be -1 \(none\) or 0-1"),
    ("string_counts", lambda f: _replace(f, "sets/n_genes", lambda a: a.astype("S2")),
     r"/sets/n_genes: expected a 1-D integer array"),
]


@pytest.mark.parametrize("name,edit,match", SETS_CASES, ids=[c[0] for c in SETS_CASES])
def test_crafted_sets_file_refused(tmp_path: Path, name: str, edit, match: str) -> None:
    import h5py

    from isoclr.homology.merge import read_sets

    p = _sets(tmp_path)
    assert read_sets(p).n_sets == 2
    with h5py.File(p, "r+") as f:
        edit(f)
    with pytest.raises(ValueError, match=match) as exc:
        read_sets(p)
    assert str(p) in str(exc.value)


def test_checkpoint_with_a_bad_config_or_nan_weights_named(tmp_path: Path) -> None:
    import torch

    from isoclr.pretrain.model import build_encoder, load_encoder

    enc = build_encoder(TINY)
    p = tmp_path / "c.pt"
    torch.save({"model_config": {"size": "bogus"}, "encoder": enc.state_dict(), "objective": "dcl"}, p)
    with pytest.raises(ValueError, match=rf"{p}: model_config: .*unknown size 'bogus'"):
        load_encoder(p)
    state = {k: (v * float("nan") if v.is_floating_point() else v) for k, v in enc.state_dict().items()}
    torch.save({"model_config": dict(enc.config), "encoder": state, "objective": "dcl"}, p)
    with pytest.raises(ValueError, match=rf"{p}: encoder weight .* holds NaN or infinity"):
        load_encoder(p)


def test_annotation_and_gtf_readers_do_not_import_each_other() -> None:
    """store.gtf and store.annotation share store.fields and store.annotation_tables; neither imports
    the other's module back (no import cycle, no bottom-of-file import)."""
    import ast

    src = Path(__file__).resolve().parents[1] / "src" / "isoclr" / "store"

    def imports(name: str) -> set[str]:
        tree = ast.parse((src / f"{name}.py").read_text())
        got = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        got |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and n.module for a in n.names}
        return {m for m in got if m.startswith("isoclr.store")}

    def names(mods: set[str]) -> set[str]:  # the isoclr.store modules named
        return {".".join(m.split(".")[:3]) for m in mods}

    assert "isoclr.store.annotation" not in names(imports("gtf"))
    assert "isoclr.store.gtf" in names(imports("annotation"))
    for low in ("fields", "annotation_tables"):
        assert not names(imports(low)) & {"isoclr.store.annotation", "isoclr.store.gtf"}


@pytest.mark.parametrize("name", ["non_monotone_exon_offset", "negative_exon_end", "cds_start_1e9"])
def test_embed_of_a_crafted_store_fails_naming_it(tmp_path: Path, ckpt: Path, name: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """These stores made `isoclr embed --store` exit 0 with different embeddings."""
    from isoclr.cli import main

    _, edit, match = next(c for c in CRAFTED if c[0] == name)
    bad = _crafted(tmp_path, edit)
    rc = main(["embed", "--checkpoint", str(ckpt), "--store", str(bad), "--out",
               str(tmp_path / "e.h5")])
    err = capsys.readouterr().err
    assert rc == 1 and str(bad) in err
    import re

    assert re.search(match, err)
    assert not (tmp_path / "e.h5").exists()


def test_splits_table_with_a_bad_set_id_names_the_line(tmp_path: Path) -> None:
    from isoclr.pretrain.loader import read_splits

    p = tmp_path / "splits.tsv"
    p.write_text("set_id\tsplit\n0\ttrain\nx\tvalidation\n")
    with pytest.raises(ValueError, match=rf"{p} line 3: set_id 'x' is not an integer"):
        read_splits(p)
    p.write_text("set_id\tsplit\n0\ttrain\n1\tvalidation\n")
    assert list(read_splits(p)) == ["train", "validation"]
    p.write_text("set_id\tsplit\n0\ttrain\n1\tholdout\n")
    with pytest.raises(ValueError, match=rf"{p} line 3: unknown split 'holdout'"):
        read_splits(p)
