"""Folds as the paper's sources use them (issue 10, item 1): 10 homology-aware folds, run r tests
on fold r, validates on r+1 and trains on the other 8 (~80 % of the labelled genes); nested
fractions of that training set; n_train and min_train_applied recorded on every metrics row;
the number of runs evaluated comes from config (evaluation.runs)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from isoclr.config import study as S
from isoclr.config.base import ConfigError
from isoclr.config.load import load_config
from isoclr.tasks import build as T

ROOT = Path(__file__).resolve().parents[1]
FRACTIONS = [1.0, 0.5, 0.3, 0.1, 0.01, 0.005]


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> tuple[T.TaskData, np.ndarray]:
    rng = np.random.default_rng(3)
    # 2,000 genes in homology groups of 1..6 genes (as orthologs/paralogs joined by symbol)
    sizes = rng.integers(1, 7, size=700)
    groups = np.repeat(np.arange(len(sizes)), sizes)[:2000]
    n = len(groups)
    data = T.write_task(
        tmp_path_factory.mktemp("folds") / "t.h5", task="t", species="human", kind="regression",
        label_names=["y"], store="s.h5", transcript=np.arange(n), transcript_id=[f"t{i}" for i in range(n)],
        gene_id=[f"g{i}" for i in range(n)], y=rng.normal(size=n), group=groups, n_folds=10,
        fractions=FRACTIONS, seed=11, min_train=50, report=T.JoinReport("t"),
    )
    return data, groups


def test_ten_folds_train_on_eight_no_group_straddles(task: tuple[T.TaskData, np.ndarray]) -> None:
    data, groups = task
    n = len(data)
    assert data.n_folds == 10 and {int(k) for k in data.fold} == set(range(10))
    for run in range(10):
        tr, va, te = data.split(run, 1.0)
        assert np.array_equal(te, np.flatnonzero(data.fold == run))
        assert np.array_equal(va, np.flatnonzero(data.fold == (run + 1) % 10))
        assert len(tr) + len(va) + len(te) == n  # the other 8 folds train
        assert 0.77 <= len(tr) / n <= 0.83  # ~80 % of the labelled genes train at fraction 1.0
        for a, b in ((tr, va), (tr, te), (va, te)):
            assert not set(groups[a]) & set(groups[b])  # no homology group straddles two parts


def test_fractions_nested_and_min_train_marked(task: tuple[T.TaskData, np.ndarray]) -> None:
    data, _ = task
    for run in range(3):
        full = len(data.split(run, 1.0)[0])
        prev: set[int] | None = None
        for f in FRACTIONS:
            tr = data.split(run, f)[0]
            info = data.train_info(run, f)
            assert info["n_train"] == len(tr) and info["n_train_full"] == full
            if prev is not None:
                assert set(tr.tolist()) <= prev
            prev = set(tr.tolist())
            lifted = round(f * full) < 50
            assert info["min_train_applied"] is lifted  # 0.01 and 0.005 of ~1,600 rows: < 50 rows
            assert len(tr) == (50 if lifted else round(f * full))
    assert T.n_train_rows(1600, 0.01, 50) == 50 and T.n_train_rows(1600, 0.1, 50) == 160


def test_runs_choose_the_test_folds() -> None:
    demo = load_config([])
    paper = load_config([ROOT / "config" / "paper.yaml"])
    assert paper["tasks"]["n_folds"] == 10 and S.eval_folds(paper) == [0, 1, 2]
    assert S.eval_folds(demo) == [0, 1, 2]
    cfg = copy.deepcopy(paper)
    cfg["evaluation"]["runs"] = 5
    assert S.eval_folds(cfg) == [0, 1, 2, 3, 4]
    assert {job[3] for job in S.eval_jobs(cfg)} == {0, 1, 2, 3, 4}
    assert load_config([ROOT / "config" / "paper.yaml"])["evaluation"]["runs"] == 3  # the default: three runs
    cfg["evaluation"]["runs"] = 11
    with pytest.raises(ConfigError, match="evaluation.runs"):
        S.eval_folds(cfg)
    cfg["evaluation"]["folds"] = [4, 10]
    with pytest.raises(ConfigError, match="evaluation.folds"):
        S.eval_folds(cfg)
    cfg["evaluation"]["folds"] = [7]
    assert S.eval_folds(cfg) == [7]
