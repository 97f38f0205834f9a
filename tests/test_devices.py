"""The one device resolver (isoclr.core.devices) used by pre-training, embedding and fine-tuning."""

from __future__ import annotations

import pytest
import torch

from isoclr.core.devices import resolve_device


def test_auto_and_names_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("auto", None, ""):
        assert resolve_device(name) == torch.device("cpu")
    assert resolve_device("cpu", local_rank=1) == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    for name in ("cuda", "cuda:1", torch.device("cuda", 0)):
        with pytest.raises(RuntimeError, match="no GPU is visible"):
            resolve_device(name)


def test_auto_and_names_with_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("auto", local_rank=3) == torch.device("cuda", 3)  # torchrun: the process's GPU
    assert resolve_device("cuda:0", local_rank=2) == torch.device("cuda", 2)
    assert resolve_device("cpu") == torch.device("cpu")


def test_every_stage_uses_it() -> None:
    from isoclr.evaluate import embedder, external, finetune
    from isoclr.pretrain import loop

    for module in (embedder, external, finetune, loop):
        assert module.resolve_device is resolve_device, module.__name__
