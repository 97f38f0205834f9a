"""The IsoCLR encoder ``f`` (dilated residual 1-D CNN), the projector ``g`` and the MLM head.

Architecture (Fradkin et al. 2023, arXiv:2310.08738, Methods, and the authors' released code):

* stem: conv (``stem_width`` channels) -> BN -> ReLU -> max-pool 2;
* four stages of basic blocks; the first block of each stage ends in max-pool 2, so with the
  stem the sequence is down-sampled x32 overall;
* basic block: dilated conv -> BN -> ReLU -> dropout -> conv -> BN -> (+ residual, a 1x1 conv +
  BN when the widths differ) -> ReLU [-> max-pool 2];
* global average pooling over each sequence's TRUE length gives ``h``.

Padding never leaks into ``h``. Sequences are padded at the right end (the loader pads with
code PAD, whose tracks are all zero). At every resolution the encoder keeps a mask of the valid
positions (``ceil(length / 2**k)`` after ``k`` poolings) and

1. multiplies the activations by the mask before every convolution, so a convolution at the
   right edge of a sequence sees zeros beyond it, exactly the zero "same" padding it would see
   if the sequence were alone and unpadded;
2. max-pools with ``ceil_mode=True`` on non-negative (post-ReLU, masked) activations, so a
   window holding the last valid position and a padded zero returns the valid value, the same
   as the incomplete last window of the unpadded sequence. Under ``torch.compile`` each input
   is first zero-padded on the right to a multiple of the down-sampling (32) and pooled by a
   reshape + max (:func:`max_pool2`): the same values, without ``max_pool1d``'s output-size
   rule, which made even ``dynamic=True`` recompile for every new width;
3. normalises with :class:`MaskedBatchNorm1d`, whose training statistics are taken over valid
   positions only (eval mode uses the running statistics, which are per-position anyway);
4. averages only the ``ceil(length / 32)`` valid positions at the end.

So the same sequence padded to any length gives the same ``h`` in eval mode (tested to float
round-off), and in training mode the batch statistics do not depend on how much padding the
batch carries.

Kernel size: the original scripts used 2 ("Kernel size 2 in the scripts"); with kernel 2 the
presets come closest to the reference parameter counts (small 0.78 M vs "about 0.9 M", medium
4.88 M vs "about 5 M"; a kernel of 3 would give small 1.17 M). An even kernel has no centre, so
its "same" padding is asymmetric: of the ``dilation * (kernel - 1)`` extra positions a dilated
kernel spans, ``floor(span / 2)`` zeros go on the left and the rest on the right (PyTorch's
``padding="same"`` convention). With kernel 2, output ``i`` of a dilation-1 conv sees inputs
``i`` and ``i + 1``; a dilation-``d`` conv (``d`` even) sees ``i - d/2`` and ``i + d/2``.

Synchronised BN: every BN layer here is a :class:`MaskedBatchNorm1d` (a ``BatchNorm1d``
subclass: same parameters and buffers, so ``state_dict`` keys are the standard ones). It syncs
its statistics across processes itself (any backend, CPU/gloo included, which
``torch.nn.SyncBatchNorm`` does not support) once :func:`convert_sync_batchnorm` has switched it
on.

Checkpoint written by ``isoclr pretrain`` and read by :func:`load_encoder` (a dict):

============== =================================================================
key            value
============== =================================================================
model_config   dict, the resolved architecture (:func:`resolve_config`)
encoder        ``Encoder.state_dict()``
projector      ``Projector.state_dict()`` (or None for the ``mlm`` objective)
mlm_head       ``MLMHead.state_dict()`` (only for the ``mlm`` objective)
objective      ``"dcl"``, ``"ntxent"`` or ``"mlm"``
...            training state (step, optimiser, scheduler, sampler, RNG, config)
============== =================================================================

Only tensors, dicts, lists and str/int/float/bool/None are stored (RNG states as tensors), so
every checkpoint loads with ``torch.load(weights_only=True)`` (:func:`load_checkpoint`); a file
that needs more is refused, never unpickled.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from isoclr.pretrain.architecture import (  # noqa: F401  (the presets and resolved config, re-exported)
    ARCH_KEYS,
    DOWNSAMPLE,
    REFERENCE_PARAMS,
    SIZES,
    encoder_parameters,
    resolve_config,
)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Masks and distributed helpers


def length_mask(lengths: Tensor, size: int) -> Tensor:
    """(B,) lengths -> (B, 1, size) bool mask, True on the first ``length`` positions."""
    pos = torch.arange(size, device=lengths.device)
    return (pos.unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(1)


def downsample_lengths(lengths: Tensor, factor: int = 2) -> Tensor:
    """Valid positions after a ``ceil_mode`` max-pool of ``factor``: ``ceil(length / factor)``."""
    return torch.div(lengths + (factor - 1), factor, rounding_mode="floor")


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """``x`` (..., L) zero-padded on the right to the next multiple of ``multiple``."""
    extra = -x.shape[-1] % multiple
    return F.pad(x, (0, extra)) if extra else x


def max_pool2(x: Tensor) -> Tensor:
    """Max-pool of window and stride 2 over the last axis of (B, C, L) (``ceil_mode``).

    Eager: ``F.max_pool1d(x, 2, 2, ceil_mode=True)``. While compiling (the width is then even,
    see :meth:`Encoder._features`): the same values and gradients (the gradient goes to one
    maximum of each window) as a max over a reshaped axis, because ``torch.compile``
    specialises ``max_pool1d``'s graph on the width, even with ``dynamic=True``; this form
    keeps the width symbolic.
    """
    if not torch.compiler.is_compiling():  # eager: the library kernel, any width
        return F.max_pool1d(x, 2, 2, ceil_mode=True)
    return torch.maximum(x[..., 0::2], x[..., 1::2])


def _zero_padding(t: Tensor, mask: Tensor) -> Tensor:
    """``t`` with the padded positions set to 0, in ``t``'s dtype (no promotion under AMP)."""
    return t * mask.to(t.dtype)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


# --------------------------------------------------------------------------------------------
# Layers


class _MaskedBatchNormFunction(torch.autograd.Function):
    """Training-mode BN over the valid positions of one or more tensors, hand-written backward.

    Same maths as ``SyncBatchNorm``: forward reduces (sum, sum of squares, count) per channel
    over every valid position of every tensor (the length groups of one batch), all-reduced
    over processes when ``sync``; backward reduces (sum dy, sum dy * (x - mean)) the same way and
    returns the LOCAL parameter gradients (DDP averages those). A few fused full-size operations
    instead of autograd's dozen.

    ``apply(weight, bias, eps, sync, n, x_1..x_n, mask_1..mask_n)`` returns
    ``(y_1..y_n, mean, var, count)``; a mask may be None (all positions valid).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, weight: Tensor | None, bias: Tensor | None, eps: float, sync: bool, n: int,
        *tensors: Tensor | None,
    ) -> tuple[Tensor, ...]:
        xs, masks = list(tensors[:n]), list(tensors[n:])
        for k, m in enumerate(masks):  # zero the padding: sums over everything = sums over valid
            if m is not None:
                masks[k] = m = m.to(xs[k].dtype)  # type: ignore[union-attr]
                xs[k] = xs[k] * m  # type: ignore[operator]
        wide = [x.float() if x.dtype in (torch.float16, torch.bfloat16) else x for x in xs]  # type: ignore[union-attr]
        # per-channel sums over all positions of all groups (padding contributes zeros) and
        # processes; one pass (E[x^2] - mean^2): fast plain reductions, accurate enough in
        # float32 for post-conv activations
        counts = [
            m.sum(dtype=xf.dtype) if m is not None else torch.tensor(float(xf.shape[0] * xf.shape[2]),
                                                                      dtype=xf.dtype, device=xf.device)
            for xf, m in zip(wide, masks)
        ]
        stats = torch.cat([
            sum(xf.sum(dim=(0, 2)) for xf in wide),  # type: ignore[misc]
            sum(xf.square().sum(dim=(0, 2)) for xf in wide),  # type: ignore[misc]
            torch.stack(counts).sum().reshape(1),
        ])
        if sync:
            dist.all_reduce(stats, op=dist.ReduceOp.SUM)
        c = (stats.shape[0] - 1) // 2
        count = stats[-1].clamp_min(1.0)
        mean = stats[:c] / count
        var = (stats[c : 2 * c] / count - mean.square()).clamp_min(0.0)
        invstd = torch.rsqrt(var + eps)
        scale = invstd * weight if weight is not None else invstd
        shift = bias - mean * scale if bias is not None else -mean * scale
        ys = [torch.addcmul(shift[:, None].to(x.dtype), x, scale[:, None].to(x.dtype)) for x in xs]  # type: ignore[union-attr]
        ctx.save_for_backward(weight, mean, invstd, count, *xs, *masks)
        ctx.sync, ctx.n = sync, n
        ctx.mark_non_differentiable(mean, var, count)
        return (*ys, mean, var, count)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        n = ctx.n
        weight, mean, invstd, count, *rest = ctx.saved_tensors
        xs, masks = rest[:n], rest[n:]
        dys = [dy * m if m is not None else dy for dy, m in zip(grads[:n], masks)]

        def wide(t: Tensor) -> Tensor:
            return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t

        sum_dy = sum(wide(dy).sum(dim=(0, 2)) for dy in dys)
        sum_dy_xmu = sum((wide(dy) * wide(x)).sum(dim=(0, 2)) for dy, x in zip(dys, xs)) - mean * sum_dy
        grad_bias = sum_dy if ctx.needs_input_grad[1] else None
        grad_weight = sum_dy_xmu * invstd if ctx.needs_input_grad[0] else None
        grad_xs: list[Tensor | None] = [None] * n
        if any(ctx.needs_input_grad[5 : 5 + n]):
            if ctx.sync:
                both = torch.cat([sum_dy, sum_dy_xmu])  # type: ignore[list-item]
                dist.all_reduce(both, op=dist.ReduceOp.SUM)
                sum_dy, sum_dy_xmu = both.chunk(2)
            a = invstd * weight if weight is not None else invstd
            b = -a * invstd.square() * sum_dy_xmu / count
            c = -a * sum_dy / count - b * mean
            for k, (x, dy, m) in enumerate(zip(xs, dys, masks)):
                # dx = a dy + b x + c on the valid positions, 0 on the padding
                g = torch.addcmul(c[:, None].to(x.dtype), x, b[:, None].to(x.dtype))
                g = torch.addcmul(g, dy, a[:, None].to(x.dtype))
                grad_xs[k] = g * m if m is not None else g
        return (grad_weight, grad_bias, None, None, None, *grad_xs, *([None] * n))


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """``BatchNorm1d`` whose training statistics cover valid (unpadded) positions only.

    ``forward(x, mask)``: ``x`` (B, C, L) or (B, C); ``mask`` (B, 1, L) bool/float or None
    (all valid). ``x`` and ``mask`` may also be lists (the length groups of one batch): the
    statistics are then taken over all of them together, exactly as for one tensor holding
    every row, and a list comes back. With ``sync = True`` (set by
    :func:`convert_sync_batchnorm`) the statistics are summed over all processes, like
    ``SyncBatchNorm`` but on any device (CPU/gloo included). Statistics are computed in float32
    (float64 for float64 input) in one pass (sum and sum of squares of the masked tensor, over
    the valid positions and over processes). The outputs at padded positions are meaningless
    (the encoder masks them away); their gradient is zero. Eval mode is plain ``F.batch_norm``
    with the running statistics.
    """

    sync: bool = False

    def forward(  # type: ignore[override]
        self, x: Tensor | Sequence[Tensor], mask: Tensor | Sequence[Tensor | None] | None = None
    ) -> Any:
        single = isinstance(x, Tensor)
        xs = [x] if single else list(x)  # type: ignore[list-item]
        if single or mask is None:
            masks = [mask] * len(xs)  # type: ignore[list-item]
        else:
            masks = list(mask)  # type: ignore[arg-type]
        if not (self.training or not self.track_running_stats):
            ys = [F.batch_norm(t, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
                  for t in xs]
            return ys[0] if single else ys
        squeeze = xs[0].dim() == 2
        if squeeze:
            xs = [t.unsqueeze(-1) for t in xs]
        out = _MaskedBatchNormFunction.apply(
            self.weight, self.bias, self.eps, self.sync and _distributed(), len(xs), *xs, *masks
        )
        ys, (mean, var, count) = list(out[: len(xs)]), out[len(xs) :]
        if self.track_running_stats:
            self._update_running(mean, var, count)
        if squeeze:
            ys = [y.squeeze(-1) for y in ys]
        return ys[0] if single else ys

    @torch.no_grad()
    def _update_running(self, mean: Tensor, var: Tensor, count: Tensor) -> None:
        assert self.running_mean is not None and self.running_var is not None
        assert self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        if self.momentum is None:  # cumulative moving average, as in torch
            factor = 1.0 / float(self.num_batches_tracked)
        else:
            factor = self.momentum
        unbiased = var * (count / (count - 1).clamp_min(1.0))
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)


class SameConv1d(nn.Conv1d):
    """Bias-free stride-1 conv with "same" output length (asymmetric padding for even spans)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, dilation: int = 1) -> None:
        span = dilation * (kernel_size - 1)
        self.pad_left, self.pad_right = span // 2, span - span // 2
        sym = self.pad_left == self.pad_right
        super().__init__(
            in_ch, out_ch, kernel_size, dilation=dilation, padding=self.pad_left if sym else 0,
            bias=False,
        )
        self._explicit_pad = not sym

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        if self._explicit_pad:
            x = F.pad(x, (self.pad_left, self.pad_right))
        return super().forward(x)


class BasicBlock(nn.Module):
    """Dilated conv, BN, ReLU, dropout, conv, BN, + residual, ReLU [, max-pool 2]."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel_size: int, dilation: int, dropout: float, pool: bool
    ) -> None:
        super().__init__()
        self.conv1 = SameConv1d(in_ch, out_ch, kernel_size, dilation)
        self.bn1 = MaskedBatchNorm1d(out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = SameConv1d(out_ch, out_ch, kernel_size, 1)
        self.bn2 = MaskedBatchNorm1d(out_ch)
        self.shortcut: nn.Conv1d | None = None
        self.bn_shortcut: MaskedBatchNorm1d | None = None
        if in_ch != out_ch:
            self.shortcut = nn.Conv1d(in_ch, out_ch, 1, bias=False)
            self.bn_shortcut = MaskedBatchNorm1d(out_ch)
        self.pool = pool

    def forward(self, xs: list[Tensor], masks: list[Tensor]) -> list[Tensor]:
        """The length groups ``xs`` (B_g, C, L_g), each already zero beyond its rows' lengths
        (``masks`` (B_g, 1, L_g)); returns them (pooled) the same way. BN pools all groups."""
        out = self.bn1([self.conv1(x) for x in xs], masks)
        out = [self.dropout(F.relu(o)) for o in out]
        out = self.bn2([self.conv2(_zero_padding(o, m)) for o, m in zip(out, masks)], masks)
        if self.shortcut is not None:
            assert self.bn_shortcut is not None
            res = self.bn_shortcut([self.shortcut(x) for x in xs], masks)
        else:
            res = xs
        out = [_zero_padding(F.relu(o + r), m) for o, r, m in zip(out, res, masks)]
        if self.pool:  # non-negative, zero-padded: a padded zero never wins a window
            out = [max_pool2(o) for o in out]
        return out


class Encoder(nn.Module):
    """Dilated residual CNN: ``forward(x (B, 6, L), lengths (B,)) -> h (B, out_dim)``."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        cfg = resolve_config(config)
        self.config = cfg
        k = cfg["kernel_size"]
        self.stem = SameConv1d(cfg["in_channels"], cfg["stem_width"], k)
        self.stem_bn = MaskedBatchNorm1d(cfg["stem_width"])
        blocks: list[BasicBlock] = []
        in_ch = cfg["stem_width"]
        for width, n_blocks, dil in zip(cfg["widths"], cfg["blocks"], cfg["dilations"]):
            for b in range(n_blocks):
                blocks.append(BasicBlock(in_ch, width, k, dil, cfg["dropout"], pool=b == 0))
                in_ch = width
        self.blocks = nn.ModuleList(blocks)
        self.channels = in_ch
        self.head: nn.Linear | None = None
        if cfg["h_dim"] != in_ch:  # optional linear map of the pooled features
            self.head = nn.Linear(in_ch, cfg["h_dim"], bias=False)
        self.out_dim: int = cfg["h_dim"]
        self.downsample = 2 ** (1 + len(cfg["widths"]))

    def _check(self, x: Tensor, lengths: Tensor | None) -> Tensor:
        """Validated (B,) long lengths on ``x``'s device (None: all ``x.shape[-1]``)."""
        if x.dim() != 3 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(
                f"encoder input must be (batch, {self.config['in_channels']}, length), "
                f"got {tuple(x.shape)}"
            )
        size = x.shape[-1]
        if lengths is None:
            return torch.full((x.shape[0],), size, dtype=torch.long, device=x.device)
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (x.shape[0],):
            raise ValueError(f"encoder: lengths must be ({x.shape[0]},), got "
                             f"{tuple(lengths.shape)}")
        # checked where it costs no device sync, and not while compiling (it would specialise
        # the graph on the lengths' values)
        if lengths.device.type == "cpu" and not torch.compiler.is_compiling():
            lo, hi = int(lengths.min()), int(lengths.max())
            if lo < 1 or hi > size:
                raise ValueError(
                    f"encoder: lengths must be in [1, {size}] (the padded length), "
                    f"got min {lo}, max {hi}"
                )
        return lengths.to(device=x.device, dtype=torch.long)

    def _features(
        self, xs: Sequence[Tensor], lengths: Sequence[Tensor | None]
    ) -> tuple[list[Tensor], list[Tensor]]:
        """The groups' features and lengths at the final resolution (BN pools all groups)."""
        if len(xs) != len(lengths) or not len(xs):
            raise ValueError(f"encoder: {len(xs)} input groups but {len(lengths)} length tensors")
        lens = [self._check(x, n) for x, n in zip(xs, lengths)]
        if torch.compiler.is_compiling():
            # zero-pad every group to a multiple of the down-sampling: every pool is then exact
            # (the same values as ceil_mode pools of the unpadded width, without the
            # length-specialising ceil_mode size rule); the features keep ceil(L / 32)
            # positions. Eager runs skip it (bit-identical to before, no extra work).
            xs = [pad_to_multiple(x, self.downsample) for x in xs]

        def masks_for(outs: list[Tensor]) -> list[Tensor]:
            return [length_mask(n, o.shape[-1]).to(o.dtype) for n, o in zip(lens, outs)]

        masks = masks_for(list(xs))
        out = self.stem_bn([self.stem(_zero_padding(x, m)) for x, m in zip(xs, masks)], masks)
        out = [max_pool2(_zero_padding(F.relu(o), m)) for o, m in zip(out, masks)]
        lens = [downsample_lengths(n) for n in lens]
        masks = masks_for(out)
        for block in self.blocks:
            out = block(out, masks)
            if block.pool:
                lens = [downsample_lengths(n) for n in lens]
                masks = masks_for(out)
        return out, lens

    @staticmethod
    def _groups(x: Tensor | Sequence[Tensor], lengths: Any) -> tuple[bool, list[Tensor], list[Any]]:
        if isinstance(x, Tensor):
            return True, [x], [lengths]
        xs = list(x)
        return False, xs, list(lengths) if lengths is not None else [None] * len(xs)

    def features(self, x: Tensor | Sequence[Tensor], lengths: Any = None) -> Any:
        """Per-position features before pooling: (B, channels, ceil(L / 32)), zero past lengths
        (a list of them for a list of length groups)."""
        single, xs, lens = self._groups(x, lengths)
        feats = self._features(xs, lens)[0]
        return feats[0] if single else feats

    def pool(self, feats: Tensor, lengths: Tensor) -> Tensor:
        """Mean over the valid ``lengths`` (at the features' resolution) -> (B, out_dim)."""
        # summed in float32 at least: exact enough under bf16 autocast too
        if feats.dtype in (torch.float16, torch.bfloat16):
            feats = feats.float()
        h = feats.sum(dim=-1) / lengths.to(feats.dtype).unsqueeze(1)
        return self.head(h) if self.head is not None else h

    def forward(self, x: Tensor | Sequence[Tensor], lengths: Any = None) -> Tensor:
        """``x`` (B, 6, L) float tracks, ``lengths`` (B,) true lengths (None: all L) -> h.

        ``x`` and ``lengths`` may also be lists: the length groups of one batch, each padded to
        its own longest row. They run layer by layer with batch-norm statistics over all
        groups, so ``h`` (rows of the groups concatenated in order) equals that of one forward
        over every row padded to the longest; only the padding costs nothing.

        Lengths are validated when they come on the CPU (as the loader hands them out); pass
        them so (the encoder moves them) to keep that check free of device syncs.
        """
        _, xs, lens = self._groups(x, lengths)
        h = [self.pool(f, n) for f, n in zip(*self._features(xs, lens))]
        return h[0] if len(h) == 1 else torch.cat(h)


class Projector(nn.Module):
    """MLP ``g``: Linear -> BN -> ReLU for each hidden dim, then a final Linear (no biases)."""

    def __init__(self, in_dim: int, dims: Sequence[int] = (2048, 2048, 512)) -> None:
        super().__init__()
        if len(dims) < 1:
            raise ValueError("projector: needs at least one output dimension")
        layers: list[nn.Module] = []
        prev = in_dim
        for d in dims[:-1]:
            layers += [nn.Linear(prev, d, bias=False), MaskedBatchNorm1d(d), nn.ReLU(inplace=True)]
            prev = d
        layers.append(nn.Linear(prev, dims[-1], bias=False))
        self.net = nn.Sequential(*layers)
        self.in_dim = in_dim
        self.out_dim = int(dims[-1])

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)


class MLMHead(nn.Module):
    """Per-nucleotide logits over A, C, G, T from the x32 down-sampled encoder features.

    A transposed conv with kernel = stride = ``downsample`` gives every one of the 32
    nucleotides under a feature position its own linear map (position-aware up-sampling),
    followed by ReLU, a ``kernel_size`` conv that mixes neighbouring nucleotides, ReLU and a
    1x1 conv to 4 logits. ``forward(feats (B, C, L'), length L, lengths (B,)) -> (B, 4, L)``
    (cropped to L). The up-sampled activations are zeroed past each row's true length before
    the mixing conv, so a row's logits do not depend on how far it is padded. The head only
    sees encoder features, never the input, so the encoder has to do the work.
    """

    def __init__(
        self, encoder_channels: int, hidden: int = 32, downsample: int = DOWNSAMPLE,
        kernel_size: int = 5, n_classes: int = 4,
    ) -> None:
        super().__init__()
        self.up = nn.ConvTranspose1d(encoder_channels, hidden, downsample, stride=downsample)
        self.mix = nn.Conv1d(hidden, hidden, kernel_size, padding=kernel_size // 2)
        self.out = nn.Conv1d(hidden, n_classes, 1)

    def forward(self, feats: Tensor, length: int, lengths: Tensor | None = None) -> Tensor:
        y = F.relu(self.up(feats))[..., :length]
        if lengths is not None:
            y = _zero_padding(y, length_mask(lengths.to(y.device), length))
        return self.out(F.relu(self.mix(y)))


# --------------------------------------------------------------------------------------------
# Builders, counts, checkpoints


def build_encoder(model_cfg: Mapping[str, Any] | str | None = None) -> Encoder:
    """A fresh (randomly initialised) encoder for a model config (or a preset name)."""
    return Encoder(resolve_config(model_cfg))


def build_projector(model_cfg: Mapping[str, Any] | str | None, in_dim: int) -> Projector:
    """The projector of a model config, taking ``in_dim`` (the encoder's ``out_dim``)."""
    return Projector(in_dim, resolve_config(model_cfg)["projector"])


def build_mlm_head(encoder: Encoder, hidden: int = 32) -> MLMHead:
    """The MLM head matching an encoder's channels and down-sampling."""
    return MLMHead(encoder.channels, hidden=hidden, downsample=encoder.downsample)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Synchronise BN statistics across processes (call when distributed, before DDP).

    Switches on syncing for every :class:`MaskedBatchNorm1d` (works on CPU/gloo and GPU) and
    converts any other ``BatchNorm`` layer with ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``
    (GPU only). Returns the module (converted in place where possible).
    """
    for sub in module.modules():
        if isinstance(sub, MaskedBatchNorm1d):
            sub.sync = True
    others = any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, MaskedBatchNorm1d)
        for m in module.modules()
    )
    if others:
        module = _convert_plain_bn(module)
    return module


def _convert_plain_bn(module: nn.Module) -> nn.Module:
    if isinstance(module, MaskedBatchNorm1d):
        return module
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        module.add_module(name, _convert_plain_bn(child))
    return module


def adamw_options(device: torch.device | str) -> dict[str, Any]:
    """``torch.optim.AdamW`` keyword arguments for parameters on ``device``: ``fused=True``.

    The fused kernel updates every parameter in one pass (CUDA, and CPU since torch 2.4).
    Measured on the 2-core CPU, one AdamW step of the small model with its projector
    (6.6 M parameters): for-loop (torch's CPU default) ~720 ms, ``foreach`` ~210 ms, fused
    ~60 ms, under load (docs/gpu.md); on CUDA torch's default is ``foreach``, and fused is the
    documented faster choice (one kernel launch instead of several per parameter list).
    """
    kind = torch.device(device).type
    return {"fused": True} if kind in ("cuda", "cpu") else {}


def compile_model(module: nn.Module, device: torch.device | str, **kwargs: Any) -> nn.Module:
    """``torch.compile`` for training with variable batch shapes: ``dynamic=True``.

    The encoder keeps widths and row counts symbolic (exact pools on widths padded to a
    multiple of 32, see :func:`max_pool2`), so a run compiles one graph per number of length
    groups in a batch (and one per mode: training, validation), not one per batch shape. On
    CUDA this also switches on ``cudnn.benchmark``: with compile, the loader rounds group widths
    to a fixed set (:data:`isoclr.pretrain.loader.COMPILE_WIDTH_BUCKETS`), so the convolution shapes
    recur every epoch and autotuning each once pays off.
    """
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True
    options = {"dynamic": True, **kwargs}
    return torch.compile(module, **options)  # type: ignore[return-value]


def describe(model_cfg: Mapping[str, Any] | str | None = None) -> str:
    """A table of parameter counts: one config, or every preset when ``model_cfg`` is None."""
    configs = [resolve_config(model_cfg)] if model_cfg is not None else [
        resolve_config(s) for s in SIZES
    ]
    rows = ["size\twidths\tblocks\tkernel\th_dim\tencoder_params\tprojector_params"]
    for cfg in configs:
        enc = build_encoder(cfg)
        proj = build_projector(cfg, enc.out_dim)
        rows.append(
            f"{cfg['size']}\t{tuple(cfg['widths'])}\t{tuple(cfg['blocks'])}\t{cfg['kernel_size']}"
            f"\t{enc.out_dim}\t{count_parameters(enc)}\t{count_parameters(proj)}"
        )
    return "\n".join(rows)


def save_checkpoint(
    path: str | os.PathLike[str],
    encoder: Encoder,
    objective: str,
    projector: nn.Module | None = None,
    **state: Any,
) -> None:
    """Write a checkpoint in the format :func:`load_encoder` reads (atomically).

    Extra keyword arguments (step, optimizer, scheduler, rng, mlm_head...) are stored as is.
    """
    from isoclr.core.files import atomic_path

    enc = encoder.module if hasattr(encoder, "module") else encoder  # DDP-wrapped
    proj = projector.module if projector is not None and hasattr(projector, "module") else projector
    ckpt = {
        "model_config": dict(enc.config),
        "encoder": enc.state_dict(),
        "projector": proj.state_dict() if proj is not None else None,
        "objective": objective,
        **state,
    }
    _check_plain(ckpt, str(path))
    import io

    buf = io.BytesIO()  # torch.save's own file writer reports a full disk as an opaque RuntimeError
    torch.save(ckpt, buf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getbuffer())


_PLAIN_SCALARS = (str, int, float, bool, type(None), torch.Size, torch.dtype, torch.device)


def _check_plain(value: Any, where: str) -> None:
    """Refuse to save anything ``torch.load(weights_only=True)`` could not read back: only
    tensors, dicts, lists, tuples and str/int/float/bool/None are allowed."""
    if isinstance(value, (torch.Tensor, *_PLAIN_SCALARS)):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: checkpoint key {k!r} is a {type(k).__name__}, not str/int")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where}: a {type(value).__module__}.{type(value).__name__} cannot go into a checkpoint "
        "(only tensors, dicts, lists and str/int/float/bool/None, so that it loads with weights_only=True)"
    )


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: never unpickles arbitrary objects. A file that
    needs more than tensors and plain containers (a crafted pickle, or a checkpoint written by
    another program) is refused with a ValueError naming it; nothing in it is executed."""
    import pickle

    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, ValueError, EOFError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{path}: refused: not a checkpoint that loads with only tensors and plain types "
            f"(torch.load weights_only=True says: {first}); a checkpoint that holds other objects "
            "(NumPy arrays or RNG state, say) cannot be read safely: pre-train the model again"
        ) from err


def load_encoder(
    path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu"
) -> tuple[Encoder, dict[str, Any]]:
    """Frozen encoder (eval mode, ``requires_grad`` off) from a pre-training checkpoint.

    Returns ``(encoder, info)``; ``info`` holds ``model_config``, ``objective``, ``path`` and the
    checkpoint's scalar entries (step, epoch...).
    """
    path = Path(path)
    ckpt = load_checkpoint(path, map_location=map_location)
    if not isinstance(ckpt, dict) or "model_config" not in ckpt or "encoder" not in ckpt:
        raise ValueError(
            f"{path}: not an isoclr checkpoint (needs the keys 'model_config' and 'encoder')"
        )
    try:
        encoder = build_encoder(ckpt["model_config"])
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{path}: model_config: {err}") from err
    state = ckpt["encoder"]
    bad = [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point()
           and not bool(torch.isfinite(v).all())] if isinstance(state, dict) else []
    if bad:
        raise ValueError(f"{path}: encoder weight {bad[0]} holds NaN or infinity "
                         f"({len(bad)} tensor(s)): not a usable checkpoint")
    if any(k.startswith("module.") for k in state):  # saved from a DDP wrapper
        state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        encoder.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path}: encoder weights do not match its model_config: {err}") from err
    encoder.eval()
    encoder.requires_grad_(False)
    info: dict[str, Any] = {
        "model_config": encoder.config,
        "objective": ckpt.get("objective"),
        "path": str(path),
        # the tracks its pre-training zeroed (config encoding.drop_tracks): embed it the same way
        "drop_tracks": list((ckpt.get("config") or {}).get("drop_tracks") or []),
    }
    for key, value in ckpt.items():
        if key not in info and isinstance(value, (int, float, str, bool)):
            info[key] = value
    return encoder, info


if __name__ == "__main__":  # python -m isoclr.pretrain.model: parameter counts of the presets
    print(describe())
