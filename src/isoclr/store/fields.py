"""The annotation readers' shared parts: the normalised :class:`Annotation`, and the
vectorised helpers that read tab-separated columns and attributes (used by
:mod:`isoclr.store.annotation`, :mod:`isoclr.store.gtf` and :mod:`isoclr.store.annotation_tables`).

Text is read with pandas ``read_csv`` in chunks of 1 M lines; attributes are matched by regexes
over whole columns (pyarrow's RE2 ``extract_regex`` when pyarrow is installed, else Python
``re``). Every record keeps its 1-based line number so that bad input is reported as
``FILE: line N: what is wrong``.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import numpy as np
import pandas as pd

from isoclr.core.files import open_text

try:  # optional: RE2 regexes over Arrow arrays are ~3x faster than Python's re per row
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # pragma: no cover - exercised only without pyarrow
    pa = None
    pc = None

TRANSCRIPT_COLUMNS = [
    "transcript_id",
    "gene_id",
    "gene_name",
    "chrom",
    "strand",
    "start",
    "end",
    "cds_start",
    "cds_end",
    "cds_phase",
    "biotype",
    "tags",
    "line",
]

PathLike = str | os.PathLike[str]


@dataclass
class Annotation:
    """A normalised annotation: one row per transcript plus its exons.

    ``transcripts`` has the columns :data:`TRANSCRIPT_COLUMNS` (file order of first
    appearance); ``exons`` has ``tx`` (row of ``transcripts``), ``start``, ``end`` (0-based
    half-open), sorted by ``tx`` then ``start``. ``counts`` maps a reason to the number of
    records dropped or fixed while reading; ``examples`` maps a reason to the first few
    ``"ID (line N)"`` it applied to.
    """

    transcripts: pd.DataFrame
    exons: pd.DataFrame
    source: str = ""
    format: str = ""
    species: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.transcripts)

    def exon_offsets(self) -> np.ndarray:
        """``(N+1,)`` int64: transcript ``i``'s exons are rows ``off[i]:off[i+1]`` of ``exons``."""
        n = np.bincount(self.exons["tx"].to_numpy(), minlength=len(self.transcripts))
        return np.concatenate([[0], np.cumsum(n)]).astype(np.int64)


# ----------------------------------------------------------------------------- helpers


def _err(path: PathLike, line: Any, msg: str) -> ValueError:
    return ValueError(f"{path}: line {int(line)}: {msg}")


_CHUNK = 1_000_000  # lines per read_csv chunk: bounds memory on genome-scale files


def _iter_columns(
    path: PathLike, ncols: int | None, what: str, stop: str | None = None,
    chunksize: int = _CHUNK,
) -> Iterator[pd.DataFrame]:
    """Read a tab-separated file as strings, one row per physical line, in chunks.

    Yields DataFrames with integer column names ``0..k-1`` (object dtype) and a ``line``
    column (1-based line number); comment (``#``), ``track``/``browser`` and blank lines are
    removed. Lines with more or fewer than ``ncols`` fields are errors naming the line.
    Reading stops before a line equal to ``stop`` (GFF3 ``##FASTA``).
    """
    if ncols is None:
        ncols = _sniff_width(path)
        if ncols is None:
            return
    kwargs: dict[str, Any] = {
        "sep": "\t", "header": None, "names": list(range(ncols)), "dtype": object,
        "quoting": csv.QUOTE_NONE, "skip_blank_lines": False, "na_filter": False,
        "engine": "c", "chunksize": chunksize,
    }
    try:
        with open_text(path) as fh:
            for df in pd.read_csv(fh, **kwargs):
                df["line"] = df.index.to_numpy(dtype=np.int64) + 1
                done = False
                if stop is not None:  # e.g. GFF3 '##FASTA': the annotation ends there
                    hit = np.flatnonzero((df[0] == stop).to_numpy())
                    if len(hit):
                        df = df.iloc[: hit[0]]
                        done = True
                first = df[0].to_numpy(dtype=object)
                keep = (first != "") & ~_startswith(first, ("#", "track ", "browser ", "track\t",
                                                            "browser\t"))
                df = df.loc[keep]
                if len(df):
                    short = (df[ncols - 1] == "").to_numpy()
                    if short.any():
                        row = df.loc[short].iloc[0]
                        nf = int((row.drop(labels="line") != "").sum())
                        raise _err(path, row["line"], f"wrong column count: {nf} tab-separated "
                                   f"fields, a {what} line has {ncols}")
                    yield df
                if done:
                    return
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            raise _err(
                path, m.group(2), f"wrong column count: {m.group(3)} tab-separated fields, "
                f"a {what} line has {m.group(1)}"
            ) from None
        raise ValueError(f"{path}: cannot parse as {what}: {exc}") from None
    except pd.errors.EmptyDataError:
        return
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip file ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc})") from None


def _read_columns(
    path: PathLike, ncols: int | None, what: str, stop: str | None = None
) -> pd.DataFrame:
    """All of :func:`_iter_columns` in one DataFrame (index reset)."""
    parts = list(_iter_columns(path, ncols, what, stop))
    if not parts:
        return pd.DataFrame(columns=[*range(ncols or 1), "line"])
    return pd.concat(parts, ignore_index=True)


def _startswith(values: np.ndarray, prefixes: tuple[str, ...]) -> np.ndarray:
    return np.fromiter((v.startswith(prefixes) for v in values), dtype=bool, count=len(values))


def _obj(values: Any) -> pd.Series:
    """A plain object-dtype Series (pandas 3 would infer Arrow strings, slow for isin/take)."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


def _extract_groups(values: pd.Series | np.ndarray, pattern: str) -> dict[str, np.ndarray]:
    """Named groups of ``pattern`` (``re.search`` semantics) per value: ``{name: object
    array}``, None where the pattern does not match.

    Uses pyarrow's vectorised RE2 when available, else Python ``re``."""
    vals = np.asarray(values, dtype=object)
    names = list(re.compile(pattern).groupindex)
    if pc is not None and len(vals):
        arr = pa.array(vals, type=pa.string(), from_pandas=True)
        res = pc.extract_regex(arr, pattern)
        null = res.is_null().to_numpy(zero_copy_only=False)
        out = {}
        for k in names:
            col = res.field(k).to_numpy(zero_copy_only=False).astype(object)
            col[null] = None
            out[k] = col
        return out
    pat = re.compile(pattern)
    out = {k: np.empty(len(vals), dtype=object) for k in names}
    for i, v in enumerate(vals):
        m = pat.search(v) if isinstance(v, str) else None
        for k in names:
            out[k][i] = m.group(k) if m else None
    return out


def _extract(values: pd.Series | np.ndarray, pattern: str) -> pd.Series:
    """First capture group of ``pattern`` per value (None where no match); keeps the index
    of ``values`` when it is a Series."""
    index = values.index if isinstance(values, pd.Series) else None
    named = re.sub(r"(?<!\\)\((?!\?)", "(?P<v>", pattern, count=1)  # name the first group
    return pd.Series(_extract_groups(values, named)["v"], index=index, dtype=object)


def _sniff_width(path: PathLike) -> int | None:
    """Number of tab-separated fields on the first record line (None: no record)."""
    try:
        with open_text(path) as fh:
            for text in fh:
                if text.strip() and not text.startswith(("#", "track", "browser")):
                    return len(text.rstrip("\r\n").split("\t"))
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip file ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc})") from None
    return None


def _to_int(col: pd.Series, lines: pd.Series, path: PathLike, name: str) -> np.ndarray:
    try:  # fast path: every value an integer literal
        return np.asarray(col, dtype=object).astype(np.int64)
    except (ValueError, TypeError, OverflowError):
        pass
    num = pd.to_numeric(col, errors="coerce")
    bad = num.isna() | (num != np.floor(num))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise _err(path, lines.iloc[i], f"{name} {col.iloc[i]!r} is not an integer")
    return num.to_numpy().astype(np.int64)


_PHASES = {"0": 0, "1": 1, "2": 2}


def _phase(col: pd.Series) -> np.ndarray:
    """GTF/GFF3 phase column -> int64, -1 for '.' or anything else."""
    return np.fromiter((_PHASES.get(v, -1) for v in col), dtype=np.int64, count=len(col))


def _gtf_pattern(key: str) -> str:
    # the value is quoted or not; surrounding blanks are not part of it
    return rf'(?:^|;)\s*{re.escape(key)}\s+"?([^";\s][^";]*?)"?\s*(?:;|$)'


# GTF writers (GENCODE, Ensembl, RefSeq, gffread, StringTie) start with gene_id, transcript_id
_GTF_IDS_FAST = (r'^\s*gene_id\s+"?(?P<g>[^";\s][^";]*?)"?\s*;\s*transcript_id\s+'
                 r'"?(?P<t>[^";\s][^";]*?)"?\s*(?:;|$)')


def _gtf_ids(attrs: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``(gene_id, transcript_id)`` per GTF row, None where absent: one anchored regex for
    the usual layout, a general search for the other rows."""
    got = _extract_groups(attrs, _GTF_IDS_FAST)
    gid, tid = got["g"], got["t"]
    miss = np.fromiter((v is None for v in tid), dtype=bool, count=len(tid))
    if miss.any():
        sub = attrs[miss]
        gid[miss] = _gtf_attr(sub, "gene_id").to_numpy()
        tid[miss] = _gtf_attr(sub, "transcript_id").to_numpy()
    return (pd.Series(gid, index=attrs.index, dtype=object),
            pd.Series(tid, index=attrs.index, dtype=object))


def _gtf_attr(attrs: pd.Series, key: str) -> pd.Series:
    """Value of GTF attribute ``key`` (quoted or not); None where absent."""
    return _extract(attrs, _gtf_pattern(key))


def _gff_attr(attrs: pd.Series, key: str) -> pd.Series:
    """Raw (still URL-escaped) value of GFF3 attribute ``key``; None where absent."""
    return _extract(attrs, rf"(?:^|;)\s*{re.escape(key)}=([^;]*?)\s*(?:;|$)")


def _unescape(s: pd.Series) -> pd.Series:
    s = s.astype(object)
    esc = np.fromiter((isinstance(v, str) and "%" in v for v in s), dtype=bool, count=len(s))
    if esc.any():
        s = s.copy()
        s[esc] = [unquote(v) for v in s[esc]]
    return s


def _coalesce(*cols: pd.Series) -> pd.Series:
    out = np.asarray(cols[0], dtype=object).copy()
    for c in cols[1:]:
        empty = np.fromiter((not isinstance(v, str) or v == "" for v in out), dtype=bool,
                            count=len(out))
        if not empty.any():
            break
        out[empty] = np.asarray(c, dtype=object)[empty]
    return pd.Series(out, index=cols[0].index, dtype=object)


_PREFIXES = r"^(?:transcript:|gene:|rna-|gene-)"


def _strip_prefix(s: pd.Series) -> pd.Series:
    pat = re.compile(_PREFIXES)
    return pd.Series([pat.sub("", v) for v in s], index=s.index, dtype=object)
