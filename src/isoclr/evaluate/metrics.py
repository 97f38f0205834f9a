"""Evaluation metrics, as named in ``results/metrics/metrics.tsv`` (docs/interfaces.md).

Regression (half-life, ribosome load): ``mse``, ``pearson``, ``spearman``.
Multi-label (Gene Ontology): ``auroc_macro``, ``auroc_micro``, ``auprc_macro``, ``auprc_micro``.

Edge cases, decided once here so every model is scored the same way:

* A **constant prediction** (or a constant target) has no correlation: ``pearson`` and
  ``spearman`` are NaN (not 0, not an exception); ``mse`` is still defined. NaN rows stay in
  the metrics table so a degenerate model is visible; summaries use ``nanmean``.
* **Multi-label macro averages** are taken over the labels that have both classes in the test
  set; a label whose test rows are all positive or all negative has no AUROC/AUPRC and is
  skipped (and logged). When no label qualifies the macro values are NaN.
* **Micro averages** pool every (row, label) pair of all labels (scikit-learn's
  ``average="micro"``); they are NaN only when the pooled labels hold a single class.
* AUPRC is average precision (step-wise area, scikit-learn ``average_precision_score``), not
  the trapezoidal area under the PR curve, which is optimistic.

Only NumPy, SciPy and scikit-learn are used (no torch), so probe jobs stay light.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import numpy.typing as npt
import pandas as pd

log = logging.getLogger(__name__)

REGRESSION_METRICS = ("mse", "pearson", "spearman")
MULTILABEL_METRICS = ("auroc_macro", "auroc_micro", "auprc_macro", "auprc_micro")


def _as_1d(a: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    return arr


def _correlation(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], rank: bool) -> float:
    """Pearson (or Spearman with ``rank``) r; NaN when either side is constant or n < 2."""
    from scipy import stats

    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = stats.spearmanr(x, y)[0] if rank else stats.pearsonr(x, y)[0]
    return float(r)


def regression_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> dict[str, float]:
    """MSE, Pearson r and Spearman rho of predictions against targets (see module doc)."""
    t = _as_1d(y_true, "y_true")
    p = _as_1d(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} rows but y_pred has {p.shape[0]}")
    if t.size == 0:
        raise ValueError("regression_metrics: no test rows")
    if not np.all(np.isfinite(p)):
        raise ValueError("regression_metrics: predictions contain NaN or infinity")
    return {
        "mse": float(np.mean((t - p) ** 2)),
        "pearson": _correlation(t, p, rank=False),
        "spearman": _correlation(t, p, rank=True),
    }


def multilabel_metrics(
    y_true: npt.ArrayLike, scores: npt.ArrayLike, label_names: list[str] | None = None
) -> dict[str, float]:
    """Macro and micro AUROC and AUPRC of scores (N, K) against 0/1 labels (N, K)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    t = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if t.ndim != 2 or s.shape != t.shape:
        raise ValueError(f"multilabel_metrics: y_true {t.shape} and scores {s.shape} must both be (N, K)")
    if t.shape[0] == 0:
        raise ValueError("multilabel_metrics: no test rows")
    if not np.all(np.isfinite(s)):
        raise ValueError("multilabel_metrics: scores contain NaN or infinity")
    t = (t > 0).astype(np.int64)
    pos = t.sum(axis=0)
    usable = (pos > 0) & (pos < t.shape[0])
    if not usable.all():
        names = label_names or [str(k) for k in range(t.shape[1])]
        skipped = [names[k] for k in np.nonzero(~usable)[0]]
        log.info("skipping %d label(s) with a single class in the test set: %s", len(skipped), skipped)
    out: dict[str, float] = {}
    if usable.any():
        out["auroc_macro"] = float(np.mean([roc_auc_score(t[:, k], s[:, k]) for k in np.nonzero(usable)[0]]))
        out["auprc_macro"] = float(
            np.mean([average_precision_score(t[:, k], s[:, k]) for k in np.nonzero(usable)[0]])
        )
    else:
        out["auroc_macro"] = out["auprc_macro"] = float("nan")
    flat_t, flat_s = t.ravel(), s.ravel()
    if 0 < flat_t.sum() < flat_t.size:
        out["auroc_micro"] = float(roc_auc_score(flat_t, flat_s))
        out["auprc_micro"] = float(average_precision_score(flat_t, flat_s))
    else:
        out["auroc_micro"] = out["auprc_micro"] = float("nan")
    return {k: out[k] for k in MULTILABEL_METRICS}


def compute_metrics(
    kind: str, y_true: npt.ArrayLike, y_pred: npt.ArrayLike, label_names: list[str] | None = None
) -> dict[str, float]:
    """Metrics for a task ``kind`` (``regression`` or ``multilabel``), in contract order."""
    if kind == "regression":
        return regression_metrics(y_true, y_pred)
    if kind == "multilabel":
        return multilabel_metrics(y_true, y_pred, label_names)
    raise ValueError(f"unknown task kind {kind!r} (expected 'regression' or 'multilabel')")


# ---------------------------------------------------------------------------------------------
# summaries over runs (the metrics page, the study tables and the figures all use these)
# ---------------------------------------------------------------------------------------------
#: what a summary row is over: every run of one task, model, training fraction, split and metric
SUMMARY_KEYS = ["task", "model", "fraction", "split", "metric"]
SUMMARY_COLUMNS = SUMMARY_KEYS + ["n_runs", "mean", "sd", "ci95_low", "ci95_high", "n_train", "min_train_applied"]


def interval(values: npt.ArrayLike, ci: bool = True) -> tuple[int, float, float, float, float]:
    """(n, mean, SD, 95 % CI low, high) of the finite ``values``: SD with ddof 1, the interval
    ``mean +- t(0.975, n-1) * SD / sqrt(n)`` (Student t); SD and CI NaN with one value, the CI
    NaN too without ``ci``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(v.mean())
    if n == 1:
        return 1, mean, math.nan, math.nan, math.nan
    sd = float(v.std(ddof=1))
    if not ci:
        return n, mean, sd, math.nan, math.nan
    from scipy import stats

    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return n, mean, sd, mean - half, mean + half


def summarise(metrics: pd.DataFrame, ci: bool = True) -> pd.DataFrame:
    """Per task, model, fraction, split and metric (:data:`SUMMARY_KEYS`) over the runs: their
    number, mean, SD, 95 % interval of the mean (:func:`interval`), the training rows (median
    over runs) and whether ``min_train`` lifted the fraction in any run (:data:`SUMMARY_COLUMNS`).
    A table without ``split`` is the test split."""
    if metrics.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    flags = metrics["min_train_applied"] if "min_train_applied" in metrics else pd.Series(False, index=metrics.index)
    m = metrics.assign(
        split=metrics.get("split", "test"),
        value=pd.to_numeric(metrics["value"], errors="coerce"),
        n_train=pd.to_numeric(metrics["n_train"], errors="coerce") if "n_train" in metrics else np.nan,
        min_train_applied=flags.astype(str).str.lower().isin(["true", "1"]),
    )
    rows = []
    for key, d in m.groupby(SUMMARY_KEYS, sort=True):
        n, mean, sd, lo, hi = interval(d["value"].to_numpy(), ci=ci)
        rows.append((*key, n, mean, sd, lo, hi, float(d["n_train"].median()), bool(d["min_train_applied"].any())))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
