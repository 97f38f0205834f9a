"""Annotation readers: GTF, GFF3, UCSC genePred / genePredExt / refFlat and BED12.

Every reader returns one normalised :class:`Annotation` (see docs/interfaces.md, "Annotation
table"): a transcript table and an exon table, both plain pandas DataFrames, with genomic
coordinates 0-based half-open and the CDS span *including* the stop codon (UCSC convention;
GTF/GFF3 ``stop_codon`` rows are joined to the CDS).

The readers are vectorised. GTF is parsed straight from bytes, 8 MiB blocks at a time, with
NumPy, by the fast reader in its own module (:mod:`isoclr.store.gtf`; ~2.5 s of CPU for a 500 k-line,
220 MB GTF); it shares this module's attribute regexes and :func:`_assemble`. The other formats
(here) use pandas ``read_csv`` in chunks of 1 M lines, attribute
regexes over whole columns (pyarrow's RE2 ``extract_regex`` when pyarrow is installed, else
Python ``re``). Every record keeps its 1-based line number so that bad input is reported as
``FILE: line N: what is wrong``.

Handling of imperfect input (errors are ``ValueError`` naming file and line):

============================================  ===============================================
input                                         handling
============================================  ===============================================
truncated / corrupt gzip                      error naming the file
wrong column count                            error naming file + line
missing gene_id / transcript_id (GTF)         error naming file + line
exon/CDS without Parent, Parent missing       error naming file + line (GFF3)
bad coordinates (non-integer, end < start)    error naming file + line
strand other than ``+``/``-`` on exon/CDS     error naming file + line
transcript on two chromosomes/strands/genes   error naming both lines
overlapping exons in one transcript           error naming file + line
CDS/stop codon outside the exons              error naming file + line
duplicate transcript id (genePred/refFlat/    error naming both lines
BED12)
empty annotation (no transcript)              error naming the file
exons listed 3'->5' (normal on ``-``)         sorted silently
exact duplicate exon rows                     dropped, counted ``duplicate_exon``
transcript row without any exon/CDS           dropped, counted ``no_exons``
GTF gene row none of whose transcripts is     counted ``gene_without_transcripts``
in the file
transcript with CDS rows but no exon rows     exons = merged CDS rows, counted ``exons_from_cds``
CDS row with phase ``.``                      phase 0, counted ``cds_phase_missing``
contig absent from the FASTA                  dropped by :func:`reconcile_chroms`, counted
                                              per contig in its report
============================================  ===============================================
"""

from __future__ import annotations

import csv
import gzip
import logging
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pandas as pd

from isoclr.core.files import check_readable, open_text

try:  # optional: RE2 regexes over Arrow arrays are ~3x faster than Python's re per row
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # pragma: no cover - exercised only without pyarrow
    pa = None
    pc = None

log = logging.getLogger(__name__)

FORMATS = ("gtf", "gff3", "genepred", "refflat", "bed12")

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
    records dropped or fixed while reading.
    """

    transcripts: pd.DataFrame
    exons: pd.DataFrame
    source: str = ""
    format: str = ""
    species: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

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


def _first_conflict(
    df: pd.DataFrame, codes: np.ndarray, col: str, path: PathLike, what: str,
    label: str = "transcript",
) -> None:
    """Raise if rows with one key (``codes``, rows in line order) disagree in ``col``."""
    vals, _ = pd.factorize(df[col])
    _, first_idx = np.unique(codes, return_index=True)
    ref = first_idx[codes]
    bad = vals != vals[ref]
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        j = int(ref[i])
        row = df.iloc[i]
        raise _err(
            path, row["line"],
            f"{label} {row['tid']} {what}: {df[col].iloc[j]} (line {df['line'].iloc[j]}) and "
            f"{row[col]} (line {row['line']})",
        )


def _check_contained(
    seg: pd.DataFrame, exons: pd.DataFrame, path: PathLike, tids: np.ndarray, what: str
) -> None:
    """Raise unless every ``seg`` row [start, end) of transcript ``tx`` lies in one exon."""
    if seg.empty:
        return
    s = seg[["tx", "start", "end", "line"]].sort_values("start", kind="stable")
    e = exons[["tx", "start", "end"]].rename(columns={"start": "es", "end": "ee"})
    e = e.sort_values("es", kind="stable")
    m = pd.merge_asof(s, e, left_on="start", right_on="es", by="tx", direction="backward")
    bad = (m["ee"].isna() | (m["end"] > m["ee"])).to_numpy()
    if bad.any():
        r = m.loc[bad].sort_values("line").iloc[0]
        raise _err(
            path, r["line"],
            f"{what} {int(r['start'])}-{int(r['end'])} of transcript {tids[int(r['tx'])]} "
            "lies outside its exons (CDS outside exons)",
        )


def _merge_intervals(df: pd.DataFrame) -> pd.DataFrame:
    """Merge overlapping or touching [start, end) per ``tx`` (df sorted by tx, start)."""
    if df.empty:
        return df
    tx = df["tx"].to_numpy()
    st = df["start"].to_numpy()
    en = df["end"].to_numpy()
    runmax = pd.Series(en).groupby(tx).cummax().to_numpy()
    new = np.ones(len(df), dtype=bool)
    new[1:] = (tx[1:] != tx[:-1]) | (st[1:] > runmax[:-1])
    grp = np.cumsum(new) - 1
    out = pd.DataFrame({"tx": tx[new], "start": st[new]})
    out["end"] = pd.Series(en).groupby(grp).max().to_numpy()
    out["line"] = df["line"].to_numpy()[new]
    return out


# ----------------------------------------------------------------------------- assembly


def _assemble(
    path: PathLike,
    fmt: str,
    rows: pd.DataFrame,
    info: pd.DataFrame,
    counts: dict[str, int],
    cds_span: pd.DataFrame | None = None,
) -> Annotation:
    """Build the normalised tables from per-record rows.

    ``rows``: one row per record, in line order, columns ``tid, gid, chrom, strand, start,
    end, kind ('exon' | 'cds' | 'stop' | 'tx'), phase (-1 = none), line``.
    ``info``: indexed by ``tid``: ``gene_name, biotype, tags``.
    ``cds_span``: for table formats, per ``tid`` ``cds_start, cds_end, cds_phase`` (then no
    ``cds`` rows are given).
    """
    if rows.empty:
        raise ValueError(f"{path}: empty annotation: no transcript records found")
    if rows["line"].is_monotonic_increasing:  # readers that build rows in line order
        rows = rows.reset_index(drop=True)
    else:
        rows = rows.sort_values("line", kind="stable").reset_index(drop=True)
    strand = rows["strand"].to_numpy(dtype=object)
    bad = (strand != "+") & (strand != "-")
    if bad.any():
        r = rows.loc[bad].iloc[0]
        raise _err(path, r["line"], f"strand {r['strand']!r} of transcript {r['tid']} is not + or -")
    bad = (rows["start"] < 0) | (rows["end"] <= rows["start"])
    if bad.any():
        r = rows.loc[bad].iloc[0]
        raise _err(path, r["line"], f"bad coordinates for transcript {r['tid']}: end before start "
                   "or start < 1")

    codes, tids = pd.factorize(rows["tid"], sort=False)
    tids = np.asarray(tids, dtype=object)
    rows["tx"] = codes
    _first_conflict(rows, codes, "chrom", path, "lies on two chromosomes")
    _first_conflict(rows, codes, "strand", path, "lies on two strands")
    _first_conflict(rows, codes, "gid", path, "has two gene ids")

    kind = rows["kind"].to_numpy()
    ex = rows.loc[kind == "exon", ["tx", "start", "end", "line"]]
    ex = ex.sort_values(["tx", "start", "end"], kind="stable")
    dup = ex.duplicated(["tx", "start", "end"])
    if dup.any():
        counts["duplicate_exon"] = counts.get("duplicate_exon", 0) + int(dup.sum())
        ex = ex.loc[~dup]
    cds = rows.loc[np.isin(kind, ["cds", "stop"]), ["tx", "start", "end", "line", "kind", "phase"]]
    cds = cds.sort_values(["tx", "start", "end"], kind="stable")
    ntx = len(tids)
    has_ex = np.bincount(ex["tx"].to_numpy(), minlength=ntx) > 0
    has_cds = np.bincount(cds["tx"].to_numpy(), minlength=ntx) > 0
    fill = has_cds & ~has_ex
    if fill.any():
        extra = _merge_intervals(cds.loc[fill[cds["tx"].to_numpy()], ["tx", "start", "end", "line"]])
        counts["exons_from_cds"] = counts.get("exons_from_cds", 0) + int(fill.sum())
        ex = pd.concat([ex, extra]).sort_values(["tx", "start", "end"], kind="stable")
    # overlapping exons within a transcript
    t = ex["tx"].to_numpy()
    st = ex["start"].to_numpy()
    en = ex["end"].to_numpy()
    ov = np.zeros(len(ex), dtype=bool)
    ov[1:] = (t[1:] == t[:-1]) & (st[1:] < en[:-1])
    if ov.any():
        i = int(np.flatnonzero(ov)[0])
        raise _err(
            path, ex["line"].iloc[i],
            f"transcript {tids[t[i]]} has overlapping exons {st[i - 1]}-{en[i - 1]} (line "
            f"{ex['line'].iloc[i - 1]}) and {st[i]}-{en[i]} (0-based, half-open)",
        )
    _check_contained(cds, ex, path, tids, "CDS/stop codon")

    # transcript-level values, in order of first appearance
    _, first_idx = np.unique(codes, return_index=True)  # rows are in line order
    first = rows.iloc[first_idx][["tid", "gid", "chrom", "strand", "line"]]
    first.index = np.arange(ntx)
    span = ex.groupby("tx").agg(start=("start", "min"), end=("end", "max"))
    tab = first.join(span)
    # CDS span + phase
    tab["cds_start"] = -1
    tab["cds_end"] = -1
    tab["cds_phase"] = 0
    if cds_span is not None:
        cs = cds_span.reindex(tab["tid"].to_numpy())
        coding = (cs["cds_start"] >= 0).to_numpy()
        tab["cds_start"] = np.where(coding, cs["cds_start"].to_numpy(), -1)
        tab["cds_end"] = np.where(coding, cs["cds_end"].to_numpy(), -1)
        tab["cds_phase"] = np.where(coding, cs["cds_phase"].to_numpy(), 0)
        if coding.any():
            pts = pd.DataFrame({
                "tx": np.concatenate([tab.index[coding], tab.index[coding]]),
                "start": np.concatenate([tab["cds_start"][coding], tab["cds_end"][coding] - 1]),
                "line": np.concatenate([tab["line"][coding], tab["line"][coding]]),
            })
            pts["end"] = pts["start"] + 1
            _check_contained(pts, ex, path, tids, "CDS end point")
    elif not cds.empty:
        g = cds.groupby("tx").agg(cs=("start", "min"), ce=("end", "max"))
        tab.loc[g.index, "cds_start"] = g["cs"].to_numpy()
        tab.loc[g.index, "cds_end"] = g["ce"].to_numpy()
        body = cds.loc[cds["kind"] == "cds"]
        if body.empty:
            body = cds
        lo = body.groupby("tx").head(1).set_index("tx")["phase"]
        hi = body.groupby("tx").tail(1).set_index("tx")["phase"]
        minus = (tab.loc[lo.index, "strand"] == "-").to_numpy()
        ph = np.where(minus, hi.reindex(lo.index).to_numpy(), lo.to_numpy())
        if (ph < 0).any():
            counts["cds_phase_missing"] = counts.get("cds_phase_missing", 0) + int((ph < 0).sum())
        tab.loc[lo.index, "cds_phase"] = np.maximum(ph, 0)

    keep = has_ex | has_cds
    if not keep.all():
        counts["no_exons"] = counts.get("no_exons", 0) + int((~keep).sum())
    if not keep.any():
        raise ValueError(f"{path}: empty annotation: no transcript has exons")
    inf = info.reindex(tab["tid"].to_numpy())
    out = pd.DataFrame({
        "transcript_id": tab["tid"].to_numpy(),
        "gene_id": tab["gid"].to_numpy(),
        "gene_name": _coalesce(inf["gene_name"].reset_index(drop=True),
                               tab["gid"].reset_index(drop=True)).to_numpy(),
        "chrom": tab["chrom"].to_numpy(),
        "strand": tab["strand"].to_numpy(),
        "start": tab["start"].to_numpy(),
        "end": tab["end"].to_numpy(),
        "cds_start": tab["cds_start"].to_numpy(),
        "cds_end": tab["cds_end"].to_numpy(),
        "cds_phase": tab["cds_phase"].to_numpy(),
        "biotype": inf["biotype"].fillna("").to_numpy(),
        "tags": inf["tags"].fillna("").to_numpy(),
        "line": tab["line"].to_numpy(),
    })
    # renumber: keep transcripts with exons, in order of their first line
    order = np.argsort(out["line"].to_numpy(), kind="stable")
    order = order[keep[order]]
    new_index = np.full(ntx, -1, dtype=np.int64)
    new_index[order] = np.arange(len(order))
    out = out.iloc[order].reset_index(drop=True)
    for c in ("start", "end", "cds_start", "cds_end", "line"):
        out[c] = out[c].astype(np.int64)
    out["cds_phase"] = out["cds_phase"].astype(np.int8)
    for c in ("transcript_id", "gene_id", "gene_name", "chrom", "strand", "biotype", "tags"):
        out[c] = out[c].astype(object)
    exons = pd.DataFrame({
        "tx": new_index[ex["tx"].to_numpy()],
        "start": ex["start"].to_numpy().astype(np.int64),
        "end": ex["end"].to_numpy().astype(np.int64),
    })
    exons = exons.loc[exons["tx"] >= 0].sort_values(["tx", "start"], kind="stable")
    exons = exons.reset_index(drop=True)
    return Annotation(out, exons, source=str(path), format=fmt, counts=counts)



# ----------------------------------------------------------------------------- GFF3

_GFF_CHILD = {"exon": "exon", "CDS": "cds", "stop_codon": "stop"}


def read_gff3(path: PathLike, strict: bool = False) -> Annotation:
    """Read a GFF3 file (GENCODE, Ensembl, RefSeq styles).

    An exon/CDS row whose ``Parent`` transcript row is absent (common in region excerpts of a
    whole-genome file) gets an implicit transcript, as gffread builds one: its ID is the
    Parent, its attributes those of its first child row; a transcript whose Parent gene row
    is absent gets an implicit gene of that ID. Both are counted in ``Annotation.counts``
    (``implicit_transcript_missing_parent``, ``implicit_gene_missing_parent``); ``strict``
    makes them errors instead."""
    counts: dict[str, int] = {}
    raw = _read_columns(path, 9, "GFF3", stop="##FASTA")
    if raw.empty:
        raise ValueError(f"{path}: empty annotation (no records)")
    attrs = raw[8]
    ids = _gff_attr(attrs, "ID").fillna("").astype(object)
    parents = _gff_attr(attrs, "Parent").fillna("").astype(object)
    kind = raw[2].map(_GFF_CHILD)
    is_child = kind.notna().to_numpy()
    ch = raw.loc[is_child]
    if ch.empty:
        raise ValueError(f"{path}: empty annotation: no exon or CDS features")
    cpar = parents[is_child]
    bad = cpar == ""
    if bad.any():
        r = ch.loc[bad].iloc[0]
        raise _err(path, r["line"], f"{r[2]} feature without Parent attribute")
    # feature table (non-child rows with an ID)
    fmask = ~is_child & (ids != "").to_numpy()
    feats = pd.DataFrame({
        "id": _unescape(ids[fmask]),
        "parent": _unescape(parents[fmask].str.split(",").str[0].str.strip()),
        "type": raw.loc[fmask, 2], "attrs": attrs[fmask], "line": raw.loc[fmask, "line"],
        "chrom": raw.loc[fmask, 0], "strand": raw.loc[fmask, 6],
    }).drop_duplicates("id").set_index("id")
    lines = ch["line"]
    crow = pd.DataFrame({
        "tid": cpar.str.split(","), "chrom": ch[0], "strand": ch[6],
        "start": _to_int(ch[3], lines, path, "start") - 1, "end": _to_int(ch[4], lines, path, "end"),
        "kind": kind[is_child], "phase": _phase(ch[7]), "line": lines,
    }).explode("tid")
    crow["tid"] = _unescape(crow["tid"].str.strip())
    miss = ~crow["tid"].isin(feats.index)
    if miss.any() and strict:
        r = crow.loc[miss].iloc[0]
        raise _err(path, r["line"], f"{'CDS' if r['kind'] == 'cds' else r['kind']} feature's "
                   f"Parent {r['tid']!r} is not defined in the file (strict)")
    if miss.any():  # implicit transcripts, as gffread makes them
        first = crow.loc[miss].drop_duplicates("tid")
        implicit = pd.DataFrame({
            "parent": "", "type": "transcript", "attrs": attrs.loc[first.index].to_numpy(),
            "line": first["line"].to_numpy(), "chrom": first["chrom"].to_numpy(),
            "strand": first["strand"].to_numpy(),
        }, index=pd.Index(first["tid"].to_numpy(), name="id"))
        feats = pd.concat([feats, implicit])
        counts["implicit_transcript_missing_parent"] = len(implicit)
    tx_ids = pd.unique(crow["tid"])
    tx = feats.loc[tx_ids]
    gref = tx["parent"].where(tx["parent"] != "", pd.Series(tx.index, index=tx.index))
    miss = ~gref.isin(feats.index)
    if miss.any() and strict:
        t = tx.loc[miss].iloc[0]
        raise _err(path, t["line"], f"{t['type']} {t.name}'s Parent {gref[miss].iloc[0]!r} is not "
                   "defined in the file (strict)")
    if miss.any():  # implicit genes: the transcripts' gene_id attribute, else the Parent id
        gids = pd.unique(gref[miss])
        feats = pd.concat([feats, pd.DataFrame({"parent": "", "type": "gene", "attrs": "", "line": 0,
                                                "chrom": "", "strand": ""}, index=pd.Index(gids, name="id"))])
        counts["implicit_gene_missing_parent"] = len(gids)
    gene = feats.loc[gref.to_numpy()]
    ga = gene["attrs"].reset_index(drop=True)
    ta = tx["attrs"].reset_index(drop=True)
    geneid = _coalesce(
        _unescape(_gff_attr(ga, "gene_id")),
        _unescape(_extract(ga, r"(?:^|;)\s*Dbxref=(?:[^;]*,)?GeneID:([^,;]*)")),
        _unescape(_gff_attr(ta, "gene_id")),
        _unescape(_gff_attr(ta, "geneID")),  # gffread
        _strip_prefix(pd.Series(gene.index, dtype=object)),
    )
    gname = _unescape(_coalesce(
        _gff_attr(ga, "gene_name"), _gff_attr(ga, "Name"), _gff_attr(ga, "gene"),
        _gff_attr(ta, "gene_name"), _gff_attr(ta, "gene"),
    ))
    biotype = _unescape(_coalesce(
        _gff_attr(ta, "transcript_type"), _gff_attr(ta, "transcript_biotype"),
        _gff_attr(ta, "biotype"), _gff_attr(ga, "gene_type"), _gff_attr(ga, "gene_biotype"),
        _gff_attr(ga, "biotype"), tx["type"].reset_index(drop=True),
    ))
    tags = _unescape(_gff_attr(ta, "tag")).fillna("")
    tid_out = _strip_prefix(pd.Series(tx.index, dtype=object))
    # transcript-row records for line order and chromosome/strand consistency
    txrow = pd.DataFrame({
        "tid": tx.index.to_numpy(), "chrom": tx["chrom"].to_numpy(), "strand": tx["strand"].to_numpy(),
        "start": 0, "end": 1, "kind": "tx", "phase": -1, "line": tx["line"].to_numpy(),
    })
    rows = pd.concat([txrow, crow], ignore_index=True)
    gmap = pd.Series(geneid.to_numpy(), index=tx.index)
    rows["gid"] = gmap.reindex(rows["tid"].to_numpy()).to_numpy()
    info = pd.DataFrame(
        {"gene_name": gname.to_numpy(), "biotype": biotype.to_numpy(), "tags": tags.to_numpy()},
        index=tx.index,
    )
    ann = _assemble(path, "gff3", rows, info, counts)
    rename = pd.Series(tid_out.to_numpy(), index=tx.index)
    ann.transcripts["transcript_id"] = _obj(
        rename.reindex(ann.transcripts["transcript_id"]).to_numpy())
    return ann


# ----------------------------------------------------------------------------- UCSC tables


def _ucsc_exons(path: PathLike, df: pd.DataFrame, c_starts: int, c_ends: int, c_count: int,
                tid: pd.Series) -> pd.DataFrame:
    lines = df["line"]
    st = df[c_starts].str.rstrip(",").str.split(",")
    en = df[c_ends].str.rstrip(",").str.split(",")
    n = _to_int(df[c_count], lines, path, "exonCount")
    ns = st.str.len().to_numpy()
    ne = en.str.len().to_numpy()
    bad = (ns != n) | (ne != n)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _err(path, lines.iloc[i], f"transcript {tid.iloc[i]}: exonCount {n[i]} but "
                   f"{ns[i]} exonStarts and {ne[i]} exonEnds")
    rep = np.repeat(np.arange(len(df)), n)
    sflat = pd.Series(np.concatenate(st.to_list()) if len(df) else [], dtype=object)
    eflat = pd.Series(np.concatenate(en.to_list()) if len(df) else [], dtype=object)
    lrep = lines.iloc[rep].reset_index(drop=True)
    return pd.DataFrame({
        "row": rep,
        "start": _to_int(sflat, lrep, path, "exonStart"),
        "end": _to_int(eflat, lrep, path, "exonEnd"),
        "line": lrep.to_numpy(),
    })


def _check_unique(path: PathLike, tid: pd.Series, lines: pd.Series) -> None:
    dup = tid.duplicated(keep=False)
    if dup.any():
        first = tid[dup].iloc[0]
        ls = lines[tid == first].to_list()
        raise _err(path, ls[1], f"duplicate transcript id {first} (lines {ls[0]} and {ls[1]})")


def _table_annotation(
    path: PathLike, fmt: str, df: pd.DataFrame, tid: pd.Series, gid: pd.Series,
    gname: pd.Series, chrom: pd.Series, strand: pd.Series, exons: pd.DataFrame,
    cds_start: np.ndarray, cds_end: np.ndarray, phase: np.ndarray, biotype: pd.Series | None = None,
) -> Annotation:
    lines = df["line"].reset_index(drop=True)
    tid = tid.reset_index(drop=True)
    _check_unique(path, tid, lines)
    r = exons["row"].to_numpy()
    rows = pd.DataFrame({
        "tid": tid.to_numpy()[r], "gid": gid.to_numpy()[r], "chrom": chrom.to_numpy()[r],
        "strand": strand.to_numpy()[r], "start": exons["start"].to_numpy(),
        "end": exons["end"].to_numpy(), "kind": "exon", "phase": -1, "line": exons["line"].to_numpy(),
    })
    txrow = pd.DataFrame({
        "tid": tid.to_numpy(), "gid": gid.to_numpy(), "chrom": chrom.to_numpy(),
        "strand": strand.to_numpy(), "start": 0, "end": 1, "kind": "tx", "phase": -1,
        "line": lines.to_numpy(),
    })
    rows = pd.concat([txrow, rows], ignore_index=True)
    coding = cds_end > cds_start
    span = pd.DataFrame({
        "cds_start": np.where(coding, cds_start, -1), "cds_end": np.where(coding, cds_end, -1),
        "cds_phase": np.where(coding, phase, 0),
    }, index=tid.to_numpy())
    info = pd.DataFrame({
        "gene_name": gname.to_numpy(),
        "biotype": (biotype.to_numpy() if biotype is not None
                    else np.where(coding, "protein_coding", "non_coding")),
        "tags": "",
    }, index=tid.to_numpy())
    return _assemble(path, fmt, rows, info, {}, cds_span=span)


def read_genepred(path: PathLike, refflat: bool | None = None,
                  gene_map: Mapping[str, str] | None = None) -> Annotation:
    """Read UCSC genePred (10 columns, optional leading ``bin``), genePredExt (15/16 columns)
    or refFlat (11 columns: ``geneName`` first). ``refflat=None`` guesses an 11-column file
    from its first column (integers: ``bin`` + genePred; otherwise refFlat)."""
    df = _read_columns(path, None, "genePred")
    if df.empty:
        raise ValueError(f"{path}: empty annotation (no records)")
    ncol = df.shape[1] - 1
    ext = False
    if ncol == 10:
        off, gcol = 0, None
    elif ncol == 11:
        isbin = df[0].str.fullmatch(r"\d+").all()
        if refflat is None:
            refflat = not isbin
        off, gcol = 1, (0 if refflat else None)
    elif ncol in (15, 16):
        off = ncol - 15
        gcol, ext = off + 11, True
    else:
        raise ValueError(f"{path}: {ncol} columns: not genePred (10, 11 with bin), refFlat (11) "
                         "or genePredExt (15, 16 with bin)")
    width = df[list(range(ncol))] == ""
    if width.any().any():
        i = int(np.flatnonzero(width.any(axis=1).to_numpy())[0])
        raise _err(path, df["line"].iloc[i], f"wrong column count: expected {ncol} non-empty "
                   "tab-separated fields")
    lines = df["line"]
    tid = df[off + 0]
    gid = df[gcol] if gcol is not None else tid
    if gene_map is not None:
        gid = tid.map(gene_map).fillna(gid)
    exons = _ucsc_exons(path, df, off + 8, off + 9, off + 7, tid)
    cs = _to_int(df[off + 5], lines, path, "cdsStart")
    ce = _to_int(df[off + 6], lines, path, "cdsEnd")
    phase = np.zeros(len(df), dtype=np.int64)
    if ext:
        frames = df[off + 14].str.rstrip(",").str.split(",")
        strand = df[off + 2].to_numpy()
        # 5'-most CDS exon: exonFrames is -1 for non-coding exons
        fr5 = []
        for f, s in zip(frames.to_list(), strand):
            vals = [int(x) for x in f if x not in ("", "-1")]
            fr5.append((vals[-1] if s == "-" else vals[0]) if vals else 0)
        phase = (3 - np.asarray(fr5, dtype=np.int64)) % 3  # UCSC frame -> GTF phase
    return _table_annotation(
        path, "refflat" if gcol == 0 else "genepred", df, tid, gid, gid, df[off + 1], df[off + 2],
        exons, cs, ce, phase,
    )


def read_refflat(path: PathLike, gene_map: Mapping[str, str] | None = None) -> Annotation:
    """Read UCSC refFlat (``geneName, name, chrom, strand, txStart, ...``, 11 columns)."""
    return read_genepred(path, refflat=True, gene_map=gene_map)


def read_bed12(path: PathLike, gene_map: Mapping[str, str] | None = None) -> Annotation:
    """Read BED12 (BED12+N: the extra columns are ignored) as a table, like genePred:
    ``thickStart/thickEnd`` is the CDS (``thickStart == thickEnd``: non-coding), the blocks are
    the exons (``blockStarts`` relative to ``chromStart``); gene id = name unless ``gene_map``
    maps it."""
    df = _read_columns(path, None, "BED12")
    if df.empty:
        raise ValueError(f"{path}: empty annotation (no records)")
    ncol = df.shape[1] - 1
    if ncol < 12:
        raise _err(path, df["line"].iloc[0], f"wrong column count: {ncol} tab-separated fields, "
                   "a BED12 line has 12")
    lines = df["line"]
    tid = df[3].astype(object)
    gid = tid.map(gene_map).fillna(tid) if gene_map is not None else tid
    start = _to_int(df[1], lines, path, "chromStart")
    n = _to_int(df[9], lines, path, "blockCount")
    sizes = df[10].str.rstrip(",").str.split(",")
    starts = df[11].str.rstrip(",").str.split(",")
    ns, nb = sizes.str.len().to_numpy(), starts.str.len().to_numpy()
    bad = (ns != n) | (nb != n)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _err(path, lines.iloc[i], f"blockCount {n[i]} but {ns[i]} blockSizes and {nb[i]} blockStarts")
    rep = np.repeat(np.arange(len(df)), n)
    lrep = lines.iloc[rep].reset_index(drop=True)
    bsz = _to_int(pd.Series(np.concatenate(sizes.to_list()), dtype=object), lrep, path, "blockSize")
    bst = _to_int(pd.Series(np.concatenate(starts.to_list()), dtype=object), lrep, path, "blockStart")
    exons = pd.DataFrame({"row": rep, "start": start[rep] + bst, "end": start[rep] + bst + bsz,
                          "line": lrep.to_numpy()})
    return _table_annotation(
        path, "bed12", df, tid, gid, gid, df[0], df[5], exons,
        _to_int(df[6], lines, path, "thickStart"), _to_int(df[7], lines, path, "thickEnd"),
        np.zeros(len(df), dtype=np.int64),
    )


# ----------------------------------------------------------------------------- entry points


def detect_format(path: PathLike) -> str:
    """Guess the annotation format from the file name, else from its first record."""
    name = Path(path).name.lower()
    for suf in (".gz", ".bgz"):
        name = name.removesuffix(suf)
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    by_ext = {"gtf": "gtf", "gff3": "gff3", "gff": "gff3", "genepred": "genepred",
              "gp": "genepred", "refflat": "refflat", "bed12": "bed12", "bed": "bed12"}
    if ext in by_ext:
        return by_ext[ext]
    try:
        with open_text(path) as fh:
            for text in fh:
                if text.startswith("##gff-version 3"):
                    return "gff3"
                if not text.strip() or text.startswith(("#", "track", "browser")):
                    continue
                f = text.rstrip("\r\n").split("\t")
                if len(f) == 9:
                    return "gff3" if "=" in f[8] and '"' not in f[8] else "gtf"
                if len(f) >= 12 and f[1].isdigit() and f[5] in ("+", "-", "."):
                    return "bed12"
                if len(f) == 11 and not f[0].isdigit():
                    return "refflat"
                if len(f) in (10, 11, 15, 16):
                    return "genepred"
                break
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    raise ValueError(f"{path}: cannot tell the annotation format; give one of {FORMATS}")


def read_annotation(
    path: PathLike, fmt: str = "auto", species: str | None = None,
    gene_map: Mapping[str, str] | None = None, strict: bool = False,
) -> Annotation:
    """Read an annotation file (plain or gzip) into the normalised :class:`Annotation`.

    ``fmt``: ``auto`` (see :func:`detect_format`), ``gtf``, ``gff3``, ``genepred``,
    ``refflat`` or ``bed12``. ``gene_map`` (transcript id -> gene id) is used by the formats
    without gene ids (genePred, BED12). ``strict``: GFF3 rows whose Parent row is absent are
    errors instead of implicit transcripts/genes (see :func:`read_gff3`). Raises ``ValueError``
    naming file and line on bad input.
    """
    if not Path(path).exists():
        raise ValueError(f"{path}: annotation file not found")
    check_readable(path, "annotation")  # zstd, zip...: refused by name
    fmt = (fmt or "auto").lower()
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "gtf":
        ann = read_gtf(path)
    elif fmt in ("gff3", "gff"):
        ann = read_gff3(path, strict=strict)
    elif fmt in ("genepred", "genepredext"):
        ann = read_genepred(path, refflat=False, gene_map=gene_map)
    elif fmt == "refflat":
        ann = read_refflat(path, gene_map=gene_map)
    elif fmt in ("bed12", "bed"):
        ann = read_bed12(path, gene_map=gene_map)
    else:
        raise ValueError(f"unknown annotation format {fmt!r}; choose from {FORMATS}")
    ann.species = species
    for k, v in ann.counts.items():
        log.info("%s: %s: %d", path, k, v)
    log.info("%s: %d transcripts, %d genes, %d exons (%s)", path, len(ann.transcripts),
             ann.transcripts["gene_id"].nunique(), len(ann.exons), ann.format)
    return ann


# ----------------------------------------------------------------------------- chromosomes

_MITO = ("chrM", "MT", "chrMT", "M")


def load_aliases(path: PathLike) -> dict[str, list[str]]:
    """Read a chromosome alias table: tab-separated, first column the name used by the
    annotation, second the FASTA name (more columns are read as more alternatives, UCSC
    ``chromAlias`` style: every name on a line is an alias of the others)."""
    out: dict[str, list[str]] = {}
    with open_text(path) as fh:
        for text in fh:
            if not text.strip() or text.startswith("#"):
                continue
            names = [x for x in text.rstrip("\r\n").split("\t") if x]
            for a in names:
                for b in names:
                    if a != b and b not in out.setdefault(a, []):
                        out[a].append(b)
    return out


def _candidates(name: str, aliases: Mapping[str, Any]) -> Iterable[str]:
    yield name
    alt = aliases.get(name)
    if alt is not None:
        yield from ([alt] if isinstance(alt, str) else list(alt))
    if name.startswith("chr"):
        yield name[3:]
    else:
        yield "chr" + name
    if name in _MITO:
        yield from _MITO


def reconcile_chroms(
    annotation: Annotation, fasta_names: Iterable[str],
    aliases: Mapping[str, Any] | PathLike | None = None,
) -> tuple[Annotation, dict[str, Any]]:
    """Rename annotation contigs to the FASTA's names; drop (and count) what has no match.

    Matching tries, in order: the name itself, the alias table (``{annotation name: FASTA
    name or list of names}``, or a path read by :func:`load_aliases`), adding/removing ``chr``, and
    ``chrM``/``MT``/``M``. Returns the new annotation and a report ``{"renamed": {old:
    new}, "missing": {contig: n_transcripts}, "dropped_transcripts": n, "kept_transcripts":
    n}``; ``counts["missing_chrom"]`` of the annotation holds the number dropped.
    """
    fasta = set(fasta_names)
    if aliases is None:
        amap: Mapping[str, Any] = {}
    elif isinstance(aliases, (str, os.PathLike)):
        amap = load_aliases(aliases)
    else:
        amap = aliases
    tx = annotation.transcripts
    mapping: dict[str, str | None] = {}
    for c in pd.unique(tx["chrom"]):
        mapping[c] = next((x for x in _candidates(c, amap) if x in fasta), None)
    new_chrom = tx["chrom"].map(mapping)
    keep = new_chrom.notna().to_numpy()
    per = tx.loc[~keep, "chrom"].value_counts(sort=False)
    missing = {str(k): int(v) for k, v in per.items()}
    renamed = {k: v for k, v in mapping.items() if v is not None and v != k}
    report = {"renamed": renamed, "missing": missing,
              "dropped_transcripts": int((~keep).sum()), "kept_transcripts": int(keep.sum())}
    if missing:
        log.warning("%s: %d transcripts on %d contigs absent from the FASTA were dropped: %s",
                    annotation.source, report["dropped_transcripts"], len(missing),
                    ", ".join(f"{k} ({v})" for k, v in list(missing.items())[:20]))
    if renamed:
        log.info("%s: renamed contigs %s", annotation.source, renamed)
    new_tx = tx.assign(chrom=new_chrom.to_numpy()).loc[keep].reset_index(drop=True)
    idx = np.full(len(tx), -1, dtype=np.int64)
    idx[np.flatnonzero(keep)] = np.arange(int(keep.sum()))
    ex = annotation.exons
    new_ex = ex.assign(tx=idx[ex["tx"].to_numpy()])
    new_ex = new_ex.loc[new_ex["tx"] >= 0].reset_index(drop=True)
    counts = dict(annotation.counts)
    if report["dropped_transcripts"]:
        counts["missing_chrom"] = counts.get("missing_chrom", 0) + report["dropped_transcripts"]
    if new_tx.empty:
        raise ValueError(
            f"{annotation.source}: no annotation contig matches the FASTA (annotation has "
            f"{', '.join(list(mapping)[:10])}; FASTA has {', '.join(sorted(fasta)[:10])}); "
            "give an alias table")
    return replace(annotation, transcripts=new_tx, exons=new_ex, counts=counts), report


# The fast GTF reader lives in its own module (isoclr.store.gtf, which uses the helpers above);
# imported last so that either module can be imported first.
from isoclr.store import gtf as _gtf  # noqa: E402


def read_gtf(path: PathLike) -> Annotation:
    """Read a GTF2 file (GENCODE, Ensembl, RefSeq, FlyBase exon-only, ...): :func:`isoclr.store.gtf.read_gtf`."""
    return _gtf.read_gtf(path)

