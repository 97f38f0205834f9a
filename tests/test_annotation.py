"""Tests for isoclr.store.annotation: every format on one handmade example, every bad input, and the
real GENCODE / FlyBase excerpts in resources/demo and ../shared/data."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from isoclr.store.annotation import (
    TRANSCRIPT_COLUMNS,
    Annotation,
    detect_format,
    read_annotation,
    reconcile_chroms,
)

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "genomes"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    if name.endswith(".gz"):
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p.write_text(text)
    return p


def gtf_line(chrom, feat, start, end, strand, attrs, phase=".", source="TEST"):
    return f"{chrom}\t{source}\t{feat}\t{start}\t{end}\t.\t{strand}\t{phase}\t{attrs}\n"


# ---------------------------------------------------------------------------------------------
# The same three transcripts in every format.
#   T1 chr1 + gene G1 (GENEA): exons [100,200) [300,400) [500,600), CDS [150,551) incl. stop
#      codon [548,551); GTF phases 0,1,0 -> cds_phase 0.
#   T2 chr1 + gene G1: exons [100,200) [500,600), non-coding.
#   T3 chr2 - gene G2 (GENEB): exons [1000,1100) [1200,1300) [1400,1500); CDS 5' end at 1450
#      with phase 2 (cds_start_NF), stop codon split over the intron: [1200,1202) + [1099,1100)
#      -> CDS [1099,1450), cds_phase 2.
EXPECTED_TX = pd.DataFrame({
    "transcript_id": ["T1", "T2", "T3"],
    "chrom": ["chr1", "chr1", "chr2"],
    "strand": ["+", "+", "-"],
    "start": [100, 100, 1000],
    "end": [600, 600, 1500],
    "cds_start": [150, -1, 1099],
    "cds_end": [551, -1, 1450],
})
EXPECTED_EXONS = [
    (0, 100, 200), (0, 300, 400), (0, 500, 600),
    (1, 100, 200), (1, 500, 600),
    (2, 1000, 1100), (2, 1200, 1300), (2, 1400, 1500),
]

A1 = 'gene_id "G1"; transcript_id "T1"; gene_type "protein_coding"; gene_name "GENEA"; ' \
     'transcript_type "protein_coding"; level 2; tag "basic"; tag "Ensembl_canonical";'
A2 = 'gene_id "G1"; transcript_id "T2"; gene_name "GENEA"; transcript_type "retained_intron";'
A3 = 'gene_id "G2"; transcript_id "T3"; gene_name "GENEB"; transcript_type "protein_coding"; ' \
     'tag "cds_start_NF";'

GTF = (
    "#!genome-build test\n"
    + gtf_line("chr1", "gene", 101, 600, "+", 'gene_id "G1"; gene_name "GENEA";  level 2;')
    + gtf_line("chr1", "transcript", 101, 600, "+", A1)
    + gtf_line("chr1", "exon", 101, 200, "+", A1)
    + gtf_line("chr1", "exon", 301, 400, "+", A1)
    + gtf_line("chr1", "exon", 501, 600, "+", A1)
    + gtf_line("chr1", "CDS", 151, 200, "+", A1, "0")
    + gtf_line("chr1", "CDS", 301, 400, "+", A1, "1")
    + gtf_line("chr1", "CDS", 501, 548, "+", A1, "0")
    + gtf_line("chr1", "start_codon", 151, 153, "+", A1, "0")
    + gtf_line("chr1", "stop_codon", 549, 551, "+", A1, "0")
    + gtf_line("chr1", "UTR", 101, 150, "+", A1)
    + gtf_line("chr1", "transcript", 101, 600, "+", A2)
    + gtf_line("chr1", "exon", 101, 200, "+", A2)
    + gtf_line("chr1", "exon", 501, 600, "+", A2)
    # T3: no transcript row, '-' strand exons listed 5'->3' (descending), split stop codon
    + gtf_line("chr2", "exon", 1401, 1500, "-", A3)
    + gtf_line("chr2", "CDS", 1401, 1450, "-", A3, "2")
    + gtf_line("chr2", "exon", 1201, 1300, "-", A3)
    + gtf_line("chr2", "CDS", 1203, 1300, "-", A3, "0")
    + gtf_line("chr2", "stop_codon", 1201, 1202, "-", A3, "0")
    + gtf_line("chr2", "exon", 1001, 1100, "-", A3)
    + gtf_line("chr2", "stop_codon", 1100, 1100, "-", A3, "2")
    + gtf_line("chr2", "Selenocysteine", 1410, 1412, "-", A3)
)

GFF3 = """##gff-version 3
##sequence-region chr1 1 10000
chr1\tEns\tgene\t101\t600\t.\t+\t.\tID=gene:G1;Name=GENEA;biotype=protein_coding;gene_id=G1
chr1\tEns\tmRNA\t101\t600\t.\t+\t.\tID=transcript:T1;Parent=gene:G1;biotype=protein_coding;tag=basic,Ensembl_canonical
chr1\tEns\texon\t101\t200\t.\t+\t.\tParent=transcript:T1
chr1\tEns\texon\t301\t400\t.\t+\t.\tParent=transcript:T1
chr1\tEns\texon\t501\t600\t.\t+\t.\tParent=transcript:T1
chr1\tEns\tCDS\t151\t200\t.\t+\t0\tID=CDS:P1;Parent=transcript:T1
chr1\tEns\tCDS\t301\t400\t.\t+\t1\tID=CDS:P1;Parent=transcript:T1
chr1\tEns\tCDS\t501\t551\t.\t+\t0\tID=CDS:P1;Parent=transcript:T1
chr1\tEns\tfive_prime_UTR\t101\t150\t.\t+\t.\tParent=transcript:T1
chr1\tEns\tlnc_RNA\t101\t600\t.\t+\t.\tID=transcript:T2;Parent=gene:G1;biotype=retained_intron
chr1\tEns\texon\t101\t200\t.\t+\t.\tParent=transcript:T2
chr1\tEns\texon\t501\t600\t.\t+\t.\tParent=transcript:T2
###
chr2\tEns\tgene\t1001\t1500\t.\t-\t.\tID=gene:G2;Name=GENEB;gene_id=G2
chr2\tEns\tmRNA\t1001\t1500\t.\t-\t.\tID=transcript:T3;Parent=gene:G2;tag=cds_start_NF
chr2\tEns\texon\t1401\t1500\t.\t-\t.\tParent=transcript:T3
chr2\tEns\texon\t1201\t1300\t.\t-\t.\tParent=transcript:T3
chr2\tEns\texon\t1001\t1100\t.\t-\t.\tParent=transcript:T3
chr2\tEns\tCDS\t1401\t1450\t.\t-\t2\tID=CDS:P3;Parent=transcript:T3
chr2\tEns\tCDS\t1201\t1300\t.\t-\t0\tID=CDS:P3;Parent=transcript:T3
chr2\tEns\tCDS\t1100\t1100\t.\t-\t2\tID=CDS:P3;Parent=transcript:T3
###
##FASTA
>chr1
ACGT
"""

# genePred: name chrom strand txStart txEnd cdsStart cdsEnd exonCount exonStarts exonEnds
GP = [
    "T1\tchr1\t+\t100\t600\t150\t551\t3\t100,300,500,\t200,400,600,",
    "T2\tchr1\t+\t100\t600\t600\t600\t2\t100,500,\t200,600,",
    "T3\tchr2\t-\t1000\t1500\t1099\t1450\t3\t1000,1200,1400,\t1100,1300,1500,",
]
# genePredExt extra: score name2 cdsStartStat cdsEndStat exonFrames (UCSC frame = (3-phase)%3)
GPX_EXTRA = [
    "0\tGENEA\tcmpl\tcmpl\t0,2,0,",
    "0\tGENEA\tnone\tnone\t-1,-1,",
    "0\tGENEB\tincmpl\tcmpl\t0,0,1,",
]
GENES = {"T1": "GENEA", "T2": "GENEA", "T3": "GENEB"}
BED = [
    "chr1\t100\t600\tT1\t0\t+\t150\t551\t0\t3\t100,100,100,\t0,200,400,",
    "chr1\t100\t600\tT2\t0\t+\t600\t600\t0\t2\t100,100,\t0,400,",
    "chr2\t1000\t1500\tT3\t0\t-\t1099\t1450\t0\t3\t100,100,100,\t0,200,400,",
]


def as_text(lines):
    return "\n".join(lines) + "\n"


def example_files(tmp_path):
    return {
        "gtf": write(tmp_path, "a.gtf", GTF),
        "gtf.gz": write(tmp_path, "a.gtf.gz", GTF),
        "gff3": write(tmp_path, "a.gff3", GFF3),
        "genepred": write(tmp_path, "a.genePred", as_text(GP)),
        "genepred_bin": write(tmp_path, "b.genepred", as_text(f"585\t{x}" for x in GP)),
        "genepredext": write(tmp_path, "a.gp", as_text(f"{a}\t{b}" for a, b in zip(GP, GPX_EXTRA))),
        "genepredext_bin": write(
            tmp_path, "b.gp", as_text(f"9\t{a}\t{b}" for a, b in zip(GP, GPX_EXTRA))),
        "refflat": write(tmp_path, "a.refFlat.gz", as_text(f"{GENES[x[:2]]}\t{x}" for x in GP)),
        "bed12": write(tmp_path, "a.bed", "track name=x\n" + as_text(BED)),
    }


def exon_tuples(ann: Annotation):
    return list(map(tuple, ann.exons[["tx", "start", "end"]].to_numpy().tolist()))


@pytest.mark.parametrize("key", ["gtf", "gtf.gz", "gff3", "genepred", "genepred_bin",
                                 "genepredext", "genepredext_bin", "refflat", "bed12"])
def test_every_format_gives_the_same_table(tmp_path, key):
    path = example_files(tmp_path)[key]
    ann = read_annotation(path, species="test")
    assert list(ann.transcripts.columns) == TRANSCRIPT_COLUMNS
    assert ann.species == "test" and ann.source == str(path)
    got = ann.transcripts[EXPECTED_TX.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, EXPECTED_TX, check_dtype=False)
    assert exon_tuples(ann) == EXPECTED_EXONS
    t = ann.transcripts
    assert t["start"].dtype == np.int64 and t["cds_phase"].dtype == np.int8
    for c in ("transcript_id", "gene_id", "gene_name", "chrom", "strand", "biotype", "tags"):
        assert t[c].dtype == object, c
    # isoform groups: T1 and T2 share a gene, T3 is another (BED12 needs a gene map)
    if key != "bed12" and not key.startswith("genepred_") and key != "genepred":
        assert t["gene_id"].iloc[0] == t["gene_id"].iloc[1] != t["gene_id"].iloc[2]
        assert list(t["gene_name"]) == ["GENEA", "GENEA", "GENEB"]
    if key in ("gtf", "gtf.gz", "gff3", "genepredext", "genepredext_bin"):
        assert list(t["cds_phase"]) == [0, 0, 2]
    assert ann.exon_offsets().tolist() == [0, 3, 5, 8]


def test_gtf_attributes(tmp_path):
    ann = read_annotation(example_files(tmp_path)["gtf"])
    t = ann.transcripts
    assert list(t["gene_id"]) == ["G1", "G1", "G2"]
    assert list(t["biotype"]) == ["protein_coding", "retained_intron", "protein_coding"]
    assert list(t["tags"]) == ["basic,Ensembl_canonical", "", "cds_start_NF"]
    assert list(t["line"]) == [3, 13, 16]
    assert ann.counts == {}


def test_gff3_attributes(tmp_path):
    ann = read_annotation(example_files(tmp_path)["gff3"])
    t = ann.transcripts
    assert list(t["gene_id"]) == ["G1", "G1", "G2"]
    assert list(t["biotype"]) == ["protein_coding", "retained_intron", "mRNA"]
    assert list(t["tags"]) == ["basic,Ensembl_canonical", "", "cds_start_NF"]


def test_bed12_gene_map(tmp_path):
    ann = read_annotation(example_files(tmp_path)["bed12"], gene_map=GENES)
    assert list(ann.transcripts["gene_id"]) == ["GENEA", "GENEA", "GENEB"]
    assert list(ann.transcripts["cds_phase"]) == [0, 0, 0]


@pytest.mark.parametrize("name,fmt", [("x.gtf.gz", "gtf"), ("x.gff", "gff3"), ("x.gff3", "gff3"),
                                      ("x.refFlat", "refflat"), ("x.bed", "bed12"),
                                      ("x.genePred.gz", "genepred")])
def test_detect_format_by_name(tmp_path, name, fmt):
    assert detect_format(write(tmp_path, name, "")) == fmt


def test_detect_format_by_content(tmp_path):
    f = example_files(tmp_path)
    for key, fmt in [("gtf", "gtf"), ("gff3", "gff3"), ("genepred", "genepred"),
                     ("refflat", "refflat"), ("bed12", "bed12"), ("genepredext", "genepred"),
                     ("genepred_bin", "genepred")]:
        p = tmp_path / f"{key}.txt"
        p.write_bytes(gzip.decompress(f[key].read_bytes()) if f[key].suffix == ".gz"
                      else f[key].read_bytes())
        assert detect_format(p) == fmt, key
        assert len(read_annotation(p)) == 3


# ---------------------------------------------------------------------------------------------
# GTF / GFF3 real-world quirks


def test_gtf_exon_only_flybase_style(tmp_path):
    a = 'gene_id "FBgn1"; gene_symbol "CG1"; transcript_id "FBtr1"; transcript_symbol "CG1-RA";'
    text = (gtf_line("2L", "exon", 8193, 9484, "+", a, source="FlyBase")
            + gtf_line("2L", "exon", 7529, 8116, "+", a, source="FlyBase"))
    ann = read_annotation(write(tmp_path, "fly.gtf", text))
    t = ann.transcripts.iloc[0]
    assert (t.gene_name, t.start, t.end, t.cds_start, t.biotype) == ("CG1", 7528, 9484, -1, "")
    assert exon_tuples(ann) == [(0, 7528, 8116), (0, 8192, 9484)]


def test_gtf_unquoted_values_and_gene_fallback(tmp_path):
    text = gtf_line("1", "exon", 1, 10, "+", "gene_id G7; transcript_id T7; gene ABC;")
    text += gtf_line("1", "exon", 20, 30, "+", 'gene_id "G8"; transcript_id "T8";')
    t = read_annotation(write(tmp_path, "x.gtf", text)).transcripts
    assert list(t["transcript_id"]) == ["T7", "T8"]
    assert list(t["gene_name"]) == ["ABC", "G8"]


def test_duplicate_exon_rows_dropped_and_counted(tmp_path):
    a = 'gene_id "G"; transcript_id "T";'
    text = gtf_line("1", "exon", 1, 10, "+", a) * 2 + gtf_line("1", "exon", 21, 30, "+", a)
    ann = read_annotation(write(tmp_path, "x.gtf", text))
    assert ann.counts["duplicate_exon"] == 1
    assert exon_tuples(ann) == [(0, 0, 10), (0, 20, 30)]


def test_transcript_row_without_exons_dropped(tmp_path):
    text = gtf_line("1", "transcript", 1, 10, "+", 'gene_id "G"; transcript_id "T0";')
    text += gtf_line("1", "exon", 1, 10, "+", 'gene_id "G"; transcript_id "T1";')
    ann = read_annotation(write(tmp_path, "x.gtf", text))
    assert list(ann.transcripts["transcript_id"]) == ["T1"] and ann.counts["no_exons"] == 1
    assert exon_tuples(ann) == [(0, 0, 10)]


def test_cds_without_exon_rows_gives_exons(tmp_path):
    a = 'gene_id "G"; transcript_id "T";'
    text = gtf_line("1", "CDS", 1, 9, "+", a, "0") + gtf_line("1", "stop_codon", 10, 12, "+", a)
    ann = read_annotation(write(tmp_path, "x.gtf", text))
    assert exon_tuples(ann) == [(0, 0, 12)] and ann.counts["exons_from_cds"] == 1
    assert (ann.transcripts["cds_start"][0], ann.transcripts["cds_end"][0]) == (0, 12)


def test_gff3_refseq_style(tmp_path):
    text = (
        "##gff-version 3\n"
        "NC_1\tRefSeq\tgene\t1\t100\t.\t+\t.\tID=gene-AB%2CC;Dbxref=HGNC:1,GeneID:4242;"
        "Name=AB%2CC;gene=AB%2CC;gene_biotype=protein_coding\n"
        "NC_1\tRefSeq\tmRNA\t1\t100\t.\t+\t.\tID=rna-NM_1.1;Parent=gene-AB%2CC;gbkey=mRNA;"
        "transcript_id=NM_1.1\n"
        "NC_1\tRefSeq\texon\t1\t40\t.\t+\t.\tID=exon-NM_1.1-1;Parent=rna-NM_1.1\n"
        "NC_1\tRefSeq\texon\t61\t100\t.\t+\t.\tID=exon-NM_1.1-2;Parent=rna-NM_1.1\n"
        "NC_1\tRefSeq\tCDS\t11\t40\t.\t+\t0\tID=cds-NP_1;Parent=rna-NM_1.1\n"
        "NC_1\tRefSeq\tCDS\t61\t90\t.\t+\t0\tID=cds-NP_1;Parent=rna-NM_1.1\n"
        # mitochondrial style: gene -> CDS directly, no exon
        "NC_2\tRefSeq\tgene\t1\t30\t.\t-\t.\tID=gene-ND1;Dbxref=GeneID:4535;Name=ND1\n"
        "NC_2\tRefSeq\tCDS\t1\t30\t.\t-\t0\tID=cds-YP_1;Parent=gene-ND1\n"
    )
    ann = read_annotation(write(tmp_path, "r.gff", text))
    t = ann.transcripts
    assert list(t["transcript_id"]) == ["NM_1.1", "ND1"]
    assert list(t["gene_id"]) == ["4242", "4535"]
    assert list(t["gene_name"]) == ["AB,C", "ND1"]
    assert list(t["biotype"]) == ["protein_coding", "gene"]
    assert (t["cds_start"][0], t["cds_end"][0]) == (10, 90)
    assert exon_tuples(ann) == [(0, 0, 40), (0, 60, 100), (1, 0, 30)]
    assert ann.counts["exons_from_cds"] == 1


def test_gff3_exon_with_two_parents(tmp_path):
    text = (
        "c\t.\tgene\t1\t100\t.\t+\t.\tID=g\n"
        "c\t.\ttranscript\t1\t100\t.\t+\t.\tID=t1;Parent=g\n"
        "c\t.\ttranscript\t1\t100\t.\t+\t.\tID=t2;Parent=g\n"
        "c\t.\texon\t1\t50\t.\t+\t.\tParent=t1,t2\n"
        "c\t.\texon\t61\t100\t.\t+\t.\tParent=t1\n"
    )
    ann = read_annotation(write(tmp_path, "x.gff3", text))
    assert list(ann.transcripts["transcript_id"]) == ["t1", "t2"]
    assert exon_tuples(ann) == [(0, 0, 50), (0, 60, 100), (1, 0, 50)]


# ---------------------------------------------------------------------------------------------
# bad input: a specific error naming file and line, or documented handling with a count


def check_error(path: Path, match: str, **kw):
    with pytest.raises(ValueError, match=match) as exc:
        read_annotation(path, **kw)
    assert str(path) in str(exc.value)
    return str(exc.value)


def test_truncated_gzip(tmp_path):
    data = gzip.compress(GTF.encode() * 20)
    p = tmp_path / "cut.gtf.gz"
    p.write_bytes(data[: len(data) // 2])
    check_error(p, "truncated gzip")
    p2 = tmp_path / "cut.refflat.gz"
    p2.write_bytes(gzip.compress(as_text(GP).encode())[:40])
    check_error(p2, "truncated gzip")
    p3 = tmp_path / "cut.bed.gz"
    p3.write_bytes(gzip.compress(as_text(BED).encode())[:40])
    check_error(p3, "truncated gzip")


def test_overlapping_exons(tmp_path):
    a = 'gene_id "G"; transcript_id "T";'
    text = gtf_line("1", "exon", 1, 100, "+", a) + gtf_line("1", "exon", 50, 150, "+", a)
    msg = check_error(write(tmp_path, "x.gtf", text), "line 2: transcript T has overlapping exons", strict=True)
    assert "line 1" in msg
    bad = GP[0].replace("100,300,500,", "100,150,500,")
    check_error(write(tmp_path, "x.genePred", as_text([bad])), "line 1: .*overlapping exons", strict=True)


def test_unsorted_exons_are_sorted(tmp_path):
    a = 'gene_id "G"; transcript_id "T";'
    text = gtf_line("1", "exon", 301, 400, "+", a) + gtf_line("1", "exon", 1, 100, "+", a)
    ann = read_annotation(write(tmp_path, "x.gtf", text))
    assert exon_tuples(ann) == [(0, 0, 100), (0, 300, 400)] and ann.counts == {}


def test_transcript_on_two_chromosomes_or_strands(tmp_path):
    a = 'gene_id "G"; transcript_id "T";'
    text = gtf_line("1", "exon", 1, 100, "+", a) + gtf_line("2", "exon", 201, 300, "+", a)
    check_error(write(tmp_path, "c.gtf", text),
                r"line 2: transcript T lies on two chromosomes: 1 \(line 1\) and 2 \(line 2\)", strict=True)
    text = gtf_line("1", "exon", 1, 100, "+", a) + gtf_line("1", "exon", 201, 300, "-", a)
    check_error(write(tmp_path, "s.gtf", text), "line 2: transcript T lies on two strands", strict=True)
    text = (gtf_line("1", "exon", 1, 100, "+", a)
            + gtf_line("1", "exon", 201, 300, "+", 'gene_id "H"; transcript_id "T";'))
    check_error(write(tmp_path, "g.gtf", text), "line 2: transcript T has two gene ids", strict=True)
    gff = ("c\t.\tmRNA\t1\t100\t.\t+\t.\tID=t\nc\t.\texon\t1\t50\t.\t+\t.\tParent=t\n"
           "d\t.\texon\t61\t100\t.\t+\t.\tParent=t\n")
    check_error(write(tmp_path, "x.gff3", gff), "line 3: transcript t lies on two chromosomes", strict=True)


def test_bad_strand(tmp_path):
    text = gtf_line("1", "exon", 1, 100, ".", 'gene_id "G"; transcript_id "T";')
    check_error(write(tmp_path, "x.gtf", text), "line 1: strand '.'", strict=True)


def test_cds_outside_exons(tmp_path):
    a = 'gene_id "G"; transcript_id "T";'
    text = (gtf_line("1", "exon", 1, 100, "+", a) + gtf_line("1", "exon", 201, 300, "+", a)
            + gtf_line("1", "CDS", 51, 150, "+", a, "0"))
    check_error(write(tmp_path, "x.gtf", text), "line 3: CDS.* outside its exons", strict=True)
    text = (gtf_line("1", "exon", 1, 100, "+", a)
            + gtf_line("1", "stop_codon", 101, 103, "+", a, "0"))
    check_error(write(tmp_path, "y.gtf", text), "line 2: .*outside its exons", strict=True)
    bad = GP[0].replace("\t150\t551\t", "\t250\t551\t")  # cdsStart in an intron
    check_error(write(tmp_path, "x.genePred", as_text([bad])), "line 1: .*outside its exons", strict=True)
    bad = BED[0].replace("\t150\t551\t", "\t50\t551\t")  # thickStart before the first exon
    check_error(write(tmp_path, "x.bed", as_text([bad])), "line 1: .*outside its exons", strict=True)


def test_missing_ids(tmp_path):
    text = gtf_line("1", "exon", 1, 100, "+", 'gene_id "G"; transcript_id "T";')
    text += gtf_line("1", "exon", 1, 100, "+", 'gene_id "G";')
    check_error(write(tmp_path, "t.gtf", text), "line 2: exon row without transcript_id")
    text = gtf_line("1", "CDS", 1, 99, "+", 'transcript_id "T";', "0")
    check_error(write(tmp_path, "g.gtf", text), "line 1: CDS row without gene_id")
    text = "c\t.\tmRNA\t1\t100\t.\t+\t.\tID=t\nc\t.\texon\t1\t50\t.\t+\t.\tID=e1\n"
    check_error(write(tmp_path, "p.gff3", text), "line 2: exon feature without Parent")


def test_wrong_column_count(tmp_path):
    good = gtf_line("1", "exon", 1, 100, "+", 'gene_id "G"; transcript_id "T";')
    check_error(write(tmp_path, "a.gtf", good + good.replace("\t.\t+", "\t+")),
                "line 2: wrong column count: 8")
    check_error(write(tmp_path, "b.gtf", good + good.rstrip("\n") + "\textra\n"),
                "line 2: wrong column count: 10")
    check_error(write(tmp_path, "c.gtf", "#c\n" + good.replace("\t", " ")),
                "line 2: wrong column count")
    check_error(write(tmp_path, "a.bed", as_text([BED[0], BED[1].rsplit("\t", 1)[0]])),
                "line 2: wrong column count: 11")
    check_error(write(tmp_path, "a.genePred", as_text([GP[0], GP[1].rsplit("\t", 1)[0]])),
                "line 2: wrong column count")
    check_error(write(tmp_path, "b.genePred", as_text([GP[0].replace("\t3\t", "\t4\t", 1)])),
                "line 1: transcript T1: exonCount 4 but 3 exonStarts")
    check_error(write(tmp_path, "c.genePred", as_text(["T1\tchr1\t+\t1\t2"])), "5 columns")


def test_non_integer_coordinate(tmp_path):
    text = gtf_line("1", "exon", "1x", 100, "+", 'gene_id "G"; transcript_id "T";')
    check_error(write(tmp_path, "x.gtf", text), "line 1: start '1x' is not an integer")
    text = gtf_line("1", "exon", 100, 50, "+", 'gene_id "G"; transcript_id "T";')
    check_error(write(tmp_path, "y.gtf", text), "line 1: bad coordinates", strict=True)


@pytest.mark.parametrize("fmt", ["genepred", "refflat", "bed12"])
def test_duplicate_transcript_ids(tmp_path, fmt):
    lines = {"genepred": GP, "refflat": [f"G\t{x}" for x in GP], "bed12": BED}[fmt]
    lines = [lines[0], lines[1], lines[0]]
    check_error(write(tmp_path, f"x.{fmt}", "#header\n" + as_text(lines)),
                r"line 4: duplicate transcript id T1 \(lines 2 and 4\)")


def test_gff3_parent_missing(tmp_path):
    """An error under ``strict``; by default implicit transcripts/genes (tests/test_hardening.py)."""
    text = ("c\t.\tmRNA\t1\t100\t.\t+\t.\tID=t1\nc\t.\texon\t1\t50\t.\t+\t.\tParent=t1\n"
            "c\t.\tCDS\t1\t30\t.\t+\t0\tParent=t9\n")
    check_error(write(tmp_path, "x.gff3", text), "line 3: CDS feature's Parent 't9' is not defined", strict=True)
    text = "c\t.\tmRNA\t1\t100\t.\t+\t.\tID=t1;Parent=g0\nc\t.\texon\t1\t50\t.\t+\t.\tParent=t1\n"
    check_error(write(tmp_path, "y.gff3", text), "line 1: mRNA t1's Parent 'g0' is not defined", strict=True)


@pytest.mark.parametrize("name,text", [
    ("e.gtf", ""),
    ("c.gtf", "#only a comment\n\n"),
    ("g.gtf", gtf_line("1", "gene", 1, 10, "+", 'gene_id "G";')),
    ("e.gff3", "##gff-version 3\n###\n"),
    ("g.gff3", "##gff-version 3\nc\t.\tgene\t1\t10\t.\t+\t.\tID=g\n"),
    ("e.genePred", "\n"),
    ("e.refFlat.gz", ""),
    ("e.bed", "track name=x\n"),
])
def test_empty_annotation(tmp_path, name, text):
    check_error(write(tmp_path, name, text), "empty annotation")


def test_missing_file(tmp_path):
    check_error(tmp_path / "nope.gtf", "not found")


# ---------------------------------------------------------------------------------------------
# chromosome reconciliation


def test_reconcile_chroms_aliases_and_missing(tmp_path):
    a = 'gene_id "G{0}"; transcript_id "T{0}";'
    text = "".join(gtf_line(c, "exon", 1, 10, "+", a.format(i))
                   for i, c in enumerate(["1", "MT", "chrUn_x", "scaf9", "1", "2"]))
    ann = read_annotation(write(tmp_path, "x.gtf", text))
    out, rep = reconcile_chroms(ann, ["chr1", "chrM", "chr2", "S9"], aliases={"scaf9": "S9"})
    assert list(out.transcripts["chrom"]) == ["chr1", "chrM", "S9", "chr1", "chr2"]
    assert rep["missing"] == {"chrUn_x": 1} and rep["dropped_transcripts"] == 1
    assert rep["renamed"] == {"1": "chr1", "MT": "chrM", "scaf9": "S9", "2": "chr2"}
    assert out.counts["missing_chrom"] == 1
    assert list(out.transcripts["transcript_id"]) == ["T0", "T1", "T3", "T4", "T5"]
    assert exon_tuples(out) == [(i, 0, 10) for i in range(5)]
    # reverse direction and an alias file
    alias = write(tmp_path, "alias.tsv", "# comment\nS9\tscaf9\tNW_9\n")
    text2 = "".join(gtf_line(c, "exon", 1, 10, "+", a.format(i))
                    for i, c in enumerate(["chr1", "chrM", "chrUn_x", "NW_9", "chr1", "chr2"]))
    ann2 = read_annotation(write(tmp_path, "y.gtf", text2))
    out2, rep2 = reconcile_chroms(ann2, ["1", "MT", "2", "scaf9"], aliases=alias)
    assert list(out2.transcripts["chrom"]) == ["1", "MT", "scaf9", "1", "2"]
    assert rep2["missing"] == {"chrUn_x": 1}
    with pytest.raises(ValueError, match="no annotation contig matches the FASTA"):
        reconcile_chroms(ann, ["chrX"])


# ---------------------------------------------------------------------------------------------
# real files

REAL = [
    (DEMO / "human" / "annotation.gtf.gz", 935),
    (DEMO / "mouse" / "annotation.gtf.gz", 54),
    (DEMO / "fly" / "annotation.gtf.gz", 356),
    (DEMO / "fly" / "annotation.refflat.gz", 356),
]
SHARED_REAL = [
    ("human_hg38_chr19_1-2Mb", 654, 126),  # 127 gene ids: UQCR11 has a gene row only
    ("human_hg38_chr1-3_first1Mb", 281, 97),
    ("mouse_mm10_chr9_1-4Mb", 54, 23),
    ("fly_dm6_chr2L2R_1Mb", 356, 167),
]


@pytest.mark.parametrize("path,n", REAL, ids=lambda x: str(x)[-40:])
def test_demo_files(path, n):
    ann = read_annotation(path)
    assert len(ann) == n
    assert ann.counts == ({"gene_without_transcripts": 1} if "human" in str(path) else {})
    t = ann.transcripts
    assert t["transcript_id"].is_unique
    assert (t["end"] > t["start"]).all() and t["cds_phase"].between(0, 2).all()


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
@pytest.mark.parametrize("name,n_tx,n_genes", SHARED_REAL)
def test_shared_gtfs(name, n_tx, n_genes):
    ann = read_annotation(SHARED / name / "annotation.gtf.gz", species=name)
    t = ann.transcripts
    assert len(t) == n_tx and t["gene_id"].nunique() == n_genes
    assert list(ann.exons.groupby("tx").size().index) == list(range(n_tx))
    fasta_names = {"human_hg38_chr19_1-2Mb": ["chr19"], "human_hg38_chr1-3_first1Mb":
                   ["chr1", "chr2", "chr3"], "mouse_mm10_chr9_1-4Mb": ["chr9"],
                   "fly_dm6_chr2L2R_1Mb": ["chr2L", "chr2R"]}[name]
    out, rep = reconcile_chroms(ann, fasta_names)
    assert rep["dropped_transcripts"] == 0 and len(out) == n_tx


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
def test_chr19_gencode_details():
    ann = read_annotation(SHARED / "human_hg38_chr19_1-2Mb" / "annotation.gtf.gz")
    t = ann.transcripts.set_index("transcript_id")
    assert (t["cds_start"] >= 0).sum() == 395
    # OR4F17-201: CDS 110679-111593 + stop codon 111594-111596 (1-based)
    r = t.loc["ENST00000318050.4"]
    assert (r.cds_start, r.cds_end, r.cds_phase, r.gene_name) == (110678, 111596, 0, "OR4F17")
    assert r.tags == "basic,appris_principal_1,CCDS" and r.biotype == "protein_coding"
    # BTBD2 fragment without a transcript row is still read, from its exons
    assert "ENST00000255608.7" in t.index
    # complete CDSs (no *_NF tag) have a length that is a multiple of 3 after the phase
    off = ann.exon_offsets()
    ex = ann.exons
    tt = ann.transcripts
    coding = np.flatnonzero((tt["cds_start"] >= 0).to_numpy() & ~tt["tags"].str.contains("_NF"))
    assert len(coding) > 200
    for i in coding:
        e = ex.iloc[off[i]:off[i + 1]]
        n = (np.minimum(e["end"], tt["cds_end"][i]) - np.maximum(e["start"], tt["cds_start"][i]))
        assert (n.clip(lower=0).sum() - tt["cds_phase"][i]) % 3 == 0


def test_fly_refflat_matches_fly_gtf():
    gtf = read_annotation(DEMO / "fly" / "annotation.gtf.gz")
    rf = read_annotation(DEMO / "fly" / "annotation.refflat.gz")

    def exons_by_id(ann):
        ids = ann.transcripts["transcript_id"].to_numpy()[ann.exons["tx"].to_numpy()]
        return sorted(zip(ids, ann.exons["start"], ann.exons["end"]))

    assert exons_by_id(gtf) == exons_by_id(rf)
    cols = ["transcript_id", "chrom", "strand", "start", "end", "cds_start", "cds_end"]
    a = gtf.transcripts[cols].sort_values("transcript_id").reset_index(drop=True)
    b = rf.transcripts[cols].sort_values("transcript_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert (rf.transcripts["cds_start"] == -1).all()  # cdsStart == cdsEnd: non-coding


def test_without_pyarrow_same_result(tmp_path, monkeypatch):
    """The pure-Python regex fallback (no pyarrow) gives the same tables."""
    from isoclr.store import fields

    files = example_files(tmp_path)
    fast = {k: read_annotation(files[k]) for k in ("gtf", "gff3")}
    monkeypatch.setattr(fields, "pc", None)
    for k, ann in fast.items():
        slow = read_annotation(files[k])
        pd.testing.assert_frame_equal(slow.transcripts, ann.transcripts)
        pd.testing.assert_frame_equal(slow.exons, ann.exons)


@pytest.mark.skipif(not SHARED.is_dir() or shutil.which("gffread") is None,
                    reason="needs ../shared/data and gffread")
def test_gffread_gff3_and_bed_of_chr19_match_the_gtf(tmp_path):
    """gffread's GFF3 (with and without gene rows) and BED of the GENCODE chr19 GTF give the
    same transcripts, exons and CDS (stop codon included) as the GTF itself."""
    gtf = tmp_path / "chr19.gtf"
    gtf.write_bytes(gzip.decompress((SHARED / "human_hg38_chr19_1-2Mb" /
                                     "annotation.gtf.gz").read_bytes()))
    ref = read_annotation(gtf)
    cols = ["transcript_id", "gene_id", "gene_name", "chrom", "strand", "start", "end",
            "cds_start", "cds_end", "cds_phase"]
    for args, name in [([], "a.gff3"), (["--keep-genes"], "b.gff3"), (["--bed"], "c.bed")]:
        out = tmp_path / name
        subprocess.run(["gffread", str(gtf), *args, "-o", str(out)], check=True)
        ann = read_annotation(out)
        assert len(ann) == 654

        def exons(a):
            ids = a.transcripts["transcript_id"].to_numpy()[a.exons["tx"].to_numpy()]
            return sorted(zip(ids, a.exons["start"], a.exons["end"]))

        assert exons(ann) == exons(ref)
        use = cols if name.endswith("gff3") else ["transcript_id", "chrom", "strand", "start", "end"]
        a = ref.transcripts[use].sort_values("transcript_id").reset_index(drop=True)
        b = ann.transcripts[use].sort_values("transcript_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
