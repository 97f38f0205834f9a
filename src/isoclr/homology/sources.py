"""Homology sources beyond the two-column tables: taxon group tables, and ortholog pairs.

``taxon_groups``: a table of ``(group id, taxid, gene id, symbol)`` rows, one gene of one species
per row, all genes of a group homologous (NCBI HomoloGene's ``homologene.data`` holds these four
columns first; the project's HomoloGene build-68 copy has them with a header
``hid taxid gene_id symbol``). Tab or whitespace separated; a first line whose taxid is not a
number is a header; ``#`` lines are comments; extra columns are ignored. A row's taxid names the
species (each store's ``taxid`` attribute or ``species.NAME.taxid``; other taxa are counted and
skipped). Each row is matched to that species' store genes:

* **by Entrez gene id** where the species has one: the store's gene ids are Entrez ids (all
  digits, e.g. an NCBI RefSeq annotation), or an id map gives the Entrez id of each store gene
  (``entrez_ids``: a TSV with a header, an Entrez column and a store gene id column, e.g. the
  human study's ``gene_ids.tsv.gz``; store ids are compared without an Ensembl ``.N``
  version; a store gene whose id is itself all digits is taken as its own Entrez id). Ids are exact: a symbol never stands in for an id in such a species, because an id
  that is absent is a gene the table does not know under that id (retired or newer), and a
  symbol of the same name may have moved to another gene since;
* **by symbol** otherwise (e.g. the mouse GENCODE set, keyed by Ensembl ids): the store's
  ``gene_name`` equal to the row's symbol, exactly first; a row with no exact match then
  matches **case-insensitively**, when exactly one store gene of that species has the symbol
  in that case-folded form. Case differs between sources of one species' nomenclature (the
  GENCODE mouse set writes SMIM46 human-style, where MGI writes Smim46), while within one
  species two genes never differ only in case; an ambiguous case-folded symbol matches nothing.

All genes of one group join one set. Counts go to the homology stats under ``source:NAME``: rows
per species, rows matched by Entrez id / exact symbol / case-insensitive symbol and unmatched,
store genes matched and unmatched per species, and groups with two or more matched genes and
with two or more species.

Ortholog pairs (:func:`ortholog_pairs`) are the gene pairs of two species that one homology
row links directly (a pairs row, or two genes in one group), each gene given with one
representative transcript (longest CDS, then longest, then the smallest transcript id).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import h5py
import numpy as np
import pandas as pd

from isoclr.core.files import open_text

TAXON_GROUPS = "taxon_groups"
_VERSION = r"\.\d+$"


def read_entrez_map(path: str | os.PathLike[str], entrez_column: str, gene_column: str) -> pd.DataFrame:
    """An Entrez id -> store gene id table (TSV with a header): columns ``entrez``, ``gene_id``."""
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    for col in (entrez_column, gene_column):
        if col not in df.columns:
            raise ValueError(f"{path}: no column {col!r} (columns: {', '.join(df.columns)})")
    out = pd.DataFrame({"entrez": df[entrez_column].str.strip(), "gene_id": df[gene_column].str.strip()})
    return out[(out["entrez"] != "") & (out["gene_id"] != "")].drop_duplicates()


def read_taxon_groups(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The rows of a group table: ``line``, ``group``, ``taxid`` (int), ``gene_id``, ``symbol``."""
    rows = []
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t") if "\t" in line else line.split()
            if len(cols) < 4:
                raise ValueError(f"{path} line {lineno}: expected 4 columns (group id, taxid, gene id, "
                                 f"symbol), found {len(cols)}: {line[:80]!r}")
            group, taxid, gene, symbol = (c.strip() for c in cols[:4])
            if not taxid.isdigit():
                if not rows and lineno == 1:
                    continue  # a header
                raise ValueError(f"{path} line {lineno}: taxid {taxid!r} is not a number "
                                 "(expected columns: group id, taxid, gene id, symbol)")
            rows.append((lineno, group, int(taxid), gene, symbol))
    if not rows:
        raise ValueError(f"{path}: no data rows")
    return pd.DataFrame(rows, columns=["line", "group", "taxid", "gene_id", "symbol"])


def _empty_links() -> pd.DataFrame:
    return pd.DataFrame({"row": pd.Series([], dtype=np.int64), "node": pd.Series([], dtype=np.int64),
                         "how": pd.Series([], dtype=object)})


def taxon_group_links(label: str, path: str, genes: pd.DataFrame, names: Sequence[str],
                      taxid_to_sp: Mapping[int, int], entrez_maps: Mapping[str, pd.DataFrame],
                      stats: list[tuple[str, str, object]]) -> pd.DataFrame:
    """(node, group) links of a ``taxon_groups`` table (module docstring), counted in ``stats``.

    ``genes``: the homology stage's gene table (columns ``sp``, ``gene_id``, ``gene_name``,
    ``node``, ``key`` = id without version, ``lname`` = lower-case name)."""
    t = read_taxon_groups(path)
    t["row"] = np.arange(len(t))
    t["sp"] = t["taxid"].map(taxid_to_sp)
    s = f"source:{label}"
    stats.append((s, "rows", len(t)))
    stats.append((s, "rows_taxid_not_configured", int(t["sp"].isna().sum())))
    t = t[t["sp"].notna()].astype({"sp": np.int64})
    parts = []
    for code in sorted(set(taxid_to_sp.values())):
        sp = names[code]
        rows = t[t["sp"] == code]
        g = genes[genes["sp"] == code]
        by_id = sp in entrez_maps or bool(len(g) and g["gene_id"].str.fullmatch(r"\d+").all())
        if by_id:
            if sp in entrez_maps:
                m = entrez_maps[sp].assign(key=lambda d: d["gene_id"].str.replace(_VERSION, "", regex=True))
                hit = rows.merge(m[["entrez", "key"]], left_on="gene_id", right_on="entrez")
                hit = hit.merge(g[["key", "node"]], on="key")
                # store genes keyed by their Entrez id itself (genes the map gives no other id)
                direct = g[g["gene_id"].str.fullmatch(r"\d+")]
                hit = pd.concat([hit, rows.merge(direct[["gene_id", "node"]], on="gene_id")], ignore_index=True)
                hit = hit.drop_duplicates(["row", "node"])
            else:
                hit = rows.merge(g[["gene_id", "node"]], on="gene_id")
            found = [hit[["row", "node"]].assign(how="entrez_id")]
            kinds: tuple[str, ...] = ("entrez_id",)
        else:
            exact = rows.merge(g[["gene_name", "node"]], left_on="symbol", right_on="gene_name")
            rest = rows[~rows["row"].isin(exact["row"])].assign(lname=lambda d: d["symbol"].str.lower())
            unique_l = g[(g["lname"] != "") & ~g["lname"].duplicated(keep=False)]
            ci = rest.merge(unique_l[["lname", "node"]], on="lname")
            found = [exact[["row", "node"]].assign(how="symbol"),
                     ci[["row", "node"]].assign(how="symbol_case_insensitive")]
            kinds = ("symbol", "symbol_case_insensitive")
        hit = pd.concat(found, ignore_index=True)
        parts.append(hit)
        stats.append((s, f"{sp}:rows", len(rows)))
        for how in kinds:
            stats.append((s, f"{sp}:rows_matched_by_{how}", int(hit.loc[hit["how"] == how, "row"].nunique())))
        stats.append((s, f"{sp}:rows_unmatched", int(len(rows) - hit["row"].nunique())))
        stats.append((s, f"{sp}:genes_matched", int(hit["node"].nunique())))
        stats.append((s, f"{sp}:genes_unmatched", int(len(g) - hit["node"].nunique())))
    links = pd.concat(parts, ignore_index=True) if parts else _empty_links()
    grp = t.set_index("row")["group"]
    links["group"] = "tg:" + label + ":" + grp.loc[links["row"].to_numpy()].to_numpy().astype(str)
    node_sp = genes["sp"].to_numpy()
    per_group = links.assign(sp=node_sp[links["node"].to_numpy()]).groupby("group")
    stats.append((s, "groups_with_2plus_matched_genes", int((per_group["node"].nunique() >= 2).sum())))
    stats.append((s, "groups_with_2plus_species", int((per_group["sp"].nunique() >= 2).sum())))
    return links[["node", "group"]].drop_duplicates()


def ortholog_pairs(genes: pd.DataFrame, links: pd.DataFrame, code_a: int, code_b: int) -> pd.DataFrame:
    """Gene pairs (node_a of species ``code_a``, node_b of ``code_b``) that share a link group;
    ``links`` has ``node``, ``group`` and ``source``. One row per pair, its sources joined by ``,``."""
    sp = genes["sp"].to_numpy()
    li = links.assign(sp=sp[links["node"].to_numpy()])
    a = li[li["sp"] == code_a][["group", "node", "source"]]
    b = li[li["sp"] == code_b][["group", "node"]]
    m = a.merge(b, on="group", suffixes=("_a", "_b"))
    if m.empty:
        return pd.DataFrame(columns=["node_a", "node_b", "sources"])
    return (m.groupby(["node_a", "node_b"], sort=True)["source"]
            .agg(lambda s: ",".join(sorted(set(s)))).reset_index(name="sources"))


def representative_transcripts(store_path: str | os.PathLike[str], tx_offset: np.ndarray,
                               tx_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per gene of a store: the row and id of one transcript (longest CDS, then longest
    transcript, then the smallest id), as the tasks choose a principal transcript when no
    annotation tag decides."""
    with h5py.File(store_path, "r") as f:
        t = f["transcripts"]
        length = np.diff(t["seq_offset"][()])
        cds = (t["cds_end"][()].astype(np.int64) - t["cds_start"][()].astype(np.int64))
        cds[t["cds_start"][()] < 0] = 0
        ids = t["id"].asstr()[()]
    gene = np.repeat(np.arange(len(tx_offset) - 1), np.diff(tx_offset))
    tx = tx_index.astype(np.int64)
    df = pd.DataFrame({"gene": gene, "tx": tx, "cds": cds[tx], "length": length[tx], "id": ids[tx]})
    best = df.sort_values(["gene", "cds", "length", "id"], ascending=[True, False, False, True]).drop_duplicates("gene")
    rows = np.full(len(tx_offset) - 1, -1, np.int64)
    rows[best["gene"].to_numpy()] = best["tx"].to_numpy()
    out_ids = np.full(len(rows), "", dtype=object)
    out_ids[best["gene"].to_numpy()] = best["id"].to_numpy()
    return rows, out_ids


def describe_pairs(pairs: pd.DataFrame, genes: pd.DataFrame, stores: Sequence[Any], code_a: int,
                   code_b: int) -> pd.DataFrame:
    """Ortholog gene pairs with each gene's species, id, symbol and representative transcript."""
    out = {}
    for side, code in (("a", code_a), ("b", code_b)):
        st = stores[code]
        rows, ids = representative_transcripts(st.path, st.tx_offset, st.tx_index)
        base = int(genes.index[genes["sp"] == code][0]) if (genes["sp"] == code).any() else 0
        local = pairs[f"node_{side}"].to_numpy(np.int64) - base
        out[side] = pd.DataFrame({
            "species": st.species,
            "gene": genes["gene_id"].to_numpy()[pairs[f"node_{side}"].to_numpy(np.int64)],
            "symbol": genes["gene_name"].to_numpy()[pairs[f"node_{side}"].to_numpy(np.int64)],
            "transcript": ids[local] if len(local) else np.zeros(0, object),
            "transcript_row": rows[local] if len(local) else np.zeros(0, np.int64),
        })
    a, b = out["a"], out["b"]
    return pd.DataFrame({
        "species_a": a["species"], "gene_a": a["gene"], "symbol_a": a["symbol"],
        "transcript_a": a["transcript"], "transcript_row_a": a["transcript_row"],
        "species_b": b["species"], "gene_b": b["gene"], "symbol_b": b["symbol"],
        "transcript_b": b["transcript"], "transcript_row_b": b["transcript_row"],
        "sources": pairs["sources"].to_numpy(),
    })


def orthologs_table(sets: Any, species_a: str, species_b: str) -> pd.DataFrame:
    """Every gene pair of ``species_a`` x ``species_b`` linked directly by one homology row, with
    representative transcripts and the pair's set id (both genes are in one set), from the
    :class:`isoclr.homology.merge.Sets` that :func:`isoclr.homology.merge.build_sets` returned."""
    for sp in (species_a, species_b):
        if sp not in sets.species:
            raise ValueError(f"orthologs: species {sp!r} has no store (stores: {', '.join(sets.species)})")
    if sets.genes is None or sets.links is None or sets.store_genes is None:
        raise ValueError("orthologs: these sets were read from a file; build them to list ortholog pairs")
    a, b = sets.species.index(species_a), sets.species.index(species_b)
    pairs = ortholog_pairs(sets.genes, sets.links, a, b)
    out = describe_pairs(pairs, sets.genes, sets.store_genes, a, b)
    out.insert(0, "set_id", sets.gene_set[pairs["node_a"].to_numpy(np.int64)].astype(np.int64))
    return out
