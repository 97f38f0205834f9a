"""Task labels: gene/transcript ids, the join report, the principal isoform and label tables.

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
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.core.files import atomic_path, open_text

log = logging.getLogger(__name__)

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
        from isoclr.store.annotation import read_annotation  # type: ignore[attr-defined]

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


