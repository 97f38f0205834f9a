"""The one embeddings layout, and its file formats (no torch: probe jobs read these files).

Every embeddings file (``isoclr embed``, :class:`isoclr.evaluate.embedder.Embedder`, the pipeline's
``results/embeddings/{encoder}/{task}.h5``) holds one row per transcript:

============== ========= ===================================================================
column         type      meaning
============== ========= ===================================================================
transcript_id  str       the transcript's id (store / annotation / FASTA name)
gene_id        str       its gene (the transcript id when unknown)
species        str       the store's species (``unknown`` when not given)
length         int64     mature length in nucleotides
tracks         str       where the coding and splice tracks came from: ``annotation``
                         (a store or an annotation), ``header_cds`` (coding track from a
                         ``CDS:start-end`` FASTA header field, no splice track) or ``none``
                         (a FASTA alone: coding and splice tracks empty)
h              float32   the embedding, (n, D)
============== ========= ===================================================================

plus attributes (checkpoint, objective, encoder, input, ...). The format follows the output's
extension (:data:`FORMATS`); any other extension is an error:

* ``.h5``: datasets ``/h`` (n, D) and one 1-D dataset per column, attributes as HDF5 attrs;
* ``.npz``: the same arrays (strings as fixed-width unicode, so ``np.load`` needs no
  pickle) and ``attrs`` (a JSON string);
* ``.parquet``: the columns, then ``h_0`` .. ``h_{D-1}``; attributes as JSON in the schema
  metadata (key ``isoclr``);
* ``.tsv``: a first line ``#isoclr {JSON attributes}``, then a header and the same columns as
  parquet.

:func:`read_embeddings` reads any of them back as :class:`Embeddings`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.core.files import atomic_path

COLUMNS = ("transcript_id", "gene_id", "species", "length", "tracks")
#: the values of the ``tracks`` column (checked when a file is read)
TRACK_SOURCES = ("annotation", "header_cds", "none")
FORMATS = {".h5": "h5", ".hdf5": "h5", ".npz": "npz", ".parquet": "parquet", ".tsv": "tsv"}


def embeddings_format(path: str | os.PathLike[str]) -> str:
    """``h5``, ``npz``, ``parquet`` or ``tsv`` from the extension; anything else is an error."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"{path}: unknown embeddings format {suffix or '(no extension)'!r}; the output's "
            f"extension chooses it: {', '.join(sorted(FORMATS))}")
    return FORMATS[suffix]


@dataclass
class Embeddings:
    """One row per transcript: ``table`` (:data:`COLUMNS`) and ``h`` (n, D) float32."""

    table: pd.DataFrame
    h: npt.NDArray[np.float32]
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.h = np.asarray(self.h, dtype=np.float32)
        if self.h.ndim != 2 or self.h.shape[0] != len(self.table):
            raise ValueError(f"h has shape {self.h.shape}, the table {len(self.table)} rows")
        t = self.table
        missing = [c for c in COLUMNS if c not in t.columns]
        if missing:
            raise ValueError(f"embeddings table lacks column(s) {', '.join(missing)}")
        self.table = pd.DataFrame({
            "transcript_id": t["transcript_id"].astype(str).to_numpy(dtype=object),
            "gene_id": t["gene_id"].astype(str).to_numpy(dtype=object),
            "species": t["species"].astype(str).to_numpy(dtype=object),
            "length": t["length"].to_numpy(dtype=np.int64),
            "tracks": t["tracks"].astype(str).to_numpy(dtype=object),
        })

    def __len__(self) -> int:
        return len(self.table)

    def frame(self) -> pd.DataFrame:
        """One DataFrame: the columns, then ``h_0`` .. ``h_{D-1}`` (float32); attrs in ``.attrs``."""
        hcols = pd.DataFrame(self.h, columns=[f"h_{k}" for k in range(self.h.shape[1])])
        df = pd.concat([self.table.reset_index(drop=True), hcols], axis=1)
        df.attrs = dict(self.attrs)
        return df

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Embeddings:
        hcols = h_columns(df)
        return cls(df[list(COLUMNS)], df[hcols].to_numpy(dtype=np.float32), dict(df.attrs))


def h_columns(df: pd.DataFrame) -> list[str]:
    """The ``h_k`` columns of a frame, in order of ``k``."""
    cols = [c for c in df.columns if isinstance(c, str) and c.startswith("h_") and c[2:].isdigit()]
    return sorted(cols, key=lambda c: int(c[2:]))


def _json_attrs(attrs: dict[str, Any]) -> str:
    return json.dumps({str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in attrs.items()},
                      sort_keys=True, default=str)


def write_embeddings(path: str | os.PathLike[str], emb: Embeddings | pd.DataFrame) -> Path:
    """Write ``emb`` atomically in the format of ``path``'s extension (see the module doc)."""
    fmt = embeddings_format(path)
    if isinstance(emb, pd.DataFrame):
        emb = Embeddings.from_frame(emb)
    t = emb.table
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        if fmt == "h5":
            import h5py

            from isoclr.core.files import h5_create

            str_dt = h5py.string_dtype("utf-8")
            with h5_create(tmp) as f:  # built in memory: a full disk is an OSError, not a crash
                f.create_dataset("h", data=emb.h)
                for c in COLUMNS:
                    if c == "length":
                        f.create_dataset(c, data=t[c].to_numpy(dtype=np.int64))
                    else:
                        f.create_dataset(c, data=t[c].to_numpy(dtype=object), dtype=str_dt)
                for k, v in emb.attrs.items():
                    f.attrs[str(k)] = "" if v is None else v if isinstance(v, (int, float, np.generic)) else str(v)
        elif fmt == "npz":
            arrays = {c: (t[c].to_numpy(dtype=np.int64) if c == "length" else t[c].to_numpy(dtype=str))
                      for c in COLUMNS}
            with open(tmp, "wb") as fh:
                np.savez(fh, h=emb.h, attrs=np.asarray(_json_attrs(emb.attrs)), **arrays)
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            frame = emb.frame()
            frame.attrs = {}
            table = pa.Table.from_pandas(frame, preserve_index=False)
            meta = dict(table.schema.metadata or {})
            meta[b"isoclr"] = _json_attrs(emb.attrs).encode()
            pq.write_table(table.replace_schema_metadata(meta), tmp)
        else:  # tsv
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write("#isoclr " + _json_attrs(emb.attrs) + "\n")
                emb.frame().to_csv(fh, sep="\t", index=False, float_format="%.9g")
    return path


def _checked(path: Path, table: pd.DataFrame, h: Any, attrs: Any, where: str) -> Embeddings:
    """The file's arrays as :class:`Embeddings`, checked first: ``h`` a 2-D array of finite
    numbers with a row per transcript; every column present, of its type, as long as ``h``;
    ``length`` >= 1; ``tracks`` one of :data:`TRACK_SOURCES`. A failure names the file and
    the column (``where`` says what a column is: dataset, array, column)."""
    h = np.asarray(h)
    if h.ndim != 2 or h.dtype.kind not in "fiu":
        raise ValueError(f"{path}: {where} h: expected a 2-D numeric array (n, D), got dtype "
                         f"{h.dtype} shape {h.shape}")
    if not np.isfinite(h).all():
        row = int(np.flatnonzero(~np.isfinite(h).all(axis=1))[0])
        raise ValueError(f"{path}: {where} h: row {row} holds NaN or infinity (or text that is not "
                         "a number)")
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: no {where} {', '.join(missing)} (not an embeddings file of "
                         "this layout)")
    for c in COLUMNS:
        col = table[c]
        if len(col) != h.shape[0]:
            raise ValueError(f"{path}: {where} {c} has {len(col)} entries, h has {h.shape[0]} rows")
    length = np.asarray(table["length"])
    if length.dtype.kind not in "iu":
        raise ValueError(f"{path}: {where} length: expected integers, got dtype {length.dtype}")
    if len(length) and length.min() < 1:
        row = int(np.argmin(length))
        raise ValueError(f"{path}: {where} length: row {row} ({table['transcript_id'].iloc[row]}) "
                         f"has length {length[row]}")
    tracks = pd.Series(np.asarray(table["tracks"]).astype(str))
    bad = ~tracks.isin(TRACK_SOURCES)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}: {where} tracks: row {row} is {tracks.iloc[row]!r}, not one of "
                         f"{', '.join(TRACK_SOURCES)}")
    if not isinstance(attrs, dict):
        raise ValueError(f"{path}: attributes are not a JSON object")  # noqa: TRY004 (bad file content)
    return Embeddings(table, h, attrs)


def read_embeddings(path: str | os.PathLike[str]) -> Embeddings:
    """Read an embeddings file of any of the :data:`FORMATS` (chosen by the extension); its
    arrays are checked before use (a failure names the file and the column)."""
    fmt = embeddings_format(path)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"embeddings file not found: {path}")
    if fmt == "h5":
        import h5py

        if not h5py.is_hdf5(path):
            raise ValueError(f"{path}: not an HDF5 file (not an embeddings file)")
        with h5py.File(path, "r") as f:
            if not isinstance(f.get("h"), h5py.Dataset):
                raise ValueError(f"{path}: no /h dataset (not an embeddings file)")  # noqa: TRY004 (bad file content)
            h = f["h"][:]
            cols = {}
            for c in COLUMNS:
                if not isinstance(f.get(c), h5py.Dataset):
                    raise ValueError(f"{path}: no /{c} dataset (not an embeddings file of this layout)")  # noqa: TRY004 (bad file content)
                ds = f[c]
                if c == "length":
                    cols[c] = ds[:]
                elif h5py.check_string_dtype(ds.dtype) is None:
                    raise ValueError(f"{path}: dataset /{c}: expected strings, got dtype {ds.dtype}")
                else:
                    cols[c] = ds.asstr()[:]
            attrs = {k: (v.decode() if isinstance(v, bytes) else v.item() if isinstance(v, np.generic) else v)
                     for k, v in f.attrs.items()}
        return _checked(path, pd.DataFrame(cols), h, attrs, "dataset")
    if fmt == "npz":
        from isoclr.core.files import load_npz

        z = load_npz(path)  # object (pickled) arrays refused, naming the file and the array
        missing = [c for c in ("h", "attrs", *COLUMNS) if c not in z]
        if missing:
            raise ValueError(f"{path}: no array(s) {', '.join(missing)} (not an embeddings file)")
        try:
            attrs = json.loads(str(z["attrs"]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: array 'attrs' is not JSON ({exc})") from None
        lengths = {len(np.atleast_1d(z[c])) for c in COLUMNS}
        if len(lengths) != 1:
            raise ValueError(f"{path}: arrays {', '.join(COLUMNS)} differ in length ({sorted(lengths)})")
        return _checked(path, pd.DataFrame({c: np.atleast_1d(z[c]) for c in COLUMNS}), z["h"],
                        attrs, "array")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:  # ArrowInvalid: not parquet
            raise ValueError(f"{path}: not a readable parquet file ({exc})") from None
        meta = (table.schema.metadata or {}).get(b"isoclr", b"{}")
        df = table.to_pandas()
        hcols = h_columns(df)
        if not hcols:
            raise ValueError(f"{path}: no h_0 .. h_D columns (not an embeddings file)")
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: no column {', '.join(missing)} (not an embeddings file)")
        return _checked(path, df[list(COLUMNS)], df[hcols].to_numpy(), json.loads(meta.decode()),
                        "column")
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
        if not first.startswith("#isoclr "):
            raise ValueError(f"{path} line 1: expected '#isoclr {{attributes}}' (not an embeddings file)")
        attrs = json.loads(first[len("#isoclr "):])
        df = pd.read_csv(fh, sep="\t", dtype={"transcript_id": str, "gene_id": str, "species": str,
                                              "tracks": str}, keep_default_na=False)
    hcols = h_columns(df)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing or not hcols:
        raise ValueError(f"{path}: no column {', '.join(missing) or 'h_0'} (not an embeddings file)")
    h = df[hcols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)  # text: NaN
    return _checked(path, df[list(COLUMNS)], h, attrs, "column")
