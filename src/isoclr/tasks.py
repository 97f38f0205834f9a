"""Downstream task datasets: RNA half-life, Gene Ontology, mean ribosome load.

Every task is one HDF5 file ``results/tasks/{task}.h5`` (layout in docs/interfaces.md, "Task
datasets") that names rows of a species store (or of the task's own store, for ready-made
arrays), their labels, their homology group and their cross-validation folds.

Principal isoform (one transcript per gene, half-life and GO tasks). Among a gene's transcripts
in the store, the first after sorting by, in this order:

1. carries the ``Ensembl_canonical`` tag (first),
2. carries the ``MANE_Select`` tag,
3. carries an APPRIS principal tag (``appris_principal`` or ``appris_principal_N``; a smaller
   N wins, the un-numbered tag of older GENCODE releases counts as N=1),
4. longer CDS (``cds_end - cds_start``; non-coding counts as 0),
5. longer transcript,
6. transcript id (lexicographic), so ties are broken deterministically.

The rule is a cascade: a later key only matters among transcripts tied on every earlier one.

Folds (``assign_folds``). Rows are grouped by homology set (``set_id`` of
``results/splits/genes.tsv``); whole groups are dealt to ``n_folds`` folds, largest group first,
each to the fold with the fewest rows so far, groups of equal size in a seeded random order. Fold
``k`` tests on ``fold == k``, validates on ``fold == (k + 1) % n_folds`` and trains on the rest.

Training fractions (``train_ranks``). In fold ``k`` the training rows get a seeded random rank
``0..n_train-1``; fraction ``f`` trains on the rows with rank below
``min(n_train, max(min_train, round(f * n_train)))``. Smaller fractions are therefore subsets of
larger ones (nested) and the same seed gives the same subsets (deterministic). ``min_train``
keeps tiny fractions of tiny data sets trainable (the demo's human half-life has ~60 genes, so
0.5 % of its training rows would be zero rows).

Gene Ontology (``go_term_labels``). ``go-basic.obo`` is parsed here (a small line parser, about
a second for the whole ontology, gzip or plain). Depth is measured along ``is_a`` edges only:
``part_of`` and the ``regulates`` relations are read but not followed, because in the
molecular-function namespace ``part_of`` edges are rare and ``regulates`` links into biological
process (``follow_part_of=True`` follows ``part_of`` too, for both depth and propagation). By
default the depth of a term is its *shortest* ``is_a`` distance from the namespace root
(goatools calls this the term's ``level``; ``depth_mode="longest"`` uses the longest path,
goatools' ``depth``). Direct annotations are propagated up the same DAG to every ancestor, the
terms at the chosen depth are ranked by the number of task genes annotated to them, and the top
``n_terms`` become the labels (multi-label, ``uint8``). ``NOT`` qualifiers are dropped.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.io import atomic_path, h5_create, open_text

log = logging.getLogger(__name__)

TASK_KINDS = ("halflife", "go", "mrl_table", "mrl_arrays")
SELECTION_RULE = (
    "one transcript per gene: Ensembl_canonical > MANE_Select > APPRIS principal (smaller N "
    "first) > longest CDS > longest transcript > transcript id"
)
DEFAULT_FRACTIONS = (1.0, 0.3, 0.1, 0.01, 0.005)
GO_ROOTS = {"molecular_function": "GO:0003674", "cellular_component": "GO:0005575", "biological_process": "GO:0008150"}
_STR = h5py.string_dtype("utf-8")
_VERSION = re.compile(r"\.\d+$")


# ---------------------------------------------------------------------------------------------
# ids and the join report
# ---------------------------------------------------------------------------------------------
def strip_version(ids: Iterable[str] | pd.Series) -> pd.Series:
    """``ENSG00000141934.8`` -> ``ENSG00000141934`` (ids without a ``.N`` suffix unchanged)."""
    s = pd.Series(ids, dtype=object).astype(str)
    return s.str.replace(_VERSION, "", regex=True)


@dataclass
class JoinReport:
    """How a label table met the store: counts by section and reason, a few example ids."""

    task: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, section: str, reason: str, ids: Sequence[Any] | int, note: str = "") -> None:
        if isinstance(ids, (int, np.integer)):
            count, examples = int(ids), ""
        else:
            ids = list(ids)
            count, examples = len(ids), ",".join(str(i) for i in ids[:5])
        self.rows.append({"task": self.task, "section": section, "reason": reason, "count": count, "examples": examples, "note": note})

    def count(self, section: str, reason: str) -> int:
        return sum(r["count"] for r in self.rows if r["section"] == section and r["reason"] == reason)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["task", "section", "reason", "count", "examples", "note"])

    def to_json(self) -> str:
        return json.dumps(self.rows)

    def write_tsv(self, path: str | os.PathLike[str]) -> None:
        with atomic_path(path, suffix=".tsv") as tmp:
            self.frame().to_csv(tmp, sep="\t", index=False)

    def log(self) -> None:
        for r in self.rows:
            log.info("%s %-12s %-32s %7d %s", self.task, r["section"], r["reason"], r["count"], r["note"])


# ---------------------------------------------------------------------------------------------
# principal isoform
# ---------------------------------------------------------------------------------------------
def _appris_rank(tags: pd.Series) -> npt.NDArray[np.int64]:
    """APPRIS principal level from comma-joined tags: N of appris_principal_N, 1 if un-numbered, 99 if none."""
    m = tags.fillna("").astype(str).str.extract(r"(?:^|,)appris_principal(?:_(\d+))?(?:,|$)")
    has = tags.fillna("").astype(str).str.contains(r"(?:^|,)appris_principal(?:_\d+)?(?:,|$)", regex=True)
    rank = pd.to_numeric(m[0], errors="coerce").fillna(1).to_numpy(dtype=np.int64)
    return np.where(has.to_numpy(), rank, 99)


def principal_isoforms(table: pd.DataFrame) -> pd.DataFrame:
    """One row per gene: the principal transcript by the documented rule (module docstring).

    ``table``: ``IsoformStore.table()`` (needs transcript_id, gene_id, tags, cds_start, cds_end,
    length). Returns those rows (store row numbers in column ``transcript``), one per gene, in
    order of the genes' first appearance in the table.
    """
    t = table.reset_index(drop=True)
    tags = t["tags"].fillna("").astype(str)
    has = lambda tag: tags.str.contains(rf"(?:^|,){tag}(?:,|$)", regex=True).to_numpy()
    cds_len = np.where(t["cds_start"].to_numpy() >= 0, t["cds_end"].to_numpy() - t["cds_start"].to_numpy(), 0)
    gene_code, _ = pd.factorize(t["gene_id"], sort=False)
    key = pd.DataFrame(
        {
            "gene": gene_code,
            "canonical": ~has("Ensembl_canonical"),
            "mane": ~has("MANE_Select"),
            "appris": _appris_rank(tags),
            "cds": -cds_len,
            "length": -t["length"].to_numpy(),
            "tid": t["transcript_id"].astype(str).to_numpy(),
        }
    )
    order = key.sort_values(list(key.columns), kind="mergesort").index
    first = key.loc[order].drop_duplicates("gene", keep="first").sort_values("gene").index
    out = t.loc[first].copy()
    out.insert(0, "transcript", first.to_numpy(dtype=np.int64))
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# label tables
# ---------------------------------------------------------------------------------------------
_NA = {"", "NA", "NaN", "nan", "NULL", "null", "None", "."}


def read_value_table(path: str | os.PathLike[str], id_column: str | None = None, value_column: str | None = None) -> pd.DataFrame:
    """A TSV with a header: id column (default the first) and value column (default the last).

    Returns ``id, value, line`` (``line`` is the 1-based file line). Empty / NA values are kept as
    NaN (reported as "no value"); anything else that is not a number raises ValueError.
    """
    with open_text(path) as fh:
        df = pd.read_csv(fh, sep="\t", dtype=str, keep_default_na=False)
    if df.shape[1] < 2:
        raise ValueError(f"{path}: line 1: need a header with at least 2 tab-separated columns, got {list(df.columns)}")
    id_column = id_column or df.columns[0]
    value_column = value_column or df.columns[-1]
    for col in (id_column, value_column):
        if col not in df.columns:
            raise ValueError(f"{path}: line 1: no column {col!r} in header {list(df.columns)}")
    raw = df[value_column].str.strip()
    value = pd.to_numeric(raw.where(~raw.isin(_NA)), errors="coerce")
    bad = value.isna() & ~raw.isin(_NA)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}: line {i + 2}: column {value_column!r} is not a number: {raw.iloc[i]!r}")
    ids = df[id_column].str.strip()
    if (ids == "").any():
        i = int(np.flatnonzero((ids == "").to_numpy())[0])
        raise ValueError(f"{path}: line {i + 2}: empty {id_column!r}")
    return pd.DataFrame({"id": ids, "value": value.astype(float), "line": np.arange(2, len(df) + 2)})


def annotation_ids(path: str | os.PathLike[str] | None, fmt: str = "auto") -> tuple[set[str], set[str]] | None:
    """Gene and transcript ids (versions stripped) of an annotation, to tell "not in the
    annotation" from "filtered out of the store". ``None`` when no path is given."""
    if not path:
        return None
    try:
        from isoclr.annotation import read_annotation  # type: ignore[attr-defined]

        tx = read_annotation(path, fmt=fmt).transcripts
        return set(strip_version(tx["gene_id"])), set(strip_version(tx["transcript_id"]))
    except ImportError:  # pragma: no cover - annotation readers not installed
        genes, txs = set(), set()
        with open_text(path) as fh:
            for line in fh:
                if m := re.search(r'gene_id "([^"]+)"', line):
                    genes.add(_VERSION.sub("", m.group(1)))
                if m := re.search(r'transcript_id "([^"]+)"', line):
                    txs.add(_VERSION.sub("", m.group(1)))
        return genes, txs


def join_labels(
    rows: pd.DataFrame,
    labels: pd.DataFrame,
    key: str,
    report: JoinReport,
    annotation: set[str] | None = None,
    all_store_ids: Iterable[str] | None = None,
    what: str = "gene",
) -> pd.DataFrame:
    """Join ``labels`` (``id, value``) onto ``rows`` by ``rows[key]``, versions stripped on both.

    Reports, in ``report``: label ids matched, matched only after stripping a version, matched
    with a different version, not in the annotation / filtered out of the store (when the
    annotation's ids are given) or not in the store, matched to a store entity that is not a task
    row (``all_store_ids``, e.g. a gene whose principal isoform was not picked), duplicated, and
    without a value; and the store rows without a label. Returns ``rows`` with a ``y`` column,
    only the labelled ones.
    """
    lab = labels.copy()
    lab["key"] = strip_version(lab["id"]).to_numpy()
    dup = lab["key"].duplicated(keep="first")
    report.add("labels", "in_label_table", len(lab), note=f"{what} ids in the label table")
    if dup.any():
        report.add("labels", "duplicate_id_dropped", lab.loc[dup, "id"].tolist(), note="later rows of a repeated id")
        lab = lab.loc[~dup]
    nan = lab["value"].isna()
    if nan.any():
        report.add("labels", "no_value", lab.loc[nan, "id"].tolist(), note="empty or NA value")
        lab = lab.loc[~nan]
    r = rows.copy()
    r["key"] = strip_version(r[key]).to_numpy()
    merged = r.merge(lab[["key", "id", "value"]], on="key", how="left")
    hit = merged["value"].notna()
    report.add("labels", "matched", int(hit.sum()), note=f"labels joined to a task {what}")
    store_v = merged.loc[hit, key].astype(str)
    label_v = merged.loc[hit, "id"].astype(str)
    stripped = (store_v != label_v).to_numpy()
    if stripped.any():
        differ = [(a, b) for a, b in zip(store_v[stripped], label_v[stripped]) if _VERSION.search(b)]
        report.add("labels", "matched_after_version_strip", int(stripped.sum()) - len(differ), note="store id versioned, label id not")
        if differ:
            report.add("labels", "id_version_mismatch", [f"{a}~{b}" for a, b in differ], note="both versioned, versions differ (joined)")
    missing = lab.loc[~lab["key"].isin(set(r["key"]))]
    if all_store_ids is not None:
        other = set(strip_version(list(all_store_ids)))
        in_store = missing["key"].isin(other)
        if in_store.any():
            report.add("labels", "in_store_not_task_row", missing.loc[in_store, "id"].tolist(), note=f"{what} in the store but not selected")
        missing = missing.loc[~in_store]
    if annotation is not None:
        in_ann = missing["key"].isin(annotation)
        report.add("labels", "filtered_out_of_store", missing.loc[in_ann, "id"].tolist(), note="in the annotation, dropped by the store filters (length, contig, biotype)")
        report.add("labels", "not_in_annotation", missing.loc[~in_ann, "id"].tolist(), note="absent from the species annotation")
    else:
        report.add("labels", "not_in_store", missing["id"].tolist(), note="absent from the store (no annotation given to tell why)")
    report.add("store", f"{what}s", len(r), note=f"task {what}s in the store")
    report.add("store", "no_label", merged.loc[~hit, key].tolist(), note=f"store {what}s without a label")
    out = merged.loc[hit].drop(columns=["key", "id"]).rename(columns={"value": "y"})
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Gene Ontology
# ---------------------------------------------------------------------------------------------
@dataclass
class GoDag:
    """The parts of go-basic.obo used here: live terms, names, namespaces, parents by relation."""

    name: dict[str, str]
    namespace: dict[str, str]
    parents: dict[str, dict[str, list[str]]]  # relation -> {term: [parent, ...]}
    alt_ids: dict[str, str]  # alt id -> primary id
    obsolete: set[str]
    data_version: str = ""

    def children(self, relations: Sequence[str] = ("is_a",)) -> dict[str, list[str]]:
        kids: dict[str, list[str]] = collections.defaultdict(list)
        for rel in relations:
            for term, ps in self.parents.get(rel, {}).items():
                for p in ps:
                    kids[p].append(term)
        return kids

    def depths(self, root: str, relations: Sequence[str] = ("is_a",), mode: str = "shortest") -> dict[str, int]:
        """Distance of every term below ``root``: shortest or longest path along ``relations``."""
        if root not in self.name:
            raise ValueError(f"GO root {root} is not a live term of the ontology")
        kids = self.children(relations)
        if mode == "shortest":
            depth = {root: 0}
            frontier = [root]
            while frontier:
                nxt = []
                for t in frontier:
                    for c in kids.get(t, ()):
                        if c not in depth:
                            depth[c] = depth[t] + 1
                            nxt.append(c)
                frontier = nxt
            return depth
        if mode != "longest":
            raise ValueError(f"depth_mode must be 'shortest' or 'longest', got {mode!r}")
        # longest path: relax in topological order (Kahn) over the sub-DAG below root
        below = set(self.descendants(root, relations)) | {root}
        indeg = {t: 0 for t in below}
        for t in below:
            for c in kids.get(t, ()):
                indeg[c] += 1
        depth = {root: 0}
        queue = collections.deque([root])
        while queue:
            t = queue.popleft()
            for c in kids.get(t, ()):
                depth[c] = max(depth.get(c, 0), depth[t] + 1)
                indeg[c] -= 1
                if indeg[c] == 0:
                    queue.append(c)
        return depth

    def descendants(self, term: str, relations: Sequence[str] = ("is_a",), _kids: Mapping[str, list[str]] | None = None) -> set[str]:
        kids = _kids if _kids is not None else self.children(relations)
        seen: set[str] = set()
        stack = [term]
        while stack:
            for c in kids.get(stack.pop(), ()):
                if c not in seen:
                    seen.add(c)
                    stack.append(c)
        return seen


def read_obo(path: str | os.PathLike[str]) -> GoDag:
    """Parse an OBO 1.2 file (plain or gzip): [Term] stanzas' id, name, namespace, alt_id,
    is_a, relationship (every relation name kept; callers choose) and is_obsolete."""
    name: dict[str, str] = {}
    namespace: dict[str, str] = {}
    parents: dict[str, dict[str, list[str]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    alt: dict[str, str] = {}
    obsolete: set[str] = set()
    data_version = ""
    with open_text(path) as fh:
        text = fh.read()
    if not text.lstrip().startswith(("format-version", "[Term]", "data-version", "!")):
        raise ValueError(f"{path}: line 1: not an OBO file (expected 'format-version: ...')")
    m = re.search(r"^data-version:\s*(\S+)", text[:2000], re.MULTILINE)
    if m:
        data_version = m.group(1)
    line_no = text[: text.find("[")].count("\n") + 1 if "[" in text else 1
    for stanza in text.split("\n["):
        start_line = line_no
        line_no += stanza.count("\n") + 1
        if not stanza.startswith("Term]"):
            continue
        tid = ""
        rec_name = rec_ns = ""
        isa: list[str] = []
        rels: list[tuple[str, str]] = []
        alts: list[str] = []
        obs = False
        for line in stanza.split("\n")[1:]:
            k, sep, v = line.partition(": ")
            if not sep:
                continue
            if k == "id":
                tid = v.strip()
            elif k == "name":
                rec_name = v.strip()
            elif k == "namespace":
                rec_ns = v.strip()
            elif k == "is_a":
                isa.append(v.split("!", 1)[0].strip().split()[0])
            elif k == "relationship":
                parts = v.split("!", 1)[0].split()
                if len(parts) < 2:
                    raise ValueError(f"{path}: stanza at line {start_line}: malformed relationship {line!r}")
                rels.append((parts[0], parts[1]))
            elif k == "alt_id":
                alts.append(v.strip())
            elif k == "is_obsolete":
                obs = v.strip() == "true"
        if not tid.startswith("GO:"):
            raise ValueError(f"{path}: [Term] stanza at line {start_line} has no GO id")
        if obs:
            obsolete.add(tid)
            continue
        name[tid] = rec_name
        namespace[tid] = rec_ns
        for p in isa:
            parents["is_a"][tid].append(p)
        for rel, p in rels:
            parents[rel][tid].append(p)
        for a in alts:
            alt[a] = tid
    if not name:
        raise ValueError(f"{path}: no live [Term] stanzas")
    return GoDag(name, namespace, {k: dict(v) for k, v in parents.items()}, alt, obsolete, data_version)


def read_gaf(path: str | os.PathLike[str]) -> pd.DataFrame:
    """GAF 2.x annotations: ``db, object_id, symbol, qualifier, go_id, evidence, aspect, line``.
    Lines with a ``NOT`` qualifier are dropped (count in ``df.attrs['not_dropped']``)."""
    cols = [0, 1, 2, 3, 4, 6, 8]
    names = ["db", "object_id", "symbol", "qualifier", "go_id", "evidence", "aspect"]
    with open_text(path) as fh:  # header: the leading "!" lines
        n_header = 0
        for line in fh:
            if not line.startswith("!"):
                break
            n_header += 1
    try:
        with open_text(path) as fh:
            raw = pd.read_csv(
                fh, sep="\t", header=None, skiprows=n_header, dtype=str, keep_default_na=False,
                names=list(range(17)), usecols=list(range(15)), quoting=3, engine="c",
            )
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: not a GAF 2.x file (17 tab-separated columns): {exc}") from exc
    if raw.empty:
        raise ValueError(f"{path}: no annotation lines")
    short = raw[14] == ""
    if short.any():
        i = int(np.flatnonzero(short.to_numpy())[0])
        raise ValueError(f"{path}: line {n_header + i + 1}: GAF needs 15-17 tab-separated columns (column 15, assigned-by, is empty or missing)")
    df = raw[cols].set_axis(names, axis=1)
    df["line"] = np.arange(n_header + 1, n_header + len(df) + 1)
    bad = ~df["go_id"].str.startswith("GO:")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}: line {df['line'].iloc[i]}: column 5 is not a GO id: {df['go_id'].iloc[i]!r}")
    neg = df["qualifier"].str.contains(r"(?:^|\|)NOT(?:\||$)", regex=True)
    out = df.loc[~neg].reset_index(drop=True)
    out.attrs["not_dropped"] = int(neg.sum())
    return out


def read_gene_id_map(path: str | os.PathLike[str]) -> pd.DataFrame:
    """``human_gene_ids.tsv``: ``entrez_gene_id, symbol, ensembl_gene_id`` (empty Ensembl kept as "")."""
    with open_text(path) as fh:
        df = pd.read_csv(fh, sep="\t", dtype=str, keep_default_na=False)
    need = {"entrez_gene_id", "symbol", "ensembl_gene_id"}
    if not need <= set(df.columns):
        raise ValueError(f"{path}: line 1: header needs columns {sorted(need)}, got {list(df.columns)}")
    return df


def gaf_to_genes(gaf: pd.DataFrame, id_map: pd.DataFrame | None, key: str = "auto") -> tuple[pd.DataFrame, str]:
    """Annotations keyed on unversioned Ensembl gene ids (``gene, go_id``) when an id map is
    given (Entrez -> Ensembl for NCBIGene GAFs, symbol -> Ensembl otherwise), else on the symbol
    (``gene`` is then a symbol, joined to the store's gene names). Many-to-many maps keep every
    pair (an Entrez gene with two Ensembl ids annotates both)."""
    if key == "auto":
        key = "entrez" if id_map is not None and (gaf["db"] == "NCBIGene").mean() > 0.5 else "symbol"
    if id_map is None:
        if key == "entrez":
            raise ValueError("GAF keyed on Entrez ids needs the gene id map (human_gene_ids.tsv)")
        return gaf.assign(gene=gaf["symbol"])[["gene", "go_id", "aspect"]], "symbol"
    m = id_map.loc[id_map["ensembl_gene_id"] != ""]
    left, right = ("object_id", "entrez_gene_id") if key == "entrez" else ("symbol", "symbol")
    j = gaf.merge(m[[right, "ensembl_gene_id"]].drop_duplicates(), left_on=left, right_on=right, how="inner")
    j["gene"] = strip_version(j["ensembl_gene_id"]).to_numpy()
    return j[["gene", "go_id", "aspect"]], "ensembl"


def go_term_labels(
    dag: GoDag,
    annotations: pd.DataFrame,
    genes: Sequence[str],
    namespace: str = "molecular_function",
    depth: int = 3,
    n_terms: int = 10,
    depth_mode: str = "shortest",
    follow_part_of: bool = False,
) -> tuple[npt.NDArray[np.uint8], list[str], pd.DataFrame]:
    """Multi-label matrix (len(genes), n_terms) for the top terms at ``depth`` below the root.

    ``annotations``: ``gene, go_id`` direct annotations (alt ids mapped to primary ids here).
    Returns the matrix, the chosen term ids, and a table of every candidate term at that depth
    with its name and gene count (ranked; ties by term id).
    """
    relations = ("is_a", "part_of") if follow_part_of else ("is_a",)
    root = GO_ROOTS[namespace]
    depths = dag.depths(root, relations, depth_mode)
    level = sorted(t for t, d in depths.items() if d == depth and dag.namespace.get(t) == namespace)
    if not level:
        raise ValueError(f"no {namespace} terms at depth {depth} below {root}")
    ann = annotations[["gene", "go_id"]].copy()
    ann["go_id"] = ann["go_id"].map(lambda g: dag.alt_ids.get(g, g))
    genes = pd.Index(pd.Series(list(genes), dtype=object))
    ann = ann.loc[ann["gene"].isin(genes)].drop_duplicates()
    kids = dag.children(relations)
    counts, members = [], {}
    for t in level:
        sub = dag.descendants(t, relations, kids) | {t}
        g = pd.unique(ann.loc[ann["go_id"].isin(sub), "gene"])
        members[t] = g
        counts.append(len(g))
    ranking = pd.DataFrame({"go_id": level, "name": [dag.name[t] for t in level], "n_genes": counts})
    ranking = ranking.sort_values(["n_genes", "go_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    chosen = ranking.loc[ranking["n_genes"] > 0, "go_id"].head(n_terms).tolist()
    y = np.zeros((len(genes), len(chosen)), dtype=np.uint8)
    for k, t in enumerate(chosen):
        y[genes.get_indexer(members[t]), k] = 1
    return y, chosen, ranking


# ---------------------------------------------------------------------------------------------
# homology groups, folds, fractions
# ---------------------------------------------------------------------------------------------
def read_gene_groups(path: str | os.PathLike[str] | None, species: str) -> pd.DataFrame | None:
    """``results/splits/genes.tsv`` rows of one species: ``gene_id, set_id`` (None without path)."""
    if not path:
        return None
    with open_text(path) as fh:
        df = pd.read_csv(fh, sep="\t", dtype={"species": str, "gene_id": str})
    need = {"species", "gene_id", "set_id"}
    if not need <= set(df.columns):
        raise ValueError(f"{path}: line 1: header needs columns {sorted(need)}, got {list(df.columns)}")
    return df.loc[df["species"] == species, ["gene_id", "set_id"]].reset_index(drop=True)


def homology_groups(gene_ids: Sequence[str], groups: pd.DataFrame | None, report: JoinReport) -> npt.NDArray[np.int32]:
    """Homology set id per row (exact gene id, else version-stripped). Genes without a set
    (or no table) become singleton groups numbered after the largest known set id; isoforms of
    one gene always share a group."""
    gid = pd.Series(list(gene_ids), dtype=object).astype(str)
    out = pd.Series(np.nan, index=gid.index)
    if groups is not None and len(groups):
        exact = dict(zip(groups["gene_id"].astype(str), groups["set_id"]))
        out = gid.map(exact)
        miss = out.isna()
        if miss.any():
            stripped = dict(zip(strip_version(groups["gene_id"]), groups["set_id"]))
            out[miss] = strip_version(gid[miss]).map(stripped).to_numpy()
        base = int(groups["set_id"].max()) + 1
    else:
        base = 0
    miss = out.isna()
    report.add("groups", "rows_with_homology_set", int((~miss).sum()))
    if miss.any():
        codes, _ = pd.factorize(gid[miss])
        out[miss] = base + codes
        report.add("groups", "singleton_group_no_set", gid[miss].unique().tolist(), note="gene not in splits/genes.tsv: own group")
    return out.to_numpy(dtype=np.int64).astype(np.int32)


def assign_folds(groups: npt.ArrayLike, n_folds: int = 3, seed: int = 0) -> npt.NDArray[np.int8]:
    """Fold (0..n_folds-1) of every row; a group's rows always share a fold (module docstring)."""
    if n_folds < 3:
        raise ValueError(f"n_folds must be >= 3 (one test, one validation and >= 1 training fold), got {n_folds}")
    g = np.asarray(groups)
    uniq, inv, size = np.unique(g, return_inverse=True, return_counts=True)
    rng = np.random.default_rng([seed, 17])
    tiebreak = rng.permutation(len(uniq))
    order = np.lexsort((tiebreak, -size))
    load = np.zeros(n_folds, dtype=np.int64)
    fold_of = np.zeros(len(uniq), dtype=np.int8)
    for u in order:
        k = int(np.argmin(load))
        fold_of[u] = k
        load[k] += size[u]
    return fold_of[inv]


def train_ranks(fold: npt.ArrayLike, n_folds: int, seed: int = 0) -> npt.NDArray[np.int32]:
    """(n_folds, N): rank of each row among fold k's training rows, -1 if it does not train."""
    fold = np.asarray(fold)
    ranks = np.full((n_folds, len(fold)), -1, dtype=np.int32)
    for k in range(n_folds):
        train = np.flatnonzero((fold != k) & (fold != (k + 1) % n_folds))
        perm = np.random.default_rng([seed, 29, k]).permutation(len(train))
        ranks[k, train[perm]] = np.arange(len(train), dtype=np.int32)
    return ranks


def n_train_rows(n_train: int, fraction: float, min_train: int) -> int:
    """Training rows used at ``fraction``: ``min(n_train, max(min_train, round(f * n_train)))``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return int(min(n_train, max(min_train, round(fraction * n_train))))


# ---------------------------------------------------------------------------------------------
# task files
# ---------------------------------------------------------------------------------------------
@dataclass
class TaskData:
    """A task file in memory (docs/interfaces.md, "Task datasets")."""

    attrs: dict[str, Any]
    transcript: npt.NDArray[np.int32]
    transcript_id: npt.NDArray[np.object_]
    gene_id: npt.NDArray[np.object_]
    y: npt.NDArray[Any]
    group: npt.NDArray[np.int32]
    fold: npt.NDArray[np.int8]
    train_rank: npt.NDArray[np.int32]
    path: Path | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TaskData:
        with h5py.File(path, "r") as f:
            attrs: dict[str, Any] = {}
            for k, v in f.attrs.items():
                if isinstance(v, bytes):
                    v = v.decode()
                elif isinstance(v, np.ndarray):
                    v = [x.decode() if isinstance(x, bytes) else x.item() if hasattr(x, "item") else x for x in v]
                elif isinstance(v, np.generic):
                    v = v.item()
                attrs[k] = v
            return cls(
                attrs=attrs,
                transcript=f["transcript"][:],
                transcript_id=f["transcript_id"].asstr()[:],
                gene_id=f["gene_id"].asstr()[:],
                y=f["y"][:],
                group=f["group"][:],
                fold=f["fold"][:],
                train_rank=f["train_rank"][:],
                path=Path(path),
            )

    def __len__(self) -> int:
        return len(self.transcript)

    @property
    def n_folds(self) -> int:
        return int(self.attrs.get("n_folds", self.train_rank.shape[0]))

    @property
    def kind(self) -> str:
        return str(self.attrs["kind"])

    @property
    def label_names(self) -> list[str]:
        names = self.attrs.get("label_names", [])
        return [names] if isinstance(names, str) else list(names)

    @property
    def join_report(self) -> list[dict[str, Any]]:
        return json.loads(self.attrs.get("join_report", "[]"))

    def split(self, fold: int, fraction: float = 1.0, min_train: int | None = None) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(train_idx, val_idx, test_idx) row indices for ``fold`` at training ``fraction``.

        ``min_train`` defaults to the value the file was built with (attr ``min_train``)."""
        n = self.n_folds
        if not 0 <= fold < n:
            raise ValueError(f"{self.path}: fold must be in 0..{n - 1}, got {fold}")
        mt = int(self.attrs.get("min_train", 1) if min_train is None else min_train)
        rank = self.train_rank[fold]
        n_train = int((rank >= 0).sum())
        k = n_train_rows(n_train, fraction, mt)
        train = np.flatnonzero((rank >= 0) & (rank < k))
        val = np.flatnonzero(self.fold == (fold + 1) % n)
        test = np.flatnonzero(self.fold == fold)
        return train.astype(np.int64), val.astype(np.int64), test.astype(np.int64)


def write_task(
    path: str | os.PathLike[str],
    *,
    task: str,
    species: str,
    kind: str,
    label_names: Sequence[str],
    store: str,
    transcript: npt.ArrayLike,
    transcript_id: Sequence[str],
    gene_id: Sequence[str],
    y: npt.ArrayLike,
    group: npt.ArrayLike,
    n_folds: int,
    fractions: Sequence[float],
    seed: int,
    min_train: int,
    report: JoinReport,
    extra_attrs: Mapping[str, Any] | None = None,
) -> TaskData:
    """Assign folds and training ranks, then write the task file atomically."""
    if kind not in ("regression", "multilabel"):
        raise ValueError(f"kind must be regression or multilabel, got {kind!r}")
    y = np.asarray(y, dtype=np.float32 if kind == "regression" else np.uint8)
    n = len(y)
    if n < n_folds:
        raise ValueError(f"task {task}: only {n} labelled rows, fewer than {n_folds} folds ({report.frame().to_string(index=False)})")
    group = np.asarray(group, dtype=np.int32)
    fold = assign_folds(group, n_folds, seed)
    ranks = train_ranks(fold, n_folds, seed)
    for k in range(n_folds):
        n_tr = int((ranks[k] >= 0).sum())
        used = {f: n_train_rows(n_tr, f, min_train) if n_tr else 0 for f in fractions}
        report.add("folds", f"fold{k}", int((fold == k).sum()), note="rows; n_train by fraction " + " ".join(f"{f:g}:{u}" for f, u in used.items()))
    attrs: dict[str, Any] = {
        "task": task,
        "species": species,
        "kind": kind,
        "label_names": list(label_names),
        "store": str(store),
        "selection_rule": SELECTION_RULE,
        "n_folds": int(n_folds),
        "fractions": [float(f) for f in fractions],
        "seed": int(seed),
        "min_train": int(min_train),
        "n_rows": int(n),
    }
    attrs.update(extra_attrs or {})
    attrs["join_report"] = report.to_json()
    with atomic_path(path, suffix=".h5") as tmp:  # noqa: SIM117 (the file must close before the rename)
        with h5_create(tmp) as f:
            for k, v in attrs.items():
                f.attrs[k] = v
            f.create_dataset("transcript", data=np.asarray(transcript, dtype=np.int32))
            f.create_dataset("transcript_id", data=np.asarray(list(transcript_id), dtype=object), dtype=_STR)
            f.create_dataset("gene_id", data=np.asarray(list(gene_id), dtype=object), dtype=_STR)
            f.create_dataset("y", data=y)
            f.create_dataset("group", data=group)
            f.create_dataset("fold", data=fold.astype(np.int8))
            f.create_dataset("train_rank", data=ranks)
    return TaskData.load(path)


# ---------------------------------------------------------------------------------------------
# task builders
# ---------------------------------------------------------------------------------------------
@dataclass
class TaskSettings:
    n_folds: int = 3
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    seed: int = 0
    min_train: int = 8


def _store_table(store: str | os.PathLike[str]) -> tuple[pd.DataFrame, str]:
    from isoclr.store import IsoformStore

    s = IsoformStore(store)
    try:
        return s.table(), s.species
    finally:
        s.close()


def build_halflife(
    table: pd.DataFrame,
    labels: pd.DataFrame,
    report: JoinReport,
    annotation: tuple[set[str], set[str]] | None = None,
) -> pd.DataFrame:
    """Principal isoform per gene joined to per-gene labels (``id, value``): rows with ``y``."""
    principal = principal_isoforms(table)
    report.add("store", "transcripts", len(table))
    return join_labels(principal, labels, "gene_id", report, annotation[0] if annotation else None, what="gene")


def build_mrl_table(
    table: pd.DataFrame,
    labels: pd.DataFrame,
    report: JoinReport,
    annotation: tuple[set[str], set[str]] | None = None,
) -> pd.DataFrame:
    """Isoform-resolved labels (``id`` = transcript id, ``value``) joined to every store transcript."""
    rows = table.reset_index(drop=True).copy()
    rows.insert(0, "transcript", np.arange(len(rows), dtype=np.int64))
    return join_labels(rows, labels, "transcript_id", report, annotation[1] if annotation else None, what="transcript")


def build_go(
    table: pd.DataFrame,
    dag: GoDag,
    gaf: pd.DataFrame,
    id_map: pd.DataFrame | None,
    report: JoinReport,
    namespace: str = "molecular_function",
    depth: int = 3,
    n_terms: int = 10,
    depth_mode: str = "shortest",
    follow_part_of: bool = False,
    evidence_exclude: Sequence[str] = (),
    require_positive: bool = True,
    annotation: set[str] | None = None,
) -> tuple[pd.DataFrame, npt.NDArray[np.uint8], list[str], pd.DataFrame]:
    """Principal isoform per gene with GO labels. Returns rows, y (n, K), term ids, term ranking.

    Genes are joined to the annotation by unversioned Ensembl id (through the id map) or, without
    a map, by gene name. With ``require_positive`` only genes annotated to >= 1 chosen term
    are rows (a gene with no annotation at all is not a known negative)."""
    aspect = {"molecular_function": "F", "cellular_component": "C", "biological_process": "P"}[namespace]
    principal = principal_isoforms(table)
    report.add("store", "genes", len(principal))
    n_not = int(gaf.attrs.get("not_dropped", 0))
    if n_not:
        report.add("annotation", "NOT_qualifier_dropped", n_not)
    if evidence_exclude:
        ex = gaf["evidence"].isin(list(evidence_exclude))
        report.add("annotation", "evidence_excluded", int(ex.sum()), note=",".join(evidence_exclude))
        gaf = gaf.loc[~ex]
    ann, keyed = gaf_to_genes(gaf, id_map)
    report.add("annotation", "gaf_genes", int(gaf["object_id"].nunique()))
    report.add("annotation", "annotated_keys", int(ann["gene"].nunique()), note=f"distinct {keyed} ids with annotations")
    key = strip_version(principal["gene_id"]) if keyed == "ensembl" else principal["gene_name"].astype(str)
    principal = principal.assign(key=key.to_numpy())
    if id_map is not None and keyed == "ensembl":
        mapped = set(strip_version(id_map.loc[id_map["ensembl_gene_id"] != "", "ensembl_gene_id"]))
        in_map = principal["key"].isin(mapped)
        report.add("store", "gene_in_id_map", int(in_map.sum()))
        report.add("store", "gene_not_in_id_map", principal.loc[~in_map, "gene_id"].tolist())
    has_any = principal["key"].isin(set(ann["gene"]))
    report.add("store", "gene_with_any_go_annotation", int(has_any.sum()))
    off = pd.Index(pd.unique(ann["gene"])).difference(pd.Index(principal["key"]))
    if annotation is not None and keyed == "ensembl":
        in_ann = off.isin(list(annotation))
        report.add("labels", "filtered_out_of_store", off[in_ann].tolist(), note="annotated gene in the species annotation, dropped by the store filters")
        report.add("labels", "not_in_annotation", off[~in_ann].tolist(), note="annotated gene absent from the species annotation")
    else:
        report.add("labels", "not_in_store", off.tolist(), note="annotated gene absent from the store")
    ns_ann = ann.loc[ann["aspect"] == aspect]
    has_ns = principal["key"].isin(set(ns_ann["gene"]))
    report.add("store", f"gene_with_{aspect}_annotation", int(has_ns.sum()))
    y, terms, ranking = go_term_labels(dag, ns_ann, principal["key"].tolist(), namespace, depth, n_terms, depth_mode, follow_part_of)
    keep = y.any(axis=1) if require_positive else np.ones(len(y), dtype=bool)
    report.add("store", "gene_without_chosen_term", principal.loc[has_ns.to_numpy() & ~keep, "gene_id"].tolist(), note="annotated, but to none of the chosen terms")
    report.add("labels", "matched", int(keep.sum()), note=f"genes with >= 1 of the {len(terms)} terms")
    for k, t in enumerate(terms):
        report.add("terms", t, int(y[keep, k].sum()), note=dag.name[t])
    return principal.loc[keep].drop(columns=["key"]).reset_index(drop=True), y[keep], terms, ranking


def arrays_to_store_parts(x: npt.NDArray[Any], chunk: int = 256) -> dict[str, npt.NDArray[Any]]:
    """Ready-made (N, L, 6) six-track arrays back to store parts, vectorised in row chunks.

    Nucleotides: argmax of tracks 0-3 (all-zero -> N). Length: last position with track 5 set
    (+1; the encoding marks the transcript's last nucleotide), else the last non-zero position.
    Exon ends: positions with track 5 set (+1). CDS: first track-4 mark to last mark + 3 (capped
    at the length), phase 0; no mark -> non-coding. Returns codes, seq_offset, exon_tx_end,
    exon_offset, cds_start, cds_end.
    """
    if x.ndim != 3 or x.shape[2] != 6:
        if x.ndim == 3 and x.shape[1] == 6:
            x = np.swapaxes(x, 1, 2)
        else:
            raise ValueError(f"ready-made arrays: X must be (N, L, 6), got shape {x.shape}")
    n, length_max = x.shape[0], x.shape[1]
    codes_parts, exon_parts, lengths, n_ex, cs, ce = [], [], [], [], [], []
    pos = np.arange(length_max)
    for a in range(0, n, chunk):
        b = np.asarray(x[a : a + chunk])
        nuc = b[:, :, :4]
        code = np.argmax(nuc, axis=2).astype(np.uint8)
        code[nuc.max(axis=2) <= 0] = 4
        splice = b[:, :, 5] > 0.5
        anyv = (b != 0).any(axis=2)
        last_splice = np.where(splice.any(1), length_max - 1 - np.argmax(splice[:, ::-1], axis=1), -1)
        last_any = np.where(anyv.any(1), length_max - 1 - np.argmax(anyv[:, ::-1], axis=1), -1)
        length = np.where(last_splice >= 0, last_splice, last_any) + 1
        if np.any(length <= 0):
            bad = a + int(np.flatnonzero(length <= 0)[0])
            raise ValueError(f"ready-made arrays: row {bad} is empty (all-zero tracks)")
        inside = pos[None, :] < length[:, None]
        codes_parts.append(code[inside])
        ends = splice & inside
        ends[np.arange(len(b)), length - 1] = True  # a transcript always ends an exon
        r, p = np.nonzero(ends)
        exon_parts.append(p + 1)
        n_ex.append(np.bincount(r, minlength=len(b)))
        codon = (b[:, :, 4] > 0.5) & inside
        has = codon.any(1)
        first = np.argmax(codon, axis=1)
        last = length_max - 1 - np.argmax(codon[:, ::-1], axis=1)
        cs.append(np.where(has, first, -1))
        ce.append(np.where(has, np.minimum(last + 3, length), -1))
        lengths.append(length)
    length = np.concatenate(lengths).astype(np.int64)
    seq_offset = np.concatenate([[0], np.cumsum(length)]).astype(np.int64)
    exon_offset = np.concatenate([[0], np.cumsum(np.concatenate(n_ex))]).astype(np.int64)
    return {
        "codes": np.concatenate(codes_parts).astype(np.uint8),
        "seq_offset": seq_offset,
        "exon_tx_end": np.concatenate(exon_parts).astype(np.int64),
        "exon_offset": exon_offset,
        "cds_start": np.concatenate(cs).astype(np.int64),
        "cds_end": np.concatenate(ce).astype(np.int64),
    }


def read_ready_made(path: str | os.PathLike[str]) -> dict[str, npt.NDArray[Any]]:
    """``.npz`` with ``X`` (N, L, 6), ``y`` (N,) or (N, 1), ``genes`` (N,); optional ``transcripts``."""
    from isoclr.io import load_npz

    out = load_npz(path)  # allow_pickle=False: object arrays (pickles) are refused
    missing = {"X", "y", "genes"} - set(out)
    if missing:
        raise ValueError(f"{path}: ready-made arrays need X, y and genes; missing {sorted(missing)} (has {sorted(out)})")
    n = len(out["X"])
    if out["y"].reshape(n, -1).shape[1] != 1 or len(out["genes"]) != n:
        raise ValueError(f"{path}: X has {n} rows but y has shape {out['y'].shape} and genes {out['genes'].shape}")
    out["y"] = out["y"].reshape(n).astype(np.float64)
    return out


def arrays_to_task_store(npz: str | os.PathLike[str], store_path: str | os.PathLike[str], species: str, task: str) -> pd.DataFrame:
    """Write a task-local store from ready-made arrays; returns its table plus ``y``."""
    from isoclr.store import write_store

    arr = read_ready_made(npz)
    parts = arrays_to_store_parts(arr["X"])
    n = len(arr["y"])
    genes = np.asarray([str(g.decode() if isinstance(g, bytes) else g) for g in arr["genes"]], dtype=object)
    if "transcripts" in arr:
        tids = np.asarray([str(t) for t in arr["transcripts"]], dtype=object)
    else:
        tids = np.asarray([f"{task}:{i}" for i in range(n)], dtype=object)
    table = pd.DataFrame(
        {
            "transcript_id": tids,
            "gene_id": genes,
            "cds_start": parts["cds_start"],
            "cds_end": parts["cds_end"],
            "cds_phase": 0,
            "biotype": np.where(parts["cds_start"] >= 0, "protein_coding", ""),
            "tags": "",
        }
    )
    write_store(
        store_path, table, parts["codes"], parts["seq_offset"], parts["exon_tx_end"], parts["exon_offset"],
        {"species": species, "annotation_url": Path(npz).name, "annotation_format": "ready-made arrays (X, y, genes)"},
    )
    table["transcript"] = np.arange(n, dtype=np.int64)
    table["y"] = arr["y"]
    table["length"] = np.diff(parts["seq_offset"])
    return table


# ---------------------------------------------------------------------------------------------
# one entry point for the CLI and the Snakemake shim
# ---------------------------------------------------------------------------------------------
def build_task(
    task: str,
    kind: str,
    out: str | os.PathLike[str],
    *,
    store: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    genes_tsv: str | os.PathLike[str] | None = None,
    species: str | None = None,
    annotation: str | os.PathLike[str] | None = None,
    id_column: str | None = None,
    value_column: str | None = None,
    obo: str | os.PathLike[str] | None = None,
    gaf: str | os.PathLike[str] | None = None,
    gene_ids: str | os.PathLike[str] | None = None,
    namespace: str = "molecular_function",
    depth: int = 3,
    n_terms: int = 10,
    depth_mode: str = "shortest",
    follow_part_of: bool = False,
    evidence_exclude: Sequence[str] = (),
    task_store: str | os.PathLike[str] | None = None,
    report_tsv: str | os.PathLike[str] | None = None,
    settings: TaskSettings | None = None,
) -> TaskData:
    """Build one task file (and its report TSV). ``kind``: halflife | go | mrl_table | mrl_arrays."""
    settings = settings or TaskSettings()
    report = JoinReport(task)
    out = Path(out)
    extra: dict[str, Any] = {}
    if kind in ("halflife", "mrl_table", "go"):
        if not store:
            raise ValueError(f"task {task}: kind {kind} needs --store")
        table, store_species = _store_table(store)
        species = species or store_species
        ann = annotation_ids(annotation)
        if kind == "go":
            if not (obo and gaf):
                raise ValueError(f"task {task}: kind go needs --obo and --gaf")
            dag = read_obo(obo)
            rows, y, terms, ranking = build_go(
                table, dag, read_gaf(gaf), read_gene_id_map(gene_ids) if gene_ids else None, report,
                namespace, depth, n_terms, depth_mode, follow_part_of, evidence_exclude,
                annotation=ann[0] if ann else None,
            )
            label_names = [f"{t} {dag.name[t]}" for t in terms]
            task_kind = "multilabel"
            extra = {"go_namespace": namespace, "go_depth": depth, "go_depth_mode": depth_mode, "go_follow_part_of": bool(follow_part_of),
                     "go_data_version": dag.data_version, "go_term_ranking": ranking.head(50).to_json(orient="records")}
        else:
            lab = read_value_table(labels, id_column, value_column) if labels else None
            if lab is None:
                raise ValueError(f"task {task}: kind {kind} needs --labels")
            builder = build_halflife if kind == "halflife" else build_mrl_table
            rows = builder(table, lab, report, ann)
            y = rows["y"].to_numpy(dtype=np.float32)
            label_names = [value_column or "y"]
            task_kind = "regression"
        store_ref = str(store)
    elif kind == "mrl_arrays":
        if not labels or not task_store:
            raise ValueError(f"task {task}: kind mrl_arrays needs --labels (the .npz) and --task-store")
        species = species or "human"
        rows = arrays_to_task_store(labels, task_store, species, task)
        report.add("labels", "in_label_table", len(rows), note="rows of the ready-made arrays")
        nan = ~np.isfinite(rows["y"].to_numpy())
        if nan.any():
            report.add("labels", "no_value", rows.loc[nan, "transcript_id"].tolist())
        rows = rows.loc[~nan].reset_index(drop=True)
        report.add("labels", "matched", len(rows), note="rows kept (task-local store)")
        y = rows["y"].to_numpy(dtype=np.float32)
        label_names = ["mrl"]
        task_kind = "regression"
        store_ref = str(task_store)
    else:
        raise ValueError(f"task {task}: unknown kind {kind!r} (one of {TASK_KINDS})")
    groups = homology_groups(rows["gene_id"].astype(str).tolist(), read_gene_groups(genes_tsv, species or ""), report)
    data = write_task(
        out, task=task, species=species or "", kind=task_kind, label_names=label_names, store=store_ref,
        transcript=rows["transcript"].to_numpy(), transcript_id=rows["transcript_id"].astype(str).tolist(),
        gene_id=rows["gene_id"].astype(str).tolist(), y=y, group=groups, n_folds=settings.n_folds,
        fractions=settings.fractions, seed=settings.seed, min_train=settings.min_train, report=report, extra_attrs=extra,
    )
    report.log()
    report.write_tsv(report_tsv or out.with_suffix(".report.tsv"))
    return data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task name, e.g. halflife_human")
    parser.add_argument("--kind", required=True, choices=TASK_KINDS)
    parser.add_argument("--out", required=True, help="task file to write (results/tasks/{task}.h5)")
    parser.add_argument("--store", help="species store (results/stores/{species}.h5)")
    parser.add_argument("--species", help="species name (default: the store's)")
    parser.add_argument("--labels", help="label table (TSV: id, value) or ready-made .npz (mrl_arrays)")
    parser.add_argument("--id-column", help="label id column (default: first)")
    parser.add_argument("--value-column", help="label value column (default: last)")
    parser.add_argument("--annotation", help="species annotation, to tell 'not in annotation' from 'filtered out'")
    parser.add_argument("--genes", help="results/splits/genes.tsv (homology groups)")
    parser.add_argument("--obo", help="go-basic.obo(.gz)")
    parser.add_argument("--gaf", help="GAF annotations (.gz)")
    parser.add_argument("--gene-ids", help="Entrez <-> symbol <-> Ensembl table (human_gene_ids.tsv.gz)")
    parser.add_argument("--namespace", default="molecular_function", choices=sorted(GO_ROOTS))
    parser.add_argument("--depth", type=int, default=3, help="GO depth below the namespace root")
    parser.add_argument("--n-terms", type=int, default=10)
    parser.add_argument("--depth-mode", default="shortest", choices=["shortest", "longest"])
    parser.add_argument("--follow-part-of", action="store_true")
    parser.add_argument("--evidence-exclude", nargs="*", default=[])
    parser.add_argument("--task-store", help="task-local store for ready-made arrays")
    parser.add_argument("--report", help="join report TSV (default: OUT with .report.tsv)")
    parser.add_argument("--n-folds", type=int, default=3)
    parser.add_argument("--fractions", type=float, nargs="+", default=list(DEFAULT_FRACTIONS))
    parser.add_argument("--min-train", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    build_task(
        args.task, args.kind, args.out, store=args.store, labels=args.labels, genes_tsv=args.genes,
        species=args.species, annotation=args.annotation, id_column=args.id_column, value_column=args.value_column,
        obo=args.obo, gaf=args.gaf, gene_ids=args.gene_ids, namespace=args.namespace, depth=args.depth,
        n_terms=args.n_terms, depth_mode=args.depth_mode, follow_part_of=args.follow_part_of,
        evidence_exclude=args.evidence_exclude, task_store=args.task_store, report_tsv=args.report,
        settings=TaskSettings(args.n_folds, tuple(args.fractions), args.seed, args.min_train),
    )
    return 0
