"""Contrastive losses (DCL, NT-Xent), set weights, cross-process gathering and the MLM loss.

Notation: a batch holds ``N`` transcript sets (all processes together), each seen as two views;
``z1[i]``, ``z2[i]`` are the projections of set ``i``'s views. Every one of the ``2N`` views is
an anchor; the loss is the MEAN over the ``2N`` anchors (symmetrised over the two views).

* DCL (decoupled contrastive loss, Yeh et al. 2021), anchor ``z_i^v``:
  ``-w_i <z_i^1, z_i^2> / t + log sum_{k != i, l in {1,2}} exp(<z_i^v, z_k^l> / t)`` -- the
  positive is NOT in the denominator; the negatives are both views of every other set.
* NT-Xent (SimCLR), anchor ``z_i^v``:
  ``w_i * (-<z_i^1, z_i^2> / t + log sum_{a != (i, v)} exp(<z_i^v, a> / t))`` -- the denominator
  holds the positive and all ``2N - 2`` negatives.

The ``z`` are L2-normalised inside the losses (idempotent when already normalised) and the
similarities are computed in float32 (float64 if given; safe under autocast).

Distributed convention: each process passes its LOCAL ``z1, z2`` (and weights); the losses
gather every process's projections with :func:`gather_with_grad`, so negatives come from the
whole global batch, but only the local anchors are evaluated (no duplicated work). Each process
returns ``world_size * (sum of its anchors' losses) / (2 N_global)``: the mean of the returned
values over processes is the global mean loss, and because the gather's backward sums the
gradient every process's loss sends to each shard, the gradients that DDP AVERAGES over
processes are exactly the gradients of the global mean loss (tested against a one-process run
in tests/test_ddp.py). With equal shards the returned value is simply the mean over the local
anchors. For logging, all-reduce the returned value and divide by the world size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

DEFAULT_TEMPERATURE = 0.1
DEFAULT_C = 0.4


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class _GatherWithGrad(torch.autograd.Function):
    """All-gather of (possibly unequal) shards; backward sums the gradients over processes
    (every process has its own loss) and returns the local shard's slice."""

    @staticmethod
    def forward(ctx: Any, t: Tensor, sizes: list[int], rank: int) -> Tensor:
        ctx.offset, ctx.n = sum(sizes[:rank]), sizes[rank]
        biggest = max(sizes)
        padded = t.new_zeros((biggest, *t.shape[1:]))
        padded[: t.shape[0]] = t
        buffers = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(buffers, padded)
        return torch.cat([b[:s] for b, s in zip(buffers, sizes)])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.offset : ctx.offset + ctx.n], None, None


def gather_with_offset(t: Tensor) -> tuple[Tensor, int]:
    """All-gather ``t`` (n_local, ...) along dim 0 keeping gradients -> (all, local offset)."""
    world, rank = _world()
    if world == 1:
        return t, 0
    n = torch.tensor([t.shape[0]], device=t.device, dtype=torch.long)
    counts = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(counts, n)
    sizes = [int(c.item()) for c in counts]
    return _GatherWithGrad.apply(t.contiguous(), sizes, rank), sum(sizes[:rank])


def gather_with_grad(t: Tensor) -> Tensor:
    """All-gather across processes, gradients flowing back to each local shard.

    Shards may differ in size (the last batch). Identity when not distributed.
    """
    return gather_with_offset(t)[0]


def _prepare(
    z1: Tensor, z2: Tensor, weights: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor, int, int]:
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"losses: z1 and z2 must both be (n, d), got {tuple(z1.shape)} and "
                         f"{tuple(z2.shape)}")
    n = z1.shape[0]
    if weights is None:
        w = torch.ones(n, device=z1.device, dtype=torch.float32)
    else:
        w = torch.as_tensor(weights, device=z1.device, dtype=torch.float32).reshape(-1)
        if w.shape[0] != n:
            raise ValueError(f"losses: {w.shape[0]} weights for {n} sets")
    dtype = torch.float64 if z1.dtype == torch.float64 else torch.float32
    w = w.to(dtype)
    z1 = F.normalize(z1.to(dtype), dim=1)
    z2 = F.normalize(z2.to(dtype), dim=1)
    a1, offset = gather_with_offset(z1)
    a2, _ = gather_with_offset(z2)
    n_global = a1.shape[0]
    anchors = torch.cat([z1, z2])  # (2n, d): local anchors, view 1 then view 2
    candidates = torch.cat([a1, a2])  # (2N, d): every view of every set
    return anchors, candidates, w, (z1 * z2).sum(dim=1), offset, n_global


def _own_set_columns(n: int, offset: int, n_global: int, device: torch.device) -> Tensor:
    """(2n,) column of each local anchor's own set in view 1; view 2 is that + N."""
    idx = torch.arange(n, device=device) + offset
    return torch.cat([idx, idx])


def dcl_loss(
    z1: Tensor, z2: Tensor, weights: Tensor | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
) -> Tensor:
    """Decoupled contrastive loss, weighted positives, negatives from the gathered batch.

    ``z1``, ``z2``: (n, d) local projections of the two views; ``weights``: (n,) per-set
    weights multiplying only the positive term (None: 1). See the module doc for the value
    returned under DDP.
    """
    anchors, cand, w, pos, offset, n_global = _prepare(z1, z2, weights)
    if n_global < 2:
        raise ValueError("dcl_loss: needs at least two sets in the (global) batch for negatives")
    n = z1.shape[0]
    sim = anchors @ cand.T / temperature  # (2n, 2N)
    own = _own_set_columns(n, offset, n_global, sim.device)
    rows = torch.arange(2 * n, device=sim.device)
    masked = sim.clone()
    masked[rows, own] = float("-inf")
    masked[rows, own + n_global] = float("-inf")
    neg = torch.logsumexp(masked, dim=1)
    w2 = torch.cat([w, w])
    per_anchor = -w2 * torch.cat([pos, pos]) / temperature + neg
    world, _ = _world()
    return per_anchor.sum() * (world / (2 * n_global))


def ntxent_loss(
    z1: Tensor, z2: Tensor, weights: Tensor | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
) -> Tensor:
    """NT-Xent (SimCLR): ``weights`` (n,) multiply each anchor's whole loss (None: 1)."""
    anchors, cand, w, pos, offset, n_global = _prepare(z1, z2, weights)
    if n_global < 2:
        raise ValueError("ntxent_loss: needs at least two sets in the (global) batch")
    n = z1.shape[0]
    sim = anchors @ cand.T / temperature
    own = _own_set_columns(n, offset, n_global, sim.device)
    rows = torch.arange(2 * n, device=sim.device)
    self_col = torch.cat([own[:n], own[n:] + n_global])  # the anchor itself
    masked = sim.clone()
    masked[rows, self_col] = float("-inf")
    per_anchor = torch.cat([w, w]) * (torch.logsumexp(masked, dim=1) - torch.cat([pos, pos])
                                      / temperature)
    world, _ = _world()
    return per_anchor.sum() * (world / (2 * n_global))


def weight_norm(set_sizes: npt.ArrayLike, c: float = DEFAULT_C) -> float:
    """``mean(log(n + c))`` over the training sets: the norm that makes the weights average 1."""
    n = np.asarray(set_sizes, dtype=np.float64)
    if n.size == 0 or np.any(n < 1):
        raise ValueError("weight_norm: set sizes must be a non-empty array of counts >= 1")
    return float(np.mean(np.log(n + c)))


def set_weights(n: Any, c: float = DEFAULT_C, norm: float | None = None) -> Any:
    """Per-set weights ``log(n + c) / norm`` (numpy array or torch tensor in, same type out).

    ``n``: number of transcripts in each set; ``norm``: :func:`weight_norm` over the TRAINING
    sets (None: over the given ``n``, so these weights average exactly 1).
    """
    if norm is None:
        norm = weight_norm(n.detach().cpu().numpy() if isinstance(n, Tensor) else n, c)
    if norm <= 0:
        raise ValueError(f"set_weights: norm must be > 0, got {norm}")
    if isinstance(n, Tensor):
        return torch.log(n.to(torch.float32) + c) / norm
    return (np.log(np.asarray(n, dtype=np.float64) + c) / norm).astype(np.float32)


def mlm_loss(logits: Tensor | Sequence[Tensor], targets: Tensor | Sequence[Tensor],
             mask: Tensor | Sequence[Tensor]) -> Tensor:
    """Cross-entropy of the masked nucleotides.

    ``logits`` (B, 4, L) over A, C, G, T (:class:`isoclr.pretrain.model.MLMHead`); ``targets`` (B, L)
    nucleotide codes (``isoclr.core.encoding``: 0-3, N=4 and PAD=5 are never scored); ``mask``
    (B, L) bool, the positions that were masked in the input. Each may also be a list (the
    length groups of one batch). Mean over the scored positions of this process (0, still
    differentiable, when there are none).
    """
    if isinstance(logits, Tensor):
        logits, targets, mask = [logits], [targets], [mask]  # type: ignore[list-item]
    total, count = None, None
    for lg, tg, mk in zip(logits, targets, mask):  # type: ignore[arg-type]
        if lg.dim() != 3 or lg.shape[1] != 4 or lg.shape[-1] != tg.shape[-1]:
            raise ValueError(f"mlm_loss: logits must be (B, 4, L) matching targets (B, L); got "
                             f"{tuple(lg.shape)} and {tuple(tg.shape)}")
        tg = tg.long()
        scored = mk.bool() & (tg < 4)
        ce = F.cross_entropy(lg.float(), tg.clamp(max=3), reduction="none")
        part, n = (ce * scored).sum(), scored.sum()
        total = part if total is None else total + part
        count = n if count is None else count + n
    assert total is not None and count is not None, "mlm_loss: no logits"
    return total / count.clamp_min(1)
