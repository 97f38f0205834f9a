"""What the pre-training optimises: the model it trains (encoder + projector or MLM head, one
module so DDP, compile and the optimiser see everything) and the loss of one batch."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from isoclr.config.settings import PretrainSettings
from isoclr.core.encoding import tracks_torch
from isoclr.pretrain import losses, model


def architecture(s: PretrainSettings) -> dict[str, Any]:
    """The full resolved architecture (:func:`isoclr.pretrain.model.resolve_config`)."""
    return model.resolve_config(s.arch_config())


class PretrainModel(nn.Module):
    """Encoder + projector (contrastive) or encoder + MLM head; ``forward`` returns z or logits."""

    def __init__(self, s: PretrainSettings) -> None:
        super().__init__()
        self.objective = s.objective
        arch = architecture(s)
        self.encoder = model.build_encoder(arch)
        if self.objective == "mlm":
            self.projector = None
            self.head = model.build_mlm_head(self.encoder, hidden=s.mlm_hidden)
        else:
            self.projector = model.build_projector(arch, self.encoder.out_dim)
            self.head = None

    def forward(self, xs: list[torch.Tensor], lengths: list[torch.Tensor], order: torch.Tensor) -> Any:
        """The length groups of one batch -> z in batch row order (``order``: for every batch
        row, its position among the groups' rows concatenated; :func:`batch_order`) or, for
        MLM, the groups' per-nucleotide logits (a list)."""
        if self.head is not None:
            feats = self.encoder.features(xs, lengths)
            return [self.head(f, x.shape[-1], n) for f, x, n in zip(feats, xs, lengths)]
        return self.projector(self.encoder(xs, lengths))[order]


def batch_order(groups: list[Mapping[str, Any]]) -> torch.Tensor:
    """For every row of a batch, its position among its length groups' rows concatenated."""
    return torch.argsort(torch.cat([g["rows"] for g in groups]))


def batch_loss(
    fwd: nn.Module, encoder: nn.Module, batch: Mapping[str, Any], s: PretrainSettings,
    device: torch.device, amp: bool, weight_norm: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, view-1 rows, view-2 rows) of one batch: tracks built on the device, the forward
    through ``fwd`` (the model, maybe DDP-wrapped or compiled) under bf16 autocast when ``amp``.

    The rows are the projections z (contrastive) or, for MLM in evaluation mode, the encoder
    outputs h (for alignment and uniformity; MLM has no projector).
    """
    groups = batch["groups"]
    xs = [tracks_torch(g["codes"].to(device, non_blocking=True), g["marks"].to(device, non_blocking=True))
          for g in groups]
    lens = [g["lengths"].to(device, non_blocking=True) for g in groups]
    order = batch_order(groups).to(device, non_blocking=True)
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    with ctx:
        y = fwd(xs, lens, order)
    b = len(batch["set_ids"])
    if s.objective == "mlm":
        loss = losses.mlm_loss(y, [g["targets"].to(device) for g in groups], [g["mask"].to(device) for g in groups])
        if fwd.training:
            return loss, loss, loss
        with ctx:
            h = encoder(xs, lens)[order]
        return loss, h[:b], h[b:]
    w = losses.set_weights(batch["set_sizes"].to(device), s.weight_c, weight_norm)
    lossf = losses.dcl_loss if s.objective == "dcl" else losses.ntxent_loss
    loss = lossf(y[:b].float(), y[b:].float(), w, s.temperature)
    return loss, y[:b], y[b:]
