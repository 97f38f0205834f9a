"""Annotation readers: GTF, GFF3, UCSC genePred / genePredExt / refFlat and BED12.

Every reader returns one normalised :class:`Annotation` (see docs/interfaces.md, "Annotation
table"): a transcript table and an exon table, both plain pandas DataFrames, with genomic
coordinates 0-based half-open and the CDS span *including* the stop codon (UCSC convention;
GTF/GFF3 ``stop_codon`` rows are joined to the CDS).

The readers are vectorised. GTF is parsed straight from bytes, 8 MiB blocks at a time, with
NumPy, by the fast reader in its own module (:mod:`isoclr.store.gtf`; ~2.5 s of CPU for a 500
k-line, 220 MB GTF). The other formats (here) use pandas ``read_csv`` in chunks of 1 M lines and
attribute regexes over whole columns (:mod:`isoclr.store.fields`). Every reader hands its rows
to :func:`isoclr.store.annotation_tables.assemble`, which builds the tables and applies the
checks below.
Every record keeps its 1-based line number so that bad input is reported as
``FILE: line N: what is wrong``.

Handling of imperfect input. Errors are ``ValueError`` naming file and line. A transcript with a
structural flaw is repaired where ``gffread`` has a defined repair, else dropped, and counted by
reason (``Annotation.counts``, with the first few ``ID (line N)`` in ``Annotation.examples``;
one warning sums them up); ``strict`` makes every drop the error it names.

============================================  ===============================================
input                                         handling
============================================  ===============================================
truncated / corrupt gzip                      error naming the file
wrong column count                            error naming file + line
missing gene_id / transcript_id (GTF)         error naming file + line
exon/CDS without Parent                       error naming file + line (GFF3)
``Parent`` cycle (A -> B -> A)                error naming the ids and lines (GFF3)
non-integer coordinate                        error naming file + line
end < start, start < 1                        dropped, ``bad_coordinates`` (strict: error)
strand other than ``+``/``-`` on exon/CDS     dropped, ``bad_strand`` (strict: error)
transcript on two chromosomes/strands/genes   dropped, ``two_chromosomes``/``two_strands``/
                                              ``two_gene_ids`` (strict: error naming both lines)
overlapping exons in one transcript           dropped, ``overlapping_exons`` (strict: error)
CDS/stop codon running past an exon it        exon extended over it (as gffread),
overlaps                                      ``exon_extended_to_cds`` (strict: error)
CDS/stop codon overlapping no exon; CDS       dropped, ``cds_outside_exons`` (strict: error)
span of a table format outside the exons
duplicate transcript id (genePred/refFlat/    error naming both lines
BED12)
empty annotation (no transcript)              error naming the file
exons listed 3'->5' (normal on ``-``)         sorted silently
exact duplicate exon rows                     dropped, counted ``duplicate_exon``
transcript row without any exon/CDS/UTR       dropped, counted ``no_exons``
GTF gene row none of whose transcripts is     counted ``gene_without_transcripts``
in the file
transcript with CDS/UTR rows but no exon      exons = CDS, stop codon and UTR rows joined (as
rows                                          gffread), counted ``exons_from_cds``
GFF3 Parent absent from the file              implicit transcript/gene (as gffread), counted
                                              (strict: error)
GFF3 CDS also parented to a ``protein`` /     that parent ignored (TAIR10 style), as gffread
``polypeptide`` feature
CDS row with phase ``.``                      phase 0, counted ``cds_phase_missing``
contig absent from the FASTA                  dropped by :func:`reconcile_chroms`, counted
                                              per contig in its report
============================================  ===============================================
"""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from isoclr.core.files import check_readable, open_text
from isoclr.store.annotation_tables import assemble, summary
from isoclr.store.fields import (  # noqa: F401  (Annotation, the column lists: the public API)
    TRANSCRIPT_COLUMNS,
    Annotation,
    PathLike,
    _coalesce,
    _err,
    _extract,
    _gff_attr,
    _obj,
    _phase,
    _read_columns,
    _strip_prefix,
    _to_int,
    _unescape,
)
from isoclr.store.gtf import read_gtf

log = logging.getLogger(__name__)

FORMATS = ("gtf", "gff3", "genepred", "refflat", "bed12")


# ----------------------------------------------------------------------------- GFF3

_GFF_CHILD = {"exon": "exon", "CDS": "cds", "stop_codon": "stop", "five_prime_UTR": "utr",
              "three_prime_UTR": "utr", "UTR": "utr", "5UTR": "utr", "3UTR": "utr"}
#: feature types a CDS may also name as Parent that are not transcripts (TAIR10: the protein)
_GFF_NOT_TX = ("protein", "polypeptide")


def _parent_cycles(path: PathLike, feats: pd.DataFrame) -> None:
    """Raise if following ``Parent`` from a feature comes back to it (A -> B -> A), naming
    the ids and lines of the cycle. Pointer doubling: ``log2(n)`` vectorised steps."""
    n = len(feats)
    if not n:
        return
    anc = pd.Index(feats.index).get_indexer(feats["parent"].to_numpy())  # -1: no parent row
    steps = 1
    while steps <= n and (anc >= 0).any():
        anc = np.where(anc >= 0, anc[np.maximum(anc, 0)], -1)
        steps *= 2
    if not (anc >= 0).any():
        return
    lines = feats["line"].to_numpy()
    start = int(anc[np.flatnonzero(anc >= 0)[np.argmin(lines[anc >= 0])]])  # on the cycle
    parent = pd.Index(feats.index).get_indexer(feats["parent"].to_numpy())
    cycle, i = [start], int(parent[start])
    while i != start:
        cycle.append(i)
        i = int(parent[i])
    first = min(range(len(cycle)), key=lambda k: lines[cycle[k]])
    cycle = cycle[first:] + cycle[:first]
    names = [f"{feats.index[k]} (line {lines[k]})" for k in cycle]
    raise _err(path, lines[cycle[0]], "Parent cycle: " + " -> ".join(names)
               + f" -> {feats.index[cycle[0]]}")


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
    _parent_cycles(path, feats)
    lines = ch["line"]
    crow = pd.DataFrame({
        "tid": cpar.str.split(","), "chrom": ch[0], "strand": ch[6],
        "start": _to_int(ch[3], lines, path, "start") - 1, "end": _to_int(ch[4], lines, path, "end"),
        "kind": kind[is_child], "phase": _phase(ch[7]), "line": lines,
    }).explode("tid")
    crow["tid"] = _unescape(crow["tid"].str.strip())
    protein = feats.index[feats["type"].isin(_GFF_NOT_TX).to_numpy()]
    if len(protein):  # 'Parent=AT1G01010.1,AT1G01010.1-Protein': the protein is no transcript
        crow = crow.loc[~crow["tid"].isin(protein).to_numpy()]
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
    ann = assemble(path, "gff3", rows, info, counts, strict=strict)
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
    strict: bool = False,
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
    return assemble(path, fmt, rows, info, {}, cds_span=span, strict=strict)


def read_genepred(path: PathLike, refflat: bool | None = None,
                  gene_map: Mapping[str, str] | None = None, strict: bool = False) -> Annotation:
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
        exons, cs, ce, phase, strict=strict,
    )


def read_refflat(path: PathLike, gene_map: Mapping[str, str] | None = None,
                 strict: bool = False) -> Annotation:
    """Read UCSC refFlat (``geneName, name, chrom, strand, txStart, ...``, 11 columns)."""
    return read_genepred(path, refflat=True, gene_map=gene_map, strict=strict)


def read_bed12(path: PathLike, gene_map: Mapping[str, str] | None = None,
               strict: bool = False) -> Annotation:
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
        np.zeros(len(df), dtype=np.int64), strict=strict,
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
    without gene ids (genePred, BED12). By default a transcript with a structural flaw is
    repaired (as gffread) or dropped, counted by reason in ``counts``/``examples`` and summed
    up in one warning; ``strict`` makes each drop an error, and GFF3 rows whose Parent row is
    absent errors instead of implicit transcripts/genes (see :func:`read_gff3`). Raises
    ``ValueError`` naming file and line on bad input.
    """
    if not Path(path).exists():
        raise ValueError(f"{path}: annotation file not found")
    check_readable(path, "annotation")  # zstd, zip...: refused by name
    fmt = (fmt or "auto").lower()
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "gtf":
        ann = read_gtf(path, strict=strict)
    elif fmt in ("gff3", "gff"):
        ann = read_gff3(path, strict=strict)
    elif fmt in ("genepred", "genepredext"):
        ann = read_genepred(path, refflat=False, gene_map=gene_map, strict=strict)
    elif fmt == "refflat":
        ann = read_refflat(path, gene_map=gene_map, strict=strict)
    elif fmt in ("bed12", "bed"):
        ann = read_bed12(path, gene_map=gene_map, strict=strict)
    else:
        raise ValueError(f"unknown annotation format {fmt!r}; choose from {FORMATS}")
    ann.species = species
    for k, v in ann.counts.items():
        log.info("%s: %s: %d", path, k, v)
    flawed = summary(ann.counts, ann.examples)
    if flawed:
        log.warning("%s: %s (--strict / filters.strict: stop at the first instead)", path, flawed)
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
