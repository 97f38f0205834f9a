"""Variants onto transcripts: where each falls, its coding change, the alternative mature RNA.

:func:`map_variants` intersects the variants with the transcripts' genomic spans (bedtools, via
pybedtools), fetches each touched transcript's exons by random access from an indexed FASTA
(:class:`isoclr.variants.genome.Genome`, pyfaidx: plain or bgzip, the ``.fai`` made when absent) and gives one
:class:`Effect` per variant x transcript:

* ``region``: ``5'UTR``, ``CDS``, ``3'UTR``, ``exon`` (a transcript without CDS), ``splice_site``
  (the first or last 2 bases of an intron), ``splice_region`` (intron bases 3-8 from an exon),
  ``intron``, ``exon_boundary`` (the edit spans an exon end: not scored, the splicing outcome is
  unknown) or ``outside`` (touches no transcript, or an insertion just outside its ends).
* exonic edits are applied to the mature transcript, strand-aware (reverse-complemented on
  ``-``) and in transcript coordinates, so an edit next to a junction lands between the right
  exons. The alternative CDS keeps the annotated start and the stop moves with the edit (the
  coding track marks the annotated frame); exon ends move with it too (the splice track).
* CDS edits give the codon number, the codons and amino acids before and after, and a
  consequence: ``synonymous``, ``missense``, ``stop_gained``, ``stop_lost``, ``start_lost``,
  ``frameshift``, ``inframe_insertion``, ``inframe_deletion``, ``inframe_delins`` or
  ``cds_boundary`` (the edit spans the CDS start or end).

The contract (tests/test_variants.py): every alternative transcript equals what ``gffread -w``
extracts from the genome edited by ``bcftools consensus``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from isoclr.store.annotation import Annotation, read_annotation, reconcile_chroms
from isoclr.variants.genome import Genome, contig_name
from isoclr.variants.vcf import Variant

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

SPLICE_SITE = 2  # intron bases next to an exon: the donor / acceptor dinucleotides
SPLICE_REGION_INTRON = 8  # intron bases counted as the splice region (as VEP)
SPLICE_REGION_EXON = 3  # exon bases next to a junction flagged ``near_splice``

_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_BASES = "TCAG"
_AMINO = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
CODON_TABLE = {a + b + c: _AMINO[16 * i + 4 * j + k]
               for i, a in enumerate(_BASES) for j, b in enumerate(_BASES) for k, c in enumerate(_BASES)}


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def translate(seq: str) -> str:
    """Amino acids of the whole codons of ``seq`` (``X`` for a codon with N)."""
    return "".join(CODON_TABLE.get(seq[i:i + 3], "X") for i in range(0, len(seq) - len(seq) % 3, 3))


def check_reference(variants: Sequence[Variant], genome: Genome) -> None:
    """Set ``missing_contig`` / ``ref_mismatch`` on the records not consistent with the genome
    (REF compared letter by letter at POS; CHROM matched as is or with ``chr`` toggled)."""
    names = set(genome.names)
    for v in variants:
        if v.status != "ok":
            continue
        c = contig_name(v.chrom, names)
        if c is None:
            v.status = "missing_contig"
            continue
        v.chrom = c
        if genome.fetch(c, v.pos - 1, v.pos - 1 + len(v.ref)) != v.ref:
            v.status = "ref_mismatch"


# ---------------------------------------------------------------------------------------------
# transcripts
# ---------------------------------------------------------------------------------------------
@dataclass
class Transcript:
    """One annotated transcript: exons genomic, ascending, 0-based half-open; CDS genomic."""

    tid: str
    gene_id: str
    gene_name: str
    chrom: str
    strand: str
    exons: np.ndarray  # (k, 2) int64
    cds_start: int = -1
    cds_end: int = -1
    cds_phase: int = 0
    _seq: str | None = field(default=None, repr=False)

    @property
    def minus(self) -> bool:
        return self.strand == "-"

    def lengths(self) -> np.ndarray:
        return self.exons[:, 1] - self.exons[:, 0]

    def tx_exon_starts(self) -> np.ndarray:
        """Start of each exon (genomic order) in transcript coordinates."""
        ln = self.lengths()
        order = ln[::-1] if self.minus else ln
        starts = np.concatenate([[0], np.cumsum(order)[:-1]])
        return starts[::-1] if self.minus else starts

    def exon_ends(self) -> np.ndarray:
        """Exclusive end of every exon in transcript order (transcript coordinates)."""
        ln = self.lengths()
        return np.cumsum(ln[::-1] if self.minus else ln)

    def to_tx(self, k: int, start: int, end: int) -> tuple[int, int]:
        """Genomic [start, end) inside exon ``k`` (genomic order) -> transcript [t0, t1)."""
        a, b = int(self.exons[k, 0]), int(self.exons[k, 1])
        base = int(self.tx_exon_starts()[k])
        return (base + b - end, base + b - start) if self.minus else (base + start - a, base + end - a)

    def tx_cds(self) -> tuple[int, int] | None:
        """CDS in transcript coordinates (0-based half-open, stop codon included), or None."""
        if self.cds_start < 0:
            return None
        k0 = int(np.flatnonzero((self.exons[:, 0] <= self.cds_start) & (self.cds_start < self.exons[:, 1]))[0])
        k1 = int(np.flatnonzero((self.exons[:, 0] < self.cds_end) & (self.cds_end <= self.exons[:, 1]))[0])
        lo = self.to_tx(k0, self.cds_start, self.cds_start + 1)
        hi = self.to_tx(k1, self.cds_end - 1, self.cds_end)
        return (hi[0], lo[1]) if self.minus else (lo[0], hi[1])

    def sequence(self, genome: Genome) -> str:
        """The mature transcript (exons joined, reverse-complemented on ``-``), cached."""
        if self._seq is None:
            lo, hi = int(self.exons[0, 0]), int(self.exons[-1, 1])
            span = genome.fetch(self.chrom, lo, hi)
            seq = "".join(span[a - lo:b - lo] for a, b in self.exons.tolist())
            self._seq = reverse_complement(seq) if self.minus else seq
        return self._seq


class Transcripts(Sequence[Transcript]):
    """An annotation's transcripts as a sequence of :class:`Transcript`, each built when first
    used (a genome-wide annotation has hundreds of thousands; a VCF touches few). ``bed()``:
    their genomic spans as BED lines for the intersection."""

    def __init__(self, ann: Annotation) -> None:
        tx, ex = ann.transcripts, ann.exons
        self._off = ann.exon_offsets()
        self._starts, self._ends = ex["start"].to_numpy(np.int64), ex["end"].to_numpy(np.int64)
        self._cols = {c: tx[c].to_numpy() for c in ("transcript_id", "gene_id", "gene_name", "chrom", "strand",
                                                    "cds_start", "cds_end", "cds_phase")}
        self._built: dict[int, Transcript] = {}

    def __len__(self) -> int:
        return len(self._off) - 1

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if i not in self._built:
            c, o = self._cols, self._off
            e = np.stack([self._starts[o[i]:o[i + 1]], self._ends[o[i]:o[i + 1]]], axis=1)
            self._built[i] = Transcript(str(c["transcript_id"][i]), str(c["gene_id"][i]), str(c["gene_name"][i] or ""),
                                        str(c["chrom"][i]), str(c["strand"][i]), e, int(c["cds_start"][i]),
                                        int(c["cds_end"][i]), int(c["cds_phase"][i]))
        return self._built[i]

    def bed(self) -> str:
        """``chrom start end index`` of every transcript's genomic span (first exon start to last exon end)."""
        o = self._off
        lo, hi = self._starts[o[:-1]], self._ends[o[1:] - 1]
        return "".join(f"{c}\t{a}\t{b}\t{j}\n" for j, (c, a, b) in enumerate(zip(self._cols["chrom"], lo, hi)))


def load_transcripts(annotation: PathLike | Annotation, genome: Genome) -> tuple[Transcripts, dict[str, int]]:
    """The annotation's transcripts on contigs of the genome (read by
    :func:`isoclr.store.annotation.read_annotation`; contig names reconciled to the FASTA's), and
    the number of transcripts left out per reason."""
    ann = annotation if isinstance(annotation, Annotation) else read_annotation(annotation)
    ann, report = reconcile_chroms(ann, genome.names)
    return Transcripts(ann), {"missing_contig": int(report["dropped_transcripts"])}


# ---------------------------------------------------------------------------------------------
# one variant on one transcript
# ---------------------------------------------------------------------------------------------
@dataclass
class Effect:
    """A variant on a transcript (``transcript`` None: it touches none). ``alt_seq`` /
    ``alt_cds`` / ``alt_exon_ends``: the alternative mature RNA (None when not scored)."""

    variant: Variant
    transcript: Transcript | None
    region: str
    status: str = "scored"
    tx_pos: int = -1  # 1-based position of the edit in the reference transcript
    near_splice: bool = False
    cds_pos: int = -1
    codon: int = -1
    codons: str = ""
    amino_acids: str = ""
    consequence: str = ""
    alt_seq: str | None = None
    alt_cds: tuple[int, int] | None = None
    alt_exon_ends: np.ndarray | None = None


def _intron_distance(t: Transcript, positions: Sequence[int]) -> int | None:
    """Smallest 1-based distance of intronic ``positions`` to the nearest exon (None: none is
    inside an intron)."""
    best = None
    for k in range(len(t.exons) - 1):
        lo, hi = int(t.exons[k, 1]), int(t.exons[k + 1, 0])  # intron [lo, hi)
        for p in positions:
            if lo <= p < hi:
                d = min(p - lo + 1, hi - p)
                best = d if best is None else min(best, d)
    return best


def _coding(eff: Effect, ref: str, alt: str, cds: tuple[int, int], phase: int, t0: int, t1: int, delta: int) -> None:
    cs, ce = cds
    frame = cs + phase
    if t0 < cs < t1 or t0 < ce < t1 or t0 < frame:
        eff.consequence = "cds_boundary"
        return
    a = frame + max(t0 - frame, 0) // 3 * 3
    b = max(frame + -(-(t1 - frame) // 3) * 3, a + 3)
    b = min(b, ce)
    eff.cds_pos = t0 - cs + 1
    eff.codon = (a - frame) // 3 + 1
    ref_c = ref[a:b]
    alt_len = b - a + delta
    alt_c = alt[a:a + (alt_len if delta % 3 == 0 else -(-alt_len // 3) * 3)] if alt_len > 0 else ""
    eff.codons = f"{ref_c}>{alt_c}"
    ref_aa, alt_aa = translate(ref_c), translate(alt_c)
    eff.amino_acids = f"{ref_aa}>{alt_aa}"
    if delta % 3:
        eff.consequence = "frameshift"
    elif delta > 0:
        eff.consequence = "inframe_insertion" if t0 == t1 else "inframe_delins"
    elif delta < 0:
        eff.consequence = "inframe_deletion" if not eff.variant.alt_seq else "inframe_delins"
    elif ref_aa == alt_aa:
        eff.consequence = "synonymous"
    elif a == frame and phase == 0 and ref_aa[:1] == "M" and alt_aa[:1] != "M":
        eff.consequence = "start_lost"
    elif "*" in alt_aa and "*" not in ref_aa:
        eff.consequence = "stop_gained"
    elif "*" in ref_aa and "*" not in alt_aa:
        eff.consequence = "stop_lost"
    else:
        eff.consequence = "missense"


def variant_effect(v: Variant, t: Transcript, genome: Genome) -> Effect:
    """Where ``v`` falls on ``t`` and, when exonic, the alternative transcript."""
    s, e = v.start, v.end
    ins = s == e
    ex = t.exons
    if ins:
        inside = np.flatnonzero((ex[:, 0] < s) & (s < ex[:, 1]))
    else:
        inside = np.flatnonzero((ex[:, 0] <= s) & (e <= ex[:, 1]))
    ref = t.sequence(genome)
    if not len(inside):
        touches = (not ins) and bool(((ex[:, 0] < e) & (s < ex[:, 1])).any())
        if touches:
            return Effect(v, t, "exon_boundary", status="crosses_exon_boundary")
        d = _intron_distance(t, [s - 1, s] if ins else range(s, e))
        region = "outside" if d is None else "splice_site" if d <= SPLICE_SITE else \
            "splice_region" if d <= SPLICE_REGION_INTRON else "intron"
        cds = t.tx_cds()
        return Effect(v, t, region, alt_seq=ref, alt_cds=cds, alt_exon_ends=t.exon_ends())
    k = int(inside[0])
    t0, t1 = t.to_tx(k, s, e)
    alt_piece = reverse_complement(v.alt_seq) if t.minus else v.alt_seq
    alt = ref[:t0] + alt_piece + ref[t1:]
    delta = len(alt_piece) - (t1 - t0)
    ends = t.exon_ends()
    ends = np.where(ends >= t1, ends + delta, ends) if not ins else np.where(ends > t0, ends + delta, ends)
    eff = Effect(v, t, "exon", tx_pos=t0 + 1, alt_seq=alt, alt_exon_ends=ends)
    # distance to an internal junction (exon side)
    a, b = int(ex[k, 0]), int(ex[k, 1])
    pos = [s - 1, s] if ins else [s, e - 1]
    dist = []
    if k > 0:
        dist += [p - a + 1 for p in pos if p >= a]
    if k < len(ex) - 1:
        dist += [b - p for p in pos if p < b]
    eff.near_splice = bool(dist) and min(dist) <= SPLICE_REGION_EXON
    cds = t.tx_cds()
    if cds is None:
        return eff
    cs, ce = cds
    new_cs = cs if cs < t0 or (not ins and cs == t0) else cs + delta if cs >= t1 else t0
    new_ce = ce if ce <= t0 else ce + delta if ce >= t1 else t0 + len(alt_piece)
    eff.alt_cds = (new_cs, new_ce) if new_ce > new_cs else None
    if t1 <= cs:
        eff.region = "5'UTR"
    elif t0 >= ce:
        eff.region = "3'UTR"
    else:
        eff.region = "CDS"
        _coding(eff, ref, alt, cds, t.cds_phase, t0, t1, delta)
    return eff


# ---------------------------------------------------------------------------------------------
# all variants
# ---------------------------------------------------------------------------------------------
def _bed(rows: list[tuple[str, int, int, int]]) -> str:
    return "".join(f"{c}\t{a}\t{b}\t{i}\n" for c, a, b, i in rows)


def intersect(variants: Sequence[Variant], transcripts: Sequence[Transcript]) -> list[tuple[int, int]]:
    """(variant index, transcript index) of every variant (status ``ok``) overlapping a
    transcript's genomic span (an insertion counts its two flanking bases), by ``bedtools
    intersect``."""
    import pybedtools

    vrows = [(v.chrom, max(v.start - 1, 0), v.start + 1, i) if v.start == v.end else (v.chrom, v.start, v.end, i)
             for i, v in enumerate(variants) if v.status == "ok"]
    if isinstance(transcripts, Transcripts):
        tbed = transcripts.bed()
    else:
        tbed = _bed([(t.chrom, int(t.exons[0, 0]), int(t.exons[-1, 1]), j) for j, t in enumerate(transcripts)])
    if not vrows or not tbed:
        return []
    a = pybedtools.BedTool(_bed(vrows), from_string=True)
    b = pybedtools.BedTool(tbed, from_string=True)
    try:
        hits = a.intersect(b, wa=True, wb=True)
        pairs = [(int(f.fields[3]), int(f.fields[7])) for f in hits]
    finally:
        pybedtools.cleanup()
    return sorted(set(pairs))


def map_variants(variants: Sequence[Variant], transcripts: Sequence[Transcript], genome: Genome) -> list[Effect]:
    """One :class:`Effect` per variant x touched transcript, and one per variant touching none
    or not scored (its record outcome), in VCF order then transcript order."""
    per: dict[int, list[int]] = {}
    for i, j in intersect(variants, transcripts):
        per.setdefault(i, []).append(j)
    out: list[Effect] = []
    for i, v in enumerate(variants):
        if v.status != "ok":
            out.append(Effect(v, None, "", status=v.status))
        elif i not in per:
            out.append(Effect(v, None, "outside", status="no_transcript"))
        else:
            out.extend(variant_effect(v, transcripts[j], genome) for j in per[i])
    return out


def effects_table(effects: Sequence[Effect]) -> pd.DataFrame:
    """The effects as a table (one row each; scores are added by :mod:`isoclr.variants.score`)."""
    rows = []
    for f in effects:
        v, t = f.variant, f.transcript
        rows.append({
            "variant": v.name, "vcf_line": v.line, "chrom": v.chrom, "pos": v.pos, "ref": v.ref, "alt": v.alt,
            "kind": v.kind, "status": f.status,
            "transcript_id": t.tid if t else "", "gene_id": t.gene_id if t else "",
            "gene_name": t.gene_name if t else "", "strand": t.strand if t else "",
            "region": f.region, "near_splice": f.near_splice, "tx_pos": f.tx_pos, "cds_pos": f.cds_pos,
            "codon": f.codon, "codons": f.codons, "amino_acids": f.amino_acids, "consequence": f.consequence,
            "ref_length": len(t._seq) if t is not None and t._seq is not None else -1,
            "alt_length": len(f.alt_seq) if f.alt_seq is not None else -1,
        })
    return pd.DataFrame(rows)

