"""Baselines: the Saluki half-life network (re-implemented) and the frozen random encoder.

Saluki (Agarwal & Kelley 2022, Genome Biology 23:245) is the published supervised half-life
model: a convolutional tower over the six-track mature-RNA encoding, a recurrent layer read from
the 3' end, and a small dense head. This is a re-implementation from the published description,
with every width configurable (config ``evaluation.saluki``, :class:`isoclr.config.settings.evaluate.SalukiSettings`;
the schema's defaults follow the paper):

1. a stem ``Conv1d(6 -> channels, width)``;
2. ``blocks`` x [LayerNorm over channels, ReLU, ``Conv1d(channels, width)``, Dropout, MaxPool 2];
3. LayerNorm, ReLU, then a GRU run **backwards** (3' -> 5') over the true length of each
   transcript (packed sequences, so padding never enters the recurrence); its final state is
   the transcript's representation;
4. head: BatchNorm, ReLU, Linear(gru -> hidden), Dropout, BatchNorm, ReLU, Linear(hidden -> out).

Padding: positions beyond each transcript's length are zeroed before every convolution and
the GRU reads only the first ``length // 2**blocks`` positions (the published model padded every
transcript to 12,288 nt instead), so a transcript's prediction does not depend on its batch.

It exposes ``forward(x (B, 6, L), lengths (B,)) -> (B, n_out)``, the interface of the trainer in
:mod:`isoclr.evaluate.finetune`, so it is trained with exactly the same loop, splits and early stopping
as the fine-tuned and supervised IsoCLR models.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from isoclr.config.settings.evaluate import SalukiSettings
from isoclr.core.encoding import N_TRACKS


class _ChannelNorm(nn.Module):
    """LayerNorm over the channel axis of (B, C, L)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class _SalukiBlock(nn.Module):
    """LayerNorm, ReLU, Conv1d, Dropout, MaxPool 2; padding zeroed before the convolution."""

    def __init__(self, channels: int, width: int, dropout: float) -> None:
        super().__init__()
        self.norm = _ChannelNorm(channels)
        self.conv = nn.Conv1d(channels, channels, width, padding=width // 2)
        self.dropout = nn.Dropout(dropout)
        self.pool = nn.MaxPool1d(2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm(x)) * mask
        return self.pool(self.dropout(self.conv(h)))


def _valid(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 1, size) float mask of the positions below each length."""
    return (torch.arange(size, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(1).float()


class Saluki(nn.Module):
    """Saluki-style conv tower + backward GRU + dense head (see module doc)."""

    min_batch = 2  # the head's batch norm needs two examples to train

    def __init__(self, n_out: int, cfg: SalukiSettings) -> None:
        super().__init__()
        self.cfg = cfg
        c = self.cfg
        pad = c.width // 2
        self.stem = nn.Conv1d(N_TRACKS, c.channels, c.width, padding=pad)
        self.tower = nn.ModuleList(_SalukiBlock(c.channels, c.width, c.dropout) for _ in range(c.blocks))
        self.final_norm = _ChannelNorm(c.channels)
        self.gru = nn.GRU(c.channels, c.gru, batch_first=True)
        self.head = nn.Sequential(
            nn.BatchNorm1d(c.gru),
            nn.ReLU(),
            nn.Linear(c.gru, c.hidden),
            nn.Dropout(c.dropout),
            nn.BatchNorm1d(c.hidden),
            nn.ReLU(),
            nn.Linear(c.hidden, n_out),
        )
        self.n_out = n_out
        self.out_dim = c.gru  # size of the representation before the head

    def represent(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, 6, L), (B,) -> (B, gru): final state of the backward GRU."""
        min_len = 2**self.cfg.blocks
        if x.shape[-1] < min_len:
            x = nn.functional.pad(x, (0, min_len - x.shape[-1]))
        lengths = lengths.to(torch.long).clamp(min=1, max=x.shape[-1])
        # Positions beyond a transcript's length are zeroed before every convolution, so a
        # padded transcript gives the same output as the transcript alone (tested).
        h = self.stem(x * _valid(lengths, x.shape[-1]))
        for block in self.tower:
            h = block(h, _valid(lengths, h.shape[-1]))
            lengths = torch.div(lengths, 2, rounding_mode="floor").clamp(min=1)
        h = torch.relu(self.final_norm(h)).transpose(1, 2)  # (B, L', C)
        lengths = lengths.clamp(max=h.shape[1])
        # Reverse each sequence within its true length, so a forward GRU reads 3' -> 5'.
        pos = torch.arange(h.shape[1], device=h.device).unsqueeze(0)
        rev = torch.where(pos < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - pos, pos)
        h = torch.gather(h, 1, rev.unsqueeze(-1).expand_as(h))
        packed = nn.utils.rnn.pack_padded_sequence(
            h.float(), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        # The recurrence runs in float32 even under bf16 autocast (cuDNN GRUs and bf16 do not
        # mix on every GPU/version; the GRU is a small part of the cost).
        with torch.autocast(device_type=h.device.type, enabled=False):
            _, state = self.gru(packed)
        return state[-1]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.represent(x, lengths))


def random_encoder(model_cfg: dict[str, Any], seed: int) -> nn.Module:
    """A frozen, randomly initialised encoder of the pre-training architecture (seeded).

    The same ``model_cfg`` and ``seed`` give the same weights on every run and machine (CPU
    initialisation), so ``random-linear`` is deterministic.
    """
    from isoclr.pretrain.model import build_encoder

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        encoder = build_encoder(model_cfg)
    finally:
        torch.random.set_rng_state(state)
    encoder.eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    return encoder
