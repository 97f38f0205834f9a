"""One store builder: the steps every species store goes through, whatever gives its sequences.

A store is built from a *sequence source* (:class:`SequenceSource`), which says which
transcripts exist, their exons and CDS, and where their nucleotides come from:

* :class:`isoclr.store.genome_source.GenomeSource`: a genome FASTA plus an annotation
  (``isoclr build --genome FA --annotation ANN``); exons are cut from the contigs;
* :class:`isoclr.store.transcriptome.TranscriptSource`: mature transcript sequences plus an
  annotation in genomic coordinates (``--transcripts FA --annotation ANN``);
* :class:`isoclr.store.gencode.GencodeSource`: a GENCODE ``pc_transcripts.fa`` on its own
  (``--transcripts FA`` without ``--annotation``): ids, symbol and UTR/CDS ranges from the
  headers, one exon per transcript.

:func:`build_from_source` does the rest, the same for all three: the source's own checks (which
drop and count, or stop with an error naming the record), the chromosome / biotype / length
filters (:func:`apply_filters`), the store layout (:func:`transcript_layout`: store order,
exons in transcript order, the CDS in transcript coordinates), the write (the store's other
datasets are written on a worker thread while the source produces ``/seq``:
:func:`isoclr.store.format.write_store`) and the stats sections (:func:`layout_stats`, plus the
source's own counts).
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from isoclr.core.files import file_sha256

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 12288


@dataclass
class SourceInput:
    """What a source read: the annotation's transcript table and exons (the columns of
    :class:`isoclr.store.annotation.Annotation`), where they came from, and how many
    transcripts there were before any was dropped."""

    tx: pd.DataFrame
    ex: pd.DataFrame
    path: Path  # named in error messages (the annotation, or the FASTA for header sources)
    fmt: str  # the store's ``annotation_format`` attribute
    ann: Any  # the annotation object (its ``counts`` go to the stats' annotation section)
    n_input: int
    missing: dict[str, int] = field(default_factory=dict)  # transcripts per absent contig


class SequenceSource(Protocol):
    """Where a store's transcripts and nucleotides come from (see the module docstring)."""

    #: drop reasons of this source, counted in the stats before the filters' reasons
    drop_reasons: tuple[str, ...]
    #: worker threads of the build's pool (reads and hashes beside the parse; the writer)
    threads: int

    def read(self, pool: ThreadPoolExecutor, provenance: Mapping[str, Any], species: str) -> SourceInput:
        """Start the source's reads on ``pool`` and return the transcripts and exons."""

    def check(self, inp: SourceInput, tx_len: npt.NDArray[np.int64],
              dropped: Counter[str]) -> npt.NDArray[np.bool_]:
        """The source's own checks: the transcripts kept (drops counted in ``dropped``)."""

    def attrs(self) -> dict[str, Any]:
        """Store attributes after ``species`` and ``annotation_format`` (checksums...)."""

    def extract(self, lay: Layout) -> npt.NDArray[np.uint8]:
        """The concatenated codes (0-4) of the kept transcripts, in store order."""

    def finish_stats(self, stats: dict[str, dict[str, Any]], lay: Layout) -> None:
        """Add the source's counts to the stats sections."""

    def close(self) -> None:
        """Release readers and threads (also after an error)."""


class AnnotationInput:
    """An annotation given as a path (read with :func:`isoclr.store.annotation.read_annotation`,
    hashed on the build's pool) or as an already-read ``Annotation``."""

    def __init__(self, annotation: Any, fmt: str = "auto", strict: bool = False) -> None:
        self.annotation, self.fmt, self.strict = annotation, fmt, strict
        self.digest: Future[str] | None = None

    @property
    def is_path(self) -> bool:
        return isinstance(self.annotation, (str, os.PathLike))

    def hash_on(self, pool: ThreadPoolExecutor, provenance: Mapping[str, Any]) -> None:
        if self.is_path and not provenance.get("annotation_sha256"):
            self.digest = pool.submit(file_sha256, Path(self.annotation))

    def read(self, species: str) -> tuple[Any, Path]:
        from isoclr.store import annotation as annotation_mod

        if self.is_path:
            path = Path(self.annotation)
            return annotation_mod.read_annotation(path, fmt=self.fmt, species=species, strict=self.strict), path
        ann = self.annotation
        return ann, Path(str(getattr(ann, "source", "") or "annotation"))

    def format_of(self, ann: Any) -> str:
        return str(getattr(ann, "format", None) or getattr(ann, "fmt", None) or self.fmt)

    def sha256(self) -> str | None:
        return self.digest.result() if self.digest is not None else None


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


def build_from_source(
    source: SequenceSource,
    species: str,
    out: str | os.PathLike[str],
    max_length: int | None = DEFAULT_MAX_LENGTH,
    chromosomes_include: Iterable[str] = (),
    chromosomes_exclude: Iterable[str] = (),
    biotypes: Iterable[str] = (),
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Build the store ``out`` from ``source``; return its stats ``{section: {key: value}}``.

    ``max_length``: mature transcripts longer than this are dropped, never truncated (None or
    0: no limit). ``chromosomes_include``/``_exclude``: regular expressions matched in full
    against contig names. ``biotypes``: keep only these transcript biotypes (empty: all).
    ``provenance``: store attributes (taxid, URLs, versions, sha256s); missing sha256s are
    computed by the source.
    """
    from isoclr.store.format import write_store

    provenance = dict(provenance or {})
    pool = ThreadPoolExecutor(source.threads)
    try:
        inp = source.read(pool, provenance, species)
        tx_len = exon_lengths(inp.tx, inp.ex)
        dropped: Counter[str] = Counter({r: 0 for r in source.drop_reasons})
        keep = source.check(inp, tx_len, dropped)
        apply_filters(inp.tx, tx_len, keep, dropped, chromosomes_include, chromosomes_exclude,
                      biotypes, max_length or None, inp.path)
        lay = transcript_layout(inp.tx, inp.ex, keep, inp.path)
        attrs: dict[str, Any] = {"species": species, "annotation_format": inp.fmt, **source.attrs()}
        attrs.update({k: v for k, v in provenance.items() if v not in (None, "")})
        # The store is written on the pool's thread while this one extracts the sequences: all
        # but /seq first (it does not need them), then /seq once ``sequences`` has its result.
        sequences: Future[npt.NDArray[np.uint8]] = Future()
        writer = pool.submit(write_store, out, lay.table, sequences.result, lay.seq_offset,
                             lay.exon_tx_end, lay.exon_offset, attrs,
                             exon_start=lay.o_start, exon_end=lay.o_end)
        try:
            seq = source.extract(lay)
        except BaseException as exc:  # the writer discards its temporary file and stops
            sequences.set_exception(exc)
            raise
        sequences.set_result(seq)
        writer.result()
    finally:
        source.close()
        pool.shutdown(wait=True, cancel_futures=True)

    stats = layout_stats(species, lay, inp.n_input, dropped, inp.missing, inp.ann)
    source.finish_stats(stats, lay)
    log.info("%s: %d transcripts of %d genes (%d nt) written to %s; dropped %s", species, lay.n,
             stats["summary"]["genes"], int(lay.seq_offset[-1]), out,
             ", ".join(f"{k}={v}" for k, v in dropped.items() if v) or "none")
    return stats
