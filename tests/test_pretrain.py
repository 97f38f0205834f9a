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

from isoclr.pretrain import loop as P
from isoclr.pretrain.model import load_encoder
from isoclr.pretrain.monitor import NonFiniteLossError
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


def _run_py(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


KILL_AT = """
import os, signal, sys, yaml, logging
logging.basicConfig(level=logging.INFO)
from isoclr.pretrain import loop as P
_, s = P.resolve(yaml.safe_load(open(sys.argv[1] if len(sys.argv) > 1 else {cfg!r})))
def die(step):
    if step == {step}:
        os.kill(os.getpid(), signal.SIGKILL)  # like a pre-empted job
P.pretrain(s, {out!r}, resume=True, callbacks=[die])
"""

#: metrics.csv columns that measure time (they differ between any two runs)
TIMING = ("sets_per_s", "elapsed_s")


def _metrics(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(fh)]


@pytest.mark.slow
def test_sigkill_and_resume_matches_an_uninterrupted_run(sim: dict, tmp_path: Path) -> None:
    cfg = _cfg(sim)
    plain = _write(tmp_path / "plain.yaml", cfg)
    r = _cli("--config", str(plain), "--out", str(tmp_path / "straight"))
    assert r.returncode == 0, r.stderr
    r = _run_py(KILL_AT.format(cfg=str(plain), step=7, out=str(tmp_path / "resumed")))
    assert r.returncode == -9, r.stderr  # SIGKILL after step 7: checkpoint of step 4 on disk, steps 5-7 lost
    ckpts = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").glob("*.pt"))
    assert ckpts == ["step_0000004.pt"] and not (tmp_path / "resumed" / "checkpoint.pt").exists()
    # as Snakemake does before rerunning an incomplete job: the declared outputs are deleted
    for name in ("metrics.csv", "config.yaml"):
        (tmp_path / "resumed" / name).unlink(missing_ok=True)
    r = _cli("--config", str(plain), "--out", str(tmp_path / "resumed"), "--resume")
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stderr and "at step 4" in r.stderr
    a, b = _states(tmp_path / "straight" / "checkpoint.pt"), _states(tmp_path / "resumed" / "checkpoint.pt")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    # metrics.csv: the same rows as the uninterrupted run (every column but the timings)
    straight, resumed = _metrics(tmp_path / "straight" / "metrics.csv"), _metrics(tmp_path / "resumed" / "metrics.csv")
    assert [r["step"] for r in resumed] == ["2", "4", "5", "6", "8", "10"]
    assert resumed == straight
    for name in ("config.yaml", "metrics.csv"):
        assert (tmp_path / "resumed" / name).stat().st_size > 0
    enc, info = load_encoder(tmp_path / "resumed" / "checkpoint.pt")
    assert info["objective"] == "dcl" and info["step"] == 10
    assert enc(torch.zeros(2, 6, 64), torch.tensor([64, 40])).shape == (2, enc.out_dim)


def test_resume_after_a_settings_change_starts_fresh(sim: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A finished run, then the same folder with another lr and resume=True (what the pipeline
    does after `-R pretrain`): the old checkpoint is not continued; the new weights equal a
    fresh run with the new lr and differ from the old ones."""
    short = dict(steps=4, val_every=100, checkpoint_every=2, log_every=2)
    _, old = P.resolve(_cfg(sim, **short))
    _, new = P.resolve(_cfg(sim, **short, lr=1e-2))
    P.pretrain(old, tmp_path / "run")
    before = _states(tmp_path / "run" / "checkpoint.pt")
    with caplog.at_level("INFO", logger="isoclr.pretrain"):
        P.pretrain(new, tmp_path / "run", resume=True)
    assert "different run" in caplog.text and "lr: checkpoint 0.003 vs config 0.01" in caplog.text
    assert "resumed from" not in caplog.text
    P.pretrain(new, tmp_path / "fresh")
    after, fresh = _states(tmp_path / "run" / "checkpoint.pt"), _states(tmp_path / "fresh" / "checkpoint.pt")
    for k in fresh:
        torch.testing.assert_close(after[k], fresh[k], rtol=0, atol=0, msg=k)
    assert any(not torch.equal(after[k], before[k]) for k in before if k.startswith("encoder."))
    # and the same settings resume (here: nothing left to do, the final checkpoint is kept)
    caplog.clear()
    with caplog.at_level("INFO", logger="isoclr.pretrain"):
        P.pretrain(new, tmp_path / "run", resume=True)
    assert "resumed from" in caplog.text and "at step 4" in caplog.text


def test_changed_input_data_starts_fresh(sim: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    splits = tmp_path / "splits.tsv"
    splits.write_text(Path(sim["splits"]).read_text())
    _, s = P.resolve(_cfg(sim, steps=2, val_every=100, checkpoint_every=2, splits=str(splits)))
    P.pretrain(s, tmp_path / "run")
    lines = splits.read_text().splitlines()
    moved = next(i for i, ln in enumerate(lines) if ln.endswith("\ttest"))
    lines[moved] = lines[moved].replace("\ttest", "\ttrain")
    splits.write_text("\n".join(lines) + "\n")
    with caplog.at_level("INFO", logger="isoclr.pretrain"):
        P.pretrain(s, tmp_path / "run", resume=True)
    assert "different run" in caplog.text and "data: checkpoint" in caplog.text


LOCK_HOLDER = """
import sys, time, yaml
from isoclr.pretrain import loop as P
_, s = P.resolve(yaml.safe_load(open({cfg!r})))
P.pretrain(s, {out!r}, callbacks=[lambda step: time.sleep(0.5)])
"""


def test_second_concurrent_run_fails_at_once_naming_the_folder(sim: dict, tmp_path: Path) -> None:
    import time

    cfg = _write(tmp_path / "c.yaml", _cfg(sim, steps=30, val_every=100, checkpoint_every=100))
    out = tmp_path / "model"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    first = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER.format(cfg=str(cfg), out=str(out))], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (out / "checkpoints" / "metrics.csv").exists():  # the first run is training
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.time() < deadline
            time.sleep(0.2)
        t0 = time.time()
        r = _cli("--config", str(cfg), "--out", str(out), "--resume")
        assert r.returncode == 1
        assert f"{out}: another pre-training is running in this model folder" in r.stderr
        assert time.time() - t0 < 30 and first.poll() is None  # failed at once, the first one goes on
    finally:
        first.kill()
        first.wait()


def test_nan_loss_stops_and_keeps_last_good_checkpoint(sim: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "run"
    _, cfg = P.resolve(_cfg(sim, steps=8, val_every=100))
    calls = []
    dcl = P.losses.dcl_loss

    def nan_at_step_6(*args, **kwargs):  # the 6th training loss is NaN (no test hook in pretrain)
        calls.append(1)
        loss = dcl(*args, **kwargs)
        return loss * float("nan") if len(calls) == 6 else loss

    monkeypatch.setattr(P.losses, "dcl_loss", nan_at_step_6)
    with pytest.raises(NonFiniteLossError, match=r"non-finite training loss .* at step 6 .*step_0000004\.pt"):
        P.pretrain(cfg, out)
    monkeypatch.undo()
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pt")) == ["step_0000004.pt"]
    assert not (out / "checkpoint.pt").exists()
    ck = torch.load(out / "checkpoints" / "step_0000004.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in ck["encoder"].values() if v.is_floating_point())
    assert ck["set_weight_norm"] > 0
    # another architecture or objective does not resume: a fresh start, the difference logged
    _, other = P.resolve(_cfg(sim, steps=2, val_every=100, widths=[16, 32, 32, 48]))
    with caplog.at_level("INFO", logger="isoclr.pretrain"):
        P.pretrain(other, out, resume=True)
    assert "widths" in caplog.text and "[16, 32, 32, 48]" in caplog.text and "starting fresh" in caplog.text
    assert load_encoder(out / "checkpoint.pt")[1]["step"] == 2
    _, mlm = P.resolve(_cfg(sim, steps=2, val_every=100, objective="mlm"))
    caplog.clear()
    with caplog.at_level("INFO", logger="isoclr.pretrain"):
        P.pretrain(mlm, out, resume=True)
    assert "objective: checkpoint 'dcl' vs config 'mlm'" in caplog.text


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
    name, s = P.resolve(conf, "a")
    assert name == "a" and s.seed == 7 and s.lr == 0.01 and s.sets == os.path.join("res", "homology", "sets.h5")
    assert P.architecture(s)["widths"] == [16, 32, 32, 64]
    with pytest.raises(ValueError, match="unknown key 'lrr'; did you mean 'lr'"):
        P.resolve({"pretrain": {"models": {"a": {"lrr": 1}}}})


def test_epochs_give_steps_from_the_training_sets_built(sim: dict, tmp_path: Path) -> None:
    """epochs x (training sets of the splits table / batch) steps, warm-up likewise; an explicit
    steps wins (issue 10, item 7)."""
    import math

    import pandas as pd

    table = pd.read_csv(sim["splits"], sep="\t")
    n_train = int((table["split"] == "train").sum())
    per_epoch = n_train // 8  # full batches (the sampler drops the last, partial one)
    _, cfg = P.resolve(_cfg(sim, steps=None, warmup_steps=None, epochs=2, warmup_epochs=0.5,
                            val_every=100, checkpoint_every=100, log_every=1))
    assert cfg.schedule_steps(per_epoch) == (2 * per_epoch, math.ceil(0.5 * per_epoch))
    P.pretrain(cfg, tmp_path / "ep")
    resolved = yaml.safe_load((tmp_path / "ep" / "config.yaml").read_text())
    assert resolved["steps_per_epoch"] == per_epoch and resolved["epochs"] == 2
    assert resolved["resolved_steps"] == 2 * per_epoch
    assert resolved["resolved_warmup_steps"] == math.ceil(0.5 * per_epoch)
    csv = np.genfromtxt(tmp_path / "ep" / "metrics.csv", delimiter=",", names=True)
    assert int(np.nanmax(csv["step"])) == 2 * per_epoch
    # explicit steps override epochs; neither: the defaults
    assert cfg.replace(steps=7, warmup_steps=3).schedule_steps(per_epoch) == (7, 3)
    assert cfg.replace(epochs=None, warmup_epochs=None).schedule_steps(per_epoch) == (200, 20)
    big = cfg.replace(epochs=500, warmup_epochs=10, batch_size=1536)
    assert big.schedule_steps(120_000 // 1536 + 1) == (500 * 79, 790)  # 120 k training sets
