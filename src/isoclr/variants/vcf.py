"""Reading VCF records into minimal, checked variants.

Only the first five columns are used (``CHROM POS ID REF ALT``). A record is never dropped
silently: each one becomes a :class:`Variant` with a ``status`` that is ``ok`` or a named reason
it cannot be scored (:data:`RECORD_OUTCOMES`). A line that is not VCF at all (fewer than 8
tab-separated columns, a non-integer or zero POS, an empty REF) is an error naming the file and
line, because a file with such a line is not what the user thinks it is.

REF is checked against the genome and contigs against the FASTA later, in
:func:`isoclr.variants.effects.check_reference`, by random access (:class:`Genome`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from isoclr.core.files import open_text

PathLike = str | os.PathLike[str]

#: why a record is not scored (every one is counted and written to the output table)
RECORD_OUTCOMES = {
    "multiallelic": "ALT lists several alleles; split them first (bcftools norm -m-)",
    "symbolic": "symbolic or breakend ALT (<DEL>, <INS>, N[chr:pos[, *): no sequence to apply",
    "no_alt": "ALT is '.' (a reference call)",
    "long_indel": "REF or ALT longer than the longest indel scored (--max-indel)",
    "missing_contig": "CHROM is not a sequence of the genome FASTA",
    "ref_mismatch": "REF differs from the genome at POS",
}

_ALLELE = re.compile(r"^[ACGTNacgtn]+$")


@dataclass
class Variant:
    """One VCF record. ``start``/``end``/``alt_seq``: the minimal edit after trimming the bases
    REF and ALT share (0-based half-open genomic span replaced by ``alt_seq``; an insertion has
    ``start == end``). ``status`` is ``ok`` or a key of :data:`RECORD_OUTCOMES`."""

    line: int
    chrom: str
    pos: int  # 1-based, as in the VCF
    vid: str
    ref: str
    alt: str
    status: str = "ok"
    start: int = -1
    end: int = -1
    alt_seq: str = ""

    @property
    def name(self) -> str:
        return self.vid if self.vid not in ("", ".") else f"{self.chrom}:{self.pos}:{self.ref}:{self.alt}"

    @property
    def kind(self) -> str:
        if self.status != "ok" and self.start < 0:
            return ""
        n_ref, n_alt = self.end - self.start, len(self.alt_seq)
        if n_ref == n_alt:
            return "SNV" if n_ref == 1 else "MNV"
        return "insertion" if n_ref == 0 else "deletion" if n_alt == 0 else "delins"


def trim(pos: int, ref: str, alt: str) -> tuple[int, int, str]:
    """The minimal edit of a REF -> ALT record at 1-based ``pos``: ``(start, end, alt_seq)``,
    0-based half-open, after removing the shared prefix (the VCF's anchor base of an indel) then
    the shared suffix. Left-anchored like the VCF itself: REF ``ATT`` ALT ``AT`` deletes the
    second T, the base a liftover of ``bcftools consensus`` removes."""
    r, a = ref.upper(), alt.upper()
    j = 0
    while j < min(len(r), len(a)) and r[j] == a[j]:
        j += 1
    r, a = r[j:], a[j:]
    k = 0
    while k < min(len(r), len(a)) and r[len(r) - 1 - k] == a[len(a) - 1 - k]:
        k += 1
    start = pos - 1 + j
    return start, start + len(r) - k, a[: len(a) - k]


def read_vcf(path: PathLike, max_indel: int = 50) -> list[Variant]:
    """Every record of a VCF (plain, gzip or bgzip) as a :class:`Variant`, in file order.

    ``max_indel``: records whose REF or ALT is longer are ``long_indel`` (only SNVs and short
    indels are scored). Raises ``ValueError`` naming the file and line for a malformed line.
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{path}: VCF file not found")
    out: list[Variant] = []
    seen_header = False
    with open_text(p, "VCF") as fh:
        for n, text in enumerate(fh, 1):
            text = text.rstrip("\r\n")
            if not text:
                continue
            if text.startswith("#"):
                seen_header = seen_header or text.startswith("#CHROM")
                continue
            f = text.split("\t")
            if len(f) < 8:
                raise ValueError(f"{path}: line {n}: {len(f)} tab-separated columns, a VCF record has at least 8 "
                                 "(CHROM POS ID REF ALT QUAL FILTER INFO)")
            chrom, pos_s, vid, ref, alt = f[0], f[1], f[2], f[3], f[4]
            if not pos_s.isdigit() or int(pos_s) < 1:
                raise ValueError(f"{path}: line {n}: POS {pos_s!r} is not a positive integer")
            if not chrom:
                raise ValueError(f"{path}: line {n}: empty CHROM")
            if not _ALLELE.match(ref):
                raise ValueError(f"{path}: line {n}: REF {ref!r} is not a nucleotide sequence (A, C, G, T, N)")
            v = Variant(n, chrom, int(pos_s), vid, ref.upper(), alt)
            if alt == "." or alt == "":
                v.status = "no_alt"
            elif "," in alt:
                v.status = "multiallelic"
            elif alt.startswith(("<", ".")) or alt.endswith(".") or "[" in alt or "]" in alt or alt == "*":
                v.status = "symbolic"
            elif not _ALLELE.match(alt):
                raise ValueError(f"{path}: line {n}: ALT {alt!r} is neither a nucleotide sequence nor a symbolic allele")
            elif max(len(ref), len(alt)) > max_indel:
                v.status = "long_indel"
            if v.status == "ok":
                v.alt = alt.upper()
                v.start, v.end, v.alt_seq = trim(v.pos, v.ref, v.alt)
                if v.start == v.end and not v.alt_seq:
                    raise ValueError(f"{path}: line {n}: REF equals ALT ({ref})")
            out.append(v)
    if out and not seen_header:
        raise ValueError(f"{path}: no '#CHROM' header line before the records: not a VCF file")
    return out
