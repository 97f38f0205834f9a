"""Stage ``collect``: every job's metrics table concatenated into ``metrics.tsv``, and its summary
over folds as a browsable page (:mod:`isoclr.tables.html`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

import pandas as pd

from isoclr.evaluate.metrics import summarise
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
    """The metrics page's table: :func:`isoclr.evaluate.metrics.summarise` per task, species,
    metric, model and fraction (mean, SD with ddof 1, folds, median training rows), best first."""
    cols = ["task", "species", "metric", "model", "fraction", "mean", "sd", "folds", "n_train"]
    if table.empty:
        return pd.DataFrame(columns=cols)
    species = table.drop_duplicates("task").set_index("task")["species"]
    s = summarise(table, ci=False).rename(columns={"n_runs": "folds"})  # run r tests on fold r
    out = s.assign(species=s["task"].map(species), n_train=s["n_train"].round(0))[cols]
    return out.sort_values(["task", "metric", "fraction", "mean"], ascending=[True, True, False, False], kind="stable")


def collect_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "collect_metrics",
                wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The pipeline's ``collect_metrics`` rule (plain values from
    ``workflow/scripts/collect_metrics.py``): every evaluation job's table into one, and its page."""
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "collect every evaluation job's metrics into one table",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    collect_metrics(list(inputs), outputs.tsv, html=outputs.html)
