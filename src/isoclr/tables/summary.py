"""Study tables from the tidy metrics table: a summary over runs and a comparison with the paper.

``results/<study>/metrics/metrics.tsv`` (one row per task, model, fraction, run, split and
metric; :data:`isoclr.evaluate.metrics_table.COLUMNS`) is the source of every figure and table. This module
writes, under ``results/<study>/tables/``:

* ``summary.tsv``: per task, model, fraction, split and metric the number of runs, the mean,
  the standard deviation (ddof 1) and a 95 % confidence interval of the mean (Student t,
  ``mean +- t(0.975, n-1) * SD / sqrt(n)``), the training rows (median over runs) and whether
  ``min_train`` lifted the fraction in any run;
* ``paper_comparison.tsv`` and ``.md``: each number the paper reports (Fradkin et al. 2023,
  arXiv:2310.08738, values read off its figures and text) beside ours, with its interval and
  the difference (ours - paper). A claim whose model, task or fraction this study did not
  evaluate keeps its row, with ``ours`` empty and a note saying what is missing.

Pandas and SciPy only (no torch).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from isoclr.core.files import atomic_path
from isoclr.evaluate.metrics import SUMMARY_COLUMNS, SUMMARY_KEYS, interval, summarise  # noqa: F401  (the summary)

log = logging.getLogger(__name__)

COMPARISON_COLUMNS = [
    "claim", "task", "model", "metric", "fraction", "paper", "ours", "ci95_low", "ci95_high", "n_runs",
    "difference", "note",
]


@dataclass(frozen=True)
class PaperValue:
    """One number the paper reports: what it is, on which model role, task role and fraction."""

    claim: str
    role: str  # a model role, resolved per study (see ComparisonSettings.models)
    task_role: str  # "halflife" or "mrl"
    metric: str
    fraction: float
    value: float
    kind: str = "metric"  # "metric": the model's own value; "gain": % lower test MSE than saluki


#: Fradkin et al. 2023 (arXiv:2310.08738): linear-probe Pearson r on human half-life and mean
#: ribosome load per encoder (their size-comparison figure, +-0.01); Saluki's published r; the
#: text's fine-tuning gains over Saluki at 10 % and 1 % of the data (test loss) and the random
#: initialised linear probe's human half-life test MSE.
PAPER_VALUES: tuple[PaperValue, ...] = (
    PaperValue("HL linear probe r, IsoCLR small (~0.9 M)", "isoclr_small", "halflife", "pearson", 1.0, 0.65),
    PaperValue("HL linear probe r, IsoCLR medium (~5 M)", "isoclr_medium", "halflife", "pearson", 1.0, 0.665),
    PaperValue("HL linear probe r, IsoCLR large (~10 M)", "isoclr_large", "halflife", "pearson", 1.0, 0.655),
    PaperValue("HL linear probe r, RNA-FM", "rnafm", "halflife", "pearson", 1.0, 0.47),
    PaperValue("HL r, Saluki (supervised)", "saluki", "halflife", "pearson", 1.0, 0.77),
    PaperValue("MRL linear probe r, IsoCLR small (~0.9 M)", "isoclr_small", "mrl", "pearson", 1.0, 0.42),
    PaperValue("MRL linear probe r, IsoCLR medium (~5 M)", "isoclr_medium", "mrl", "pearson", 1.0, 0.43),
    PaperValue("MRL linear probe r, IsoCLR large (~10 M)", "isoclr_large", "mrl", "pearson", 1.0, 0.455),
    PaperValue("MRL linear probe r, RNA-FM", "rnafm", "mrl", "pearson", 1.0, 0.20),
    PaperValue("MRL r, Saluki (supervised)", "saluki", "mrl", "pearson", 1.0, 0.52),
    PaperValue("HL fine-tuned IsoCLR vs Saluki at 10%: % lower test MSE", "isoclr_finetune", "halflife", "mse", 0.1, 9.2, "gain"),
    PaperValue("HL fine-tuned IsoCLR vs Saluki at 1%: % lower test MSE", "isoclr_finetune", "halflife", "mse", 0.01, 58.5, "gain"),
    PaperValue("HL random-init linear probe test MSE", "random", "halflife", "mse", 1.0, 1.51),
)


# ---------------------------------------------------------------------------------------------
# comparison with the paper
# ---------------------------------------------------------------------------------------------
def _values(metrics: pd.DataFrame, task: str, model: str, metric: str, fraction: float) -> pd.Series:
    """Test values per run of one cell (index: run)."""
    d = metrics.loc[
        (metrics["task"] == task) & (metrics["model"] == model) & (metrics["metric"] == metric)
        & np.isclose(metrics["fraction"].astype(float), fraction)
        & ((metrics["split"] == "test") if "split" in metrics else True)
    ]
    by = "run" if "run" in d else "fold"
    return d.set_index(by)["value"].astype(float)


def paper_comparison(
    metrics: pd.DataFrame,
    models: Mapping[str, str],
    tasks: Mapping[str, str],
    reference: Sequence[PaperValue] = PAPER_VALUES,
) -> pd.DataFrame:
    """One row per paper value: ours (mean over runs), its 95 % interval and ours - paper.

    ``models``: role (e.g. ``isoclr_medium``, ``saluki``) -> our model name in the metrics table;
    ``tasks``: task role (``halflife``, ``mrl``) -> our task name. A ``gain`` value is the
    per-run ``100 * (MSE_saluki - MSE_model) / MSE_saluki`` (runs paired), then summarised.
    """
    rows = []
    for p in reference:
        task, model = tasks.get(p.task_role), models.get(p.role)
        note = ""
        values = pd.Series(dtype=float)
        if task is None:
            note = f"no {p.task_role} task in this study"
        elif model is None:
            note = f"no model for {p.role} in this study"
        else:
            values = _values(metrics, task, model, p.metric, p.fraction)
            if p.kind == "gain":
                base = _values(metrics, task, models.get("saluki", "saluki"), p.metric, p.fraction)
                both = values.index.intersection(base.index)
                values = 100.0 * (base[both] - values[both]) / base[both]
            if values.empty:
                note = f"{model} on {task} at fraction {p.fraction:g} not evaluated"
        n, mean, _sd, lo, hi = interval(values.to_numpy())
        rows.append({
            "claim": p.claim, "task": task or "", "model": model or "", "metric": p.metric if p.kind == "metric" else "mse_gain_pct",
            "fraction": p.fraction, "paper": p.value, "ours": mean, "ci95_low": lo, "ci95_high": hi, "n_runs": n,
            "difference": mean - p.value, "note": note,
        })
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def _fmt(x: Any, digits: int = 3) -> str:
    if isinstance(x, float) and not math.isfinite(x):
        return ""
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def comparison_markdown(table: pd.DataFrame, study: str = "", note: str = "") -> str:
    """The comparison as a Markdown table (ours as ``mean [low, high]``)."""
    lines = [f"# Against the paper{f' ({study})' if study else ''}", ""]
    lines += [
        "Paper: Fradkin et al. 2023 (arXiv:2310.08738); values read off its figures (+-0.01) and text.",
        "Ours: mean over runs [95% interval of the mean]; difference = ours - paper.",
    ]
    if note:
        lines.append(note)
    lines += ["", "| claim | task | model | fraction | paper | ours [95% CI] | runs | difference | note |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        ours = _fmt(r.ours)
        if ours and _fmt(r.ci95_low):
            ours += f" [{_fmt(r.ci95_low)}, {_fmt(r.ci95_high)}]"
        lines.append(
            f"| {r.claim} | {r.task} | {r.model} | {r.fraction:g} | {_fmt(r.paper)} | {ours} | {r.n_runs} | "
            f"{_fmt(r.difference)} | {r.note} |"
        )
    return "\n".join(lines) + "\n"


def write_comparison_html(table: pd.DataFrame, out: str | os.PathLike[str], study: str = "", note: str = "") -> None:
    """The comparison as a filterable, sortable HTML page (the report's browsable table)."""
    from isoclr.tables.html import write_summary_html

    shown = table.copy()
    for col in ("paper", "ours", "ci95_low", "ci95_high", "difference"):
        shown[col] = [_fmt(float(v)) for v in shown[col]]
    shown["fraction"] = [f"{float(v):g}" for v in shown["fraction"]]
    text = ("Paper: Fradkin et al. 2023 (arXiv:2310.08738), values read off its figures (+-0.01) and text. "
            "Ours: mean over runs with the 95% interval of the mean (ci95_low, ci95_high); "
            "difference = ours - paper; an empty 'ours' means this study did not evaluate that claim (see note).")
    write_summary_html(shown, out, f"Against the paper{f' ({study})' if study else ''}",
                       f"{text} {note}".strip())


def write_tables(
    metrics_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    models: Mapping[str, str],
    tasks: Mapping[str, str],
    study: str = "",
    note: str = "",
) -> dict[str, Path]:
    """summary.tsv and paper_comparison.{tsv,md,html} from a metrics table."""
    metrics = pd.read_csv(metrics_path, sep="\t")
    need = {"task", "model", "fraction", "metric", "value", "n_train"}
    if not need <= set(metrics.columns):
        raise ValueError(f"{metrics_path}: line 1: metrics table lacks columns {sorted(need - set(metrics.columns))}")
    out = Path(out_dir)
    names = ("summary.tsv", "paper_comparison.tsv", "paper_comparison.md", "paper_comparison.html")
    paths = {name: out / name for name in names}
    comparison = paper_comparison(metrics, models, tasks)
    for name, table in (("summary.tsv", summarise(metrics)), ("paper_comparison.tsv", comparison)):
        with atomic_path(paths[name]) as tmp:
            table.to_csv(tmp, sep="\t", index=False, na_rep="NaN", float_format="%.6g")
    with atomic_path(paths["paper_comparison.md"]) as tmp:
        Path(tmp).write_text(comparison_markdown(comparison, study, note), encoding="utf-8")
    write_comparison_html(comparison, paths["paper_comparison.html"], study, note)
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths


def tables_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "tables",
               wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The pipeline's ``tables`` rule (plain values from ``workflow/scripts/tables.py``):
    ``params.settings`` is :class:`isoclr.config.settings.TablesSettings`."""
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "summarise the metrics over runs and set them beside the paper's values",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    s = params.settings
    write_tables(inputs.metrics, Path(outputs.summary).parent, s["models"], s["tasks"], s["study"], s["note"])


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics", required=True, help="results/<study>/metrics/metrics.tsv")
    parser.add_argument("--out-dir", required=True, help="folder for summary.tsv and paper_comparison.{tsv,md}")
    parser.add_argument("--config", help="pipeline config YAML (which of its models plays each paper model)")


def run(args: argparse.Namespace) -> int:
    from isoclr.evaluate.cli import _load_config
    from isoclr.config.settings import TablesSettings

    s = TablesSettings.from_config(_load_config(args.config))
    write_tables(args.metrics, args.out_dir, s.models, s.tasks, s.study, s.note)
    return 0
