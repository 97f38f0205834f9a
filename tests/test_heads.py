"""Head folders: a kept task network predicts in its label's scale from text, stores or tracks;
a crafted head config is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from isoclr.config.load import defaults
from isoclr.config.settings.evaluate import SalukiSettings
from isoclr.core.encoding import decode_sequence, tracks_torch
from isoclr.evaluate.baselines import Saluki
from isoclr.evaluate.finetune import EncoderWithHead
from isoclr.evaluate.heads import load_head, save_head, sequence_source
from isoclr.pretrain.loader import collate
from isoclr.pretrain.model import build_encoder
from isoclr.pretrain.model_folder import ModelFolderError

TINY = {"size": "tiny", "widths": [8, 8, 8, 8], "stem_width": 8, "projector": [16, 16, 8]}


def _seqs(rng: np.random.Generator, n: int = 5) -> tuple[list[str], list[tuple[int, int] | None]]:
    seqs = [decode_sequence(rng.integers(0, 4, size=int(k))) for k in rng.integers(60, 200, size=n)]
    cds = [(10, 10 + 3 * ((len(s) - 20) // 3)) if i % 2 == 0 else None for i, s in enumerate(seqs)]
    return seqs, cds


def _direct(net: torch.nn.Module, seqs: list[str], cds: list) -> torch.Tensor:
    src = sequence_source(seqs, cds)
    b = collate([src.codes(i) for i in range(len(src))], [src.marks(i) for i in range(len(src))])
    with torch.no_grad():
        return net.eval()(tracks_torch(b["codes"], b["marks"]), b["lengths"])


@pytest.mark.parametrize("network", ["encoder_linear", "saluki"])
def test_regression_head_round_trip(tmp_path: Path, network: str) -> None:
    torch.manual_seed(0)
    net = EncoderWithHead(build_encoder(TINY), 1) if network == "encoder_linear" else \
        Saluki(1, SalukiSettings.from_mapping({**defaults("evaluation")["saluki"], "channels": 8, "blocks": 3, "gru": 8, "hidden": 8}, "test"))
    net.eval()
    save_head(net, tmp_path / "h", task="halflife", kind="regression", label_names=["log_halflife"],
              y_mean=5.0, y_std=2.0, fold=0, model="isoclr-finetune", objective="dcl")
    head = load_head(tmp_path / "h")
    seqs, cds = _seqs(np.random.default_rng(1))
    want = (_direct(net, seqs, cds)[:, 0] * 2.0 + 5.0).numpy()
    got = head.predict_sequences(seqs, cds)
    assert got.shape == (5,)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(head.predict(seqs[:2]), head.predict_sequences(seqs[:2]), rtol=0, atol=0)
    assert head.config["label"] == {"scale": "mean_sd", "mean": 5.0, "sd": 2.0, "name": "log_halflife"}
    assert not any(p.name.endswith((".pt", ".pkl", ".bin")) for p in (tmp_path / "h").iterdir())


def test_multilabel_head_gives_probabilities(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = EncoderWithHead(build_encoder(TINY), 3).eval()
    save_head(net, tmp_path / "h", task="go", kind="multilabel", label_names=["a", "b", "c"], fold=0)
    head = load_head(tmp_path / "h")
    seqs, cds = _seqs(np.random.default_rng(2))
    got = head.predict_sequences(seqs, cds)
    np.testing.assert_allclose(got, torch.sigmoid(_direct(net, seqs, cds)).numpy(), rtol=1e-5, atol=1e-6)
    assert got.shape == (5, 3) and head.outputs == ["a", "b", "c"]


@pytest.mark.parametrize("edit, words", [
    (lambda c: c.update(network="pickle"), "network"),
    (lambda c: c["label"].update(sd=0), "sd > 0"),
    (lambda c: c.update(n_out=2), "n_out 1"),
    (lambda c: c["encoder"]["architecture"].update(widths=[8, 8, 8, 8, 8]), "blocks"),
    (lambda c: c.update(format="isoclr-model"), "format"),
])
def test_a_crafted_head_config_is_refused(tmp_path: Path, edit, words: str) -> None:
    net = EncoderWithHead(build_encoder(TINY), 1)
    save_head(net, tmp_path / "h", task="t", kind="regression", label_names=["y"], y_std=1.5)
    cfg = json.loads((tmp_path / "h" / "config.json").read_text())
    edit(cfg)
    (tmp_path / "h" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFolderError, match=words):
        load_head(tmp_path / "h")


def test_a_cds_outside_the_sequence_is_an_error() -> None:
    with pytest.raises(ValueError, match="outside"):
        sequence_source(["ACGTACGT"], [(2, 20)])
