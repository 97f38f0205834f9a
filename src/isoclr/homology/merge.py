"""Homology stage: merge isoform groups and homology tables into transcript sets.

A transcript set is a connected component of the graph whose nodes are the genes of every
species store and whose edges come from

* isoforms: every transcript of a gene is in the gene's set (a gene is one node);
* shared symbols (``join_symbols``, default on, as the paper grouped genes by symbol): genes of
  one species with the same non-empty ``gene_name`` join;
* homology sources, each read from a file:

  - ``homologene``: NCBI HomoloGene ``homologene.data`` (tab-separated, no header: HID, TaxID,
    GeneID, Symbol, ProteinGI, ProteinAcc). TaxIDs map to species through each store's
    ``taxid`` attribute (or ``taxids``). Genes are matched by symbol against the store's
    ``gene_name``: exact (case-sensitive) first; a symbol with no exact match falls back to a
    case-insensitive match (HomoloGene writes some symbols in a different case than the
    annotation, e.g. fly and zebrafish). All genes of one HID join.
  - ``pairs``: a two-column table (tab or whitespace separated, no header, extra columns
    ignored; Saluki's ``1to1_orthologs_expression.txt`` is one): the gene in column 1 joins
    the gene in column 2. Optional species ``A,B`` say where to look for each column (one
    species: both columns; none: every species). Genes are matched by Ensembl-style id with
    the version suffix stripped on both sides (``ENSG00000141934.8`` == ``ENSG00000141934``),
    falling back to an exact ``gene_name`` match.
  - ``groups``: a two-column gene -> group table; all genes of one group join. Genes matched as
    for ``pairs``; optional species restrict the lookup.
  - ``taxon_groups``: a ``(group id, taxid, gene id, symbol)`` table such as HomoloGene's,
    matched by Entrez gene id where a species has one and by symbol otherwise
    (:mod:`isoclr.homology.sources` states the rules); all genes of one group join.

Lines starting with ``#`` are comments in ``pairs`` and ``groups`` tables; a header line simply
fails to match and is counted as unmatched. Components come from
:func:`scipy.sparse.csgraph.connected_components` on a graph with one extra node per homology
group / pair row / symbol (no pairwise loops).

Species kept apart (``within_species_sources``): only the isoform and symbol joins and the sources
restricted to one species, so no set holds two species (the pre-training arm that sees several
species without orthology).

Output (``docs/interfaces.md``, "Transcript sets"): ``sets.h5`` and ``sets.stats.tsv``.
Sets are numbered in order of their first gene (species order of the stores, then gene order
within the store), so the numbering is deterministic.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from isoclr.core.files import atomic_path, h5_create, open_text
from isoclr.homology.sources import TAXON_GROUPS, ortholog_pairs, taxon_group_links

log = logging.getLogger(__name__)

FORMATS = ("homologene", "pairs", "groups", TAXON_GROUPS)
_VERSION_RE = re.compile(r"\.\d+$")


@dataclass(frozen=True)
class Source:
    """One homology table: its format, path, optional species restriction and a display name."""

    format: str
    path: str
    species: tuple[str, ...] = ()
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or Path(self.path).name

    @classmethod
    def parse(cls, spec: str) -> Source:
        """Parse ``FORMAT:PATH[:speciesA,speciesB]`` (optionally ``NAME=FORMAT:PATH...``)."""
        name = ""
        if "=" in spec.split(":", 1)[0]:
            name, spec = spec.split("=", 1)
        fmt, sep, rest = spec.partition(":")
        if not sep or fmt not in FORMATS:
            raise ValueError(f"--source {spec!r}: expected FORMAT:PATH[:speciesA,speciesB] with FORMAT "
                             f"one of {', '.join(FORMATS)}")
        path, species = rest, ()
        if ":" in rest:
            head, tail = rest.rsplit(":", 1)
            if tail and re.fullmatch(r"[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*", tail) and not os.path.exists(rest):
                path, species = head, tuple(tail.split(","))
        return cls(fmt, path, species, name)


@dataclass
class StoreGenes:
    """The gene-level view of one species store that set building needs."""

    species: str
    path: str
    taxid: int | None
    gene_id: np.ndarray  # str (G,)
    gene_name: np.ndarray  # str (G,)
    tx_offset: np.ndarray  # int64 (G+1,)
    tx_index: np.ndarray  # int32 (N,)


@dataclass
class Sets:
    """Transcript sets, laid out as in ``sets.h5`` (see docs/interfaces.md)."""

    species: list[str]
    stores: list[str]
    member_species: np.ndarray  # int16 (M,)
    member_transcript: np.ndarray  # int32 (M,)
    offset: np.ndarray  # int64 (S+1,)
    n_genes: np.ndarray  # int32 (S,)
    n_species: np.ndarray  # int16 (S,)
    gene_species: np.ndarray  # int16 (Gall,)
    gene_id: np.ndarray  # str (Gall,)
    gene_set: np.ndarray  # int32 (Gall,)
    stats: list[tuple[str, str, object]] = field(default_factory=list)
    #: not written to sets.h5: the gene table, the stores' genes and every link (for ortholog pairs)
    genes: pd.DataFrame | None = None
    store_genes: list[StoreGenes] | None = None
    links: pd.DataFrame | None = None

    @property
    def n_sets(self) -> int:
        return len(self.n_genes)


def _strings(ds: h5py.Dataset) -> np.ndarray:
    arr = ds[()]
    if arr.dtype.kind in ("S", "O"):
        arr = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in arr], dtype=object)
    return arr.astype(object)


def read_store_genes(species: str, path: str | os.PathLike[str]) -> StoreGenes:
    """Read the gene arrays of a species store (HDF5 layout of docs/interfaces.md)."""
    with h5py.File(path, "r") as f:
        try:
            gene_id = _strings(f["genes/id"])
            name = _strings(f["genes/name"]) if "genes/name" in f else np.full(len(gene_id), "", object)
            tx_offset = f["genes/tx_offset"][()].astype(np.int64)
            tx_index = f["genes/tx_index"][()].astype(np.int32)
        except KeyError as exc:
            raise ValueError(f"{path}: not an isoform store (missing {exc})") from exc
        taxid = f.attrs.get("taxid")
    if len(tx_offset) != len(gene_id) + 1 or tx_offset[-1] != len(tx_index):
        raise ValueError(f"{path}: /genes/tx_offset does not match /genes/id and /genes/tx_index")
    try:
        taxid_int = int(taxid) if taxid is not None and str(taxid) not in ("", "-1") else None
    except (TypeError, ValueError):
        taxid_int = None
    return StoreGenes(species, str(path), taxid_int, gene_id, name, tx_offset, tx_index)


def strip_version(ids: pd.Series) -> pd.Series:
    """Drop an Ensembl-style ``.N`` version suffix."""
    return ids.str.replace(_VERSION_RE, "", regex=True)


def _gene_table(stores: Sequence[StoreGenes]) -> pd.DataFrame:
    parts = []
    for code, s in enumerate(stores):
        parts.append(pd.DataFrame({
            "sp": np.full(len(s.gene_id), code, np.int16),
            "gene_id": s.gene_id.astype(str),
            "gene_name": pd.Series(s.gene_name, dtype=object).fillna("").astype(str).to_numpy(),
        }))
    genes = pd.concat(parts, ignore_index=True)
    genes["node"] = np.arange(len(genes), dtype=np.int64)
    genes["key"] = strip_version(genes["gene_id"])
    genes["lname"] = genes["gene_name"].str.lower()
    return genes


def _read_table(path: str, min_cols: int, comment: str | None) -> pd.DataFrame:
    """Read a headerless tab/whitespace table as strings, with 1-based ``line`` numbers."""
    rows = []
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or (comment and line.startswith(comment)):
                continue
            cols = line.split("\t") if "\t" in line else line.split()
            if len(cols) < min_cols:
                raise ValueError(f"{path} line {lineno}: expected at least {min_cols} columns, "
                                 f"found {len(cols)}: {line[:80]!r}")
            rows.append((lineno, *[c.strip() for c in cols[:min_cols]]))
    if not rows:
        raise ValueError(f"{path}: no data rows")
    return pd.DataFrame(rows, columns=["line", *[f"c{i}" for i in range(min_cols)]])


def _match(keys: pd.DataFrame, genes: pd.DataFrame, by: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Match ``keys`` (columns ``row``, ``sp``, ``value``) to genes, trying each (transform,
    gene column) in ``by`` for the rows not yet matched. Returns ``row, node, how``."""
    out = []
    todo = keys
    for how, col in by:
        if todo.empty:
            break
        left = todo.assign(value=todo["value"].str.lower() if how == "lower" else
                           strip_version(todo["value"]) if how == "key" else todo["value"])
        m = left.merge(genes[["sp", col, "node"]], left_on=["sp", "value"], right_on=["sp", col])
        if not m.empty:
            out.append(m[["row", "node"]].assign(how=f"{how}:{col}"))
        todo = todo[~todo["row"].isin(m["row"])]
    if out:
        return pd.concat(out, ignore_index=True).drop_duplicates(["row", "node"])
    return pd.DataFrame({"row": pd.Series([], dtype=np.int64), "node": pd.Series([], dtype=np.int64),
                         "how": pd.Series([], dtype=object)})


def _species_codes(source: Source, names: Sequence[str], n_cols: int) -> list[list[int]]:
    """Species codes to search for each column of a pairs/groups table."""
    codes = {n: i for i, n in enumerate(names)}
    for sp in source.species:
        if sp not in codes:
            raise ValueError(f"source {source.label}: species {sp!r} has no store "
                             f"(stores: {', '.join(names)})")
    everyone = list(range(len(names)))
    if not source.species:
        return [everyone] * n_cols
    if len(source.species) == 1:
        return [[codes[source.species[0]]]] * n_cols
    if n_cols == 2 and len(source.species) == 2:
        return [[codes[source.species[0]]], [codes[source.species[1]]]]
    return [[codes[s] for s in source.species]] * n_cols


def _expand_species(df: pd.DataFrame, col: str, codes: list[int]) -> pd.DataFrame:
    """One row per (table row, candidate species)."""
    base = pd.DataFrame({"row": df["row"].to_numpy(), "value": df[col].to_numpy()})
    return pd.concat([base.assign(sp=np.int16(c)) for c in codes], ignore_index=True)


def _homologene_links(src: Source, genes: pd.DataFrame, taxid_to_sp: Mapping[int, int],
                      stats: list) -> pd.DataFrame:
    """(node, group label) links from a HomoloGene file."""
    t = _read_table(src.path, 4, None)
    t["row"] = np.arange(len(t))
    taxid = pd.to_numeric(t["c1"], errors="coerce")
    bad = taxid.isna()
    if bad.any():
        first = t.loc[bad.idxmax()]
        raise ValueError(f"{src.path} line {first['line']}: TaxID {first['c1']!r} is not an integer "
                         "(is this a homologene.data file?)")
    t["sp"] = taxid.astype(np.int64).map(taxid_to_sp)
    known = t["sp"].notna()
    s = f"source:{src.label}"
    stats.append((s, "rows", len(t)))
    stats.append((s, "unmatched_taxid_not_configured", int((~known).sum())))
    tk = t[known].assign(sp=lambda d: d["sp"].astype(np.int16), value=lambda d: d["c3"])
    m = _match(tk[["row", "sp", "value"]], genes, [("exact", "gene_name"), ("lower", "lname")])
    n_exact = m.loc[m["how"] == "exact:gene_name", "row"].nunique()
    n_ci = m.loc[m["how"] == "lower:lname", "row"].nunique()
    stats.append((s, "matched_symbol_exact", int(n_exact)))
    stats.append((s, "matched_symbol_case_insensitive", int(n_ci)))
    stats.append((s, "unmatched_symbol_not_in_store", int(known.sum() - n_exact - n_ci)))
    m["group"] = "hg:" + src.label + ":" + t["c0"].to_numpy()[m["row"].to_numpy()]
    sizes = m.groupby("group")["node"].nunique()
    stats.append((s, "groups_with_2plus_matched_genes", int((sizes >= 2).sum())))
    return m[["node", "group"]]


def _pairs_links(src: Source, genes: pd.DataFrame, names: Sequence[str], stats: list,
                 groups: bool) -> pd.DataFrame:
    """(node, group label) links from a two-column pairs or gene -> group table."""
    t = _read_table(src.path, 2, "#")
    t["row"] = np.arange(len(t))
    s = f"source:{src.label}"
    stats.append((s, "rows", len(t)))
    codes = _species_codes(src, names, 2)
    by = [("key", "key"), ("exact", "gene_name")]
    if groups:
        m = _match(_expand_species(t, "c0", codes[0]), genes, by)
        m["group"] = "grp:" + src.label + ":" + t["c1"].to_numpy()[m["row"].to_numpy()]
        n_ok = m["row"].nunique()
        stats.append((s, "matched", int(n_ok)))
        stats.append((s, "unmatched_gene_not_in_store", int(len(t) - n_ok)))
        sizes = m.groupby("group")["node"].nunique()
        stats.append((s, "groups_with_2plus_matched_genes", int((sizes >= 2).sum())))
        return m[["node", "group"]]
    left = _match(_expand_species(t, "c0", codes[0]), genes, by)
    right = _match(_expand_species(t, "c1", codes[1]), genes, by)
    has_l = np.isin(t["row"], left["row"])
    has_r = np.isin(t["row"], right["row"])
    both = has_l & has_r
    stats.append((s, "matched_both", int(both.sum())))
    stats.append((s, "unmatched_first_gene_not_in_store", int((~has_l & has_r).sum())))
    stats.append((s, "unmatched_second_gene_not_in_store", int((has_l & ~has_r).sum())))
    stats.append((s, "unmatched_both_genes_not_in_store", int((~has_l & ~has_r).sum())))
    keep = set(t["row"][both])
    m = pd.concat([left, right], ignore_index=True)
    m = m[m["row"].isin(keep)]
    m["group"] = "pair:" + src.label + ":" + m["row"].astype(str)
    return m[["node", "group"]]


def _components(n_genes: int, links: pd.DataFrame) -> np.ndarray:
    """Connected components of genes joined through group nodes; numbered by first gene."""
    if links.empty:
        return np.arange(n_genes, dtype=np.int32)
    group_codes, _ = pd.factorize(links["group"], sort=False)
    rows = links["node"].to_numpy(np.int64)
    cols = n_genes + group_codes.astype(np.int64)
    n = n_genes + int(group_codes.max()) + 1
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    labels = labels[:n_genes]
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse].astype(np.int32)


def _concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + n)`` for every (s, n), vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    shift = np.repeat(starts - (ends - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shift


def _histogram(values: np.ndarray) -> list[tuple[str, int]]:
    """Counts in bins 1, 2, 3, 4, 5-8, 9-16, ... (powers of two)."""
    out = []
    v = np.asarray(values)
    for lo, hi in [(1, 1), (2, 2), (3, 3), (4, 4)]:
        out.append((str(lo), int(((v >= lo) & (v <= hi)).sum())))
    lo = 5
    while v.size and lo <= v.max():
        hi = 2 * (lo - 1)
        out.append((f"{lo}-{hi}", int(((v >= lo) & (v <= hi)).sum())))
        lo = hi + 1
    return out


def within_species_sources(sources: Sequence[Source]) -> list[Source]:
    """The sources that join genes of one species only (their ``species`` names one): the
    homology of the sets with species kept apart."""
    return [s for s in sources if len(s.species) == 1]


def build_sets(
    stores: Mapping[str, str | os.PathLike[str]],
    sources: Sequence[Source] = (),
    taxids: Mapping[str, int] | None = None,
    join_symbols: bool = True,
    max_genes_per_symbol: int | None = None,
    entrez_ids: Mapping[str, pd.DataFrame] | None = None,
) -> Sets:
    """Build transcript sets from species stores (``name -> path``) and homology sources.

    ``taxids`` overrides the stores' ``taxid`` attributes (used by HomoloGene and taxon-group
    sources). ``entrez_ids``: per species, an Entrez id -> store gene id table
    (:func:`isoclr.homology.sources.read_entrez_map`) for ``taxon_groups`` sources.
    ``max_genes_per_symbol``: a symbol shared by more genes than this within one species does
    not join them (e.g. the hundreds of ``Y_RNA`` genes); None = no limit (the paper's rule).
    """
    if not stores:
        raise ValueError("no stores given")
    names = list(stores)
    sgenes = [read_store_genes(n, p) for n, p in stores.items()]
    genes = _gene_table(sgenes)
    n_all = len(genes)
    stats: list[tuple[str, str, object]] = []
    links = []

    if join_symbols:
        named = genes[(genes["gene_name"] != "") & (genes["gene_name"] != ".")]
        sym = named[["node", "sp", "gene_name"]].assign(
            group=lambda d: "sym:" + d["sp"].astype(str) + ":" + d["gene_name"])
        per = sym.groupby("group")["node"].transform("size")
        if max_genes_per_symbol is not None:
            over = per > max_genes_per_symbol
            stats.append(("symbols", "symbols_over_limit_not_joined", int(sym.loc[over, "group"].nunique())))
            sym, per = sym[~over], per[~over]
        stats.append(("symbols", "symbols_shared_by_2plus_genes", int(sym.loc[per >= 2, "group"].nunique())))
        stats.append(("symbols", "genes_joined_by_symbol", int((per >= 2).sum())))
        links.append(sym[["node", "group"]].assign(source="symbols"))

    tax = {n: s.taxid for n, s in zip(names, sgenes)}
    tax.update(taxids or {})
    taxid_to_sp = {int(t): i for i, n in enumerate(names) if (t := tax.get(n)) is not None}
    for src in sources:
        if not Path(src.path).exists():
            raise ValueError(f"homology source {src.label}: file {src.path} does not exist")
        log.info("reading %s table %s", src.format, src.path)
        if src.format == "homologene":
            if src.species:
                keep = {tax[s] for s in src.species if tax.get(s) is not None}
                ttsp = {t: i for t, i in taxid_to_sp.items() if t in keep}
            else:
                ttsp = taxid_to_sp
            if not ttsp:
                raise ValueError(f"homology source {src.label}: no store has a taxid "
                                 "(set species.NAME.taxid in the config)")
            links.append(_homologene_links(src, genes, ttsp, stats).assign(source=src.label))
        elif src.format == TAXON_GROUPS:
            ttsp = {t: i for t, i in taxid_to_sp.items() if not src.species or names[i] in src.species}
            if not ttsp:
                raise ValueError(f"homology source {src.label}: no store has a taxid "
                                 "(set species.NAME.taxid in the config)")
            for sp in entrez_ids or {}:
                if sp not in names:
                    raise ValueError(f"Entrez id map for {sp!r}, which has no store (stores: {', '.join(names)})")
            links.append(taxon_group_links(src.label, src.path, genes, names, ttsp, entrez_ids or {},
                                           stats).assign(source=src.label))
        elif src.format in ("pairs", "groups"):
            links.append(_pairs_links(src, genes, names, stats, groups=src.format == "groups").assign(source=src.label))
        else:  # pragma: no cover (Source.parse checks)
            raise ValueError(f"unknown homology format {src.format!r}")

    all_links = pd.concat(links, ignore_index=True) if links else pd.DataFrame(columns=["node", "group", "source"])
    gene_set = _components(n_all, all_links)

    # Members: genes in set order (stable, so store/gene order within a set), then transcripts.
    sp_code = genes["sp"].to_numpy(np.int16)
    tx_base = np.cumsum([0] + [len(s.tx_index) for s in sgenes])
    g_start = np.concatenate([s.tx_offset[:-1] + tx_base[i] for i, s in enumerate(sgenes)])
    n_tx = np.concatenate([np.diff(s.tx_offset) for s in sgenes])
    all_tx = np.concatenate([s.tx_index for s in sgenes])
    tx_sp = np.concatenate([np.full(len(s.tx_index), i, np.int16) for i, s in enumerate(sgenes)])
    order = np.argsort(gene_set, kind="stable")
    idx = _concat_ranges(g_start[order], n_tx[order])
    n_sets = int(gene_set.max()) + 1 if n_all else 0
    tx_per_set = np.bincount(gene_set, weights=n_tx, minlength=n_sets).astype(np.int64)
    offset = np.concatenate([[0], np.cumsum(tx_per_set)]).astype(np.int64)
    n_genes = np.bincount(gene_set, minlength=n_sets).astype(np.int32)
    pairs = np.unique(gene_set.astype(np.int64) * 65536 + sp_code)
    n_species = np.bincount(pairs // 65536, minlength=n_sets).astype(np.int16)

    stats[:0] = [
        ("totals", "species", len(names)),
        ("totals", "genes", n_all),
        ("totals", "transcripts", len(all_tx)),
        ("totals", "genes_without_transcripts", int((n_tx == 0).sum())),
        ("totals", "sets", n_sets),
        ("totals", "singleton_gene_sets", int((n_genes == 1).sum())),
        ("totals", "single_transcript_sets", int((tx_per_set == 1).sum())),
        ("totals", "multi_species_sets", int((n_species >= 2).sum())),
        ("totals", "largest_set_transcripts", int(tx_per_set.max()) if n_sets else 0),
        ("totals", "largest_set_genes", int(n_genes.max()) if n_sets else 0),
    ]
    for i, n in enumerate(names):
        stats.append(("genes_per_species", n, int((sp_code == i).sum())))
        stats.append(("genes_in_multi_species_sets", n,
                      int(((sp_code == i) & (n_species[gene_set] >= 2)).sum())))
    stats += [("set_size_transcripts", k, v) for k, v in _histogram(tx_per_set)]
    stats += [("set_size_genes", k, v) for k, v in _histogram(n_genes)]
    stats += [("species_per_set", str(k), int((n_species == k).sum())) for k in range(1, len(names) + 1)]

    return Sets(
        species=names,
        stores=[str(p) for p in stores.values()],
        member_species=tx_sp[idx].astype(np.int16),
        member_transcript=all_tx[idx].astype(np.int32),
        offset=offset,
        n_genes=n_genes,
        n_species=n_species,
        gene_species=sp_code,
        gene_id=genes["gene_id"].to_numpy(object),
        gene_set=gene_set,
        stats=stats,
        genes=genes,
        store_genes=sgenes,
        links=all_links,
    )


def write_sets(sets: Sets, out: str | os.PathLike[str], stats: str | os.PathLike[str] | None = None) -> None:
    """Write ``sets.h5`` (atomically) and, when given, the stats TSV (section, key, value)."""
    str_dt = h5py.string_dtype()
    with atomic_path(out, suffix=".h5") as tmp, h5_create(tmp) as f:
        f.attrs["species"] = np.array(sets.species, dtype=object).astype(str_dt)
        f.attrs["stores"] = np.array(sets.stores, dtype=object).astype(str_dt)
        kw = {"compression": "gzip", "shuffle": True} if len(sets.member_species) > 1024 else {}
        f.create_dataset("members/species", data=sets.member_species.astype(np.int16), **kw)
        f.create_dataset("members/transcript", data=sets.member_transcript.astype(np.int32), **kw)
        f.create_dataset("sets/offset", data=sets.offset.astype(np.int64))
        f.create_dataset("sets/n_genes", data=sets.n_genes.astype(np.int32))
        f.create_dataset("sets/n_species", data=sets.n_species.astype(np.int16))
        f.create_dataset("genes/species", data=sets.gene_species.astype(np.int16))
        f.create_dataset("genes/gene_id", data=sets.gene_id.astype(object), dtype=str_dt)
        f.create_dataset("genes/set", data=sets.gene_set.astype(np.int32))
    if stats is not None:
        with atomic_path(stats, suffix=".tsv") as tmp:
            pd.DataFrame(sets.stats, columns=["section", "key", "value"]).to_csv(
                tmp, sep="\t", index=False, quoting=csv.QUOTE_MINIMAL)


def read_sets(path: str | os.PathLike[str]) -> Sets:
    """Read a ``sets.h5`` file back (stats are not stored in it), checked first
    (:func:`check_sets`)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: transcript sets file not found")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path}: not an HDF5 file (not a transcript-set file)")
    with h5py.File(path, "r") as f:
        try:
            sets = Sets(
                species=[str(x) for x in f.attrs["species"]],
                stores=[str(x) for x in f.attrs["stores"]],
                member_species=f["members/species"][()],
                member_transcript=f["members/transcript"][()],
                offset=f["sets/offset"][()],
                n_genes=f["sets/n_genes"][()],
                n_species=f["sets/n_species"][()],
                gene_species=f["genes/species"][()],
                gene_id=_strings(f["genes/gene_id"]),
                gene_set=f["genes/set"][()],
            )
        except KeyError as exc:
            raise ValueError(f"{path}: not a transcript-set file (missing {exc})") from exc
    check_sets(sets, path)
    return sets


def check_sets(sets: Sets, path: str | os.PathLike[str]) -> None:
    """Check a sets file's arrays against what :func:`write_sets` writes: integer datasets;
    ``/sets/offset`` rising from 0 to the member count; one store per species; member and gene
    species codes in range; member transcript rows >= 0; per-set counts and gene sets of the
    right length and in range. Raises ``ValueError`` naming the file and the dataset."""
    def fail(ds: str, msg: str) -> ValueError:
        return ValueError(f"{path}: /{ds}: {msg}")

    for name, arr in (("members/species", sets.member_species),
                      ("members/transcript", sets.member_transcript), ("sets/offset", sets.offset),
                      ("sets/n_genes", sets.n_genes), ("sets/n_species", sets.n_species),
                      ("genes/species", sets.gene_species), ("genes/set", sets.gene_set)):
        if np.asarray(arr).ndim != 1 or np.asarray(arr).dtype.kind not in "iu":
            raise fail(name, f"expected a 1-D integer array, got dtype {np.asarray(arr).dtype} "
                       f"shape {np.asarray(arr).shape}")
    m, n_sp = len(sets.member_species), len(sets.species)
    if len(sets.stores) != n_sp:
        raise ValueError(f"{path}: attributes species ({n_sp}) and stores ({len(sets.stores)}) "
                         "differ in length")
    off = sets.offset.astype(np.int64)
    if len(off) == 0 or off[0] != 0 or off[-1] != m or (np.diff(off) < 0).any():
        raise fail("sets/offset", f"offsets must rise from 0 to {m}, the length of /members")
    s = len(off) - 1
    if len(sets.member_transcript) != m:
        raise fail("members/transcript", f"has {len(sets.member_transcript)} entries, "
                   f"/members/species {m}")
    for name, arr in (("sets/n_genes", sets.n_genes), ("sets/n_species", sets.n_species)):
        if len(arr) != s:
            raise fail(name, f"has {len(arr)} entries, expected {s} (one per set)")
    for name, arr in (("members/species", sets.member_species), ("genes/species", sets.gene_species)):
        if len(arr) and (arr.min() < 0 or arr.max() >= n_sp):
            raise fail(name, f"species codes must be 0-{n_sp - 1} (attribute species)")
    if m and sets.member_transcript.min() < 0:
        raise fail("members/transcript", f"store row {sets.member_transcript.min()} < 0")
    if len(sets.gene_id) != len(sets.gene_species) or len(sets.gene_set) != len(sets.gene_species):
        raise fail("genes/gene_id", "/genes/gene_id, /genes/species and /genes/set differ in length")
    if len(sets.gene_set) and (sets.gene_set.min() < -1 or sets.gene_set.max() >= s):
        raise fail("genes/set", f"set ids must be -1 (none) or 0-{s - 1}")


def homology_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "homology",
                 wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The pipeline's ``homology`` rule (plain values from ``workflow/scripts/homology.py``):
    :func:`run_stage` with ``params.settings`` (:class:`isoclr.config.settings.HomologySettings`)."""
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "merge isoform groups and homology tables into transcript sets",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    run_stage(params.settings, inputs.stores, inputs.sources, inputs.get("entrez_ids", []),
              outputs.sets, outputs.stats, outputs.get("orthologs"))


def _kv(values: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k or not val:
            raise ValueError(f"{what} {v!r}: expected NAME=VALUE")
        if k in out:
            raise ValueError(f"{what} {k!r} given twice")
        out[k] = val
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", action="append", required=True, metavar="NAME=STORE.h5",
                        help="a species store (repeat; the order fixes the species codes)")
    parser.add_argument("--source", action="append", default=[], metavar="FORMAT:PATH[:SP_A,SP_B]",
                        help=f"a homology table (repeat); FORMAT one of {', '.join(FORMATS)}")
    parser.add_argument("--taxid", action="append", default=[], metavar="NAME=TAXID",
                        help="override a store's taxid attribute (HomoloGene matching)")
    parser.add_argument("--no-symbol-join", action="store_true",
                        help="do not join genes of one species that share a gene symbol")
    parser.add_argument("--max-genes-per-symbol", type=int, default=None,
                        help="symbols shared by more genes than this are not joined")
    parser.add_argument("--out", required=True, help="output sets.h5")
    parser.add_argument("--stats", default=None, help="stats TSV (default: OUT with .stats.tsv)")
    parser.add_argument("--entrez-ids", action="append", default=[], metavar="SPECIES=PATH:ENTREZ_COL:GENE_COL",
                        help="a table giving each store gene of SPECIES its Entrez id, for taxon_groups "
                        "sources (TSV with a header; repeat per species)")
    parser.add_argument("--within-species", action="store_true",
                        help="species kept apart: use only the sources restricted to one species")
    parser.add_argument("--orthologs", metavar="A,B", help="also write the gene pairs of species A x B "
                        "linked directly by a source (--orthologs-out)")
    parser.add_argument("--orthologs-out", help="orthologs.tsv (default: beside OUT)")


def run(args: argparse.Namespace) -> int:
    from isoclr.homology.sources import orthologs_table, read_entrez_map

    stores = _kv(args.store, "--store")
    taxids = {k: int(v) for k, v in _kv(args.taxid, "--taxid").items()}
    sources = [Source.parse(s) for s in args.source]
    if args.within_species:
        sources = within_species_sources(sources)
    entrez = {}
    for sp, spec in _kv(args.entrez_ids, "--entrez-ids").items():
        parts = spec.rsplit(":", 2)
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"--entrez-ids {sp}={spec}: expected SPECIES=PATH:ENTREZ_COLUMN:GENE_COLUMN")
        entrez[sp] = read_entrez_map(*parts)
    sets = build_sets(stores, sources, taxids=taxids, join_symbols=not args.no_symbol_join,
                      max_genes_per_symbol=args.max_genes_per_symbol, entrez_ids=entrez)
    stats = args.stats or re.sub(r"\.h5$", "", args.out) + ".stats.tsv"
    write_sets(sets, args.out, stats)
    if args.orthologs:
        pair = args.orthologs.split(",")
        if len(pair) != 2:
            raise ValueError(f"--orthologs {args.orthologs!r}: expected two species A,B")
        out = args.orthologs_out or str(Path(args.out).with_name("orthologs.tsv"))
        with atomic_path(out, suffix=".tsv") as tmp:
            orthologs_table(sets, *pair).to_csv(tmp, sep="\t", index=False)
    log.info("%d genes in %d sets -> %s", len(sets.gene_id), sets.n_sets, args.out)
    return 0


def run_stage(settings: Mapping[str, object], store_paths: Sequence[str], source_paths: Sequence[str],
              entrez_paths: Sequence[str], out: str | os.PathLike[str], stats: str | os.PathLike[str],
              orthologs: str | os.PathLike[str] | None = None) -> Sets:
    """The homology rule: sets (and stats) from the settings' params
    (:class:`isoclr.config.settings.HomologySettings`) and the rule's input paths; with
    ``orthologs``, also the gene pairs of the two ``orthologs`` species linked directly
    (:func:`isoclr.homology.sources.orthologs_table`)."""
    from isoclr.homology.sources import orthologs_table, read_entrez_map

    s: dict = dict(settings)
    stores = dict(zip(s["species"], store_paths, strict=True))
    sources = [Source(src["format"], path, tuple(src["species"]), src["name"])
               for src, path in zip(s["sources"], source_paths, strict=True)]
    maps = dict(s.get("entrez_ids") or {})
    entrez = {sp: read_entrez_map(path, m["entrez_column"], m["gene_column"])
              for (sp, m), path in zip(maps.items(), entrez_paths, strict=True)}
    sets = build_sets(stores, sources, taxids=s["taxids"], join_symbols=s["join_symbols"],
                      max_genes_per_symbol=s["max_genes_per_symbol"], entrez_ids=entrez)
    write_sets(sets, out, stats)
    if orthologs is not None:
        table = orthologs_table(sets, *s["orthologs"])
        with atomic_path(orthologs, suffix=".tsv") as tmp:
            table.to_csv(tmp, sep="\t", index=False)
        log.info("%d %s-%s gene pairs linked directly -> %s", len(table), *s["orthologs"], orthologs)
    return sets
