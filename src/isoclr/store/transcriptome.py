"""Build a species store from a transcriptome FASTA plus an annotation in genomic coordinates.

``isoclr build --transcripts FA[.gz] --annotation ANN --species NAME --out STORE.h5``

For users who have mature transcript sequences (GENCODE ``transcripts.fa``, ``gffread -w``
output, a long-read assembler's isoforms, RefSeq mRNAs) and their exon structure, and no wish
to build from a genome. The annotation (GTF, GFF3, genePred, refFlat or BED12, read by
:func:`isoclr.store.annotation.read_annotation`) gives each transcript's exons in genomic
coordinates: their lengths in transcript order give the splice track and the genomic CDS maps
into transcript coordinates exactly as in the genome build (both are sources of
the one builder, :func:`isoclr.store.assemble.build_from_source`), so the store has the same datasets and tracks as a
genome-built one (docs/store.md). The sequences are taken as given, 5' to 3' (no reverse
complement): upper-cased, ``U`` read as ``T``, ``N`` and other IUPAC codes stored as code 4.

Every transcript is checked (docs/store.md, "Transcriptome input"):

* its id must be in both files. FASTA names are matched to annotation ids exactly, then by
  the first ``|``-separated field (GENCODE headers ``>ENST...|ENSG...|...``), then with the
  ``.N`` version removed on both sides when that is unique. Annotation transcripts without a
  sequence are dropped and counted (``missing_sequence``), FASTA records without an annotation
  too (``missing_annotation``); ``missing="error"`` makes either an error;
* the sum of its exon lengths must equal its sequence length. A mismatch is an error naming
  the transcript, the FASTA line and the annotation line (``length_mismatch="drop"``: dropped
  and counted instead);
* then the filters of the genome build: chromosome regexes (on the annotation's contig names),
  biotypes and the maximum length (``chrom_excluded``, ``biotype``, ``too_long``).

No per-nucleotide Python: the FASTA is decoded by :class:`isoclr.store.genome.FastaReader` (one
``bytes.translate`` per block) and each kept record is copied into the store's sequence with
one slice assignment (:func:`gather_records`); N/IUPAC counts come from the reader.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.store.assemble import DEFAULT_MAX_LENGTH, AnnotationInput, Layout, SourceInput, build_from_source
from isoclr.store.genome import AMBIGUOUS, FastaReader, line_at

log = logging.getLogger(__name__)

#: Drop reasons of a transcriptome build, in the order they are tested.
DROP_REASONS = ("missing_sequence", "missing_annotation", "length_mismatch", "chrom_excluded",
                "biotype", "too_long")
_VERSION = re.compile(r"\.\d+$")


@dataclass
class TranscriptFasta:
    """All records of a transcript FASTA as codes (0-4 and 6 for ambiguous IUPAC letters)."""

    path: Path
    names: list[str]
    headers: list[str]
    codes: list[npt.NDArray[np.uint8] | None]  # None once moved into a store's sequence
    offsets: list[int]  # byte offset of each header in the decompressed file
    sha256: str | None
    n_count: npt.NDArray[np.int64]  # per record: bases read as N
    n_ambiguous: npt.NDArray[np.int64]  # per record: other IUPAC letters (code AMBIGUOUS)
    lengths: npt.NDArray[np.int64]

    def line(self, i: int) -> int:
        """1-based line of record ``i``'s header (for error messages)."""
        return line_at(self.path, self.offsets[i])


def read_transcript_fasta(path: str | os.PathLike[str], checksum: bool = True) -> TranscriptFasta:
    """Read every record of a (plain or gzip) FASTA; names must be unique (else an error)."""
    reader = FastaReader(path, checksum=checksum)
    names, headers, codes, offsets, n_count = [], [], [], [], []
    for rec in reader:
        names.append(rec.name)
        headers.append(rec.header)
        codes.append(rec.codes)
        offsets.append(rec.offset)
        n_count.append(rec.n_count)
    n = len(names)
    amb = np.fromiter((reader.ambiguous.get(x, 0) for x in names), dtype=np.int64, count=n)
    lengths = np.fromiter((len(c) for c in codes), dtype=np.int64, count=n)
    return TranscriptFasta(Path(path), names, headers, codes, offsets, reader.sha256,
                           np.asarray(n_count, dtype=np.int64), amb, lengths)


def gather_records(fasta: TranscriptFasta, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """Records ``rows`` (in that order) concatenated, ambiguous IUPAC codes stored as 4 (N).

    Each record is copied into one preallocated array and then released, so the peak is the
    FASTA's codes plus the unkept records, not twice the sequence."""
    lens = fasta.lengths[rows]
    seq = np.empty(int(lens.sum()), dtype=np.uint8)
    pos = 0
    for j, n in zip(rows.tolist(), lens.tolist(), strict=True):
        rec = fasta.codes[j]
        if rec is None:
            raise ValueError(f"{fasta.path}: record {fasta.names[j]} used twice")
        seq[pos : pos + n] = rec
        if fasta.n_ambiguous[j]:
            part = seq[pos : pos + n]
            part[part == AMBIGUOUS] = 4
        fasta.codes[j] = None
        pos += n
    return seq


def match_ids(fasta_names: Iterable[str], ann_ids: Iterable[str]) -> npt.NDArray[np.int64]:
    """For every annotation id, the row of its FASTA record (-1: none).

    Exact names first; then, for what is left, the first ``|`` field of the FASTA name
    (GENCODE); then both sides without a trailing ``.N`` version where that is unique.
    """
    fa = pd.Index(list(fasta_names), dtype=object)
    ann = pd.Series(list(ann_ids), dtype=object)
    hit = fa.get_indexer(ann)
    for key_fa, key_ann in ((lambda s: s.str.split("|", n=1).str[0], lambda s: s),
                            (lambda s: s.str.split("|", n=1).str[0].str.replace(_VERSION, "", regex=True),
                             lambda s: s.str.replace(_VERSION, "", regex=True))):
        miss = hit < 0
        if not miss.any():
            break
        used = np.zeros(len(fa), dtype=bool)
        used[hit[~miss]] = True
        free = np.flatnonzero(~used)
        if not len(free):
            break
        fk = key_fa(pd.Series(fa[free], dtype=object))
        ak = key_ann(ann[miss])
        fk = fk[~fk.duplicated(keep=False)]  # ambiguous keys match nothing
        ak_unique = ~ak.duplicated(keep=False)
        lookup = pd.Index(fk.to_numpy(), dtype=object)
        pos = lookup.get_indexer(ak.to_numpy())
        ok = (pos >= 0) & ak_unique.to_numpy()
        rows = np.flatnonzero(miss)[ok]
        hit[rows] = free[fk.index.to_numpy()[pos[ok]]]
    return hit.astype(np.int64)


def read_gene_map(path: str | os.PathLike[str], gene_column: str | None = None,
                  name_column: str | None = None) -> pd.DataFrame:
    """A transcript -> gene table (TSV with a header; column 1 the transcript id).

    ``gene_column`` (default: column 2) is the gene id, ``name_column`` (optional) the gene
    name. Empty cells mean "not mapped" (the annotation's gene is kept). Returns columns
    ``transcript_id``, ``gene_id``, ``gene_name`` indexed by transcript id.
    """
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if df.shape[1] < 2:
        raise ValueError(f"{path}: a gene map needs at least 2 tab-separated columns (transcript id, gene id)")
    for col in (gene_column, name_column):
        if col and col not in df.columns:
            raise ValueError(f"{path}: no column {col!r} (columns: {', '.join(df.columns)})")
    tid = df.iloc[:, 0]
    dup = tid[tid.duplicated()]
    if len(dup):
        raise ValueError(f"{path} line {int(dup.index[0]) + 2}: transcript {dup.iloc[0]} listed twice")
    out = pd.DataFrame({
        "transcript_id": tid.to_numpy(),
        "gene_id": df[gene_column or df.columns[1]].to_numpy(),
        "gene_name": df[name_column].to_numpy() if name_column else "",
    })
    return out.set_index("transcript_id", drop=False)


def apply_gene_map(tx: pd.DataFrame, gene_map: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Replace gene ids (and names) of the mapped transcripts; returns (table, n unmapped)."""
    m = gene_map.reindex(tx["transcript_id"].to_numpy())
    gid = m["gene_id"].fillna("").to_numpy(dtype=object)
    name = m["gene_name"].fillna("").to_numpy(dtype=object)
    mapped = gid != ""
    new_gid = np.where(mapped, gid, tx["gene_id"].to_numpy(dtype=object))
    old_name = tx["gene_name"].fillna("").to_numpy(dtype=object) if "gene_name" in tx else new_gid
    new_name = np.where(mapped, np.where(name != "", name, gid), old_name)
    return tx.assign(gene_id=new_gid, gene_name=new_name), int((~mapped).sum())


class TranscriptSource:
    """Transcript sequences plus an annotation of their exons (see the module docstring)."""

    drop_reasons = DROP_REASONS
    threads = 2

    def __init__(self, transcripts: str | os.PathLike[str], annotation: Any, fmt: str = "auto",
                 gene_map: pd.DataFrame | None = None, length_mismatch: str = "error",
                 missing: str = "drop") -> None:
        if length_mismatch not in ("error", "drop"):
            raise ValueError(f"length_mismatch must be 'error' or 'drop', not {length_mismatch!r}")
        if missing not in ("error", "drop"):
            raise ValueError(f"missing must be 'error' or 'drop', not {missing!r}")
        self.fa_path = Path(transcripts)
        if not self.fa_path.exists():
            raise FileNotFoundError(f"transcript FASTA not found: {self.fa_path}")
        self.ann_input = AnnotationInput(annotation, fmt)
        self.gene_map, self.length_mismatch, self.missing = gene_map, length_mismatch, missing

    def read(self, pool: ThreadPoolExecutor, provenance: Mapping[str, Any], species: str) -> SourceInput:
        # the FASTA is read and hashed beside the annotation parse
        fasta_f = pool.submit(read_transcript_fasta, self.fa_path, not provenance.get("transcripts_sha256"))
        self.ann_input.hash_on(pool, provenance)
        ann, ann_path = self.ann_input.read(species)
        self.fasta = fasta_f.result()
        tx = ann.transcripts.reset_index(drop=True)
        self.counts = dict(getattr(ann, "counts", {}) or {})
        if self.gene_map is not None:
            tx, unmapped = apply_gene_map(tx, self.gene_map)
            self.counts["gene_map_unmapped"] = unmapped
        return SourceInput(tx, ann.exons, ann_path, self.ann_input.format_of(ann), ann, len(tx))

    def check(self, inp: SourceInput, tx_len: npt.NDArray[np.int64], dropped: Counter[str]) -> npt.NDArray[np.bool_]:
        """Ids in both files, and exon lengths adding up to the sequence length."""
        fasta, fa_path, tx, ann_path = self.fasta, self.fa_path, inp.tx, inp.path
        rec = match_ids(fasta.names, tx["transcript_id"].astype(str))
        self.rec = rec
        has_seq = rec >= 0
        matched_rec = np.zeros(len(fasta.names), dtype=bool)
        matched_rec[rec[has_seq]] = True
        n_missing_seq, n_missing_ann = int((~has_seq).sum()), int((~matched_rec).sum())
        if self.missing == "error" and (n_missing_seq or n_missing_ann):
            if n_missing_seq:
                r = tx.iloc[int(np.flatnonzero(~has_seq)[0])]
                raise ValueError(
                    f"{ann_path} line {r.get('line', '?')}: transcript {r['transcript_id']} has no "
                    f"record in {fa_path} ({n_missing_seq} annotation transcript(s) have none)")
            i = int(np.flatnonzero(~matched_rec)[0])
            raise ValueError(
                f"{fa_path} line {fasta.line(i)}: sequence {fasta.names[i]!r} is not in the annotation "
                f"{ann_path} ({n_missing_ann} FASTA record(s) are not)")
        dropped["missing_sequence"] = n_missing_seq
        dropped["missing_annotation"] = n_missing_ann
        if n_missing_seq:
            log.warning("%s: %d annotation transcripts have no sequence in %s (dropped), e.g. %s",
                        ann_path, n_missing_seq, fa_path, ", ".join(tx.loc[~has_seq, "transcript_id"].astype(str)[:5]))
        if n_missing_ann:
            log.warning("%s: %d sequences are not in the annotation %s (dropped), e.g. %s", fa_path,
                        n_missing_ann, ann_path, ", ".join(np.asarray(fasta.names, dtype=object)[~matched_rec][:5]))
        if not has_seq.any():
            raise ValueError(
                f"{fa_path}: no FASTA name matches a transcript id of {ann_path} (FASTA: "
                f"{', '.join(fasta.names[:3])}; annotation: {', '.join(tx['transcript_id'].astype(str)[:3])})")

        # --- exon lengths must add up to the sequence length -------------------------------------
        fa_len = fasta.lengths
        keep = has_seq.copy()
        bad = np.flatnonzero(has_seq & (tx_len != fa_len[np.where(has_seq, rec, 0)]))
        if len(bad):
            b = int(bad[0])
            r = tx.iloc[b]
            msg = (f"{fa_path} line {fasta.line(int(rec[b]))}: transcript {r['transcript_id']} has "
                   f"{int(fa_len[rec[b]])} nt but its exons in {ann_path} (line {r.get('line', '?')}) add up "
                   f"to {int(tx_len[b])} nt; {len(bad)} transcript(s) differ")
            if self.length_mismatch == "error":
                raise ValueError(msg + " (do the sequences and the annotation belong together?)")
            log.warning("%s; dropped", msg)
            dropped["length_mismatch"] = len(bad)
            keep[bad] = False
        return keep

    def attrs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": "transcripts", "transcripts_sha256": self.fasta.sha256 or ""}
        sha = self.ann_input.sha256()
        if sha:
            out["annotation_sha256"] = sha
        return out

    def extract(self, lay: Layout) -> npt.NDArray[np.uint8]:
        used = self.rec[lay.kept]
        seq = gather_records(self.fasta, used)
        self.fasta.codes.clear()  # the unkept records too
        self.used = used
        return seq

    def finish_stats(self, stats: dict[str, dict[str, Any]], lay: Layout) -> None:
        fasta, used = self.fasta, self.used
        n_any = fasta.n_count[used] + fasta.n_ambiguous[used]  # code 4 in the store
        stats["annotation"] = {str(k): int(v) for k, v in self.counts.items()}
        del stats["dropped_contig"]
        stats["summary"].update({
            "fasta_records": len(fasta.names),
            "transcripts_with_n": int((n_any > 0).sum()),
            "transcript_n_nt": int(n_any.sum()),
            "transcript_iupac_nt": int(fasta.n_ambiguous[used].sum()),
        })

    def close(self) -> None:
        pass


def build_store_from_transcripts(
    transcripts: str | os.PathLike[str],
    annotation: Any,
    species: str,
    out: str | os.PathLike[str],
    fmt: str = "auto",
    max_length: int | None = None,
    chromosomes_include: Iterable[str] = (),
    chromosomes_exclude: Iterable[str] = (),
    biotypes: Iterable[str] = (),
    gene_map: pd.DataFrame | None = None,
    length_mismatch: str = "error",
    missing: str = "drop",
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Build ``out`` from a transcript FASTA and its annotation; return the stats sections.

    ``annotation``: a path (format ``fmt``) or an already-read ``Annotation``. ``max_length``
    (default: :data:`isoclr.store.assemble.DEFAULT_MAX_LENGTH`; 0: no limit), the chromosome
    regexes and ``biotypes`` filter as in :func:`isoclr.store.builder.build_store`. ``gene_map``:
    from :func:`read_gene_map`, replaces gene ids/names (formats without genes, e.g. BED12).
    ``length_mismatch``: ``error`` (default) or ``drop``; ``missing``: ``drop`` (default,
    counted) or ``error``. ``provenance``: store attributes (taxid, transcripts_url,
    annotation_url, annotation_version, sha256s); missing sha256s are computed.
    """
    source = TranscriptSource(transcripts, annotation, fmt, gene_map, length_mismatch, missing)
    return build_from_source(source, species, out, DEFAULT_MAX_LENGTH if max_length is None else max_length,
                             chromosomes_include, chromosomes_exclude, biotypes, provenance)
