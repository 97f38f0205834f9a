"""Linear probes on frozen embeddings (scikit-learn only: this module never imports torch).

* Regression: features standardised on the training rows, then ``RidgeCV`` over
  ``alphas`` (config ``evaluation.probe.alphas``: 1e-3 ... 1e5 by default, config/schema.yaml)
  with its efficient leave-one-out criterion on the training rows. The validation rows are not
  needed for ridge and stay unused, so every model sees exactly the same training rows.
* Multi-label (GO): one logistic regression per label (one-vs-rest), L2, ``lbfgs``; the inverse
  regularisation ``C`` is chosen per label from ``Cs`` (``evaluation.probe.Cs``: 1e-5 ... 10 by
  default) by the log-loss on the validation rows,
  and that fit predicts the test rows. A label with a single class among the training rows
  cannot be fitted; it predicts its training prevalence (a constant) and is logged.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

DEFAULT_ALPHAS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
DEFAULT_CS: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


@dataclass
class ProbeResult:
    """Test predictions of a probe and what was chosen on the way."""

    predictions: npt.NDArray[np.float64]
    chosen: dict[str, object] = field(default_factory=dict)


def standardise(
    train: npt.NDArray[np.floating], *others: npt.NDArray[np.floating]
) -> list[npt.NDArray[np.float64]]:
    """Centre and scale every array with the mean and std of ``train`` (constant columns: std 1)."""
    train = np.asarray(train, dtype=np.float64)
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[~np.isfinite(std) | (std == 0)] = 1.0
    return [(np.asarray(a, dtype=np.float64) - mean) / std for a in (train, *others)]


def warn_at_edge(name: str, chosen: Sequence[float], grid: Sequence[float]) -> bool:
    """Log a warning when a chosen regularisation value is the grid's smallest or largest (the
    best value may lie outside the grid: widen ``evaluation.probe``); True if one was."""
    if len(grid) < 2 or not chosen:
        return False
    lo, hi = min(grid), max(grid)
    edge = [c for c in chosen if c in (lo, hi)]
    if edge:
        log.warning("probe %s at the edge of its grid (%g..%g) for %d of %d fits: the best value may lie "
                    "outside it; widen evaluation.probe.%s", name, lo, hi, len(edge), len(chosen),
                    "alphas" if name == "alpha" else "Cs")
    return bool(edge)


def ridge_probe(
    x_train: npt.NDArray[np.floating],
    y_train: npt.NDArray[np.floating],
    x_test: npt.NDArray[np.floating],
    alphas: Sequence[float] = DEFAULT_ALPHAS,
) -> ProbeResult:
    """Standardise, fit ``RidgeCV`` on the training rows, predict the test rows."""
    from sklearn.linear_model import RidgeCV

    xtr, xte = standardise(x_train, x_test)
    model = RidgeCV(alphas=np.asarray(alphas, dtype=np.float64))
    model.fit(xtr, np.asarray(y_train, dtype=np.float64))
    warn_at_edge("alpha", [float(model.alpha_)], alphas)
    return ProbeResult(model.predict(xte), {"alpha": float(model.alpha_)})


def logistic_probe(
    x_train: npt.NDArray[np.floating],
    y_train: npt.NDArray[np.integer],
    x_val: npt.NDArray[np.floating],
    y_val: npt.NDArray[np.integer],
    x_test: npt.NDArray[np.floating],
    cs: Sequence[float] = DEFAULT_CS,
    max_iter: int = 1000,
) -> ProbeResult:
    """One-vs-rest logistic regression, C per label chosen on the validation rows (log-loss)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    xtr, xva, xte = standardise(x_train, x_val, x_test)
    ytr = (np.asarray(y_train) > 0).astype(np.int64)
    yva = (np.asarray(y_val) > 0).astype(np.int64)
    if ytr.ndim != 2:
        raise ValueError(f"logistic_probe: y_train must be (N, K), got {ytr.shape}")
    n_labels = ytr.shape[1]
    pred = np.empty((xte.shape[0], n_labels), dtype=np.float64)
    chosen_c: list[float | None] = []
    for k in range(n_labels):
        npos = int(ytr[:, k].sum())
        if npos in (0, ytr.shape[0]):
            log.info("label %d has a single class among %d training rows: constant score", k, len(ytr))
            pred[:, k] = npos / max(len(ytr), 1)
            chosen_c.append(None)
            continue
        best: tuple[float, float, npt.NDArray[np.float64]] | None = None
        for c in cs:
            model = LogisticRegression(C=float(c), max_iter=max_iter)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence warnings on tiny data
                model.fit(xtr, ytr[:, k])
            if len(yva):
                loss = float(log_loss(yva[:, k], model.predict_proba(xva)[:, 1], labels=[0, 1]))
            else:
                loss = 0.0  # no validation rows: the first C (strongest regularisation) wins
            if best is None or loss < best[0] - 1e-12:
                best = (loss, float(c), model.predict_proba(xte)[:, 1])
        assert best is not None
        pred[:, k] = best[2]
        chosen_c.append(best[1])
    warn_at_edge("C", [c for c in chosen_c if c is not None], cs)
    return ProbeResult(pred, {"C": chosen_c})


def linear_probe(
    kind: str,
    h: npt.NDArray[np.floating],
    y: npt.NDArray,
    train_idx: npt.NDArray[np.integer],
    val_idx: npt.NDArray[np.integer],
    test_idx: npt.NDArray[np.integer],
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    cs: Sequence[float] = DEFAULT_CS,
) -> ProbeResult:
    """The probe for a task ``kind`` on embeddings ``h`` (N, D) and one split's row indices."""
    if len(train_idx) == 0 or len(test_idx) == 0:
        raise ValueError(f"linear_probe: empty split ({len(train_idx)} train, {len(test_idx)} test rows)")
    if kind == "regression":
        return ridge_probe(h[train_idx], y[train_idx], h[test_idx], alphas)
    if kind == "multilabel":
        return logistic_probe(h[train_idx], y[train_idx], h[val_idx], y[val_idx], h[test_idx], cs)
    raise ValueError(f"unknown task kind {kind!r} (expected 'regression' or 'multilabel')")
