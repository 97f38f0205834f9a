"""Encoder: parameter counts, shapes, x32 down-sampling, padding invariance, checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from isoclr.core.encoding import tracks_torch
from isoclr.pretrain.model import (
    REFERENCE_PARAMS,
    SIZES,
    MaskedBatchNorm1d,
    SameConv1d,
    _MaskedBatchNormFunction,
    build_encoder,
    build_mlm_head,
    build_projector,
    convert_sync_batchnorm,
    count_parameters,
    describe,
    encoder_parameters,
    load_encoder,
    resolve_config,
    save_checkpoint,
)


def _randomise_bn(module: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN (bias, running stats): padding would leak through BN+ReLU without masks."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm1d):
            n = m.num_features
            m.weight.data = 0.5 + torch.rand(n, generator=g)
            m.bias.data = torch.randn(n, generator=g)
            m.running_mean.data = 0.1 * torch.randn(n, generator=g)
            m.running_var.data = 0.5 + torch.rand(n, generator=g)


def _batch(lengths: list[int], padded: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random tracks for sequences of ``lengths`` padded with PAD (code 5) to ``padded``."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.full((len(lengths), padded), 5, dtype=torch.uint8)
    marks = torch.zeros_like(codes)
    for b, n in enumerate(lengths):
        codes[b, :n] = torch.randint(0, 5, (n,), generator=g, dtype=torch.uint8)
        marks[b, :n] = torch.randint(0, 4, (n,), generator=g, dtype=torch.uint8)
    return tracks_torch(codes, marks), torch.tensor(lengths)


@pytest.mark.parametrize("size", ["small", "medium", "large"])
def test_parameter_counts_match_reference(size: str) -> None:
    enc = build_encoder(size)
    n = count_parameters(enc)
    assert abs(n - REFERENCE_PARAMS[size]) <= 0.15 * REFERENCE_PARAMS[size], n
    assert enc.out_dim == SIZES[size]["widths"][-1]
    proj = build_projector(size, enc.out_dim)
    # 2048 -> BN -> ReLU -> 2048 -> BN -> ReLU -> 512, no biases
    assert proj.out_dim == 512
    linears = [m for m in proj.modules() if isinstance(m, nn.Linear)]
    assert [lin.out_features for lin in linears] == [2048, 2048, 512]
    assert all(lin.bias is None for lin in linears)


@pytest.mark.parametrize("cfg", [
    "tiny", "small", "medium", "large", {"size": "small", "h_dim": 100},
    {"size": "tiny", "kernel_size": 3, "stem_width": 8, "widths": [8, 8, 16, 16], "blocks": [2, 1, 3, 1]},
])
def test_encoder_parameters_from_the_architecture_equal_the_built_module(cfg) -> None:
    """isoclr.pretrain.architecture counts without torch (the Snakefile's figure settings use it): the
    count must be exactly the built encoder's, for every preset and for overrides."""
    from isoclr.pretrain import architecture
    from isoclr.core import encoding

    assert architecture.N_TRACKS == encoding.N_TRACKS
    assert encoder_parameters(cfg) == count_parameters(build_encoder(cfg))
    enc = build_encoder(cfg)
    assert architecture.projector_parameters(cfg) == count_parameters(build_projector(cfg, enc.out_dim))


def test_tiny_is_tiny_and_describe() -> None:
    assert 10_000 < count_parameters(build_encoder("tiny")) < 100_000
    table = describe()
    assert all(size in table for size in SIZES)
    assert "784512" in describe("small")


def test_config_overrides_and_errors() -> None:
    cfg = resolve_config({"size": "tiny", "widths": [8, 8, 8, 8], "lr": 0.1, "h_dim": 5})
    assert cfg["widths"] == [8, 8, 8, 8] and "lr" not in cfg
    enc = build_encoder(cfg)
    assert enc.out_dim == 5
    assert enc(*_batch([40], 40)).shape == (1, 5)
    with pytest.raises(ValueError, match="unknown size"):
        resolve_config({"size": "huge"})
    with pytest.raises(ValueError, match="one entry per stage"):
        resolve_config({"size": "tiny", "blocks": [1, 1]})


@pytest.mark.parametrize("kernel,dilation", [(2, 1), (2, 2), (2, 8), (3, 1), (3, 4), (4, 3)])
def test_same_conv_keeps_length(kernel: int, dilation: int) -> None:
    conv = SameConv1d(2, 3, kernel, dilation)
    assert conv(torch.randn(1, 2, 17)).shape == (1, 3, 17)


@pytest.mark.parametrize("length", [1, 2, 31, 32, 33, 64, 100, 517])
def test_downsampling_x32_and_shapes(length: int) -> None:
    enc = build_encoder("tiny").eval()
    x, lengths = _batch([length], length)
    feats = enc.features(x, lengths)
    assert feats.shape == (1, enc.channels, math.ceil(length / 32))
    assert enc(x, lengths).shape == (1, enc.out_dim)
    assert enc.downsample == 32


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_padding_never_leaks_into_h(size: str) -> None:
    """The same sequence, alone or padded to other lengths in other batches, gives the same h."""
    torch.manual_seed(0)
    enc = build_encoder(size)
    _randomise_bn(enc)
    enc.eval()
    lengths = [517, 33, 1, 64]
    with torch.no_grad():
        x, ln = _batch(lengths, 517, seed=1)
        h_ref = enc(x, ln)
        for padded in (520, 1031):
            xp, lp = _batch(lengths, padded, seed=1)
            assert torch.equal(xp[..., :517], x)
            torch.testing.assert_close(enc(xp, lp), h_ref, rtol=1e-5, atol=1e-6)
        for b, n in enumerate(lengths):  # each alone, unpadded
            torch.testing.assert_close(enc(x[b : b + 1, :, :n], ln[b : b + 1]), h_ref[b : b + 1],
                                       rtol=1e-5, atol=1e-6)
        # features past the valid length are exactly zero
        feats = enc.features(*_batch(lengths, 600, seed=1))
        for b, n in enumerate(lengths):
            assert feats[b, :, math.ceil(n / 32) :].abs().max() == 0


def test_padding_never_leaks_in_training_mode() -> None:
    """Masked BN: batch statistics and running stats ignore padding too (dropout off)."""
    cfg = {"size": "tiny", "dropout": 0.0}
    torch.manual_seed(0)
    a, b = build_encoder(cfg), build_encoder(cfg)
    b.load_state_dict(a.state_dict())
    lengths = [300, 45, 129]
    ha = a(*_batch(lengths, 300, seed=2))
    hb = b(*_batch(lengths, 777, seed=2))
    torch.testing.assert_close(ha, hb, rtol=1e-5, atol=1e-5)
    for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(va, vb, rtol=1e-5, atol=1e-6, msg=ka)


def test_lengths_none_and_invalid() -> None:
    enc = build_encoder("tiny").eval()
    x, _ = _batch([64, 64], 64)
    torch.testing.assert_close(enc(x), enc(x, torch.tensor([64, 64])))
    with pytest.raises(ValueError, match="lengths"):
        enc(x, torch.tensor([0, 64]))
    with pytest.raises(ValueError, match="lengths"):
        enc(x, torch.tensor([65, 64]))
    with pytest.raises(ValueError, match="input"):
        enc(x[:, :4])


def test_masked_bn_without_mask_is_batchnorm() -> None:
    torch.manual_seed(0)
    ours, ref = MaskedBatchNorm1d(5), nn.BatchNorm1d(5)
    for x in (torch.randn(4, 5, 9) * 3 + 1, torch.randn(6, 5)):
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    ours.eval(), ref.eval()
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(ours(x), ref(x))


def test_convert_sync_batchnorm_without_process_group() -> None:
    enc = build_encoder({"size": "tiny", "dropout": 0.0})
    model = nn.Sequential(enc, build_projector("tiny", enc.out_dim))
    assert convert_sync_batchnorm(model) is model
    bns = [m for m in model.modules() if isinstance(m, MaskedBatchNorm1d)]
    assert bns and all(m.sync for m in bns)
    # single process: syncing is a no-op
    x, ln = _batch([50, 20], 50)
    assert model[0](x, ln).shape == (2, 64)
    # plain torch BN layers are converted to SyncBatchNorm
    plain = convert_sync_batchnorm(nn.Sequential(nn.BatchNorm1d(3)))
    assert isinstance(plain[0], nn.SyncBatchNorm)


def test_mlm_head_shapes() -> None:
    enc = build_encoder("tiny")
    head = build_mlm_head(enc)
    x, ln = _batch([100, 37], 100)
    logits = head(enc.features(x, ln), x.shape[-1])
    assert logits.shape == (2, 4, 100)
    codes = x[:, :4].argmax(1)
    from isoclr.pretrain.losses import mlm_loss

    mlm_loss(logits, codes, torch.rand(2, 100) < 0.15).backward()
    assert enc.stem.weight.grad is not None and enc.stem.weight.grad.abs().sum() > 0


def test_mlm_logits_do_not_depend_on_padding() -> None:
    torch.manual_seed(0)
    enc = build_encoder({"size": "tiny", "dropout": 0.0}).eval()
    head = build_mlm_head(enc)
    _randomise_bn(enc)
    with torch.no_grad():
        head.up.bias.fill_(0.5)  # padded features up-sample to non-zero activations
        x, ln = _batch([70, 37], 70)
        short = head(enc.features(x, ln), 70, ln)
        wide = F.pad(x, (0, 90))
        padded = head(enc.features(wide, ln), 160, ln)
    torch.testing.assert_close(padded[0, :, :70], short[0])
    torch.testing.assert_close(padded[1, :, :37], short[1, :, :37])


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    enc = build_encoder({"size": "tiny", "widths": [8, 16, 16, 24]})
    _randomise_bn(enc)
    proj = build_projector(enc.config, enc.out_dim)
    path = tmp_path / "ckpt" / "checkpoint.pt"
    save_checkpoint(path, enc, "dcl", proj, step=12, optimizer={"lr": 0.1})
    loaded, info = load_encoder(path, map_location="cpu")
    assert info["objective"] == "dcl" and info["step"] == 12
    assert info["model_config"]["widths"] == [8, 16, 16, 24]
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    enc.eval()
    x, ln = _batch([90, 15], 90)
    torch.testing.assert_close(loaded(x, ln), enc(x, ln))
    # a state dict saved from a DDP wrapper ("module." prefix) loads too
    ckpt = torch.load(path, weights_only=True)
    ckpt["encoder"] = {f"module.{k}": v for k, v in ckpt["encoder"].items()}
    torch.save(ckpt, tmp_path / "ddp.pt")
    torch.testing.assert_close(load_encoder(tmp_path / "ddp.pt")[0](x, ln), enc(x, ln))
    torch.save({"weights": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt"):
        load_encoder(tmp_path / "bad.pt")
    ckpt["model_config"]["widths"] = [8, 8, 8, 8]
    torch.save(ckpt, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="do not match"):
        load_encoder(tmp_path / "mismatch.pt")


def _reference_masked_bn(x, mask, weight, bias, eps):  # type: ignore[no-untyped-def]
    """Masked BN written with plain autograd ops (valid positions only)."""
    m = mask.to(x.dtype)
    n = m.sum()
    mean = (x * m).sum(dim=(0, 2)) / n
    var = (((x - mean[:, None]) * m) ** 2).sum(dim=(0, 2)) / n
    return ((x - mean[:, None]) / torch.sqrt(var[:, None] + eps) * weight[:, None]
            + bias[:, None]) * m


def test_masked_bn_backward_matches_autograd_reference() -> None:
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(3, 4, 11, generator=g, dtype=torch.float64) * 2 + 1).requires_grad_(True)
    mask = torch.arange(11)[None, None, :] < torch.tensor([11, 4, 7])[:, None, None]
    bn = MaskedBatchNorm1d(4).double()
    bn.weight.data = torch.rand(4, generator=g, dtype=torch.float64) + 0.5
    bn.bias.data = torch.randn(4, generator=g, dtype=torch.float64)
    upstream = torch.randn(3, 4, 11, generator=g, dtype=torch.float64)
    out = bn(x, mask) * mask
    ref = _reference_masked_bn(x, mask, bn.weight, bn.bias, bn.eps)
    torch.testing.assert_close(out, ref)
    got = torch.autograd.grad((out * upstream).sum(), [x, bn.weight, bn.bias])
    exp = torch.autograd.grad((ref * upstream).sum(), [x, bn.weight, bn.bias])
    for a, b in zip(got, exp):
        torch.testing.assert_close(a, b)
    w0 = bn.weight.detach().clone().requires_grad_(True)
    b0 = bn.bias.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t, w, b: _MaskedBatchNormFunction.apply(w, b, 1e-5, False, 1, t, mask)[0] * mask,
        (x, w0, b0),
    )
    # two groups (rows 0 and 1-2, padded to their own lengths): statistics pooled over both
    x1 = x.detach()[:1].clone().requires_grad_(True)
    x2 = x.detach()[1:, :, :7].clone().requires_grad_(True)
    m1, m2 = mask[:1], mask[1:, :, :7]
    assert torch.autograd.gradcheck(
        lambda a, c, w, b: [y * m for y, m in zip(_MaskedBatchNormFunction.apply(w, b, 1e-5, False, 2, a, c, m1, m2)[:2], (m1, m2))],
        (x1, x2, w0, b0),
    )
    # running statistics: unbiased variance of the valid positions
    valid = x.detach().permute(1, 0, 2)[:, mask[:, 0]]
    torch.testing.assert_close(bn.running_mean, 0.1 * valid.mean(1))
    torch.testing.assert_close(bn.running_var, 0.9 + 0.1 * valid.var(1))


def _grouped(x: torch.Tensor, ln: torch.Tensor, rows: list[list[int]]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The rows of a padded batch as length groups, each cut to its own longest row."""
    xs, lens = [], []
    for r in rows:
        idx = torch.tensor(r)
        xs.append(x[idx][..., : int(ln[idx].max())].clone())
        lens.append(ln[idx])
    return xs, lens


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_length_groups_equal_one_padded_batch_in_training(size: str) -> None:
    """Groups padded to their own lengths give the same h and gradients as one padded tensor
    (training mode: BN statistics pooled over the groups), and the same running statistics."""
    torch.manual_seed(0)
    enc = build_encoder({"size": size, "dropout": 0.0})
    _randomise_bn(enc)
    enc = enc.double()
    enc2 = build_encoder({"size": size, "dropout": 0.0}).double()
    enc2.load_state_dict(enc.state_dict())
    enc.train()
    enc2.train()
    lengths = [700, 33, 65, 400, 97, 1, 640, 130]
    x, ln = _batch(lengths, 700)
    x = x.double()
    rows = [[5, 1, 2, 4], [7, 3], [6, 0]]  # shortest first, like loader.length_groups
    xs, lens = _grouped(x, ln, rows)
    h_one = enc(x, ln)
    h_groups = enc2(xs, lens)
    order = torch.tensor(sum(rows, []))
    torch.testing.assert_close(h_groups, h_one[order])
    upstream = torch.randn_like(h_one)
    (h_one * upstream).sum().backward()
    (h_groups * upstream[order]).sum().backward()
    for (name, p1), p2 in zip(enc.named_parameters(), enc2.parameters()):
        torch.testing.assert_close(p2.grad, p1.grad, msg=name)
    for b1, b2 in zip(enc.buffers(), enc2.buffers()):
        torch.testing.assert_close(b2, b1)
    # per-position features come back per group, zero past each length
    feats = enc2.features(xs, lens)
    assert [f.shape[-1] for f in feats] == [-(-int(n.max()) // 32) for n in lens]


def test_bf16_autocast_keeps_activation_dtype_and_pools_in_float32() -> None:
    torch.manual_seed(0)
    enc = build_encoder({"size": "tiny", "dropout": 0.0})
    x, ln = _batch([120, 57], 120)
    ref = enc(x, ln)
    dtypes = set()
    hook = enc.blocks[1].register_forward_hook(lambda m, i, o: dtypes.update(t.dtype for t in o))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = enc(x, ln)
    hook.remove()
    assert dtypes == {torch.bfloat16} and h.dtype == torch.float32
    h.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in enc.parameters())
    torch.testing.assert_close(h, ref, rtol=0.1, atol=0.1)
