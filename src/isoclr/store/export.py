"""Write a store's transcripts as FASTA, CDS FASTA or BED12 (for checks and other tools).

``isoclr export STORE.h5 --fasta OUT.fa [--cds-fasta OUT.fa] [--bed12 OUT.bed] [--width 70]``

* FASTA: ``>TRANSCRIPT_ID`` (exactly as in the annotation), the mature sequence in upper case
  (``N`` for N and every other IUPAC code), wrapped at 70 columns like ``gffread -w`` so the two
  files can be compared byte for byte when they hold the same transcripts (``--width 0``: one
  line per sequence).
* CDS FASTA: coding transcripts only, ``seq[cds_start + cds_phase:cds_end]`` in transcript
  orientation: the CDS from its first complete codon (the ``cds_phase`` bases of a
  5'-incomplete CDS are skipped, so the sequence translates in frame) through the stop codon.
  This is exactly what ``gffread -x`` writes for a GTF whose ``stop_codon`` rows follow the
  CDS (GENCODE): gffread adds the stop codon to the CDS and trims the phase.
* BED12: genomic exons (``blockStarts`` ascending, as BED requires), ``thickStart``/``thickEnd``
  the genomic CDS span (stop codon included); non-coding: ``thickStart = thickEnd = chromEnd``
  (the UCSC genePred convention ``cdsStart = cdsEnd = txEnd``).

Sequences are decoded in blocks of transcripts with NumPy (no per-nucleotide Python).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Iterator
from typing import IO

import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.core.files import atomic_path
from isoclr.store.format import IsoformStore, _checked_read

log = logging.getLogger(__name__)

FASTA_WIDTH = 70  # gffread's line width
_DECODE = np.frombuffer(b"ACGTNN", dtype=np.uint8)
_NL = ord("\n")
BLOCK_NT = 1 << 24


def _wrap(seq: npt.NDArray[np.uint8], width: int) -> bytes:
    """ASCII letters -> bytes with a newline after every ``width`` letters and at the end."""
    n = len(seq)
    if width <= 0 or n <= width:
        return seq.tobytes() + b"\n"
    n_lines = -(-n // width)
    out = np.full(n + n_lines, _NL, dtype=np.uint8)
    idx = np.arange(n)
    out[idx + idx // width] = seq
    return out.tobytes()


def _blocks(store: IsoformStore, rows: npt.NDArray[np.int64]) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8], int]]:
    """Yield (rows, decoded letters of the span, offset of the span) in blocks of ~BLOCK_NT."""
    off = store.index["seq_offset"]
    seq = store._file()["seq"]
    i = 0
    while i < len(rows):
        j = i + 1
        start = off[rows[i]]
        while j < len(rows) and off[rows[j] + 1] - start <= BLOCK_NT and rows[j] == rows[j - 1] + 1:
            j += 1
        block = rows[i:j]
        span = _DECODE[_checked_read(seq[start : off[block[-1] + 1]], store.path, None)]
        yield block, span, int(start)
        i = j


def write_fasta(store: IsoformStore, fh: IO[bytes], width: int = FASTA_WIDTH, cds: bool = False) -> int:
    """Write every transcript (or every CDS when ``cds``) as FASTA; returns the record count."""
    table = store.table()
    ids = table["transcript_id"].to_numpy()
    off = store.index["seq_offset"]
    cs, ce = store.index["cds_start"] + store.index["cds_phase"], store.index["cds_end"]
    rows = np.arange(len(store), dtype=np.int64)
    if cds:
        rows = rows[cs >= 0]
    n = 0
    for block, span, base in _blocks(store, rows):
        parts = []
        for r in block:
            a, b = (off[r] + cs[r], off[r] + ce[r]) if cds else (off[r], off[r + 1])
            parts.append(b">" + ids[r].encode() + b"\n")
            parts.append(_wrap(span[a - base : b - base], width))
        fh.write(b"".join(parts))
        n += len(block)
    return n


def bed12_table(store: IsoformStore) -> pd.DataFrame:
    """BED12 rows (one per transcript, store order) from the store's genomic exons."""
    t = store.table()
    ex = store.exons()
    n = len(t)
    eo = store.index["exon_offset"]
    # exons ascending by genomic start inside each transcript
    asc = ex.sort_values(["tx", "start"], kind="stable")
    starts = asc["start"].to_numpy()
    sizes = (asc["end"] - asc["start"]).to_numpy()
    tx_start = np.repeat(t["start"].to_numpy(), np.diff(eo))
    rel = starts - tx_start
    # genomic CDS span from transcript coordinates
    tx_end_c = ex["tx_end"].to_numpy()
    tx_beg_c = tx_end_c - (ex["end"] - ex["start"]).to_numpy()
    minus = (t["strand"].to_numpy() == "-")
    thick_s = t["end"].to_numpy().copy()
    thick_e = t["end"].to_numpy().copy()
    coding = np.flatnonzero(t["cds_start"].to_numpy() >= 0)
    if len(coding):
        # exon ends in the concatenated coordinate of /seq rise strictly: one searchsorted
        g_end = store.index["seq_offset"][ex["tx"].to_numpy()] + tx_end_c
        ex_s, ex_e = ex["start"].to_numpy(), ex["end"].to_numpy()
        seq_off = store.index["seq_offset"]

        def genomic(rows: npt.NDArray[np.int64], pos: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
            e = np.searchsorted(g_end, seq_off[rows] + pos, side="right")
            within = pos - tx_beg_c[e]
            return np.where(minus[rows], ex_e[e] - 1 - within, ex_s[e] + within)

        g1 = genomic(coding, t["cds_start"].to_numpy()[coding])
        g2 = genomic(coding, t["cds_end"].to_numpy()[coding] - 1)
        thick_s[coding] = np.minimum(g1, g2)
        thick_e[coding] = np.maximum(g1, g2) + 1

    def joined(values: npt.NDArray[np.int64]) -> list[str]:
        s = values.astype(str)
        return [",".join(s[eo[i] : eo[i + 1]]) + "," for i in range(n)]

    return pd.DataFrame(
        {
            "chrom": t["chrom"],
            "chromStart": t["start"],
            "chromEnd": t["end"],
            "name": t["transcript_id"],
            "score": 0,
            "strand": t["strand"],
            "thickStart": thick_s,
            "thickEnd": thick_e,
            "itemRgb": "0",
            "blockCount": t["n_exons"],
            "blockSizes": joined(sizes),
            "blockStarts": joined(rel),
        }
    )


def export_store(
    store: str | os.PathLike[str] | IsoformStore,
    fasta: str | os.PathLike[str] | None = None,
    cds_fasta: str | os.PathLike[str] | None = None,
    bed12: str | os.PathLike[str] | None = None,
    width: int = FASTA_WIDTH,
) -> dict[str, int]:
    """Write the requested files atomically; returns records written per file kind."""
    st = store if isinstance(store, IsoformStore) else IsoformStore(store)
    done: dict[str, int] = {}
    # all or none: every output is written to its temp file first; the renames come together
    # at the end, and a failure in any of them removes every temp file
    with contextlib.ExitStack() as stack:
        if fasta:
            tmp = stack.enter_context(atomic_path(fasta))
            with open(tmp, "wb") as fh:
                done["fasta"] = write_fasta(st, fh, width)
        if cds_fasta:
            tmp = stack.enter_context(atomic_path(cds_fasta))
            with open(tmp, "wb") as fh:
                done["cds_fasta"] = write_fasta(st, fh, width, cds=True)
        if bed12:
            tmp = stack.enter_context(atomic_path(bed12))
            bed = bed12_table(st)
            bed.to_csv(tmp, sep="\t", header=False, index=False)
            done["bed12"] = len(bed)
    return done


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="species store (.h5) written by `isoclr build`")
    parser.add_argument("--fasta", help="mature transcript sequences")
    parser.add_argument("--cds-fasta", help="CDS sequences (stop codon included), coding transcripts only")
    parser.add_argument("--bed12", help="BED12 of genomic exons with thickStart/thickEnd = CDS")
    parser.add_argument("--width", type=int, default=FASTA_WIDTH,
                        help=f"FASTA line width (default {FASTA_WIDTH}, as gffread; 0: one line)")


def run(args: argparse.Namespace) -> int:
    if not (args.fasta or args.cds_fasta or args.bed12):
        raise ValueError("nothing to export: give --fasta, --cds-fasta and/or --bed12")
    done = export_store(args.store, args.fasta, args.cds_fasta, args.bed12, args.width)
    log.info("%s: wrote %s", args.store, ", ".join(f"{k}: {v}" for k, v in done.items()))
    return 0
