"""The species isoform store: one HDF5 file of mature transcripts (layout in docs/store.md).

Writing: :func:`write_store` takes a per-transcript table, the concatenated nucleotide codes and
the exon/sequence offsets, and writes the file atomically (temp file + rename).

Reading: :class:`IsoformStore` opens the file lazily, once per process, so a store object can be
pickled into ``torch.utils.data.DataLoader`` workers: each worker re-opens the file on first use.
The small per-transcript arrays (offsets, CDS, exon ends) are read into memory on first use, so
``codes(i)``/``marks(i)``/``tracks(i)`` cost one slice of the chunked ``/seq`` dataset (one or two
chunk decompressions) and no search: O(1) random access.
"""

from __future__ import annotations

import datetime as _dt
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
try:  # reading batches needs no pandas (benchmarks/bench_gpu.py runs with torch, numpy, h5py)
    import pandas as pd
except ImportError:  # pragma: no cover - pandas is a dependency of the package
    pd = None  # type: ignore[assignment]  # writing a store and its tables need it

from isoclr import __version__
from isoclr.core.encoding import make_marks, tracks_numpy
from isoclr.core.files import atomic_path, h5_create

try:  # optional: ISA-L deflate (same zlib format, several times faster)
    from isal import isal_zlib as _isal_zlib  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    _isal_zlib = None

FORMAT_VERSION = 1
#: /seq chunk length in nucleotides (bytes). 32 KiB measured as the best trade-off between
#: random-access latency (one transcript touches 1-2 chunks) and compression (docs/store.md).
SEQ_CHUNK = 32768
#: gzip level for /seq. Level 1 already reaches ~0.3 bytes/nt on codes 0-4 (level 4: ~0.24)
#: at half the write time (docs/store.md has the measurements).
SEQ_GZIP_LEVEL = 1
#: chunk cache per open file (bytes): a sequential scan reuses the chunk it is in.
CHUNK_CACHE_BYTES = 16 * 1024 * 1024

#: Attributes every store carries (empty string when unknown).
PROVENANCE_ATTRS = (
    "species",
    "taxid",
    "format_version",
    "isoclr_version",
    "genome_url",
    "genome_sha256",
    "annotation_url",
    "annotation_sha256",
    "annotation_format",
    "annotation_version",
    "created",
)

TABLE_COLUMNS = (
    "transcript_id",
    "gene_id",
    "gene_name",
    "chrom",
    "strand",
    "start",
    "end",
    "length",
    "n_exons",
    "cds_start",
    "cds_end",
    "cds_phase",
    "biotype",
    "tags",
)

_STR = h5py.string_dtype("utf-8")


def _str_array(values: Any) -> npt.NDArray[np.object_]:
    arr = np.asarray(values, dtype=object)
    if arr.ndim == 1 and pd.api.types.infer_dtype(arr, skipna=False) == "string":
        return arr.copy()  # all str already (the usual case): no per-value Python
    return np.asarray(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values], dtype=object)


def _column(table: pd.DataFrame, name: str, default: Any, n: int) -> npt.NDArray[Any]:
    if name in table.columns:
        return table[name].to_numpy()
    return np.full(n, default)


def group_genes(gene_ids: Sequence[str] | npt.NDArray[Any]) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """Genes in order of first appearance -> (gene ids, gene row per transcript, tx_offset, tx_index).

    ``tx_index[tx_offset[g]:tx_offset[g + 1]]`` are the transcripts of gene ``g`` in ascending
    transcript order.
    """
    codes, uniques = pd.factorize(pd.Series(np.asarray(gene_ids, dtype=object)), sort=False)
    gene = codes.astype(np.int32)
    order = np.argsort(gene, kind="stable").astype(np.int32)
    counts = np.bincount(gene, minlength=len(uniques))
    offset = np.zeros(len(uniques) + 1, dtype=np.int64)
    np.cumsum(counts, out=offset[1:])
    return np.asarray(uniques, dtype=object), gene, offset, order


def _write_seq_parallel(f: h5py.File, codes: npt.NDArray[np.uint8], chunk: int, level: int | None,
                        threads: int = 2) -> None:
    """``/seq`` as h5py's gzip filter would write it, the chunks deflated by ``threads``
    threads (zlib releases the GIL) and stored with ``write_direct_chunk``."""
    level = 4 if level is None else int(level)  # h5py's default gzip level
    ds = f.create_dataset("seq", shape=codes.shape, dtype=np.uint8, chunks=(chunk,),
                          compression="gzip", compression_opts=level)
    n = len(codes)
    # ISA-L (optional) writes the same zlib format 5x faster than zlib level 1 and smaller
    # (0.24 vs 0.30 bytes/nt on real transcripts); its levels are 0-3
    compress = (lambda b: _isal_zlib.compress(b, level)) if _isal_zlib is not None and level <= 3 \
        else (lambda b: zlib.compress(b, level))

    def deflate(i: int) -> bytes:
        part = codes[i * chunk : (i + 1) * chunk]
        if len(part) < chunk:  # HDF5 stores whole chunks: pad the last one
            part = np.concatenate([part, np.zeros(chunk - len(part), dtype=np.uint8)])
        return compress(memoryview(part))

    with ThreadPoolExecutor(threads) as pool:
        for i, data in enumerate(pool.map(deflate, range(-(-n // chunk)))):
            ds.id.write_direct_chunk((i * chunk,), data)


def write_store(
    path: str | os.PathLike[str],
    table: pd.DataFrame,
    codes: npt.ArrayLike | Callable[[], npt.ArrayLike],
    seq_offset: npt.ArrayLike,
    exon_tx_end: npt.ArrayLike,
    exon_offset: npt.ArrayLike,
    attrs: Mapping[str, Any],
    *,
    exon_start: npt.ArrayLike | None = None,
    exon_end: npt.ArrayLike | None = None,
    chunk: int = SEQ_CHUNK,
    compression: str = "gzip",
    compression_opts: int | None = SEQ_GZIP_LEVEL,
) -> Path:
    """Write a species store atomically (temp file beside ``path``, renamed on success).

    ``table``: one row per transcript, in store order. Required column: ``transcript_id``,
    ``gene_id``; optional (defaults in brackets): ``gene_name`` [gene_id], ``chrom`` [""],
    ``strand`` ["+"], ``cds_start``/``cds_end`` [-1] (transcript coordinates, stop codon
    included), ``cds_phase`` [0], ``biotype`` [""], ``tags`` [""].
    ``codes``: uint8 codes of all transcripts concatenated; transcript ``i`` is
    ``codes[seq_offset[i]:seq_offset[i+1]]``; or a function returning them, called once the
    rest of the store is written (the caller computes the sequences meanwhile, e.g. on another
    thread). Exons of transcript ``i`` are rows
    ``exon_offset[i]:exon_offset[i+1]`` of ``exon_tx_end`` (exclusive ends in transcript
    coordinates, transcript order) and of ``exon_start``/``exon_end`` (genomic, 0-based
    half-open, transcript order); without genomic coordinates (simulated transcripts) the
    transcript coordinates are stored in their place.
    ``attrs``: provenance (see :data:`PROVENANCE_ATTRS`); ``species`` is required.
    """
    n = len(table)
    seq_offset = np.asarray(seq_offset, dtype=np.int64)
    exon_offset = np.asarray(exon_offset, dtype=np.int64)
    exon_tx_end = np.asarray(exon_tx_end, dtype=np.int64)
    if "species" not in attrs or not attrs["species"]:
        raise ValueError(f"{path}: store attrs need a 'species'")
    for col in ("transcript_id", "gene_id"):
        if col not in table.columns:
            raise ValueError(f"{path}: transcript table has no {col!r} column")
    if seq_offset.shape != (n + 1,) or exon_offset.shape != (n + 1,):
        raise ValueError(f"{path}: seq_offset and exon_offset need {n + 1} entries (N+1)")
    if seq_offset[0] != 0 or np.any(np.diff(seq_offset) < 0):
        raise ValueError(f"{path}: seq_offset must rise from 0 to len(codes)")
    if not callable(codes):
        codes = _checked_codes(path, codes, seq_offset)
    n_exons = len(exon_tx_end)
    if exon_offset[0] != 0 or exon_offset[-1] != n_exons or np.any(np.diff(exon_offset) < 1):
        raise ValueError(f"{path}: exon_offset must rise from 0 to {n_exons}, >= 1 exon each")
    lengths = np.diff(seq_offset)
    last = exon_offset[1:] - 1
    if n and not np.array_equal(exon_tx_end[last], lengths):
        bad = int(np.flatnonzero(exon_tx_end[last] != lengths)[0])
        raise ValueError(
            f"{path}: transcript {table['transcript_id'].iloc[bad]}: last exon ends at "
            f"{exon_tx_end[last[bad]]}, sequence length is {lengths[bad]}"
        )
    if exon_start is None or exon_end is None:
        tx_start = np.concatenate([[0], exon_tx_end[:-1]]) if n_exons else exon_tx_end
        tx_start[exon_offset[:-1]] = 0
        exon_start, exon_end = tx_start, exon_tx_end
    exon_start = np.asarray(exon_start, dtype=np.int64)
    exon_end = np.asarray(exon_end, dtype=np.int64)
    if exon_start.shape != (n_exons,) or exon_end.shape != (n_exons,):
        raise ValueError(f"{path}: exon_start/exon_end need {n_exons} entries")
    tx_id = _str_array(table["transcript_id"])
    if len(set(tx_id)) != n:
        dup = pd.Series(tx_id).loc[pd.Series(tx_id).duplicated()].iloc[0]
        raise ValueError(f"{path}: duplicate transcript id {dup}")
    gene_ids, gene_row, tx_offset, tx_index = group_genes(_str_array(table["gene_id"]))
    gene_name_col = _column(table, "gene_name", None, n)
    gene_names = _str_array(gene_name_col)
    first_tx = tx_index[tx_offset[:-1]] if n else np.zeros(0, dtype=np.int64)
    g_names = gene_names[first_tx] if n else np.zeros(0, dtype=object)
    g_names = np.where(g_names == "", gene_ids, g_names) if n else g_names

    strand = _str_array(_column(table, "strand", "+", n))
    if n and not np.isin(strand, ["+", "-"]).all():
        raise ValueError(f"{path}: strand must be '+' or '-'")
    cds_start = np.asarray(_column(table, "cds_start", -1, n), dtype=np.int64)
    cds_end = np.asarray(_column(table, "cds_end", -1, n), dtype=np.int64)
    cds_phase = np.asarray(_column(table, "cds_phase", 0, n), dtype=np.int64)
    coding = cds_start >= 0
    if np.any(coding & ((cds_end > lengths) | (cds_end <= cds_start))):
        bad = int(np.flatnonzero(coding & ((cds_end > lengths) | (cds_end <= cds_start)))[0])
        raise ValueError(f"{path}: transcript {tx_id[bad]}: CDS {cds_start[bad]}-{cds_end[bad]} outside 0-{lengths[bad]}")
    if np.any((cds_phase < 0) | (cds_phase > 2)):
        raise ValueError(f"{path}: cds_phase must be 0, 1 or 2")

    meta = {k: "" for k in PROVENANCE_ATTRS}
    meta.update({k: ("" if v is None else v) for k, v in attrs.items()})
    meta["format_version"] = FORMAT_VERSION
    meta["isoclr_version"] = __version__
    if not meta.get("created"):
        meta["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")

    with atomic_path(path, suffix=".h5") as tmp:
        with h5_create(tmp) as f:
            for key, value in meta.items():
                f.attrs[key] = value
            t = f.create_group("transcripts")
            small = {"compression": "gzip", "compression_opts": 4} if n > 1024 else {}
            t.create_dataset("seq_offset", data=seq_offset, **small)
            t.create_dataset("exon_offset", data=exon_offset, **small)
            t.create_dataset("id", data=tx_id, dtype=_STR, **small)
            t.create_dataset("gene", data=gene_row, **small)
            t.create_dataset("chrom", data=_str_array(_column(table, "chrom", "", n)), dtype=_STR, **small)
            t.create_dataset("strand", data=np.asarray([s.encode() for s in strand], dtype="S1"), **small)
            t.create_dataset("cds_start", data=cds_start.astype(np.int32), **small)
            t.create_dataset("cds_end", data=cds_end.astype(np.int32), **small)
            t.create_dataset("cds_phase", data=cds_phase.astype(np.int8), **small)
            t.create_dataset("biotype", data=_str_array(_column(table, "biotype", "", n)), dtype=_STR, **small)
            t.create_dataset("tags", data=_str_array(_column(table, "tags", "", n)), dtype=_STR, **small)
            e = f.create_group("exons")
            esmall = {"compression": "gzip", "compression_opts": 4} if n_exons > 1024 else {}
            e.create_dataset("start", data=exon_start, **esmall)
            e.create_dataset("end", data=exon_end, **esmall)
            e.create_dataset("tx_end", data=exon_tx_end.astype(np.int32), **esmall)
            g = f.create_group("genes")
            g.create_dataset("id", data=gene_ids, dtype=_STR)
            g.create_dataset("name", data=_str_array(g_names), dtype=_STR)
            g.create_dataset("tx_offset", data=tx_offset)
            g.create_dataset("tx_index", data=tx_index)
            if callable(codes):
                codes = _checked_codes(path, codes(), seq_offset)
            seq_chunk = (max(1, min(chunk, len(codes))),) if len(codes) else None
            if compression == "gzip" and len(codes) >= 16 * chunk:
                _write_seq_parallel(f, codes, chunk, compression_opts)
            else:
                f.create_dataset(
                    "seq",
                    data=codes,
                    chunks=seq_chunk,
                    compression=compression if len(codes) else None,
                    compression_opts=compression_opts if len(codes) and compression == "gzip" else None,
                )
    return Path(path)


def _checked_codes(path: str | os.PathLike[str], codes: npt.ArrayLike,
                   seq_offset: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if seq_offset[-1] != len(codes):
        raise ValueError(f"{path}: seq_offset must rise from 0 to len(codes)={len(codes)}")
    if codes.size and int(codes.max()) > 4:
        raise ValueError(f"{path}: codes must be 0..4 (A, C, G, T, N)")
    return codes


# ----------------------------------------------------------------------------- checks on read

#: every dataset a store holds: (path, dtype kind: 'i' integer, 's' UTF-8 string, 'S' bytes,
#: 'u1' uint8, per: the length it must have)
STORE_DATASETS = (
    ("transcripts/seq_offset", "i", "n+1"),
    ("transcripts/exon_offset", "i", "n+1"),
    ("transcripts/id", "s", "n"),
    ("transcripts/gene", "i", "n"),
    ("transcripts/chrom", "s", "n"),
    ("transcripts/strand", "S", "n"),
    ("transcripts/cds_start", "i", "n"),
    ("transcripts/cds_end", "i", "n"),
    ("transcripts/cds_phase", "i", "n"),
    ("transcripts/biotype", "s", "n"),
    ("transcripts/tags", "s", "n"),
    ("exons/start", "i", "e"),
    ("exons/end", "i", "e"),
    ("exons/tx_end", "i", "e"),
    ("genes/id", "s", "g"),
    ("genes/name", "s", "g"),
    ("genes/tx_offset", "i", "g+1"),
    ("genes/tx_index", "i", "n"),
    ("seq", "u1", "nt"),
)


class StoreError(ValueError):
    """A store file that is not what ``write_store`` writes; the message names the file, the
    dataset and what is wrong."""


def open_store_file(path: str | os.PathLike[str]) -> h5py.File:
    """Open a store read-only; a file that is not HDF5 (or unreadable) is named."""
    try:
        return h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES, rdcc_nslots=10007)
    except OSError as exc:
        what = "not an HDF5 file" if not h5py.is_hdf5(path) else f"cannot be read ({exc})"
        raise StoreError(f"{path}: {what}: not an isoform store written by `isoclr build`"
                         ) from None


def _first(bad: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(bad)[0])


def check_store(f: h5py.File, path: str | os.PathLike[str]) -> dict[str, npt.NDArray[Any]]:
    """Check an open store against what :func:`write_store` writes and return its in-memory
    index (offsets, exon ends, CDS, genes; the genomic exon coordinates are checked, not kept:
    the index travels to every DataLoader worker).

    Checked, vectorised over whole datasets: the format version; every dataset present, 1-D,
    of the right dtype kind and length; offsets rising from 0 to the length of the dataset
    they index (>= 1 exon per transcript); gene rows and gene transcript lists in range;
    exon ends rising inside each transcript to its length; genomic exons ``0 <= start <
    end``; strands ``+``/``-``; each CDS inside its transcript, phases 0-2. The nucleotide
    codes are checked (0-4) as they are read. Raises :class:`StoreError`."""

    def fail(ds: str, msg: str) -> StoreError:
        return StoreError(f"{path}: /{ds}: {msg}")

    version = f.attrs.get("format_version")
    if version is None:
        raise StoreError(f"{path}: no format_version attribute: not an isoform store written by "
                         "`isoclr build`")
    if not isinstance(version, (int, np.integer)) or int(version) != FORMAT_VERSION:
        shown = int(version) if isinstance(version, (int, np.integer)) else repr(version)
        raise StoreError(f"{path}: store format_version {shown}; this isoclr reads version "
                         f"{FORMAT_VERSION}: rebuild the store with `isoclr build`")
    for name, kind, _ in STORE_DATASETS:
        ds = f.get(name)
        if not isinstance(ds, h5py.Dataset):
            raise fail(name, "missing (required dataset)")
        if ds.ndim != 1:
            raise fail(name, f"has shape {ds.shape}, expected one dimension")
        dt = ds.dtype
        ok = {"i": dt.kind in "iu", "s": h5py.check_string_dtype(dt) is not None and dt.kind == "O",
              "S": dt.kind == "S", "u1": dt == np.uint8}[kind]
        if not ok:
            want = {"i": "integers", "s": "UTF-8 strings", "S": "bytes", "u1": "uint8 codes"}[kind]
            raise fail(name, f"has dtype {dt}, expected {want}")
    n = f["transcripts/seq_offset"].shape[0] - 1
    e = f["exons/tx_end"].shape[0]
    g = f["genes/id"].shape[0]
    sizes = {"n+1": n + 1, "n": n, "e": e, "g": g, "g+1": g + 1, "nt": f["seq"].shape[0]}
    if n < 0:
        raise fail("transcripts/seq_offset", "is empty (needs N+1 entries)")
    for name, _, per in STORE_DATASETS:
        if f[name].shape[0] != sizes[per]:
            raise fail(name, f"has {f[name].shape[0]} entries, expected {sizes[per]} ({per} "
                       f"with n={n} transcripts, e={e} exons, g={g} genes)")

    def offsets(name: str, values: npt.NDArray[np.int64], total: int, target: str,
                least: int = 0) -> None:
        step = np.diff(values)
        if values[0] != 0 or values[-1] != total or (len(step) and step.min() < least):
            i = _first(step < least) if len(step) and step.min() < least else None
            where = f" (entry {i + 1}: {values[i + 1]} after {values[i]})" if i is not None else (
                f" (first {values[0]}, last {values[-1]})")
            raise fail(name, f"offsets must rise{' strictly' if least else ''} from 0 to "
                       f"{total}, the length of /{target}{where}")

    t = f["transcripts"]
    seq_offset = t["seq_offset"][:].astype(np.int64)
    exon_offset = t["exon_offset"][:].astype(np.int64)
    offsets("transcripts/seq_offset", seq_offset, sizes["nt"], "seq")
    offsets("transcripts/exon_offset", exon_offset, e, "exons/tx_end", least=1)
    tx_offset = f["genes/tx_offset"][:].astype(np.int64)
    offsets("genes/tx_offset", tx_offset, n, "genes/tx_index", least=1)
    gene = t["gene"][:]
    if n and (gene.min() < 0 or gene.max() >= g):
        i = _first((gene < 0) | (gene >= g))
        raise fail("transcripts/gene", f"entry {i}: gene row {gene[i]} outside 0-{g - 1}")
    tx_index = f["genes/tx_index"][:]
    if n and (tx_index.min() < 0 or tx_index.max() >= n
              or not (np.bincount(tx_index, minlength=n) == 1).all()):
        raise fail("genes/tx_index", f"must list each transcript 0-{n - 1} once")
    lengths = np.diff(seq_offset)
    tx_end = f["exons/tx_end"][:].astype(np.int64)
    if e:
        start_of = np.zeros(e, dtype=bool)
        start_of[exon_offset[:-1]] = True
        prev = np.concatenate([[0], tx_end[:-1]])
        prev[start_of] = 0
        bad = tx_end <= prev
        last = exon_offset[1:] - 1
        if bad.any() or not np.array_equal(tx_end[last], lengths):
            i = _first(bad) if bad.any() else int(last[_first(tx_end[last] != lengths)])
            tx = int(np.searchsorted(exon_offset, i, side="right") - 1)
            raise fail("exons/tx_end", f"exon {i} of transcript {tx}: ends must rise inside a "
                       f"transcript to its length {lengths[tx]} (got {tx_end[i]})")
    exon_start = f["exons/start"][:].astype(np.int64)
    exon_end = f["exons/end"][:].astype(np.int64)
    bad = (exon_start < 0) | (exon_end <= exon_start)
    if bad.any():
        i = _first(bad)
        raise fail("exons/start", f"exon {i}: genomic start {exon_start[i]}, end {exon_end[i]}: "
                   "not 0 <= start < end")
    strand = t["strand"][:]
    bad = (strand != b"+") & (strand != b"-")
    if bad.any():
        i = _first(bad)
        shown = bytes(strand[i]).decode(errors="replace")
        raise fail("transcripts/strand", f"transcript {i}: strand {shown!r} is not + or -")
    cds_start = t["cds_start"][:].astype(np.int64)
    cds_end = t["cds_end"][:].astype(np.int64)
    cds_phase = t["cds_phase"][:].astype(np.int64)
    coding = cds_start != -1
    bad = np.where(coding, (cds_start < 0) | (cds_end <= cds_start) | (cds_end > lengths),
                   cds_end != -1)
    if bad.any():
        i = _first(bad)
        raise fail("transcripts/cds_start", f"transcript {i}: CDS {cds_start[i]}-{cds_end[i]} "
                   f"is not inside the transcript (0-{lengths[i]}; -1 -1 = non-coding)")
    bad = (cds_phase < 0) | (cds_phase > 2)
    if bad.any():
        i = _first(bad)
        raise fail("transcripts/cds_phase", f"transcript {i}: phase {cds_phase[i]} is not 0-2")
    return {
        "seq_offset": seq_offset, "exon_offset": exon_offset, "exon_tx_end": tx_end,
        "cds_start": cds_start, "cds_end": cds_end, "cds_phase": cds_phase,
        "gene": gene, "gene_tx_offset": tx_offset, "gene_tx_index": tx_index,
    }


def _checked_read(codes: npt.NDArray[np.uint8], path: Path, i: int | None) -> npt.NDArray[np.uint8]:
    """Nucleotide codes as read from ``/seq``: 0-4 (A, C, G, T, N), else a StoreError."""
    if codes.size and int(codes.max()) > 4:
        where = f"transcript {i}" if i is not None else "nucleotide codes"
        raise StoreError(f"{path}: /seq: {where}: code {int(codes.max())} is not 0-4 (A, C, G, "
                         "T, N)")
    return codes


class IsoformStore:
    """Read access to a species store; safe to pickle into DataLoader workers.

    The HDF5 file is opened on first use in each process (a pickled copy re-opens it), and the
    per-transcript index arrays are cached, so random access is O(1).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"isoform store not found: {self.path}")
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self._index: dict[str, npt.NDArray[Any]] | None = None
        self._table: pd.DataFrame | None = None
        self._index = check_store(self._file(), self.path)  # nothing is read from a bad store

    # -- process-local file handle --------------------------------------------------------
    def _file(self) -> h5py.File:
        pid = os.getpid()
        if self._h5 is None or self._pid != pid:
            self._h5 = open_store_file(self.path)
            self._pid = pid
        return self._h5

    def close(self) -> None:
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = None
        self._pid = None

    def __enter__(self) -> IsoformStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_h5"] = None
        state["_pid"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"IsoformStore({str(self.path)!r})"

    # -- cached index -----------------------------------------------------------------------
    @property
    def index(self) -> dict[str, npt.NDArray[Any]]:
        """In-memory per-transcript arrays: seq_offset, exon_offset, exon_tx_end, cds_*."""
        if self._index is None:
            self._index = check_store(self._file(), self.path)
        return self._index

    def __len__(self) -> int:
        return len(self.index["seq_offset"]) - 1

    @property
    def n_genes(self) -> int:
        return len(self.index["gene_tx_offset"]) - 1

    @property
    def attrs(self) -> dict[str, Any]:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in self._file().attrs.items()}

    @property
    def species(self) -> str:
        return str(self.attrs.get("species", ""))

    def lengths(self) -> npt.NDArray[np.int64]:
        return np.diff(self.index["seq_offset"])

    def gene_ids(self) -> npt.NDArray[np.object_]:
        return self._file()["genes/id"].asstr()[:]

    def gene_of(self) -> npt.NDArray[np.int32]:
        """Gene row of every transcript (int32, (N,))."""
        return self.index["gene"]

    def gene_transcripts(self, g: int) -> npt.NDArray[np.int32]:
        off = self.index["gene_tx_offset"]
        return self.index["gene_tx_index"][off[g] : off[g + 1]]

    # -- per transcript ---------------------------------------------------------------------
    def _check(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"transcript index {i} out of range for {n} transcripts in {self.path}")
        return i % n if n else i

    def codes(self, i: int) -> npt.NDArray[np.uint8]:
        i = self._check(int(i))
        off = self.index["seq_offset"]
        return _checked_read(self._file()["seq"][off[i] : off[i + 1]], self.path, i)

    def exon_ends(self, i: int) -> npt.NDArray[np.int64]:
        """Exclusive exon ends of transcript ``i`` in transcript coordinates (transcript order)."""
        i = self._check(int(i))
        eo = self.index["exon_offset"]
        return self.index["exon_tx_end"][eo[i] : eo[i + 1]]

    def marks(self, i: int) -> npt.NDArray[np.uint8]:
        i = self._check(int(i))
        ix = self.index
        length = int(ix["seq_offset"][i + 1] - ix["seq_offset"][i])
        return make_marks(length, self.exon_ends(i), int(ix["cds_start"][i]), int(ix["cds_end"][i]), int(ix["cds_phase"][i]))

    def tracks(self, i: int) -> npt.NDArray[np.float32]:
        return tracks_numpy(self.codes(i), self.marks(i))

    def all_codes(self) -> npt.NDArray[np.uint8]:
        """Every transcript's codes concatenated (slice with ``index['seq_offset']``)."""
        return _checked_read(self._file()["seq"][:], self.path, None)

    def exons(self) -> pd.DataFrame:
        """All exons: ``tx`` (transcript row), genomic ``start``/``end``, ``tx_end``; transcript order."""
        eo = self.index["exon_offset"]
        return pd.DataFrame(
            {
                "tx": np.repeat(np.arange(len(self), dtype=np.int64), np.diff(eo)),
                "start": self._file()["exons/start"][:],
                "end": self._file()["exons/end"][:],
                "tx_end": self.index["exon_tx_end"],
            }
        )

    def table(self) -> pd.DataFrame:
        """One row per transcript (row order = transcript index); see docs/interfaces.md."""
        if self._table is None:
            f = self._file()
            t = f["transcripts"]
            ix = self.index
            n = len(self)
            eo = ix["exon_offset"]
            n_ex = np.diff(eo)
            es, ee = f["exons/start"][:], f["exons/end"][:]
            if n:
                start = np.minimum.reduceat(es, eo[:-1])
                end = np.maximum.reduceat(ee, eo[:-1])
            else:
                start = end = np.zeros(0, dtype=np.int64)
            gene_id = f["genes/id"].asstr()[:]
            gene_name = f["genes/name"].asstr()[:]
            gene = ix["gene"]
            self._table = pd.DataFrame(
                {
                    "transcript_id": t["id"].asstr()[:],
                    "gene_id": gene_id[gene] if n else gene_id[:0],
                    "gene_name": gene_name[gene] if n else gene_name[:0],
                    "chrom": t["chrom"].asstr()[:],
                    "strand": t["strand"][:].astype("U1"),
                    "start": start.astype(np.int64),
                    "end": end.astype(np.int64),
                    "length": self.lengths(),
                    "n_exons": n_ex.astype(np.int64),
                    "cds_start": ix["cds_start"],
                    "cds_end": ix["cds_end"],
                    "cds_phase": ix["cds_phase"],
                    "biotype": t["biotype"].asstr()[:],
                    "tags": t["tags"].asstr()[:],
                },
                columns=list(TABLE_COLUMNS),
            )
        return self._table.copy()
