"""Pre-training proofs: exact kill-and-resume, NaN stop, refused resume, clear data errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from isoclr import pretrain as P
from isoclr.model import load_encoder
from isoclr.simulate import SimConfig, write_simulation

SHORT = dict(first_exon=(80, 120), last_exon=(120, 180), exon_length=(45, 90), exons_min=3, exons_max=4,
             utr5=(20, 40), utr3_min=30, motif_copies=1)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("sim")
    return write_simulation(SimConfig(seed=5, n_families=48, **SHORT), out)


def _cfg(sim: dict, **over) -> dict:
    cfg = {
        "objective": "dcl", "size": "tiny", "batch_size": 8, "steps": 10, "warmup_steps": 2, "lr": 3e-3,
        "num_workers": 0, "log_every": 2, "val_every": 5, "val_batches": 1, "checkpoint_every": 4,
        "threads": 1, "seed": 11, "sets": str(sim["sets"]), "splits": str(sim["splits"]),
    }
    cfg.update(over)
    return cfg


def _write(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "isoclr.cli", "pretrain", *args], capture_output=True, text=True, env=env)


def _states(path: Path) -> dict[str, torch.Tensor]:
    ck = torch.load(path, map_location="cpu", weights_only=True)
    out = {f"encoder.{k}": v for k, v in ck["encoder"].items()}
    for part in ("projector", "mlm_head"):
        out.update({f"{part}.{k}": v for k, v in (ck.get(part) or {}).items()})
    for i, st in ck["optimizer"]["state"].items():
        out.update({f"opt.{i}.{k}": v for k, v in st.items() if torch.is_tensor(v)})
    return out


@pytest.mark.slow
def test_sigkill_and_resume_matches_an_uninterrupted_run(sim: dict, tmp_path: Path) -> None:
    cfg = _cfg(sim)
    plain = _write(tmp_path / "plain.yaml", cfg)
    killer = _write(tmp_path / "kill.yaml", {**cfg, "testing": {"kill_at_step": 7}})
    r = _cli("--config", str(plain), "--out", str(tmp_path / "straight"))
    assert r.returncode == 0, r.stderr
    r = _cli("--config", str(killer), "--out", str(tmp_path / "resumed"))
    assert r.returncode == -9  # SIGKILL after step 7: checkpoint of step 4 on disk, steps 5-7 lost
    ckpts = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir())
    assert ckpts == ["step_0000004.pt"] and not (tmp_path / "resumed" / "checkpoint.pt").exists()
    r = _cli("--config", str(plain), "--out", str(tmp_path / "resumed"), "--resume")
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stderr and "at step 4" in r.stderr
    a, b = _states(tmp_path / "straight" / "checkpoint.pt"), _states(tmp_path / "resumed" / "checkpoint.pt")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    # metrics.csv holds each step once after the resume; outputs per contract
    steps = [int(line.split(",")[0]) for line in (tmp_path / "resumed" / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == 10
    for name in ("config.yaml", "curves.pdf", "curves.png"):
        assert (tmp_path / "resumed" / name).stat().st_size > 0
    enc, info = load_encoder(tmp_path / "resumed" / "checkpoint.pt")
    assert info["objective"] == "dcl" and info["step"] == 10
    assert enc(torch.zeros(2, 6, 64), torch.tensor([64, 40])).shape == (2, enc.out_dim)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(sim: dict, tmp_path: Path) -> None:
    out = tmp_path / "run"
    _, cfg = P.resolve(_cfg(sim, steps=8, val_every=100, testing={"nan_at_step": 6}))
    with pytest.raises(P.NonFiniteLossError, match=r"non-finite training loss .* at step 6 .*step_0000004\.pt"):
        P.pretrain(cfg, out)
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step_0000004.pt"]
    assert not (out / "checkpoint.pt").exists()
    ck = torch.load(out / "checkpoints" / "step_0000004.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in ck["encoder"].values() if v.is_floating_point())
    assert ck["set_weight_norm"] > 0
    # resuming with a different architecture is refused, naming the difference
    _, other = P.resolve(_cfg(sim, steps=8, widths=[16, 32, 32, 48]))
    with pytest.raises(ValueError, match=r"refusing to resume.*widths: checkpoint \[16, 32, 32, 64\] vs config \[16, 32, 32, 48\]"):
        P.pretrain(other, out, resume=True)
    _, mlm = P.resolve(_cfg(sim, steps=8, objective="mlm"))
    with pytest.raises(ValueError, match="objective: checkpoint 'dcl' vs config 'mlm'"):
        P.pretrain(mlm, out, resume=True)


def test_empty_validation_split_is_a_clear_error(sim: dict, tmp_path: Path) -> None:
    splits = tmp_path / "splits.tsv"
    lines = Path(sim["splits"]).read_text().splitlines()
    splits.write_text("\n".join([lines[0]] + [ln.replace("validation", "train") for ln in lines[1:]]) + "\n")
    _, cfg = P.resolve(_cfg(sim, splits=str(splits)))
    with pytest.raises(ValueError, match=r"splits\.tsv: the 'validation' split is empty"):
        P.pretrain(cfg, tmp_path / "run")


def test_no_multi_transcript_sets_is_a_clear_error(sim: dict, tmp_path: Path) -> None:
    # A sets file (contract layout) where every set is one transcript of the first store.
    with h5py.File(sim["sets"], "r") as f:
        species, stores = list(f.attrs["species"]), list(f.attrs["stores"])
    n = 40
    sets = tmp_path / "sets.h5"
    with h5py.File(sets, "w") as f:
        f.attrs["species"], f.attrs["stores"] = species, stores
        f["members/species"] = np.zeros(n, np.int16)
        f["members/transcript"] = np.arange(n, dtype=np.int32)
        f["sets/offset"] = np.arange(n + 1, dtype=np.int64)
    splits = tmp_path / "splits.tsv"
    splits.write_text("set_id\tsplit\n" + "".join(f"{i}\t{'train' if i < 30 else 'validation'}\n" for i in range(n)))
    _, cfg = P.resolve(_cfg(sim, sets=str(sets), splits=str(splits)))
    with pytest.raises(ValueError, match="no training set has more than one transcript"):
        P.pretrain(cfg, tmp_path / "run")
    r = _cli("--config", str(_write(tmp_path / "c.yaml", _cfg(sim, sets=str(sets), splits=str(splits)))),
             "--out", str(tmp_path / "run2"))
    assert r.returncode == 1 and "error: " in r.stderr and "more than one transcript" in r.stderr


@pytest.mark.parametrize("objective", ["ntxent", "mlm"])
def test_other_objectives_train(sim: dict, tmp_path: Path, objective: str) -> None:
    _, cfg = P.resolve(_cfg(sim, objective=objective, steps=2, val_every=2, checkpoint_every=2))
    ck = P.pretrain(cfg, tmp_path / objective)
    enc, info = load_encoder(ck)
    assert info["objective"] == objective
    saved = torch.load(ck, weights_only=True)
    assert (saved["mlm_head"] is not None) == (objective == "mlm")


@pytest.mark.parametrize("objective", ["dcl", "mlm"])
def test_length_groups_train_like_one_padded_tensor(sim: dict, tmp_path: Path, objective: str) -> None:
    """Padding a batch as length groups changes the cost, not the training: with dropout off,
    three steps give the same losses and weights as one padded tensor per batch."""
    runs = {}
    for groups in (1, 4):
        _, cfg = P.resolve(_cfg(sim, objective=objective, steps=3, val_every=100, checkpoint_every=100, log_every=1,
                                dropout=0.0, length_groups=groups))
        runs[groups] = P.pretrain(cfg, tmp_path / f"g{groups}")
    one, four = _states(runs[1]), _states(runs[4])
    for key in one:  # float32 round-off only (summation order); a wrong row order is O(lr)
        torch.testing.assert_close(four[key], one[key], rtol=1e-3, atol=2e-4, msg=key)
    m1 = np.genfromtxt(tmp_path / "g1" / "metrics.csv", delimiter=",", names=True)
    m4 = np.genfromtxt(tmp_path / "g4" / "metrics.csv", delimiter=",", names=True)
    np.testing.assert_allclose(m4["loss"], m1["loss"], rtol=2e-5)
    assert np.all(m4["padding"] < m1["padding"])


def test_metrics_go_to_csv_and_tensorboard(sim: dict, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard not installed (scripts/setup.sh installs it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, cfg = P.resolve(_cfg(sim, steps=4, log_every=2, val_every=4, checkpoint_every=4))
    P.pretrain(cfg, tmp_path / "run")
    csv = np.genfromtxt(tmp_path / "run" / "metrics.csv", delimiter=",", names=True)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert {"loss", "lr", "padding", "val_loss", "val_alignment", "val_uniformity"} <= set(events.Tags()["scalars"])
    logged = {e.step: e.value for e in events.Scalars("loss")}
    assert sorted(logged) == [2, 4]
    np.testing.assert_allclose([logged[s] for s in (2, 4)], csv["loss"][~np.isnan(csv["loss"])], rtol=1e-6)
    assert (tmp_path / "run" / "curves.png").stat().st_size > 0


def test_schedule_shapes() -> None:
    s = P.Schedule("sqrt", total=100, warmup=10, steps_per_epoch=10, decay_fraction=0.2, min_ratio=0)
    assert s(0) == pytest.approx(0.1) and s(9) == pytest.approx(1.0)
    assert s(30) == pytest.approx(1 / np.sqrt(3))  # two epochs after the warm-up
    assert s(99) < 0.02 and s(100) == 0.0
    c = P.Schedule("cosine", total=100, warmup=10, steps_per_epoch=10, decay_fraction=0.1, min_ratio=0.1)
    assert c(10) == pytest.approx(1.0) and c(100) == pytest.approx(0.1)


def test_pipeline_config_resolution(tmp_path: Path) -> None:
    conf = {"seed": 7, "results": "res", "pretrain": {"models": {"a": {"size": "tiny", "lr": 0.01}, "b": {"objective": "mlm"}}}}
    with pytest.raises(ValueError, match="pick one with --model"):
        P.resolve(conf)
    name, cfg = P.resolve(conf, "a")
    assert name == "a" and cfg["seed"] == 7 and cfg["lr"] == 0.01 and cfg["sets"] == os.path.join("res", "homology", "sets.h5")
    assert cfg["model"]["widths"] == [16, 32, 32, 64]
    with pytest.raises(ValueError, match="unknown key"):
        P.resolve({"pretrain": {"models": {"a": {"lrr": 1}}}})
