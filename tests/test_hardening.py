"""Hardening proofs (issue 12): untrusted files are never unpickled, full disks and killed jobs
leave nothing behind, hostile servers are cut off, odd inputs get errors naming the file."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo"


class Payload:
    """Unpickling this writes a marker file: proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (pathlib.Path.write_text, (pathlib.Path(self.marker), "code ran"))


# --- 1. no unpickling ------------------------------------------------------------------------
def test_pickled_npz_is_refused_and_not_run(tmp_path: Path) -> None:
    from isoclr import tasks as T

    marker = tmp_path / "pwned"
    npz = tmp_path / "arrays.npz"
    genes = np.empty(2, dtype=object)
    genes[:] = [Payload(marker), "ENSG2"]
    np.savez(npz, X=np.zeros((2, 5, 6), np.float32), y=np.zeros(2), genes=genes)
    with pytest.raises(ValueError, match=r"arrays.npz: array 'genes' is a pickled object array, refused"):
        T.read_ready_made(npz)
    assert not marker.exists()
    # also when gzip-compressed, as the download rule keeps it
    gz = tmp_path / "arrays.npz.gz"
    import gzip

    gz.write_bytes(gzip.compress(npz.read_bytes()))
    with pytest.raises(ValueError, match="pickled object array"):
        T.read_ready_made(gz)
    assert not marker.exists()
    # plain string arrays (dtype U) still read
    np.savez(npz, X=np.zeros((2, 5, 6), np.float32), y=np.zeros(2), genes=np.array(["A", "B"]))
    assert T.read_ready_made(npz)["genes"].tolist() == ["A", "B"]


def _tiny_checkpoint(path: Path, **extra) -> None:
    from isoclr.model import build_encoder, save_checkpoint

    enc = build_encoder("tiny")
    save_checkpoint(path, enc, "dcl", None, **extra)


def test_crafted_checkpoint_is_refused_and_not_run(tmp_path: Path) -> None:
    from isoclr.model import load_encoder

    good = tmp_path / "good.pt"
    _tiny_checkpoint(good, step=3)
    enc, info = load_encoder(good)  # ours: plain types only
    assert info["step"] == 3
    marker = tmp_path / "pwned"
    ck = torch.load(good, weights_only=True)
    ck["extra"] = Payload(marker)
    bad = tmp_path / "bad.pt"
    torch.save(ck, bad)
    with pytest.raises(ValueError, match=r"bad.pt: refused: not a checkpoint that loads with only tensors"):
        load_encoder(bad)
    assert not marker.exists()


def test_checkpoints_hold_only_plain_types(tmp_path: Path) -> None:
    from isoclr.model import save_checkpoint, build_encoder

    with pytest.raises(TypeError, match=r"numpy.ndarray cannot go into a checkpoint"):
        save_checkpoint(tmp_path / "x.pt", build_encoder("tiny"), "dcl", None, rng={"numpy": np.zeros(3)})
    assert not list(tmp_path.iterdir())


def test_rng_state_roundtrips_as_tensors() -> None:
    import random

    from isoclr import pretrain as P

    state = P._rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    P._set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
    from isoclr.model import _check_plain

    _check_plain(state, "rng")  # tensors and plain numbers only


def test_resume_refuses_a_crafted_checkpoint(tmp_path: Path) -> None:
    import yaml

    from isoclr.simulate import SimConfig, write_simulation

    sim = write_simulation(SimConfig(seed=5, n_families=24, first_exon=(80, 120), last_exon=(120, 180),
                                     exon_length=(45, 90), exons_min=3, exons_max=4, utr5=(20, 40),
                                     utr3_min=30, motif_copies=1), tmp_path / "sim")
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    marker = tmp_path / "pwned"
    torch.save({"model_config": {}, "encoder": {}, "x": Payload(marker)}, out / "checkpoints" / "step_0000004.pt")
    cfg = {"objective": "dcl", "size": "tiny", "batch_size": 8, "steps": 2, "warmup_steps": 1, "num_workers": 0,
           "threads": 1, "seed": 1, "sets": str(sim["sets"]), "splits": str(sim["splits"])}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "isoclr.cli", "pretrain", "--config", str(tmp_path / "m.yaml"),
                        "--out", str(out), "--resume"], capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"), cwd=tmp_path)
    assert r.returncode != 0
    assert "step_0000004.pt: refused" in r.stderr
    assert not marker.exists()
