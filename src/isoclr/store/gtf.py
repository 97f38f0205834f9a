"""The fast GTF reader: GTF2 parsed straight from bytes with NumPy (:func:`read_gtf`).

Text is read in 8 MiB blocks of whole lines; in each block rows are selected by feature (exon,
CDS, stop_codon, transcript; gene rows for their gene_id) before any attribute is read; the
usual ``gene_id "G"; ... transcript_id "T"`` at the start of the attributes is located with byte
searches, any other layout goes through the attribute regexes of :mod:`isoclr.store.fields`; gene
name, biotype and tags are read once per transcript. Blocks are parsed by ``GTF_THREADS``
threads (NumPy releases the GIL in its scans) and taken in file order, so the first bad line of
the file is the one reported (``FILE: line N: ...``). A 500 k-line, 220 MB GTF takes ~2.5 s of
CPU and ~250 MB. The rows go to :func:`isoclr.store.annotation_tables.assemble`, which every
reader shares: the same normalised :class:`isoclr.store.fields.Annotation` and the same checks
as the other formats (the table of imperfect input in :mod:`isoclr.store.annotation`).
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from isoclr.core.files import UTF8_BOM, open_decompressed
from isoclr.store.annotation_tables import assemble
from isoclr.store.fields import Annotation, PathLike, _err, _gtf_attr, _gtf_ids, _obj, _to_int

# ----------------------------------------------------------------------------- GTF

#: kind codes of the byte-level reader: index into _KIND_NAMES (3: the transcript row); UTR
#: rows make the exons of a transcript that has no exon rows (as gffread)
_KIND_NAMES = np.array(["exon", "cds", "stop", "tx", "utr", "utr", "utr", "utr", "utr"],
                       dtype=object)
_KIND_BYTES = (b"exon", b"CDS", b"stop_codon", b"transcript", b"UTR", b"five_prime_utr",
               b"three_prime_utr", b"5UTR", b"3UTR")
_KIND_FEATURES = ("exon", "CDS", "stop_codon", "transcript", "UTR", "five_prime_utr",
                  "three_prime_utr", "5UTR", "3UTR")
_GTF_BLOCK = 8 << 20  # bytes of text parsed at a time: bounds the per-block index arrays
#: threads parsing GTF blocks (the machines this runs on have >= 2 cores)
GTF_THREADS = 2
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[9, 10, 11, 12, 13, 32]] = True


def _gtf_blocks(path: PathLike, block_bytes: int = _GTF_BLOCK) -> Iterator[bytes]:
    """Blocks of complete lines of a plain or gzip text file (the last may lack its newline):
    about ``block_bytes`` read at once, completed by the rest of their last line."""
    try:
        with open_decompressed(path, "annotation") as fh:
            first = True
            while chunk := fh.read(block_bytes):
                if first and chunk.startswith(UTF8_BOM):  # a byte-order mark (Windows editors)
                    chunk = chunk[len(UTF8_BOM):]
                first = False
                yield chunk if chunk.endswith(b"\n") else chunk + fh.readline()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip file ({exc})") from None


def _at(arr: np.ndarray, pos: np.ndarray, end: np.ndarray, word: bytes) -> np.ndarray:
    """Per row: ``arr[pos:pos+len(word)] == word`` and it fits before ``end``."""
    idx = np.flatnonzero(pos + len(word) <= end)
    for j, byte in enumerate(word):  # candidates shrink byte by byte: 1-D gathers only
        if not len(idx):
            break
        idx = idx[arr[pos[idx] + j] == byte]
    ok = np.zeros(len(pos), dtype=bool)
    ok[idx] = True
    return ok


def _is(arr: np.ndarray, s: np.ndarray, e: np.ndarray, word: bytes) -> np.ndarray:
    """Per row: field ``arr[s:e]`` equals ``word``."""
    return (e - s == len(word)) & _at(arr, s, e, word)


def _words(block: bytes) -> np.ndarray:
    """``words[k]``: the (unaligned, little-endian) uint64 of bytes k..k+7 of ``block``
    (zero-padded), for ``k`` in ``0..len(block)``."""
    padded = np.frombuffer(block + bytes(8), dtype=np.uint8)
    return np.ndarray((len(block) + 1,), dtype="<u8", buffer=padded, strides=(1,))


def _field_strings(block: bytes, words: np.ndarray, s: np.ndarray, e: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Factorize the fields ``block[s:e]``: ``(codes, uniques as str objects)``; ``words``:
    :func:`_words` of ``block``.

    Consecutive rows usually repeat a value (contig, strand, transcript id): only the first
    row of each run becomes a Python string."""
    n = len(s)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    w = e - s
    width = int(w.max())
    new = np.ones(n, dtype=bool)
    if 0 < width <= 256 and n > 1:
        # compare each field with the previous row's, 8 bytes at a time
        same = np.flatnonzero(w[1:] == w[:-1]) + 1
        for j in range(0, width, 8):
            if not len(same):
                break
            rem = np.clip(w[same] - j, 0, 8)
            mask = np.where(rem >= 8, np.uint64(0xFFFFFFFFFFFFFFFF),
                            (np.uint64(1) << (8 * rem).astype(np.uint64)) - np.uint64(1))
            a = words[np.minimum(s[same] + j, len(block))] & mask
            b = words[np.minimum(s[same - 1] + j, len(block))] & mask
            same = same[a == b]
        new[same] = False
    heads = np.flatnonzero(new)
    vals = [block[a:b].decode() for a, b in zip(s[heads].tolist(), e[heads].tolist(), strict=True)]
    hcodes, uniq = pd.factorize(np.asarray(vals, dtype=object), sort=False)
    return hcodes[np.cumsum(new) - 1], np.asarray(uniq, dtype=object)


def _field_objects(block: bytes, words: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    codes, uniq = _field_strings(block, words, s, e)
    return uniq[codes] if len(codes) else np.zeros(0, dtype=object)


def _parse_uint(arr: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decimal digits ``arr[s:e]`` -> ``(int64 values, ok)``; ok False where not 1-18 digits."""
    w = e - s
    n = len(s)
    ok = (w >= 1) & (w <= 18)
    val = np.zeros(n, dtype=np.int64)
    if n == 0:
        return val, ok
    width = int(w[ok].max()) if ok.any() else 0
    if width:
        d = arr[np.minimum(s[:, None] + np.arange(width), len(arr) - 1)].astype(np.int64) - 48
        inside = np.arange(width)[None, :] < w[:, None]
        ok &= ((d >= 0) & (d <= 9) | ~inside).all(axis=1)
        for j in range(width):
            val = np.where(inside[:, j], val * 10 + d[:, j], val)
    return val, ok


def _quoted_value(arr: np.ndarray, quotes: np.ndarray, semis: np.ndarray, pos: np.ndarray,
                  end: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value ``V`` of ``"V"`` starting at ``pos`` (after the opening quote): ``(start, stop,
    ok)``; ok only where V is non-empty, starts with no blank and holds no ``;`` (exactly what
    the attribute regexes capture there)."""
    qi = np.searchsorted(quotes, pos)
    stop = quotes[np.minimum(qi, len(quotes) - 1)] if len(quotes) else pos
    ok = ok & (qi < len(quotes)) & (stop < end) & (stop > pos)
    ok &= ~_SPACE[arr[np.minimum(pos, len(arr) - 1)]]
    ok &= np.searchsorted(semis, pos) == np.searchsorted(semis, stop)
    return pos, stop, ok


def _gtf_block(path: PathLike, block: bytes, line0: int) -> tuple[dict[str, Any] | None, int]:
    """Parse one block of complete GTF lines. Returns (parsed parts or None, lines in block)."""
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not a UTF-8 text file ({exc})") from None
    arr = np.frombuffer(block, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    ends = nl if block.endswith(b"\n") else np.r_[nl, len(arr)]
    nlines = len(ends)
    starts = np.r_[0, nl + 1][:nlines]
    lineno = line0 + 1 + np.arange(nlines, dtype=np.int64)
    cr = (ends > starts) & (arr[np.maximum(ends - 1, 0)] == 13)
    ends = ends - cr
    first = arr[np.minimum(starts, len(arr) - 1)]
    keep = (ends > starts) & (first != 9) & (first != 35)  # not blank, first field, '#'
    for word in (b"track ", b"track\t", b"browser ", b"browser\t"):
        keep &= ~_at(arr, starts, ends, word)
    starts, ends, lineno = starts[keep], ends[keep], lineno[keep]
    if not len(starts):
        return None, nlines
    tabs = np.flatnonzero(arr == 9)
    t_first = np.searchsorted(tabs, starts)
    ntab = np.searchsorted(tabs, ends) - t_first
    bad = ntab != 8
    if not bad.any():
        tt = tabs[t_first[:, None] + np.arange(8)]
        bad = tt[:, 7] + 1 == ends  # empty attribute column: a short line
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        fields = block[starts[i]:ends[i]].decode().split("\t")
        nf = len(fields) if len(fields) > 9 else sum(1 for f in fields if f)
        raise _err(path, lineno[i], f"wrong column count: {nf} tab-separated fields, a GTF line "
                   "has 9")
    fs, fe = tt[:, 1] + 1, tt[:, 2]
    kind = np.full(len(starts), -1, dtype=np.int8)
    for k, word in enumerate(_KIND_BYTES):
        kind[_is(arr, fs, fe, word)] = k
    is_gene = _is(arr, fs, fe, b"gene")
    a0, a1 = tt[:, 7] + 1, ends
    words = _words(block)
    quotes = np.flatnonzero(arr == 34)
    semis = np.flatnonzero(arr == 59)
    out: dict[str, Any] = {}
    # gene rows: gene_id only (for gene_without_transcripts)
    g = np.flatnonzero(is_gene)
    if len(g):
        gs, ge, ok = _quoted_value(arr, quotes, semis, a0[g] + 9, a1[g],
                                   _at(arr, a0[g], a1[g], b'gene_id "'))
        ok &= (ge + 1 == a1[g]) | (arr[np.minimum(ge + 1, len(arr) - 1)] == 59)
        gid = np.empty(len(g), dtype=object)
        gid[ok] = _field_objects(block, words, gs[ok], ge[ok])
        if not ok.all():
            rest = _obj([block[a:b].decode() for a, b in zip(a0[g][~ok].tolist(),
                                                             a1[g][~ok].tolist(), strict=True)])
            gid[~ok] = _gtf_attr(rest, "gene_id").to_numpy()
        out["gene_ids"] = gid
    sel = np.flatnonzero(kind >= 0)
    if not len(sel):
        return out or None, nlines
    tt, a0, a1, kind, lineno = tt[sel], a0[sel], a1[sel], kind[sel], lineno[sel]
    starts = starts[sel]
    # gene_id "G"; ... transcript_id "T"  (GENCODE, Ensembl, RefSeq, gffread, StringTie,
    # FlyBase): gene_id first; the first "transcript_id" of the row is a key ('; ' before it)
    gs, ge, ok = _quoted_value(arr, quotes, semis, a0 + 9, a1, _at(arr, a0, a1, b'gene_id "'))
    p = ge + 3  # usually right after the gene_id
    other = np.flatnonzero(ok & ~_at(arr, ge, a1, b'"; transcript_id "'))
    if len(other):  # elsewhere: the row's first "transcript_id" (bytes.find: memchr speed)
        po = np.fromiter((block.find(b"transcript_id", x, y) for x, y in
                          zip(a0[other].tolist(), a1[other].tolist(), strict=True)),
                         dtype=np.int64, count=len(other))
        good = (po >= a0[other] + 2)
        good &= (arr[np.maximum(po - 2, 0)] == 59) & (arr[np.maximum(po - 1, 0)] == 32)
        good &= _at(arr, po + 13, a1[other], b' "')
        p[other] = po
        ok[other] = good
    ts, te, ok = _quoted_value(arr, quotes, semis, p + 15, a1, ok)
    ok &= (te + 1 == a1) | (arr[np.minimum(te + 1, len(arr) - 1)] == 59)
    n = len(sel)
    tid = np.empty(n, dtype=object)
    gid = np.empty(n, dtype=object)
    tid[ok] = _field_objects(block, words, ts[ok], te[ok])
    gid[ok] = _field_objects(block, words, gs[ok], ge[ok])
    if not ok.all():  # any other layout: the general regexes
        slow = np.flatnonzero(~ok)
        rest = _obj([block[a:b].decode() for a, b in zip(a0[slow].tolist(), a1[slow].tolist(),
                                                         strict=True)])
        g2, t2 = _gtf_ids(rest)
        for name, col in (("transcript_id", t2), ("gene_id", g2)):
            miss = col.isna().to_numpy()
            if miss.any():
                i = int(slow[np.flatnonzero(miss)[0]])
                what = _KIND_FEATURES[kind[i]]
                raise _err(path, lineno[i], f"{what} row without {name}")
        tid[slow] = t2.to_numpy()
        gid[slow] = g2.to_numpy()
    start, ok_s = _parse_uint(arr, tt[:, 2] + 1, tt[:, 3])
    end, ok_e = _parse_uint(arr, tt[:, 3] + 1, tt[:, 4])
    for col, okc, name, k in ((start, ok_s, "start", 2), (end, ok_e, "end", 3)):
        if not okc.all():  # signs, blanks, exponents or garbage: the general parser decides
            b = np.flatnonzero(~okc)
            txt = pd.Series([block[x:y].decode() for x, y in zip((tt[b, k] + 1).tolist(),
                                                                 tt[b, k + 1].tolist(), strict=True)],
                            dtype=object)
            col[b] = _to_int(txt, pd.Series(lineno[b]), path, name)
    ph_s, ph_e = tt[:, 6] + 1, tt[:, 7]
    ph = arr[np.minimum(ph_s, len(arr) - 1)].astype(np.int64) - 48
    phase = np.where((ph_e - ph_s == 1) & (ph >= 0) & (ph <= 2), ph, -1)
    kinds = _KIND_NAMES[kind]
    # the row that describes a transcript: its transcript row, else its first row
    tcode, _ = pd.factorize(tid, sort=False)
    cand = (kind == 3) | ~pd.Series(tcode).duplicated().to_numpy()
    ci = np.flatnonzero(cand)
    out["rows"] = pd.DataFrame({  # object columns: pandas would copy into Arrow strings
        "tid": _obj(tid), "gid": _obj(gid),
        "chrom": _obj(_field_objects(block, words, starts, tt[:, 0])),
        "strand": _obj(_field_objects(block, words, tt[:, 5] + 1, tt[:, 6])),
        "start": start - 1, "end": end, "kind": _obj(kinds), "phase": phase, "line": lineno,
    })
    a = _obj([block[x:y].decode() for x, y in zip(a0[ci].tolist(), a1[ci].tolist(), strict=True)])
    out["rep"] = pd.DataFrame({
        "tid": _obj(tid[ci]), "not_tx": kind[ci] != 3, "line": lineno[ci], **_transcript_info(a),
    })
    return out, nlines


# (?:^|;) written as ';' on ';' + value: same matches, 3x faster (literal prefix)
_TAG = re.compile(r';\s*tag\s+"?([^";\s][^";]*?)"?\s*(?=;|$)')


def _transcript_info(a: pd.Series) -> dict[str, pd.Series]:
    """Gene name, biotype and tags from the attribute strings ``a`` of candidate rows."""
    return {
        "gene_name": _obj(_first_of(a, ("gene_name", "gene_symbol", "gene"))),
        "biotype": _obj(_first_of(a, ("transcript_type", "transcript_biotype", "gene_type",
                                      "gene_biotype"))),
        "tags": _obj([",".join(_TAG.findall(";" + v)) if "tag" in v else "" for v in a]),
    }


def _first_of(attrs: pd.Series, keys: Iterable[str]) -> np.ndarray:
    """Per row, the value of the first of ``keys`` present with a non-empty value (None if
    none): each later key is searched only in the rows still missing."""
    out = np.full(len(attrs), None, dtype=object)
    todo = np.arange(len(attrs))
    for key in keys:
        if not len(todo):
            break
        sub = attrs.iloc[todo]
        has = np.fromiter((key in v for v in sub), dtype=bool, count=len(sub))
        if not has.any():
            continue
        vals = _gtf_attr(sub[has], key).to_numpy()
        good = np.fromiter((isinstance(v, str) and v != "" for v in vals), dtype=bool,
                           count=len(vals))
        idx = todo[np.flatnonzero(has)[good]]
        out[idx] = vals[good]
        done = np.zeros(len(attrs), dtype=bool)
        done[idx] = True
        todo = todo[~done[todo]]
    return out


def read_gtf(path: PathLike, strict: bool = False) -> Annotation:
    """Read a GTF2 file (GENCODE, Ensembl, RefSeq, FlyBase exon-only, ...).

    Parsed block by block (8 MiB of text) straight from bytes with NumPy: rows are selected by
    feature (exon, CDS, stop_codon, transcript; gene rows for their gene_id) before any
    attribute is read; ``gene_id "G"; transcript_id "T"`` at the start of the attributes (the
    usual layout) is located with byte searches, other layouts go through the attribute
    regexes; gene name, biotype and tags are parsed once per transcript. ``strict``: a
    structural flaw is an error, not a repair or drop (:mod:`isoclr.store.annotation_tables`)."""
    parts: list[pd.DataFrame] = []
    reps: list[pd.DataFrame] = []
    gene_ids: list[np.ndarray] = []

    def collect(got: dict[str, Any] | None) -> None:
        if got is None:
            return
        if "gene_ids" in got:
            gene_ids.append(got["gene_ids"])
        if "rows" in got:
            parts.append(got["rows"])
            reps.append(got["rep"])

    # blocks are parsed by GTF_THREADS threads (NumPy releases the GIL in its scans), at most
    # 2 * GTF_THREADS blocks in flight, their lines numbered from 1; results are taken in file
    # order, so the first bad line of the file is the one reported, and renumbered then. A
    # block that fails is parsed again with its true first line number: the error names it.
    line0 = 0
    pending: deque[tuple[Future[tuple[dict[str, Any] | None, int]], bytes]] = deque()

    def take() -> None:
        nonlocal line0
        future, block = pending.popleft()
        try:
            got, nlines = future.result()
        except ValueError:
            _gtf_block(path, block, line0)
            raise
        if got is not None and "rows" in got:
            got["rows"]["line"] += line0
            got["rep"]["line"] += line0
        line0 += nlines
        collect(got)

    with ThreadPoolExecutor(GTF_THREADS) as pool:
        for block in _gtf_blocks(path):
            pending.append((pool.submit(_gtf_block, path, block, 0), block))
            while len(pending) >= 2 * GTF_THREADS:
                take()
        while pending:
            take()
    if not parts:
        raise ValueError(f"{path}: empty annotation: no exon/CDS/transcript rows")
    rows = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    parts.clear()  # the per-block frames are no longer needed
    for c in ("tid", "gid", "chrom", "strand", "kind"):
        rows[c] = rows[c].astype(object)
    rep = pd.concat(reps, ignore_index=True)
    rep = rep.sort_values(["not_tx", "line"], kind="stable").drop_duplicates("tid")
    # gene name, biotype, tags: read by the block workers from each block's candidate rows
    info = pd.DataFrame({c: _obj(rep[c]) for c in ("gene_name", "biotype", "tags")})
    info.index = rep["tid"].to_numpy()
    counts: dict[str, int] = {}
    if gene_ids:
        gids = pd.Series(np.concatenate(gene_ids), dtype=object)
        lonely = ~gids.isin(set(pd.unique(rows["gid"])))
        if lonely.any():  # e.g. a window cut that kept a gene row but none of its transcripts
            counts["gene_without_transcripts"] = int(lonely.sum())
    return assemble(path, "gtf", rows, info, counts, strict=strict)
