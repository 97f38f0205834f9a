"""The GENCODE header source of the store builder: a ``pc_transcripts.fa`` on its own.

``isoclr build --transcripts gencode.vM32.pc_transcripts.fa.gz --species mouse --out mouse.h5``

GENCODE publishes, for human and mouse, the protein-coding transcripts' mature sequences with
everything a store needs in each header::

    >ENSMUST00000070533.5|ENSMUSG00000051951.6|OTTMUSG...|OTTMUST...|Xkr4-201|Xkr4|3634|UTR5:1-150|CDS:151-2094|UTR3:2095-3634|

fields: transcript id, gene id, Havana gene and transcript ids (``-`` when absent), transcript
name, gene symbol, length, then the segments present among ``UTR5:a-b``, ``CDS:c-d`` and
``UTR3:e-f`` (1-based, inclusive; the CDS includes the stop codon), and a final ``|``. So no
annotation file is needed: the store's transcript, gene and symbol come from fields 1, 2 and 6,
and its CDS from the ``CDS:`` range. There is **no exon structure**: each transcript is stored as
one exon spanning the whole sequence (contig ``""``, strand ``+``, exon coordinates = transcript
coordinates), so the splice-site track has no splice site (only the 3' end, marked in every
store) and the store says so: attribute ``splice_track = "empty"``, stats
``summary.exon_structure = none``. The CDS phase is 0 (the header gives none; GENCODE's
start-not-found fragments may then start off frame).

Checks, each naming the FASTA file, line and record:

* a header not of this form (too few fields, no final ``|``, a length that is not a number, a
  segment that is not ``UTR5/CDS/UTR3:a-b``, no ``CDS``, segments out of order or repeated,
  a range with end before start) is an error;
* a length field that disagrees with the sequence is an error, or with
  ``length_mismatch="drop"`` a counted drop (``length_mismatch``);
* a CDS or UTR outside the sequence, or segments that do not tile it (the 5' UTR must end just
  before the CDS and the 3' UTR start just after it and end at the last base) is an error;
* a transcript id listed twice is an error.

The maximum length filter applies as for the other sources (``too_long``); there are no contigs
or biotypes in the header, so chromosome and biotype filters are refused.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.store.assemble import DEFAULT_MAX_LENGTH, Layout, SourceInput, build_from_source
from isoclr.store.transcriptome import gather_records, read_transcript_fasta

log = logging.getLogger(__name__)

DROP_REASONS = ("length_mismatch", "too_long")
SEGMENTS = ("UTR5", "CDS", "UTR3")
_SEGMENT = re.compile(r"(UTR5|CDS|UTR3):(\d+)-(\d+)")
#: header fields before the segments: transcript, gene, Havana gene, Havana transcript,
#: transcript name, gene symbol, length
N_ID_FIELDS = 7
FORMAT = "gencode_pc_transcripts"


class HeaderError(ValueError):
    """A FASTA header that is not a GENCODE ``pc_transcripts`` header."""


def parse_header(header: str) -> dict[str, Any]:
    """One ``pc_transcripts.fa`` header (without ``>``) -> ids, symbol, length and the 1-based
    inclusive ``UTR5``/``CDS``/``UTR3`` ranges (absent segments: None). Raises
    :class:`HeaderError` saying what is wrong."""
    if not header.endswith("|"):
        raise HeaderError("does not end with '|' (GENCODE pc_transcripts headers do)")
    fields = header[:-1].split("|")
    if len(fields) < N_ID_FIELDS + 1:
        raise HeaderError(f"has {len(fields)} '|'-separated fields; a GENCODE pc_transcripts header "
                          "has transcript|gene|havana gene|havana transcript|name|symbol|length|"
                          "[UTR5:a-b|]CDS:c-d|[UTR3:e-f|]")
    tid, gid, _, _, _, symbol, length = fields[:N_ID_FIELDS]
    if not tid or not gid:
        raise HeaderError("has an empty transcript or gene id (fields 1 and 2)")
    if not length.isdigit() or int(length) == 0:
        raise HeaderError(f"length field (7) {length!r} is not a positive whole number")
    out: dict[str, Any] = {"transcript_id": tid, "gene_id": gid, "gene_name": symbol,
                           "length": int(length), "UTR5": None, "CDS": None, "UTR3": None}
    last = -1
    for seg in fields[N_ID_FIELDS:]:
        m = _SEGMENT.fullmatch(seg)
        if m is None:
            raise HeaderError(f"field {seg!r} is not a segment UTR5:a-b, CDS:c-d or UTR3:e-f")
        kind, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        order = SEGMENTS.index(kind)
        if order <= last:
            raise HeaderError(f"segment {seg!r} is repeated or out of order (UTR5, CDS, UTR3)")
        if a < 1 or b < a:
            raise HeaderError(f"segment {seg!r} does not run from a >= 1 to b >= a")
        last = order
        out[kind] = (a, b)
    if out["CDS"] is None:
        raise HeaderError("has no CDS:c-d field")
    return out


class GencodeSource:
    """A GENCODE ``pc_transcripts.fa`` (see the module docstring)."""

    drop_reasons = DROP_REASONS
    threads = 1

    def __init__(self, transcripts: str | os.PathLike[str], length_mismatch: str = "error") -> None:
        if length_mismatch not in ("error", "drop"):
            raise ValueError(f"length_mismatch must be 'error' or 'drop', not {length_mismatch!r}")
        self.fa_path = Path(transcripts)
        if not self.fa_path.exists():
            raise FileNotFoundError(f"transcript FASTA not found: {self.fa_path}")
        self.length_mismatch = length_mismatch

    def _where(self, i: int) -> str:
        return f"{self.fa_path} line {self.fasta.line(i)}: record {self.fasta.headers[i]!r}"

    def read(self, pool: ThreadPoolExecutor, provenance: Mapping[str, Any], species: str) -> SourceInput:
        self.fasta = fasta = read_transcript_fasta(self.fa_path, not provenance.get("transcripts_sha256"))
        if not fasta.names:
            raise ValueError(f"{self.fa_path}: no FASTA records")
        rows = []
        for i, header in enumerate(fasta.headers):
            try:
                rows.append(parse_header(header))
            except HeaderError as exc:
                raise ValueError(f"{self._where(i)}: not a GENCODE pc_transcripts header: it {exc}") from None
        n = len(rows)
        tid = pd.Series([r["transcript_id"] for r in rows], dtype=object)
        dup = tid.duplicated()
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise ValueError(f"{self._where(i)}: transcript id {tid[i]} is listed twice")
        self.header_length = np.fromiter((r["length"] for r in rows), np.int64, n)

        def col(kind: str, end: int) -> npt.NDArray[np.int64]:
            return np.fromiter(((r[kind][end] if r[kind] else -1) for r in rows), np.int64, n)

        self.ranges = {k: (col(k, 0), col(k, 1)) for k in SEGMENTS}  # 1-based inclusive, -1: absent
        cds_a, cds_b = self.ranges["CDS"]
        lengths = fasta.lengths
        tx = pd.DataFrame({
            "transcript_id": tid.to_numpy(),
            "gene_id": [r["gene_id"] for r in rows],
            "gene_name": [r["gene_name"] for r in rows],
            "chrom": "",
            "strand": "+",
            "cds_start": cds_a - 1,  # the exon is the transcript: transcript = "genomic" coordinates
            "cds_end": cds_b,
            "cds_phase": 0,
            "biotype": "",
            "tags": "",
        })
        ex = pd.DataFrame({"tx": np.arange(n, dtype=np.int64), "start": np.zeros(n, np.int64),
                           "end": lengths.astype(np.int64)})
        return SourceInput(tx, ex, self.fa_path, FORMAT, None, n)

    def check(self, inp: SourceInput, tx_len: npt.NDArray[np.int64], dropped: Counter[str]) -> npt.NDArray[np.bool_]:
        """Length field = sequence length (error or counted drop); segments inside the sequence
        and tiling it (error)."""
        lengths = self.fasta.lengths
        keep = np.ones(len(lengths), dtype=bool)
        bad = np.flatnonzero(self.header_length != lengths)
        if len(bad):
            b = int(bad[0])
            msg = (f"{self._where(b)}: the header's length field says {int(self.header_length[b])} nt, "
                   f"the sequence has {int(lengths[b])} nt; {len(bad)} record(s) differ")
            if self.length_mismatch == "error":
                raise ValueError(msg)
            log.warning("%s; dropped", msg)
            dropped["length_mismatch"] = len(bad)
            keep[bad] = False
        (u5a, u5b), (ca, cb), (u3a, u3b) = (self.ranges[k] for k in SEGMENTS)
        checks = (
            (cb > lengths, "its CDS {c} runs past the end of the {n}-nt sequence"),
            ((u5a >= 0) & ((u5a != 1) | (u5b != ca - 1)), "its UTR5 {u5} and CDS {c} do not tile the sequence's 5' end"),
            ((u3a >= 0) & ((u3a != cb + 1) | (u3b != lengths)), "its CDS {c} and UTR3 {u3} do not tile the sequence's 3' end ({n} nt)"),
            ((u5a < 0) & (ca != 1), "it has no UTR5, but its CDS {c} does not start at base 1"),
            ((u3a < 0) & (cb != lengths), "it has no UTR3, but its CDS {c} does not end at the last base ({n})"),
        )
        for bad_mask, what in checks:
            hit = np.flatnonzero(bad_mask & keep)
            if len(hit):
                b = int(hit[0])

                def rng(a: npt.NDArray[np.int64], z: npt.NDArray[np.int64]) -> str:
                    return f"{int(a[b])}-{int(z[b])}"

                raise ValueError(f"{self._where(b)}: " + what.format(
                    c=rng(ca, cb), u5=rng(u5a, u5b), u3=rng(u3a, u3b), n=int(lengths[b]))
                    + f" ({len(hit)} record(s))")
        return keep

    def attrs(self) -> dict[str, Any]:
        return {"source": "transcripts", "transcripts_sha256": self.fasta.sha256 or "",
                "splice_track": "empty"}

    def extract(self, lay: Layout) -> npt.NDArray[np.uint8]:
        self.used = lay.kept
        seq = gather_records(self.fasta, lay.kept)
        self.fasta.codes.clear()
        return seq

    def finish_stats(self, stats: dict[str, dict[str, Any]], lay: Layout) -> None:
        fasta, used = self.fasta, self.used
        n_any = fasta.n_count[used] + fasta.n_ambiguous[used]
        del stats["dropped_contig"]
        stats["annotation"] = {}
        stats["summary"].update({
            "fasta_records": len(fasta.names),
            "transcripts_with_n": int((n_any > 0).sum()),
            "transcript_n_nt": int(n_any.sum()),
            "transcript_iupac_nt": int(fasta.n_ambiguous[used].sum()),
            "exon_structure": "none",
            "splice_track": "empty",
            "with_utr5": int((self.ranges["UTR5"][0][used] >= 0).sum()),
            "with_utr3": int((self.ranges["UTR3"][0][used] >= 0).sum()),
        })

    def close(self) -> None:
        pass


def build_store_from_gencode(
    transcripts: str | os.PathLike[str],
    species: str,
    out: str | os.PathLike[str],
    max_length: int | None = None,
    chromosomes_include: Iterable[str] = (),
    chromosomes_exclude: Iterable[str] = (),
    biotypes: Iterable[str] = (),
    length_mismatch: str = "error",
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Build ``out`` from a GENCODE ``pc_transcripts.fa`` alone; return the stats sections.

    ``max_length``: default :data:`isoclr.store.assemble.DEFAULT_MAX_LENGTH` (0: no limit).
    ``length_mismatch``: ``error`` (default) or ``drop`` (counted). The header has no contigs
    or biotypes, so ``chromosomes_*`` and ``biotypes`` must be empty.
    """
    given = [name for name, v in (("chromosomes_include", chromosomes_include),
                                  ("chromosomes_exclude", chromosomes_exclude),
                                  ("biotypes", biotypes)) if list(v or ())]
    if given:
        raise ValueError(f"{transcripts}: {', '.join(given)}: a GENCODE pc_transcripts FASTA has no "
                         "contigs or biotypes to filter on (leave these filters empty)")
    source = GencodeSource(transcripts, length_mismatch)
    return build_from_source(source, species, out, DEFAULT_MAX_LENGTH if max_length is None else max_length,
                             (), (), (), provenance)
