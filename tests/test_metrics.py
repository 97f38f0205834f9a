"""isoclr.evaluate.metrics against scikit-learn / SciPy on known inputs, and the documented edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, mean_squared_error, roc_auc_score

from isoclr.evaluate.metrics import (
    MULTILABEL_METRICS,
    REGRESSION_METRICS,
    compute_metrics,
    multilabel_metrics,
    regression_metrics,
)


def test_regression_hand_computed():
    m = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0])
    assert list(m) == list(REGRESSION_METRICS)
    assert m["mse"] == pytest.approx(0.25)
    assert m["spearman"] == pytest.approx(1.0)
    # Pearson of (1,2,3,4) vs (1,2,3,5) by hand: cov / (sd_x sd_y)
    x, y = np.array([1, 2, 3, 4.0]), np.array([1, 2, 3, 5.0])
    r = ((x - x.mean()) * (y - y.mean())).sum() / math.sqrt(((x - x.mean()) ** 2).sum() * ((y - y.mean()) ** 2).sum())
    assert m["pearson"] == pytest.approx(r)


def test_regression_matches_scipy_sklearn():
    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    p = 0.6 * t + rng.normal(size=200)
    p[:10] = p[10]  # ties for Spearman
    m = regression_metrics(t, p)
    assert m["mse"] == pytest.approx(mean_squared_error(t, p))
    assert m["pearson"] == pytest.approx(stats.pearsonr(t, p)[0])
    assert m["spearman"] == pytest.approx(stats.spearmanr(t, p)[0])
    # (N, 1) column vectors are accepted
    assert regression_metrics(t[:, None], p[:, None]) == pytest.approx(m)


def test_constant_prediction_gives_nan_correlation_not_error():
    m = regression_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert m["mse"] == pytest.approx(2 / 3)
    assert math.isnan(m["pearson"]) and math.isnan(m["spearman"])
    m = regression_metrics([5.0, 5.0, 5.0], [1.0, 2.0, 3.0])  # constant target
    assert math.isnan(m["pearson"])
    m = regression_metrics([1.0], [1.5])  # one test row
    assert m["mse"] == pytest.approx(0.25) and math.isnan(m["pearson"])


def test_regression_rejects_bad_input():
    with pytest.raises(ValueError, match="rows"):
        regression_metrics([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        regression_metrics([1.0, 2.0], [1.0, float("nan")])
    with pytest.raises(ValueError, match="no test rows"):
        regression_metrics([], [])


def test_multilabel_matches_sklearn():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 5)) < [0.1, 0.3, 0.5, 0.2, 0.05]).astype(np.uint8)
    s = y * rng.random((300, 5)) + rng.random((300, 5))
    m = multilabel_metrics(y, s)
    assert list(m) == list(MULTILABEL_METRICS)
    assert m["auroc_macro"] == pytest.approx(roc_auc_score(y, s, average="macro"))
    assert m["auroc_micro"] == pytest.approx(roc_auc_score(y, s, average="micro"))
    assert m["auprc_macro"] == pytest.approx(average_precision_score(y, s, average="macro"))
    assert m["auprc_micro"] == pytest.approx(average_precision_score(y, s, average="micro"))


def test_multilabel_perfect_and_inverted():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    assert multilabel_metrics(y, y.astype(float))["auroc_macro"] == pytest.approx(1.0)
    assert multilabel_metrics(y, 1.0 - y)["auroc_macro"] == pytest.approx(0.0)
    assert multilabel_metrics(y, y.astype(float))["auprc_micro"] == pytest.approx(1.0)


def test_multilabel_skips_single_class_labels_in_macro_only():
    rng = np.random.default_rng(2)
    y = (rng.random((50, 3)) < 0.4).astype(np.uint8)
    y[:, 1] = 0  # no positive test row: AUROC undefined for label 1
    s = rng.random((50, 3))
    m = multilabel_metrics(y, s)
    keep = [0, 2]
    assert m["auroc_macro"] == pytest.approx(roc_auc_score(y[:, keep], s[:, keep], average="macro"))
    assert m["auprc_macro"] == pytest.approx(average_precision_score(y[:, keep], s[:, keep], average="macro"))
    # micro pools every (row, label) pair of all labels, the skipped one included
    assert m["auroc_micro"] == pytest.approx(roc_auc_score(y.ravel(), s.ravel()))
    y[:, 0] = 1  # all positive: skipped too
    m = multilabel_metrics(y, s)
    assert m["auroc_macro"] == pytest.approx(roc_auc_score(y[:, 2], s[:, 2]))


def test_multilabel_all_labels_single_class_gives_nan():
    y = np.zeros((4, 2), dtype=np.uint8)
    m = multilabel_metrics(y, np.random.default_rng(0).random((4, 2)))
    assert all(math.isnan(v) for v in m.values())


def test_multilabel_rejects_bad_shapes_and_dispatch():
    with pytest.raises(ValueError, match="must both be"):
        multilabel_metrics(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="unknown task kind"):
        compute_metrics("ranking", [1.0], [1.0])
    assert list(compute_metrics("regression", [1.0, 2.0], [1.0, 2.0])) == list(REGRESSION_METRICS)
