"""`isoclr build --transcripts FA` with no annotation: a GENCODE pc_transcripts.fa on its own.

The oracle is the file itself: on the real mouse set (4,860 GENCODE records, the project's copy in
resources/human_mouse_mrna/), every record's exported sequence equals the FASTA's and its exported
CDS is the header's ``CDS:c-d`` range of it; ids, symbols and counts are the README's. Each kind
of malformed header stops the build with an error naming the file, line and record.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest

from isoclr.cli import main as cli_main
from isoclr.store.export import write_fasta
from isoclr.store.format import IsoformStore
from isoclr.store.gencode import build_store_from_gencode, parse_header

ROOT = Path(__file__).resolve().parents[1]
MOUSE = ROOT / "resources" / "human_mouse_mrna" / "mouse_transcripts.fa.gz"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "transcriptomes" / "mouse_gencode_pc"


def read_records(path: Path) -> list[tuple[str, str]]:
    with gzip.open(path, "rt") as fh:
        lines = fh.read().split("\n")
    return [(lines[i][1:], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]


def fasta_dict(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for block in data.decode().split(">")[1:]:
        name, _, seq = block.partition("\n")
        out[name] = seq.replace("\n", "")
    return out


@pytest.mark.skipif(not SHARED.exists(), reason="curated data collection not available")
def test_mouse_copy_is_the_curated_set() -> None:
    assert MOUSE.read_bytes() == (SHARED / "transcripts.fa.gz").read_bytes()


def test_mouse_gencode_store_equals_the_headers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, stats_path = tmp_path / "mouse.h5", tmp_path / "mouse.stats.tsv"
    assert cli_main(["build", "--transcripts", str(MOUSE), "--species", "mouse", "--out", str(out),
                     "--stats", str(stats_path), "--taxid", "10090"]) == 0
    assert "4860 transcripts, 4158 genes, 6478066 nt" in capsys.readouterr().out
    recs = read_records(MOUSE)
    assert len(recs) == 4860
    store = IsoformStore(out)
    table = store.table()
    buf = io.BytesIO()
    write_fasta(store, buf, width=0)
    exported = fasta_dict(buf.getvalue())
    buf = io.BytesIO()
    write_fasta(store, buf, width=0, cds=True)
    exported_cds = fasta_dict(buf.getvalue())
    assert list(table["transcript_id"]) == [h.split("|")[0] for h, _ in recs]
    for (header, seq), row in zip(recs, table.itertuples(), strict=True):
        f = header.split("|")
        assert (row.transcript_id, row.gene_id, row.gene_name) == (f[0], f[1], f[5])
        assert exported[row.transcript_id] == seq
        cds = next(x for x in f if x.startswith("CDS:"))
        a, b = (int(v) for v in cds[4:].split("-"))
        assert (row.cds_start, row.cds_end) == (a - 1, b)
        assert exported_cds[row.transcript_id] == seq[a - 1 : b]
        assert row.n_exons == 1 and row.length == len(seq) == int(f[6])
    # no exon structure: the splice track marks no splice site, only each 3' end (as in every store)
    for i in (0, 1234, 4859):
        tracks = store.tracks(i)
        assert np.flatnonzero(tracks[5]).tolist() == [tracks.shape[1] - 1]
        assert tracks[4].sum() == len(range(int(table.cds_start[i]), int(table.cds_end[i]), 3))
    assert store.attrs["splice_track"] == "empty"
    stats = stats_path.read_text()
    for line in ("summary\tgenes\t4158", "summary\tgenes_with_isoforms\t583", "summary\texon_structure\tnone",
                 "summary\tsplice_track\tempty", "summary\twith_utr5\t3836", "summary\twith_utr3\t3435"):
        assert line in stats, line


GOOD = "ENSMUST1.1|ENSMUSG1.1|-|-|Abc-201|Abc|12|UTR5:1-2|CDS:3-8|UTR3:9-12|"
SEQ = "AAATGAAATAAG"


def write(tmp_path: Path, records: list[tuple[str, str]]) -> Path:
    path = tmp_path / "pc.fa"
    path.write_text("".join(f">{h}\n{s}\n" for h, s in records))
    return path


def test_parse_header() -> None:
    p = parse_header(GOOD)
    assert (p["transcript_id"], p["gene_id"], p["gene_name"], p["length"]) == ("ENSMUST1.1", "ENSMUSG1.1", "Abc", 12)
    assert (p["UTR5"], p["CDS"], p["UTR3"]) == ((1, 2), (3, 8), (9, 12))
    assert parse_header("T|G|-|-|n|S|6|CDS:1-6|")["UTR5"] is None


@pytest.mark.parametrize(("header", "seq", "message"), [
    ("ENSMUST2.1 some description", SEQ, "does not end with '|'"),
    ("ENSMUST2.1|ENSMUSG2.1|Abc|12|CDS:1-12|", SEQ, r"has 5 '\|'-separated fields"),
    ("ENSMUST2.1|ENSMUSG2.1|-|-|Abc-201|Abc|twelve|CDS:1-12|", SEQ, "length field .* 'twelve' is not"),
    ("ENSMUST2.1|ENSMUSG2.1|-|-|Abc-201|Abc|12|UTR5:1-2|", SEQ, "has no CDS"),
    ("ENSMUST2.1|ENSMUSG2.1|-|-|Abc-201|Abc|12|CDS:3-12|UTR5:1-2|", SEQ, "out of order"),
    ("ENSMUST2.1|ENSMUSG2.1|-|-|Abc-201|Abc|12|CDS=3-12|", SEQ, "is not a segment"),
    ("ENSMUST2.1|ENSMUSG2.1|-|-|Abc-201|Abc|12|CDS:9-3|", SEQ, "does not run from"),
    ("ENSMUST2.1|ENSMUSG2.1|-|-|Abc-201|Abc|14|UTR5:1-2|CDS:3-14|", SEQ + "AA"[:0], "length field says 14 nt, the sequence has 12"),
    ("ENSMUST2.1|ENSMUSG2.1|-|-|Abc-201|Abc|12|UTR5:1-2|CDS:3-14|", SEQ, "CDS 3-14 runs past the end of the 12-nt"),
    ("ENSMUST2.1|ENSMUSG2.1|-|-|Abc-201|Abc|12|UTR5:1-3|CDS:3-8|UTR3:9-12|", SEQ, "UTR5 1-3 and CDS 3-8 do not tile"),
    ("ENSMUST2.1|ENSMUSG2.1|-|-|Abc-201|Abc|12|UTR5:1-2|CDS:3-8|UTR3:9-11|", SEQ, "UTR3 9-11 do not tile"),
    ("ENSMUST2.1|ENSMUSG2.1|-|-|Abc-201|Abc|12|CDS:3-12|", SEQ, "no UTR5, but its CDS 3-12 does not start"),
    ("ENSMUST1.1|ENSMUSG1.1|-|-|Abc-202|Abc|12|UTR5:1-2|CDS:3-8|UTR3:9-12|", SEQ, "transcript id ENSMUST1.1 is listed twice"),
])
def test_malformed_headers_name_the_record(tmp_path: Path, header: str, seq: str, message: str) -> None:
    fa = write(tmp_path, [(GOOD, SEQ), (header, seq)])
    with pytest.raises(ValueError, match=rf"pc.fa line 3: record '{header.replace('|', '.')}'.*{message}"):
        build_store_from_gencode(fa, "mouse", tmp_path / "s.h5")
    assert not (tmp_path / "s.h5").exists()


def test_length_mismatch_drop_is_counted(tmp_path: Path) -> None:
    bad = "ENSMUST2.1|ENSMUSG2.1|-|-|Abc-201|Abc|13|UTR5:1-2|CDS:3-8|UTR3:9-13|"
    fa = write(tmp_path, [(GOOD, SEQ), (bad, SEQ)])
    stats = build_store_from_gencode(fa, "mouse", tmp_path / "s.h5", length_mismatch="drop")
    assert stats["dropped"]["length_mismatch"] == 1 and stats["summary"]["transcripts"] == 1
    assert IsoformStore(tmp_path / "s.h5").table()["transcript_id"].tolist() == ["ENSMUST1.1"]


def test_filters_without_contigs_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fa = write(tmp_path, [(GOOD, SEQ)])
    with pytest.raises(ValueError, match="no contigs or biotypes"):
        build_store_from_gencode(fa, "mouse", tmp_path / "s.h5", biotypes=["protein_coding"])
    assert cli_main(["build", "--transcripts", str(fa), "--species", "m", "--out", str(tmp_path / "s.h5"),
                     "--gene-map", str(fa)]) != 0
    assert "--gene-map: only with --annotation" in capsys.readouterr().err
    assert cli_main(["build", "--genome", str(fa), "--species", "m", "--out", str(tmp_path / "s.h5")]) != 0
    assert "--genome needs --annotation" in capsys.readouterr().err
