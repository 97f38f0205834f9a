"""Gene Ontology labels of a task: the ontology (obo), annotations (GAF) and the top terms.

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

import collections
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.core.files import open_text
from isoclr.tasks.labels import strip_version

log = logging.getLogger(__name__)

GO_ROOTS = {"molecular_function": "GO:0003674", "cellular_component": "GO:0005575", "biological_process": "GO:0008150"}


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
    namespace: str,
    depth: int,
    n_terms: int,
    depth_mode: str,
    follow_part_of: bool,
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


