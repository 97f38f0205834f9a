"""Build a species isoform store: mature transcripts from a genome FASTA and an annotation.

``isoclr build --genome FA[.gz] --annotation FILE --species NAME --out STORE.h5``

What it does (docs/store.md has the store layout):

1. reads the annotation with :func:`isoclr.store.annotation.read_annotation` and reconciles its contig
   names with the FASTA (``1``<->``chr1``, ``MT``<->``chrM``, alias table); transcripts on contigs
   absent from the FASTA are dropped and counted (``contig_missing``);
2. filters transcripts: chromosome include/exclude regular expressions (``re.fullmatch`` on the
   FASTA contig name; ``chrom_excluded``), biotypes (``biotype``), maximum mature length
   (``too_long``: dropped, never truncated). Every drop is counted under its first reason;
3. streams the genome one contig at a time (:class:`isoclr.store.genome.FastaReader`, read and
   decoded ahead on a worker thread while step 1 runs: :class:`isoclr.store.genome.ReadAhead`),
   and extracts every exon of the kept transcripts on that contig with one ``np.concatenate``
   of slice views per run of contiguous destinations, reversed and complemented on the minus
   strand. Soft-masked bases are upper-cased; ``N`` and other IUPAC codes become code 4
   (both counted in the stats). An exon that runs past its contig's end is an error naming the
   annotation file, line and transcript: the genome and annotation do not belong together;
4. converts the genomic CDS (stop codon included) to transcript coordinates and writes the store
   atomically with :func:`isoclr.store.format.write_store`, plus a stats table (section, key, value).

Memory: the transcript sequences (one byte per nucleotide) plus about twice the largest contig,
plus up to ``READ_AHEAD_BYTES`` of contigs decoded ahead (while the annotation is parsed; freed
heap pages are given back during the extraction, see ``TRIM_EVERY_BYTES``).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from isoclr.store.genome import AMBIGUOUS, FastaReader, ReadAhead, scan_fasta
from isoclr.core.files import atomic_path, file_sha256

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: Drop reasons, in the order they are tested (a transcript is counted under the first).
DROP_REASONS = ("contig_missing", "chrom_excluded", "biotype", "too_long")
DEFAULT_MAX_LENGTH = 12288
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


def _segment_starts(lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    out = np.zeros(len(lengths), dtype=np.int64)
    if len(lengths) > 1:
        np.cumsum(lengths[:-1], out=out[1:])
    return out


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


def cds_to_transcript(
    tx_of_exon: npt.NDArray[np.int64],
    ex_start: npt.NDArray[np.int64],
    ex_end: npt.NDArray[np.int64],
    ex_tx_start: npt.NDArray[np.int64],
    minus_tx: npt.NDArray[np.bool_],
    cds_start: npt.NDArray[np.int64],
    cds_end: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Genomic CDS spans -> transcript coordinates, vectorised.

    Exons are given sorted by transcript then genomic start, with ``ex_tx_start`` their start in
    transcript coordinates (transcript orientation). Returns ``(tx_cds_start, tx_cds_end, bad)``
    (-1 where non-coding) and the rows whose CDS ends are not inside an exon (``bad``).
    """
    n = len(cds_start)
    tx_s = np.full(n, -1, dtype=np.int64)
    tx_e = np.full(n, -1, dtype=np.int64)
    coding = np.flatnonzero(cds_start >= 0)
    if not len(coding):
        return tx_s, tx_e, np.zeros(0, dtype=np.int64)
    scale = int(ex_end.max()) + 1 if len(ex_end) else 1
    key = tx_of_exon * scale + ex_start

    def locate(t: npt.NDArray[np.int64], g: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        idx = np.searchsorted(key, t * scale + g, side="right") - 1
        idx_c = np.clip(idx, 0, len(key) - 1)
        ok = (idx >= 0) & (tx_of_exon[idx_c] == t) & (ex_start[idx_c] <= g) & (g < ex_end[idx_c])
        plus_pos = ex_tx_start[idx_c] + (g - ex_start[idx_c])
        minus_pos = ex_tx_start[idx_c] + (ex_end[idx_c] - 1 - g)
        return np.where(minus_tx[t], minus_pos, plus_pos), ok

    t = coding.astype(np.int64)
    p_lo, ok_lo = locate(t, cds_start[t])
    p_hi, ok_hi = locate(t, cds_end[t] - 1)
    mt = minus_tx[t]
    tx_s[t] = np.where(mt, p_hi, p_lo)
    tx_e[t] = np.where(mt, p_lo, p_hi) + 1
    bad = t[~(ok_lo & ok_hi)]
    return tx_s, tx_e, bad


@dataclass
class Layout:
    """Kept transcripts in store order with their exons in transcript order (see
    :func:`transcript_layout`): everything of a store but the sequences."""

    ktx: pd.DataFrame  # kept rows of the annotation's transcript table, store order
    kept: npt.NDArray[np.int64]  # their rows in the annotation's table
    minus_tx: npt.NDArray[np.bool_]
    e_tx: npt.NDArray[np.int64]  # exons sorted by transcript then genomic start
    e_start: npt.NDArray[np.int64]
    e_end: npt.NDArray[np.int64]
    o_tx: npt.NDArray[np.int64]  # exons in transcript order (store order)
    o_start: npt.NDArray[np.int64]
    o_end: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    seq_offset: npt.NDArray[np.int64]
    exon_offset: npt.NDArray[np.int64]
    exon_tx_end: npt.NDArray[np.int64]
    exon_tx_start: npt.NDArray[np.int64]
    cds_start: npt.NDArray[np.int64]
    cds_end: npt.NDArray[np.int64]
    table: pd.DataFrame  # the store's transcript table (write_store's ``table``)

    @property
    def n(self) -> int:
        return len(self.ktx)


def exon_lengths(tx: pd.DataFrame, ex: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Mature length of every annotation transcript (sum of its exon lengths)."""
    ex_tx = ex["tx"].to_numpy(dtype=np.int64)
    ex_len = ex["end"].to_numpy(dtype=np.int64) - ex["start"].to_numpy(dtype=np.int64)
    return np.bincount(ex_tx, weights=ex_len, minlength=len(tx)).astype(np.int64)


def transcript_layout(tx: pd.DataFrame, ex: pd.DataFrame, keep: npt.NDArray[np.bool_],
                      ann_path: Any) -> Layout:
    """The store layout of the ``keep`` rows of an annotation (``tx``: its transcript table,
    ``ex``: its exons sorted by transcript then start): store order = annotation order,
    exons in transcript order (descending on the minus strand), offsets, exon ends and the CDS
    in transcript coordinates. Shared by the genome and the transcriptome builds, so both make
    the same store. A CDS end outside the exons is an error naming the annotation line."""
    import pandas as pd

    ex_tx = ex["tx"].to_numpy(dtype=np.int64)
    ex_start = ex["start"].to_numpy(dtype=np.int64)
    ex_end = ex["end"].to_numpy(dtype=np.int64)
    tx_len = exon_lengths(tx, ex)
    # --- kept transcripts, new numbering, exons in transcript order --------------------------
    kept = np.flatnonzero(keep)
    new_id = np.full(len(tx), -1, dtype=np.int64)
    new_id[kept] = np.arange(len(kept))
    ktx = tx.iloc[kept].reset_index(drop=True)
    n = len(ktx)
    minus_tx = (ktx["strand"].to_numpy() == "-")
    emask = keep[ex_tx]
    e_tx = new_id[ex_tx[emask]]
    e_start, e_end = ex_start[emask], ex_end[emask]  # sorted by tx then genomic start
    e_minus = minus_tx[e_tx]
    order = np.lexsort((np.where(e_minus, -e_start, e_start), e_tx))  # transcript order
    o_tx, o_start, o_end = e_tx[order], e_start[order], e_end[order]
    o_len = o_end - o_start
    lengths = tx_len[kept]
    seq_offset = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=seq_offset[1:])
    exon_offset = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(o_tx, minlength=n), out=exon_offset[1:])
    cum = np.cumsum(o_len)
    exon_tx_end = cum - np.repeat(cum[exon_offset[1:] - 1] - lengths, np.diff(exon_offset)) if n else cum
    exon_tx_start = exon_tx_end - o_len

    # --- CDS to transcript coordinates ---------------------------------------------------------
    g_tx_start = np.empty_like(exon_tx_start)
    g_tx_start[order] = exon_tx_start
    cds_s, cds_e, bad = cds_to_transcript(
        e_tx, e_start, e_end, g_tx_start, minus_tx,
        ktx["cds_start"].to_numpy(dtype=np.int64), ktx["cds_end"].to_numpy(dtype=np.int64),
    )
    if len(bad):
        r = ktx.iloc[int(bad[0])]
        raise ValueError(
            f"{ann_path} line {r.get('line', '?')}: transcript {r['transcript_id']}: CDS "
            f"{r['chrom']}:{int(r['cds_start']) + 1}-{int(r['cds_end'])} does not start and end inside its exons"
        )

    table = pd.DataFrame(
        {
            "transcript_id": ktx["transcript_id"].astype(str),
            "gene_id": ktx["gene_id"].astype(str),
            "gene_name": ktx["gene_name"].fillna("").astype(str) if "gene_name" in ktx else "",
            "chrom": ktx["chrom"].astype(str),
            "strand": ktx["strand"].astype(str),
            "cds_start": cds_s,
            "cds_end": cds_e,
            "cds_phase": ktx["cds_phase"].fillna(0).astype(int).where(cds_s >= 0, 0) if "cds_phase" in ktx else 0,
            "biotype": ktx["biotype"].fillna("").astype(str) if "biotype" in ktx else "",
            "tags": ktx["tags"].fillna("").astype(str) if "tags" in ktx else "",
        }
    )
    return Layout(ktx, kept, minus_tx, e_tx, e_start, e_end, o_tx, o_start, o_end, lengths,
                  seq_offset, exon_offset, exon_tx_end, exon_tx_start, cds_s, cds_e, table)


def layout_stats(species: str, lay: Layout, n_ann: int, dropped: Mapping[str, int],
                 missing: Mapping[str, int], ann: Any) -> dict[str, dict[str, Any]]:
    """The stats sections every build writes (the genome build adds its genome counts)."""
    table, lengths, n = lay.table, lay.lengths, lay.n
    n_genes = int(table["gene_id"].nunique())
    per_gene = table.groupby("gene_id", sort=False).size().value_counts().sort_index()
    stats: dict[str, dict[str, Any]] = {
        "summary": {
            "species": species,
            "annotation_transcripts": n_ann,
            "genes": n_genes,
            "transcripts": n,
            "coding_transcripts": int((lay.cds_start >= 0).sum()),
            "exons": len(lay.o_tx),
            "nucleotides": int(lay.seq_offset[-1]),
            "median_length": float(np.median(lengths)) if n else 0.0,
            "mean_length": float(lengths.mean()) if n else 0.0,
            "max_length": int(lengths.max()) if n else 0,
            "genes_with_isoforms": int(per_gene[per_gene.index > 1].sum()),
        },
        "isoforms_per_gene": {int(k): int(v) for k, v in per_gene.items()},
        "dropped": dict(dropped),
        "dropped_contig": dict(sorted(missing.items())),
        "annotation": {str(k): int(v) for k, v in dict(getattr(ann, "counts", {}) or {}).items()},
        "annotation_examples": {str(k): ", ".join(v) for k, v in dict(getattr(ann, "examples", {}) or {}).items()},
    }
    return stats


def _chrom_keep(chroms: pd.Series, include: Iterable[str], exclude: Iterable[str]) -> npt.NDArray[np.bool_]:
    """Per transcript: contig name passes the include/exclude regexes (``re.fullmatch``)."""
    import pandas as pd

    include, exclude = list(include or ()), list(exclude or ())
    uniq = pd.unique(chroms)
    ok = {}
    for c in uniq:
        keep = not include or any(re.fullmatch(p, c) for p in include)
        keep = keep and not any(re.fullmatch(p, c) for p in exclude)
        ok[c] = keep
    return chroms.map(ok).to_numpy(dtype=bool)


def apply_filters(tx: pd.DataFrame, tx_len: npt.NDArray[np.int64], keep: npt.NDArray[np.bool_],
                  dropped: Counter[str], chromosomes_include: Iterable[str],
                  chromosomes_exclude: Iterable[str], biotypes: Iterable[str],
                  max_length: int | None, ann_path: Any) -> None:
    """Clear ``keep`` (in place) for transcripts failing the chromosome, biotype and length
    filters, each counted in ``dropped`` under its first reason; an error if none is left."""
    chrom_ok = _chrom_keep(tx["chrom"], chromosomes_include, chromosomes_exclude)
    dropped["chrom_excluded"] += int((keep & ~chrom_ok).sum())
    keep &= chrom_ok
    biotypes = list(biotypes or ())
    if biotypes:
        bio_ok = tx["biotype"].isin(biotypes).to_numpy()
        dropped["biotype"] += int((keep & ~bio_ok).sum())
        keep &= bio_ok
    if max_length:
        len_ok = tx_len <= int(max_length)
        dropped["too_long"] += int((keep & ~len_ok).sum())
        keep &= len_ok
    if not keep.any():
        raise ValueError(
            f"{ann_path}: no transcript left after the filters (dropped: "
            + ", ".join(f"{k} {v}" for k, v in dropped.items() if v) + ")"
        )


def build_store(
    genome: str | os.PathLike[str],
    annotation: Any,
    species: str,
    out: str | os.PathLike[str],
    fmt: str = "auto",
    max_length: int | None = DEFAULT_MAX_LENGTH,
    chromosomes_include: Iterable[str] = (),
    chromosomes_exclude: Iterable[str] = (),
    biotypes: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    strict: bool = False,
) -> dict[str, dict[str, Any]]:
    """Build ``out`` (an HDF5 species store) and return its stats ``{section: {key: value}}``.

    ``strict``: a transcript with a structural flaw, and GFF3 exon/CDS rows whose Parent
    transcript row (or transcripts whose Parent gene row) is absent, are errors; by default
    they are repaired as gffread repairs them or dropped, counted in the stats' ``annotation``
    section (first ids and lines in ``annotation_examples``).

    ``annotation``: a path (read with :func:`isoclr.store.annotation.read_annotation`, format
    ``fmt``) or an already-read ``Annotation``. ``max_length``: mature transcripts longer than
    this are dropped (None or 0: no limit). ``chromosomes_include``/``_exclude``: regular
    expressions matched in full against FASTA contig names. ``biotypes``: keep only these
    transcript biotypes (empty: all). ``aliases``: extra contig-name aliases for
    :func:`isoclr.store.annotation.reconcile_chroms`. ``provenance``: store attributes (taxid,
    genome_url, annotation_url, annotation_version, sha256s); missing sha256s are computed.
    """
    genome = Path(genome)
    provenance = dict(provenance or {})
    # pandas, the annotation readers and h5py are imported before the worker threads start:
    # an import holds the GIL throughout, and with two threads busy beside it on two cores it
    # was descheduled while holding it, stalling all Python (measured: ~0.1 s wall and ~0.15 s
    # CPU more). The genome thread loses nothing by starting later: the read-ahead bound, not
    # its start, limits how much it decodes while the annotation is parsed.
    import pandas  # noqa: F401

    import isoclr.store.annotation
    import isoclr.store.format  # noqa: F401

    # Work that does not need the annotation then starts on other threads (file reads,
    # hashlib and NumPy release the GIL, so it runs on the second core): a worker thread reads
    # and decodes the genome ahead (bounded by READ_AHEAD_BYTES); a pool lists the contig names
    # and hashes the genome in one pass over the file (not bounded by memory, so the hash is
    # done before the annotation is), then hashes the annotation. Meanwhile this thread
    # parses the annotation.
    reader = FastaReader(genome, checksum=False)
    pool = ThreadPoolExecutor(1)
    try:
        contigs = ReadAhead(reader, READ_AHEAD_BYTES)
        try:
            return _build_store(pool, reader, contigs, annotation, species, out, fmt, max_length,
                                chromosomes_include, chromosomes_exclude, biotypes, aliases,
                                provenance, strict=strict)
        finally:
            contigs.close()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _build_store(
    pool: ThreadPoolExecutor, reader: FastaReader, contigs: ReadAhead, annotation: Any,
    species: str, out: str | os.PathLike[str], fmt: str, max_length: int | None,
    chromosomes_include: Iterable[str], chromosomes_exclude: Iterable[str],
    biotypes: Iterable[str], aliases: Mapping[str, str] | None, provenance: dict[str, Any],
    strict: bool = False,
) -> dict[str, dict[str, Any]]:
    genome = reader.path
    names_future = pool.submit(scan_fasta, genome, checksum=not provenance.get("genome_sha256"))
    ann_digest = None
    if isinstance(annotation, (str, os.PathLike)) and not provenance.get("annotation_sha256"):
        ann_digest = pool.submit(file_sha256, Path(annotation))
    import pandas as pd
    from tqdm import tqdm

    from isoclr.store import annotation as annotation_mod
    from isoclr.store.format import write_store

    if isinstance(annotation, (str, os.PathLike)):
        ann_path = Path(annotation)
        ann = annotation_mod.read_annotation(ann_path, fmt=fmt, species=species, strict=strict)
    else:
        ann = annotation
        ann_path = Path(str(getattr(ann, "source", "") or "annotation"))
    ann_fmt = getattr(ann, "format", None) or getattr(ann, "fmt", None) or fmt
    names, genome_sha256 = names_future.result()
    log.info("%s: %d contigs in %s", species, len(names), genome)
    ann, report = annotation_mod.reconcile_chroms(ann, names, aliases or {})
    missing = _missing_counts(report)

    tx = ann.transcripts.reset_index(drop=True)
    ex = ann.exons
    n_ann = len(tx) + sum(missing.values())
    ex_tx = ex["tx"].to_numpy(dtype=np.int64)
    ex_start = ex["start"].to_numpy(dtype=np.int64)
    ex_end = ex["end"].to_numpy(dtype=np.int64)
    ex_len = ex_end - ex_start
    tx_len = np.bincount(ex_tx, weights=ex_len, minlength=len(tx)).astype(np.int64)

    dropped: Counter[str] = Counter({r: 0 for r in DROP_REASONS})
    dropped["contig_missing"] = sum(missing.values())
    keep = np.ones(len(tx), dtype=bool)
    apply_filters(tx, tx_len, keep, dropped, chromosomes_include, chromosomes_exclude, biotypes,
                  max_length, ann_path)

    lay = transcript_layout(tx, ex, keep, ann_path)
    ktx, n, minus_tx, o_tx = lay.ktx, lay.n, lay.minus_tx, lay.o_tx
    o_start, o_end, seq_offset = lay.o_start, lay.o_end, lay.seq_offset
    exon_offset, exon_tx_end, exon_tx_start = lay.exon_offset, lay.exon_tx_end, lay.exon_tx_start
    table = lay.table
    attrs: dict[str, Any] = {
        "species": species,
        "annotation_format": str(ann_fmt),
        "genome_sha256": genome_sha256 or "",
    }
    if ann_digest is not None:
        attrs["annotation_sha256"] = ann_digest.result()
    attrs.update({k: v for k, v in provenance.items() if v not in (None, "")})
    # --- stream the genome, one gather per contig ---------------------------------------------
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
    dest = seq_offset[o_tx] + exon_tx_start
    seen: set[str] = set()
    genome_bases = genome_n = used = 0
    # The store is written on the pool's thread while this one extracts the sequences: all but
    # /seq first (it does not need them), then /seq once ``sequences`` has its result.
    sequences: Future[npt.NDArray[np.uint8]] = Future()
    writer = pool.submit(write_store, out, table, sequences.result, seq_offset, exon_tx_end, exon_offset,
                         attrs, exon_start=o_start, exon_end=o_end)
    try:
        for contig in tqdm(contigs, total=len(names), desc=f"{species}: contigs", unit="contig", disable=None):
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
        n_iupac_tx = len(amb)
        seq[amb] = 4
        n_tx_n = len(pos4)
        tx_with_n = len(np.unique(np.searchsorted(seq_offset, pos4, side="right")))
        del pos4, amb
    except BaseException as exc:  # the writer discards its temporary file and stops
        sequences.set_exception(exc)
        raise
    sequences.set_result(seq)
    writer.result()

    stats = layout_stats(species, lay, n_ann, dropped, missing, ann)
    stats["summary"].update({
        "transcripts_with_n": tx_with_n,
        "transcript_n_nt": n_tx_n,
        "transcript_iupac_nt": n_iupac_tx,
        "genome_contigs": len(seen),
        "genome_bases": genome_bases,
        "genome_n_bases": genome_n,
        "genome_iupac_bases": int(sum(reader.ambiguous.values())),
    })
    n_genes = stats["summary"]["genes"]
    log.info(
        "%s: %d transcripts of %d genes (%d nt) written to %s; dropped %s",
        species, n, n_genes, int(seq_offset[-1]), out,
        ", ".join(f"{k}={v}" for k, v in dropped.items() if v) or "none",
    )
    return stats


def stats_table(stats: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """``{section: {key: value}}`` -> long table with columns section, key, value."""
    import pandas as pd

    rows = [(sec, str(k), v) for sec, kv in stats.items() for k, v in kv.items()]
    return pd.DataFrame(rows, columns=["section", "key", "value"])


def write_stats(stats: Mapping[str, Mapping[str, Any]], path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        stats_table(stats).to_csv(tmp, sep="\t", index=False)


def read_aliases(path: str | os.PathLike[str]) -> dict[str, str]:
    """Two-column TSV ``annotation_name<TAB>fasta_name`` (``#`` comments allowed)."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for n, row in enumerate(fh, 1):
            row = row.rstrip("\n")
            if not row or row.startswith("#"):
                continue
            parts = row.split("\t")
            if len(parts) != 2:
                raise ValueError(f"{path} line {n}: expected 2 tab-separated columns (alias, FASTA name), got {len(parts)}")
            out[parts[0]] = parts[1]
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--genome", help="genome FASTA, plain or gzip/bgzip")
    src.add_argument("--transcripts", help="transcript FASTA (mature sequences 5'->3', plain or gzip) "
                     "instead of a genome: the annotation gives their exons (isoclr.store.transcriptome)")
    parser.add_argument("--annotation", required=True, help="GTF, GFF3, genePred, refFlat or BED12 (plain or gzip)")
    parser.add_argument("--species", required=True, help="species name stored in the file")
    parser.add_argument("--out", required=True, help="output store (.h5), written atomically")
    parser.add_argument("--format", default="auto", help="annotation format (default: auto-detect)")
    parser.add_argument(
        "--max-length", type=int, default=DEFAULT_MAX_LENGTH,
        help=f"drop (never truncate) transcripts longer than this; 0: no limit (default {DEFAULT_MAX_LENGTH})",
    )
    parser.add_argument("--stats", help="write the stats table (TSV: section, key, value) here")
    parser.add_argument("--chromosomes-include", nargs="*", default=[], metavar="REGEX",
                        help="keep only contigs whose FASTA name fully matches one of these")
    parser.add_argument("--chromosomes-exclude", nargs="*", default=[], metavar="REGEX",
                        help="drop contigs whose FASTA name fully matches one of these")
    parser.add_argument("--biotypes", nargs="*", default=[], help="keep only these transcript biotypes")
    parser.add_argument("--aliases", help="TSV of contig aliases: annotation name<TAB>FASTA name")
    parser.add_argument("--strict", action="store_true",
                        help="a flawed transcript (overlapping exons, CDS outside exons...) and a "
                             "GFF3 row whose Parent row is absent are errors (default: repaired as "
                             "gffread does or dropped, counted in the stats)")
    parser.add_argument("--taxid", default="", help="NCBI taxonomy id (provenance)")
    parser.add_argument("--genome-url", default="", help="provenance")
    parser.add_argument("--annotation-url", default="", help="provenance")
    parser.add_argument("--annotation-version", default="", help="provenance")
    tr = parser.add_argument_group("with --transcripts")
    tr.add_argument("--gene-map", help="TSV with a header, column 1 transcript id: replaces the "
                    "annotation's gene ids (e.g. BED12, which has none)")
    tr.add_argument("--gene-column", help="gene id column of --gene-map (default: column 2)")
    tr.add_argument("--gene-name-column", help="gene name column of --gene-map (optional)")
    tr.add_argument("--length-mismatch", choices=("error", "drop"), default="error",
                    help="exon lengths not adding up to the sequence length: error (default) or "
                    "drop and count (length_mismatch)")
    tr.add_argument("--missing", choices=("drop", "error"), default="drop",
                    help="an id in only one of the two files: drop and count (default: "
                    "missing_sequence / missing_annotation) or error")
    tr.add_argument("--transcripts-url", default="", help="provenance")


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


def _tune_malloc() -> None:
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


def run(args: argparse.Namespace) -> int:
    _tune_malloc()
    if args.transcripts:
        return _run_transcripts(args)
    given = [f"--{k.replace('_', '-')}" for k in ("gene_map", "gene_column", "gene_name_column", "transcripts_url")
             if getattr(args, k)]
    if given or args.length_mismatch != "error" or args.missing != "drop":
        raise ValueError(f"{', '.join(given) or '--length-mismatch/--missing'}: only with --transcripts (a transcriptome build)")
    stats = build_store(
        args.genome,
        args.annotation,
        args.species,
        args.out,
        fmt=args.format,
        max_length=args.max_length or None,
        chromosomes_include=args.chromosomes_include,
        chromosomes_exclude=args.chromosomes_exclude,
        biotypes=args.biotypes,
        aliases=read_aliases(args.aliases) if args.aliases else None,
        provenance={
            "taxid": args.taxid,
            "genome_url": args.genome_url,
            "annotation_url": args.annotation_url,
            "annotation_version": args.annotation_version,
        },
        strict=args.strict,
    )
    if args.stats:
        write_stats(stats, args.stats)
    s = stats["summary"]
    print(f"{args.out}: {s['transcripts']} transcripts, {s['genes']} genes, {s['nucleotides']} nt")
    return 0


def _run_transcripts(args: argparse.Namespace) -> int:
    from isoclr.store.transcriptome import build_store_from_transcripts, read_gene_map

    if args.aliases:
        raise ValueError("--aliases needs --genome (a transcriptome build reads no contig names)")
    stats = build_store_from_transcripts(
        args.transcripts, args.annotation, args.species, args.out, fmt=args.format,
        max_length=args.max_length, chromosomes_include=args.chromosomes_include,
        chromosomes_exclude=args.chromosomes_exclude, biotypes=args.biotypes,
        gene_map=read_gene_map(args.gene_map, args.gene_column, args.gene_name_column) if args.gene_map else None,
        length_mismatch=args.length_mismatch, missing=args.missing,
        provenance={"taxid": args.taxid, "transcripts_url": args.transcripts_url,
                    "annotation_url": args.annotation_url, "annotation_version": args.annotation_version},
    )
    if args.stats:
        write_stats(stats, args.stats)
    s = stats["summary"]
    print(f"{args.out}: {s['transcripts']} transcripts, {s['genes']} genes, {s['nucleotides']} nt")
    return 0
