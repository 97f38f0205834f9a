"""Stage ``collect``: every job's metrics table concatenated into ``metrics.tsv``, and its summary
over folds as a browsable page (:mod:`isoclr.tables.html`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

import pandas as pd

from isoclr.evaluate.metrics_table import COLUMNS, read_tsv, write_tsv
from isoclr.tables.html import write_summary_html

log = logging.getLogger(__name__)


def collect_metrics(paths: Iterable[str | os.PathLike[str]], out: str | os.PathLike[str],
                    html: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Concatenate job tables into ``metrics.tsv`` (sorted by task, model, fraction, fold);
    with ``html``, also the summary over folds as a browsable page (:func:`write_summary_html`)."""
    tables = [read_tsv(p) for p in paths]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)
    table = table.sort_values(["task", "model", "fraction", "fold", "metric"], kind="stable")
    write_tsv(table.reset_index(drop=True), out)
    log.info("wrote %d metric rows from %d jobs to %s", len(table), len(tables), out)
    if html is not None:
        write_summary_html(summarise_metrics(table), html, title="Metrics: mean ± SD over folds")
    return table


def summarise_metrics(table: pd.DataFrame) -> pd.DataFrame:
    """One row per task, metric, model and training fraction: mean, SD (ddof 1) and number of
    folds, and the mean number of training rows."""
    keys = ["task", "species", "metric", "model", "fraction"]
    if table.empty:
        return pd.DataFrame(columns=[*keys, "mean", "sd", "folds", "n_train"])
    g = table.assign(value=pd.to_numeric(table["value"], errors="coerce")).groupby(keys, sort=True)
    out = pd.DataFrame({"mean": g["value"].mean(), "sd": g["value"].std(ddof=1), "folds": g["fold"].nunique(),
                        "n_train": g["n_train"].mean().round(0)}).reset_index()
    return out.sort_values(["task", "metric", "fraction", "mean"], ascending=[True, True, False, False], kind="stable")
