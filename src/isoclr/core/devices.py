"""Which torch device a job runs on: one resolver for pre-training, embedding and fine-tuning."""

from __future__ import annotations

import torch

AUTO = ("auto", "", None)


def resolve_device(name: str | torch.device | None = "auto", local_rank: int | None = None) -> torch.device:
    """``auto`` (or None) -> the GPU when one is visible, else the CPU; ``cuda``/``cuda:N`` -> that
    GPU (a clear error when none is visible); any other name is passed to torch.

    ``local_rank``: under ``torchrun``, the process's own GPU (``cuda:LOCAL_RANK``) whatever
    index the name gives.
    """
    if isinstance(name, torch.device):
        name = str(name)
    kind = ("cuda" if torch.cuda.is_available() else "cpu") if name in AUTO else str(name)
    if kind.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {kind!r} asked for, but no GPU is visible")
        if local_rank is not None:
            return torch.device("cuda", int(local_rank))
    return torch.device(kind)

