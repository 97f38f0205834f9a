"""Annotation assembly: every reader's per-record rows -> the normalised :class:`Annotation`.

:func:`assemble` runs four jobs, one function each:

1. :func:`_validate`: strands, coordinates, one chromosome / strand / gene per transcript;
2. :func:`_exons`: the exon table (duplicates dropped, exons built from CDS and UTR rows when a
   transcript has none, overlaps, CDS/stop codon rows inside the exons);
3. :func:`_cds`: the CDS span (stop codon included) and the phase of its 5' end;
4. :func:`_output`: the transcript table in line order, flawed and exon-less transcripts left out.

A transcript with a structural flaw is, by default, repaired where ``gffread`` has a defined
repair and otherwise dropped (:class:`Flaws`): exons made from the CDS, stop codon and UTR rows
when it has no exon rows (``exons_from_cds``); an exon extended to cover a CDS or stop codon row
that runs past it (``exon_extended_to_cds``). Every repair and drop is counted by reason in
``Annotation.counts`` with its first few ``ID (line N)`` in ``Annotation.examples``. With
``strict`` each drop is the error naming the file and line it was before.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from isoclr.store.fields import Annotation, PathLike, _coalesce, _err

#: repairs (the transcript is kept, as gffread builds it)
REPAIRS = ("exons_from_cds", "exon_extended_to_cds")
#: structural flaws that drop a transcript (errors under ``strict``)
DROPS = ("bad_strand", "bad_coordinates", "two_chromosomes", "two_strands", "two_gene_ids",
         "overlapping_exons", "cds_outside_exons")
#: ids (with their line) kept per reason
N_EXAMPLES = 5


class Flaws:
    """The transcripts repaired or dropped while assembling, by reason.

    ``tids``: transcript id per transcript code. Under ``strict`` a drop raises the error its
    check builds instead."""

    def __init__(self, tids: np.ndarray, strict: bool) -> None:
        self.tids = tids
        self.strict = strict
        self.dropped = np.zeros(len(tids), dtype=bool)
        self._found: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}

    def _add(self, reason: str, tx: np.ndarray, lines: np.ndarray) -> np.ndarray:
        tx = np.asarray(tx, dtype=np.int64)
        lines = np.asarray(lines, dtype=np.int64)
        order = np.lexsort((lines, tx))
        tx, lines = tx[order], lines[order]
        first = np.ones(len(tx), dtype=bool)
        first[1:] = tx[1:] != tx[:-1]
        tx, lines = tx[first], lines[first]  # one entry per transcript: its first flawed line
        self._found.setdefault(reason, []).append((tx, lines))
        return tx

    def drop(self, reason: str, tx: np.ndarray, lines: np.ndarray,
             error: Callable[[], ValueError]) -> None:
        """Drop transcripts ``tx`` (flawed rows at ``lines``), or raise ``error()`` if strict.
        A transcript already dropped for an earlier reason is not counted again."""
        if not len(tx):
            return
        if self.strict:
            raise error()
        tx = np.asarray(tx, dtype=np.int64)
        new = ~self.dropped[tx]
        if new.any():
            self.dropped[self._add(reason, tx[new], np.asarray(lines)[new])] = True

    def repair(self, reason: str, tx: np.ndarray, lines: np.ndarray) -> None:
        if len(tx):
            self._add(reason, tx, lines)

    def report(self, counts: dict[str, int], examples: dict[str, list[str]]) -> None:
        """Add the counts (transcripts per reason) and first examples, in line order."""
        for reason, parts in self._found.items():
            tx = np.concatenate([p[0] for p in parts])
            lines = np.concatenate([p[1] for p in parts])
            keep = ~self.dropped[tx] if reason in REPAIRS else np.ones(len(tx), dtype=bool)
            tx, lines = tx[keep], lines[keep]
            if not len(tx):
                continue
            order = np.argsort(lines, kind="stable")
            counts[reason] = counts.get(reason, 0) + len(tx)
            examples.setdefault(reason, []).extend(
                f"{self.tids[t]} (line {ln})" for t, ln in
                zip(tx[order][:N_EXAMPLES].tolist(), lines[order][:N_EXAMPLES].tolist()))
            del examples[reason][N_EXAMPLES:]


def summary(counts: dict[str, int], examples: dict[str, list[str]]) -> str:
    """One line: the repairs and drops by reason with their first examples ('' if none)."""
    parts = []
    for what, reasons in (("repaired", REPAIRS), ("dropped", DROPS)):
        got = [r for r in reasons if counts.get(r)]
        if got:
            total = sum(counts[r] for r in got)
            parts.append(f"{total} transcripts {what} (" + "; ".join(
                f"{r}: {counts[r]}, e.g. {', '.join(examples.get(r, [])[:3])}" for r in got) + ")")
    return ", ".join(parts)


# ----------------------------------------------------------------------------- 1. validation


def _conflicts(df: pd.DataFrame, codes: np.ndarray, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows (in line order) whose ``col`` differs from their transcript's first row: ``(bad
    mask, row of that first row)``."""
    vals, _ = pd.factorize(df[col])
    _, first_idx = np.unique(codes, return_index=True)
    ref = first_idx[codes]
    return vals != vals[ref], ref


def _validate(path: PathLike, rows: pd.DataFrame, flaws: Flaws) -> None:
    """Strand + or -, 0 <= start < end, and one chromosome, strand and gene id per transcript."""
    codes = rows["tx"].to_numpy()
    lines = rows["line"].to_numpy()
    strand = rows["strand"].to_numpy(dtype=object)
    bad = (strand != "+") & (strand != "-")

    def first_row() -> pd.Series:
        return rows.loc[bad].iloc[0]

    flaws.drop("bad_strand", codes[bad], lines[bad], lambda: _err(
        path, first_row()["line"],
        f"strand {first_row()['strand']!r} of transcript {first_row()['tid']} is not + or -"))
    bad = ((rows["start"] < 0) | (rows["end"] <= rows["start"])).to_numpy()
    flaws.drop("bad_coordinates", codes[bad], lines[bad], lambda: _err(
        path, first_row()["line"],
        f"bad coordinates for transcript {first_row()['tid']}: end before start or start < 1"))
    for col, what, reason in (("chrom", "lies on two chromosomes", "two_chromosomes"),
                              ("strand", "lies on two strands", "two_strands"),
                              ("gid", "has two gene ids", "two_gene_ids")):
        bad, ref = _conflicts(rows, codes, col)

        def error(bad: np.ndarray = bad, ref: np.ndarray = ref, col: str = col,
                  what: str = what) -> ValueError:
            i = int(np.flatnonzero(bad)[0])
            j = int(ref[i])
            row = rows.iloc[i]
            return _err(path, row["line"], f"transcript {row['tid']} {what}: {rows[col].iloc[j]} "
                        f"(line {rows['line'].iloc[j]}) and {row[col]} (line {row['line']})")

        flaws.drop(reason, codes[bad], lines[bad], error)


# ----------------------------------------------------------------------------- 2. exons


def _merge_intervals(df: pd.DataFrame) -> pd.DataFrame:
    """Merge overlapping or touching [start, end) per ``tx`` (df sorted by tx, start)."""
    if df.empty:
        return df[["tx", "start", "end", "line"]]
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


def _outside(seg: pd.DataFrame, exons: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """``seg`` rows (sorted by start) and, per row, whether it does not lie in one exon."""
    s = seg[["tx", "start", "end", "line"]].sort_values("start", kind="stable")
    e = exons[["tx", "start", "end"]].rename(columns={"start": "es", "end": "ee"})
    e = e.sort_values("es", kind="stable")
    m = pd.merge_asof(s, e, left_on="start", right_on="es", by="tx", direction="backward")
    return m, (m["ee"].isna() | (m["end"] > m["ee"])).to_numpy()


def _contained(path: PathLike, seg: pd.DataFrame, exons: pd.DataFrame, tids: np.ndarray,
               what: str, flaws: Flaws, repair: bool) -> pd.DataFrame:
    """Every ``seg`` row [start, end) of transcript ``tx`` must lie in one exon. Otherwise: an
    exon it overlaps or meets is extended to cover it (``repair``: gffread's repair of a CDS or
    stop codon that runs past its exon; the transcript's exons are then joined where they
    meet, as gffread joins them), else the transcript is dropped (an error under strict).
    Returns the exons, repaired."""
    if seg.empty:
        return exons
    m, bad = _outside(seg, exons)
    if not bad.any():
        return exons

    def error() -> ValueError:
        r = m.loc[bad].sort_values("line").iloc[0]
        return _err(path, r["line"], f"{what} {int(r['start'])}-{int(r['end'])} of transcript "
                    f"{tids[int(r['tx'])]} lies outside its exons (CDS outside exons)")

    if flaws.strict:
        raise error()
    b = m.loc[bad, ["tx", "start", "end", "line"]]
    back = m.loc[bad, "ee"].to_numpy() >= b["start"].to_numpy()  # meets the exon before it
    e = exons[["tx", "start"]].rename(columns={"start": "es"}).sort_values("es", kind="stable")
    fwd = pd.merge_asof(b.reset_index(drop=True), e, left_on="start", right_on="es", by="tx",
                        direction="forward")
    overlaps = back | (fwd["es"].to_numpy() <= b["end"].to_numpy())  # or the one after it
    if not repair:
        overlaps[:] = False
    lost = b.loc[~overlaps]
    flaws.drop("cds_outside_exons", lost["tx"].to_numpy(), lost["line"].to_numpy(), error)
    fix = b.loc[overlaps & ~flaws.dropped[b["tx"].to_numpy()]]
    if fix.empty:
        return exons
    flaws.repair("exon_extended_to_cds", fix["tx"].to_numpy(), fix["line"].to_numpy())
    hit = np.isin(exons["tx"].to_numpy(), fix["tx"].to_numpy())
    merged = _merge_intervals(pd.concat([exons.loc[hit], fix]).sort_values(
        ["tx", "start", "end"], kind="stable"))
    return pd.concat([exons.loc[~hit], merged]).sort_values(["tx", "start", "end"], kind="stable")


def _exons(path: PathLike, rows: pd.DataFrame, tids: np.ndarray, counts: dict[str, int],
           flaws: Flaws) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """``(exons, CDS + stop codon rows, has any exon/CDS/UTR row)`` per transcript code."""
    ntx = len(tids)
    kind = rows["kind"].to_numpy()
    ex = rows.loc[kind == "exon", ["tx", "start", "end", "line"]]
    ex = ex.sort_values(["tx", "start", "end"], kind="stable")
    dup = ex.duplicated(["tx", "start", "end"])
    if dup.any():
        counts["duplicate_exon"] = counts.get("duplicate_exon", 0) + int(dup.sum())
        ex = ex.loc[~dup]
    cds = rows.loc[np.isin(kind, ["cds", "stop"]), ["tx", "start", "end", "line", "kind", "phase"]]
    cds = cds.sort_values(["tx", "start", "end"], kind="stable")
    utr = rows.loc[kind == "utr", ["tx", "start", "end", "line"]]
    has_ex = np.bincount(ex["tx"].to_numpy(), minlength=ntx) > 0
    has_seg = (np.bincount(cds["tx"].to_numpy(), minlength=ntx) > 0) | (
        np.bincount(utr["tx"].to_numpy(), minlength=ntx) > 0)
    fill = has_seg & ~has_ex
    if fill.any():  # no exon rows: exons are the CDS, stop codon and UTR rows, joined (gffread)
        seg = pd.concat([cds[["tx", "start", "end", "line"]], utr])
        seg = seg.loc[fill[seg["tx"].to_numpy()]].sort_values(["tx", "start", "end"],
                                                                kind="stable")
        extra = _merge_intervals(seg)
        first = seg.sort_values("line", kind="stable").drop_duplicates("tx")
        flaws.repair("exons_from_cds", first["tx"].to_numpy(), first["line"].to_numpy())
        ex = pd.concat([ex, extra]).sort_values(["tx", "start", "end"], kind="stable")
    # overlapping exons within a transcript
    t = ex["tx"].to_numpy()
    st = ex["start"].to_numpy()
    en = ex["end"].to_numpy()
    ov = np.zeros(len(ex), dtype=bool)
    ov[1:] = (t[1:] == t[:-1]) & (st[1:] < en[:-1])

    def overlap_error() -> ValueError:
        i = int(np.flatnonzero(ov)[0])
        return _err(
            path, ex["line"].iloc[i],
            f"transcript {tids[t[i]]} has overlapping exons {st[i - 1]}-{en[i - 1]} (line "
            f"{ex['line'].iloc[i - 1]}) and {st[i]}-{en[i]} (0-based, half-open)")

    flaws.drop("overlapping_exons", t[ov], ex["line"].to_numpy()[ov], overlap_error)
    ex = _contained(path, cds, ex, tids, "CDS/stop codon", flaws, repair=True)
    return ex, cds, has_ex | has_seg


# ----------------------------------------------------------------------------- 3. CDS


def _cds(path: PathLike, tab: pd.DataFrame, ex: pd.DataFrame, cds: pd.DataFrame,
         cds_span: pd.DataFrame | None, tids: np.ndarray, counts: dict[str, int],
         flaws: Flaws) -> None:
    """Fill ``tab``'s ``cds_start``, ``cds_end`` (genomic, stop codon included; -1: none) and
    ``cds_phase`` from the CDS rows, or from ``cds_span`` (table formats)."""
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
            _contained(path, pts, ex, tids, "CDS end point", flaws, repair=False)
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


# ----------------------------------------------------------------------------- 4. output


def _output(path: PathLike, fmt: str, tab: pd.DataFrame, ex: pd.DataFrame, info: pd.DataFrame,
            keep: np.ndarray, counts: dict[str, int], examples: dict[str, list[str]]
            ) -> Annotation:
    """The normalised tables: transcripts in order of their first line, ``keep`` only."""
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
    order = np.argsort(out["line"].to_numpy(), kind="stable")
    order = order[keep[order]]
    new_index = np.full(len(tab), -1, dtype=np.int64)
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
    return Annotation(out, exons, source=str(path), format=fmt, counts=counts, examples=examples)


def assemble(
    path: PathLike,
    fmt: str,
    rows: pd.DataFrame,
    info: pd.DataFrame,
    counts: dict[str, int],
    cds_span: pd.DataFrame | None = None,
    strict: bool = False,
) -> Annotation:
    """Build the normalised tables from per-record rows.

    ``rows``: one row per record, in line order, columns ``tid, gid, chrom, strand, start,
    end, kind ('exon' | 'cds' | 'stop' | 'utr' | 'tx'), phase (-1 = none), line``.
    ``info``: indexed by ``tid``: ``gene_name, biotype, tags``.
    ``cds_span``: for table formats, per ``tid`` ``cds_start, cds_end, cds_phase`` (then no
    ``cds`` rows are given). ``strict``: a structural flaw is an error, not a drop.
    """
    if rows.empty:
        raise ValueError(f"{path}: empty annotation: no transcript records found")
    if rows["line"].is_monotonic_increasing:  # readers that build rows in line order
        rows = rows.reset_index(drop=True)
    else:
        rows = rows.sort_values("line", kind="stable").reset_index(drop=True)
    codes, tids = pd.factorize(rows["tid"], sort=False)
    tids = np.asarray(tids, dtype=object)
    rows["tx"] = codes
    flaws = Flaws(tids, strict)
    _validate(path, rows, flaws)
    # transcript-level values: each transcript's first row (rows are in line order)
    _, first_idx = np.unique(codes, return_index=True)
    tab = rows.iloc[first_idx][["tid", "gid", "chrom", "strand", "line"]]
    tab.index = np.arange(len(tids))
    if flaws.dropped.any():  # later checks see only the rows of transcripts still kept
        rows = rows.loc[~flaws.dropped[codes]].reset_index(drop=True)
    ex, cds, has_rows = _exons(path, rows, tids, counts, flaws)
    tab = tab.join(ex.groupby("tx").agg(start=("start", "min"), end=("end", "max")))
    _cds(path, tab, ex, cds, cds_span, tids, counts, flaws)
    no_exons = ~has_rows & ~flaws.dropped
    if no_exons.any():
        counts["no_exons"] = counts.get("no_exons", 0) + int(no_exons.sum())
    examples: dict[str, list[str]] = {}
    flaws.report(counts, examples)
    keep = has_rows & ~flaws.dropped
    if not keep.any():
        if flaws.dropped.any():
            raise ValueError(f"{path}: empty annotation: every transcript has a structural flaw "
                             f"({summary(counts, examples)})")
        raise ValueError(f"{path}: empty annotation: no transcript has exons")
    return _output(path, fmt, tab, ex, info, keep, counts, examples)
