"""The genome source of the store builder: mature transcripts cut from a genome FASTA.

``isoclr build --genome FA[.gz] --annotation FILE --species NAME --out STORE.h5``

What it does (docs/store.md has the store layout; :mod:`isoclr.store.assemble` the steps every
store shares):

1. reads the annotation with :func:`isoclr.store.annotation.read_annotation` and reconciles its contig
   names with the FASTA (``1``<->``chr1``, ``MT``<->``chrM``, alias table); transcripts on contigs
   absent from the FASTA are dropped and counted (``contig_missing``);
2. the builder's filters: chromosome include/exclude regular expressions (``re.fullmatch`` on
   the FASTA contig name; ``chrom_excluded``), biotypes (``biotype``), maximum mature length
   (``too_long``: dropped, never truncated). Every drop is counted under its first reason;
3. streams the genome one contig at a time (:class:`isoclr.store.genome.FastaReader`, read and
   decoded ahead on a worker thread while step 1 runs: :class:`isoclr.store.genome.ReadAhead`),
   and extracts every exon of the kept transcripts on that contig with one ``np.concatenate``
   of slice views per run of contiguous destinations, reversed and complemented on the minus
   strand. Soft-masked bases are upper-cased; ``N`` and other IUPAC codes become code 4
   (both counted in the stats). An exon that runs past its contig's end is an error naming the
   annotation file, line and transcript: the genome and annotation do not belong together;
4. the builder converts the genomic CDS (stop codon included) to transcript coordinates and
   writes the store atomically, plus a stats table (section, key, value).

Memory: the transcript sequences (one byte per nucleotide) plus about twice the largest contig,
plus up to ``READ_AHEAD_BYTES`` of contigs decoded ahead (while the annotation is parsed; freed
heap pages are given back during the extraction, see ``TRIM_EVERY_BYTES``).
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from isoclr.store.assemble import AnnotationInput, Layout, SourceInput
from isoclr.store.genome import AMBIGUOUS, FastaReader, ReadAhead, scan_fasta

#: Drop reasons, in the order they are tested (a transcript is counted under the first).
DROP_REASONS = ("contig_missing", "chrom_excluded", "biotype", "too_long")
#: Nucleotides gathered per batch (bounds the complement mask to this many bytes).
GATHER_BATCH_NT = 1 << 22
#: Decoded genome held ahead of the extraction while the annotation is parsed (bytes).
READ_AHEAD_BYTES = 192 << 20
#: During the extraction, free heap pages go back to the kernel after every this many bytes of
#: contigs (the CLI's malloc settings keep them otherwise), so the memory the extracted
#: sequences grow into does not add to that of the contigs already used: the build's peak
#: stays the end of the annotation parse, with the read-ahead full.
TRIM_EVERY_BYTES = 64 << 20


def _missing_counts(report: Any) -> dict[str, int]:
    """Transcripts dropped per absent contig, from ``reconcile_chroms``'s report."""
    import pandas as pd

    if report is None:
        return {}
    if isinstance(report, pd.DataFrame):
        if {"contig", "transcripts"} <= set(report.columns):
            return {str(c): int(n) for c, n in zip(report["contig"], report["transcripts"], strict=True)}
        return {}
    if isinstance(report, Mapping):
        for key in ("missing", "dropped", "missing_contigs", "contig_missing"):
            if key in report and isinstance(report[key], Mapping):
                return {str(c): int(n) for c, n in report[key].items()}
        if all(isinstance(v, (int, np.integer)) for v in report.values()):
            return {str(c): int(n) for c, n in report.items()}
    return {}


def gather_exons(
    contig: npt.NDArray[np.uint8],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    minus: npt.NDArray[np.bool_],
    dest: npt.NDArray[np.int64],
    out: npt.NDArray[np.uint8],
    batch_nt: int = GATHER_BATCH_NT,
) -> None:
    """Copy exons ``contig[start:end]`` to ``out[dest:dest+len]``, reverse-complemented where ``minus``.

    No per-nucleotide index arrays: each run of exons with contiguous destinations (a whole
    contig when the annotation lists its transcripts together, as GTFs do), cut into batches of
    about ``batch_nt`` nucleotides, is one ``np.concatenate`` of slice views (reversed views
    for minus-strand exons) straight into ``out``; then one masked ``3 - code`` complements
    A/C/G/T of the minus-strand exons (N and ambiguous codes are their own complement).
    """
    n = len(start)
    if not n:
        return
    lengths = (end - start).astype(np.int64)
    brk = np.flatnonzero(dest[1:] != dest[:-1] + lengths[:-1]) + 1
    run_starts = np.r_[0, brk]
    cum = np.cumsum(lengths)
    # batch boundaries: run boundaries, plus a cut every ~batch_nt nucleotides inside long runs
    cuts = np.unique(np.r_[run_starts, np.searchsorted(cum, np.arange(batch_nt, int(cum[-1]), batch_nt),
                                                          side="right"), n])
    starts_l, ends_l, minus_l = start.tolist(), end.tolist(), minus.tolist()
    for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):  # unique: a < b
        pieces = [contig[s:e][::-1] if m else contig[s:e]
                  for s, e, m in zip(starts_l[a:b], ends_l[a:b], minus_l[a:b], strict=True)]
        lo = int(dest[a])
        target = out[lo : lo + int(cum[b - 1] - (cum[a - 1] if a else 0))]
        np.concatenate(pieces, out=target)
        mi = minus[a:b]
        if mi.any():
            comp = np.repeat(mi, lengths[a:b])
            comp &= target < 4
            np.subtract(3, target, out=target, where=comp)


class GenomeSource:
    """A genome FASTA plus an annotation (see the module docstring)."""

    drop_reasons = DROP_REASONS
    threads = 1

    def __init__(self, genome: str | os.PathLike[str], annotation: Any, fmt: str = "auto",
                 aliases: Mapping[str, str] | None = None, strict: bool = False) -> None:
        self.genome = Path(genome)
        self.ann_input = AnnotationInput(annotation, fmt, strict)
        self.aliases = aliases
        self.reader: FastaReader | None = None
        self.contigs: ReadAhead | None = None
        self.genome_sha256: str | None = None
        self.n_contigs = 0
        self.species = ""

    def read(self, pool: ThreadPoolExecutor, provenance: Mapping[str, Any], species: str) -> SourceInput:
        import logging

        from isoclr.store import annotation as annotation_mod

        # Work that does not need the annotation starts on other threads (file reads, hashlib
        # and NumPy release the GIL, so it runs on the second core): a worker thread reads and
        # decodes the genome ahead (bounded by READ_AHEAD_BYTES); the pool lists the contig
        # names and hashes the genome in one pass over the file (not bounded by memory, so the
        # hash is done before the annotation is), then hashes the annotation. Meanwhile this
        # thread parses the annotation.
        self.species = species
        self.reader = FastaReader(self.genome, checksum=False)
        self.contigs = ReadAhead(self.reader, READ_AHEAD_BYTES)
        names_future = pool.submit(scan_fasta, self.genome, checksum=not provenance.get("genome_sha256"))
        self.ann_input.hash_on(pool, provenance)
        ann, ann_path = self.ann_input.read(species)
        fmt = self.ann_input.format_of(ann)
        names, self.genome_sha256 = names_future.result()
        self.n_contigs = len(names)
        logging.getLogger(__name__).info("%s: %d contigs in %s", species, len(names), self.genome)
        ann, report = annotation_mod.reconcile_chroms(ann, names, self.aliases or {})
        missing = _missing_counts(report)
        tx = ann.transcripts.reset_index(drop=True)
        self.inp = SourceInput(tx, ann.exons, ann_path, fmt, ann, len(tx) + sum(missing.values()), missing)
        return self.inp

    def check(self, inp: SourceInput, tx_len: npt.NDArray[np.int64], dropped: Counter[str]) -> npt.NDArray[np.bool_]:
        dropped["contig_missing"] = sum(inp.missing.values())
        return np.ones(len(inp.tx), dtype=bool)

    def attrs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"genome_sha256": self.genome_sha256 or ""}
        sha = self.ann_input.sha256()
        if sha is not None:
            out["annotation_sha256"] = sha
        return out

    def extract(self, lay: Layout) -> npt.NDArray[np.uint8]:
        """Stream the genome, one gather per contig."""
        import pandas as pd
        from tqdm import tqdm

        assert self.reader is not None and self.contigs is not None
        tx, ex, ann_path, genome = self.inp.tx, self.inp.ex, self.inp.path, self.genome
        ktx, n, minus_tx, o_tx = lay.ktx, lay.n, lay.minus_tx, lay.o_tx
        o_start, o_end, seq_offset = lay.o_start, lay.o_end, lay.seq_offset
        ex_tx = ex["tx"].to_numpy(dtype=np.int64)
        ex_end = ex["end"].to_numpy(dtype=np.int64)
        seq = np.empty(int(seq_offset[-1]), dtype=np.uint8)
        o_chrom = ktx["chrom"].to_numpy()[o_tx] if n else np.zeros(0, dtype=object)
        by_contig: dict[str, npt.NDArray[np.int64]] = {}
        if n:
            codes_c, uniq_c = pd.factorize(pd.Series(o_chrom), sort=False)
            grp = np.argsort(codes_c, kind="stable")
            bounds = np.searchsorted(codes_c[grp], np.arange(len(uniq_c) + 1))
            by_contig = {str(c): grp[bounds[i] : bounds[i + 1]] for i, c in enumerate(uniq_c)}
        # every annotated transcript (kept or not) must fit its contig: checked per contig
        tx_max_end = np.zeros(len(tx), dtype=np.int64)
        if len(ex_tx):
            first = np.flatnonzero(np.r_[True, ex_tx[1:] != ex_tx[:-1]])
            tx_max_end[ex_tx[first]] = np.maximum.reduceat(ex_end, first)
        t_codes, t_uniq = pd.factorize(tx["chrom"], sort=False)
        t_grp = np.argsort(t_codes, kind="stable")
        t_bounds = np.searchsorted(t_codes[t_grp], np.arange(len(t_uniq) + 1))
        tx_by_contig = {str(c): t_grp[t_bounds[i] : t_bounds[i + 1]] for i, c in enumerate(t_uniq)}
        dest = seq_offset[o_tx] + lay.exon_tx_start
        seen: set[str] = set()
        genome_bases = genome_n = used = 0
        for contig in tqdm(self.contigs, total=self.n_contigs, desc=f"{self.species}: contigs",
                           unit="contig", disable=None):
            if used >= TRIM_EVERY_BYTES:  # the contigs before this one are freed
                _trim_heap()
                used = 0
            used += contig.n_bases
            seen.add(contig.name)
            genome_bases += contig.n_bases
            genome_n += contig.n_count
            on = tx_by_contig.get(contig.name)
            if on is None:
                continue
            over = on[tx_max_end[on] > contig.n_bases]
            if len(over):
                r = tx.iloc[int(over[0])]
                raise ValueError(
                    f"{ann_path} line {r.get('line', '?')}: transcript {r['transcript_id']} has an exon "
                    f"ending at {contig.name}:{int(tx_max_end[int(over[0])])}, beyond the end of "
                    f"{contig.name} ({contig.n_bases:,} bp) in {genome}; {len(over)} transcript(s) "
                    "on this contig do; do the genome and the annotation belong together?"
                )
            rows = by_contig.get(contig.name)
            if rows is not None and len(rows):
                gather_exons(contig.codes, o_start[rows], o_end[rows], minus_tx[o_tx[rows]], dest[rows], seq)
            del contig
        absent = sorted(c for c in by_contig if c not in seen)
        if absent:
            raise ValueError(f"{genome}: contig(s) {', '.join(absent[:5])} listed by its index but not found in the file")

        # N and other IUPAC codes are rare: work on their positions (found GATHER_BATCH_NT at a
        # time: no whole-length temporary mask next to the store writer's arrays)
        pos4 = np.concatenate([np.flatnonzero(seq[i : i + GATHER_BATCH_NT] >= 4) + i
                               for i in range(0, len(seq), GATHER_BATCH_NT)] or [np.zeros(0, np.int64)])
        amb = pos4[seq[pos4] == AMBIGUOUS]
        seq[amb] = 4
        self.counts = {
            "transcripts_with_n": len(np.unique(np.searchsorted(seq_offset, pos4, side="right"))),
            "transcript_n_nt": len(pos4),
            "transcript_iupac_nt": len(amb),
            "genome_contigs": len(seen),
            "genome_bases": genome_bases,
            "genome_n_bases": genome_n,
            "genome_iupac_bases": int(sum(self.reader.ambiguous.values())),
        }
        return seq

    def finish_stats(self, stats: dict[str, dict[str, Any]], lay: Layout) -> None:
        stats["summary"].update(self.counts)

    def close(self) -> None:
        if self.contigs is not None:
            self.contigs.close()


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return None


def _trim_heap() -> None:
    """glibc: give free heap memory back to the kernel (``malloc_trim``); a no-op elsewhere."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def tune_malloc() -> None:
    """glibc: keep freed memory for reuse instead of returning it to the kernel after every
    large temporary array (half the system time of a genome-scale build was page faults on
    fresh pages). Process-wide, so only the CLI sets it; a no-op elsewhere."""
    libc = _libc()
    if libc is None:
        return
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: heap (reusable) below 32 MiB, the maximum
    libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: give memory back only above 1 GiB free
    libc.mallopt(-2, 64 << 20)  # M_TOP_PAD: grow the heap 64 MiB at a time
    # M_ARENA_MAX: one arena for all threads, so memory freed by the main thread (decoded
    # contigs that the genome thread allocated) is reused by either; with per-thread arenas
    # the two threads' peaks would add up
    libc.mallopt(-8, 1)
