"""The cost model on a synthetic throughput table: numbers by hand, sources of the set count."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from isoclr.cli import main
from isoclr.config import cost, load

COLS = ["size", "precision", "mode", "status", "nt_per_s", "device", "device_name"]


def _bench(path: Path, rows: list[list[object]]) -> Path:
    path.write_text("\t".join(COLS) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


#: a small study (one species); cost reads the schema-filled config, as every command does
BASE = {"study": "cost", "seed": 0, "results": "results/cost",
        "species": {"sp": {"genome": {"url": "file:g.fa.gz"}, "annotation": {"url": "file:a.gtf.gz"}}}}


def _filled(raw: dict) -> dict:
    return load.complete(load.deep_merge(BASE, raw))


RAW = {
    "splits": {"fractions": {"train": 0.5, "validation": 0.25, "test": 0.25}},
    "pretrain": {"gpus": 4, "models": {"m_small": {"size": "small"}, "m_medium": {"size": "medium"}}},
    "tasks": {"n_folds": 3, "fractions": [1.0, 0.5], "datasets": {"t1": {"kind": "halflife", "species": "sp"},
                                                                   "t2": {"kind": "go", "species": "sp"}}},
    "evaluation": {"isoclr_model": "m_small", "models": ["isoclr-linear", "isoclr-finetune", "supervised"],
                   "tasks": {"t1": None, "t2": ["isoclr-finetune"]}, "finetune": {"max_epochs": 10}},
    "figures": {"names": []},  # no t-SNE embeddings: the one linear probe's embedding only
}
CONFIG = _filled(RAW)


def test_plan_matches_hand_computation(tmp_path: Path) -> None:
    bench = _bench(tmp_path / "b.tsv", [
        ["small", "fp32", "eager", "ok", 1e6, "cuda", "GPU-X"],
        ["small", "bf16", "eager", "ok", 2e6, "cuda", "GPU-X"],
        ["small", "bf16", "compiled", "ok", 4e6, "cuda", "GPU-X"],
        ["medium", "bf16", "compiled", "out of memory", "", "cuda", "GPU-X"],
        ["medium", "bf16", "eager", "ok", 1e6, "cuda", "GPU-X"],
    ])
    rates = cost.read_bench([bench])
    assert {(r.size, r.nt_per_s) for r in rates} == {("small", 4e6), ("medium", 1e6)}
    rows = {r["job"]: r for r in cost.plan(CONFIG, rates, n_train_sets=1000, epochs=10, mean_length=100,
                                            scaling=0.5, task_rows={"t1": 300, "t2": 600})}
    nt = 10 * 1000 * 2 * 100  # epochs x sets x views x length
    assert rows["pretrain m_small"]["wall_h"] == pytest.approx(nt / (4e6 * 4 * 0.5) / 3600)
    assert rows["pretrain m_small"]["device_h"] == pytest.approx(4 * nt / (4e6 * 4 * 0.5) / 3600)
    assert rows["pretrain m_medium"]["wall_h"] == pytest.approx(nt / (1e6 * 4 * 0.5) / 3600)
    # fine-tune jobs: t1 (2 training models) + t2 (1), 2 fractions, 3 folds each
    ft = rows["evaluation: fine-tune + supervised jobs"]
    assert ft["jobs"] == 3 * 2 * 3
    ft_nt = 3 * 10 * (2 * 300 + 600) * (1.0 + 0.5) * (1 / 3) * 100  # trains on n_folds - 2 of 3 folds
    assert ft["device_h"] == pytest.approx(ft_nt / 4e6 / 3600)
    assert ft["wall_h"] == pytest.approx(ft["device_h"] / 4)
    probe = rows["evaluation: linear-probe embeddings"]
    assert probe["jobs"] == 1 and probe["device_h"] == pytest.approx(300 * 100 / (3 * 4e6) / 3600)


def test_unmeasured_size_and_missing_task_count(tmp_path: Path) -> None:
    bench = _bench(tmp_path / "b.tsv", [["small", "fp32", "eager", "ok", 1e5, "cpu", "CPU-Y"]])
    rows = cost.plan(CONFIG, cost.read_bench([bench]), 10, task_rows={"t1": 1, "t2": 1})
    medium = next(r for r in rows if r["job"] == "pretrain m_medium")
    assert medium["rate"] == "not measured" and math.isnan(medium["wall_h"])
    with pytest.raises(ValueError, match="t1"):
        cost.plan(CONFIG, cost.read_bench([bench]), 10, task_rows={})
    with pytest.raises(ValueError, match="no measured"):
        cost.read_bench([_bench(tmp_path / "c.tsv", [["small", "fp32", "eager", "skipped", "", "cpu", "C"]])])


def test_train_sets_sources(tmp_path: Path) -> None:
    stats = tmp_path / "sets.stats.tsv"
    stats.write_text("section\tkey\tvalue\ntotals\tsets\t412\n")
    summary = tmp_path / "summary.tsv"
    summary.write_text("split\ttarget\tsets\ntrain\t0.8\t329\nvalidation\t0.1\t27\n")
    assert cost.train_sets(CONFIG, str(stats), str(summary))[0] == 329
    assert cost.train_sets(CONFIG, str(stats))[0] == 206  # 412 x 0.5
    n, source = cost.train_sets(CONFIG)
    assert n == cost.PAPER_TRAIN_SETS_ESTIMATE and "ESTIMATE" in source


def test_cli_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    bench = _bench(tmp_path / "b.tsv", [["small", "bf16", "eager", "ok", 2e6, "cuda", "GPU-X"]])
    assert main(["cost", "--config", str(cfg), "--bench", str(bench), "--task-rows", "t1=300",
                 "--task-rows", "t2=600", "--out", str(tmp_path / "cost.md")]) == 0
    out = capsys.readouterr().out
    assert "pretrain m_small" in out and "GPU-X" in out and (tmp_path / "cost.md").exists()


def test_each_model_its_own_pretraining_length(tmp_path: Path) -> None:
    """epochs=None: a model's `epochs` x training sets, or its `steps` x batch, as the job does."""
    bench = _bench(tmp_path / "b.tsv", [["small", "bf16", "eager", "ok", 1e6, "cuda", "GPU-X"]])
    cfg = _filled({**RAW, "pretrain": {"gpus": 1, "models": {
        "by_epochs": {"size": "small", "epochs": 5, "batch_size": 10},
        "by_steps": {"size": "small", "steps": 7, "batch_size": 10, "epochs": 99}}},
        "evaluation": {**RAW["evaluation"], "isoclr_model": "by_epochs"}})
    rows = {r["job"]: r for r in cost.plan(cfg, cost.read_bench([bench]), 1000, mean_length=100, task_rows={"t1": 3, "t2": 3})}
    assert rows["pretrain by_epochs"]["nucleotides"] == 5 * 1000 * 2 * 100
    assert rows["pretrain by_steps"]["nucleotides"] == 7 * 10 * 2 * 100  # steps win over epochs
