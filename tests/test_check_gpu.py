"""The device correctness check runs on CPU (bf16 autocast on the CPU) and catches a real bug."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _check_gpu():
    spec = importlib.util.spec_from_file_location("check_gpu", ROOT / "benchmarks" / "check_gpu.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["check_gpu"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_check_gpu_passes_on_cpu(tmp_path: Path) -> None:
    mod = _check_gpu()
    rc = mod.main(["--device", "cpu", "--size", "tiny", "--backend", "aot_eager", "--batch", "4",
                   "--length-groups", "2", "--out-dir", str(tmp_path)])
    table = (tmp_path / "check_gpu_cpu.tsv").read_text()
    assert rc == 0, table
    assert "FAIL" not in table and table.count("PASS") >= 10


def test_check_gpu_catches_leaking_padding(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the padding no longer zeroed, groups and one padded tensor differ: the check fails."""
    mod = _check_gpu()
    from isoclr.pretrain import model

    monkeypatch.setattr(model, "_zero_padding", lambda t, mask: t)
    rep = mod.Report()
    import torch

    device = torch.device("cpu")
    seqs = mod.views(8, 50, 400, 0)
    cfg = {"size": "tiny", "dropout": 0.0}
    state = mod.fresh(cfg, device).state_dict()
    net = mod.fresh(cfg, device, state)
    _, zg, _ = mod.step(net, net, mod.grouped(seqs, 2, device), device, bf16=False)
    x, n = mod.padded(seqs, device)
    net = mod.fresh(cfg, device, state)
    _, zp, _ = mod.step(net, net, {"xs": [x], "lens": [n], "order": torch.arange(8), "sets": 4}, device, bf16=False)
    assert not rep.close("groups_vs_padded", "projections z", zg, zp, 1e-3, 1e-4)
    assert rep.rows[-1]["result"] == "FAIL"
