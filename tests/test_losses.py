"""Losses against slow reference computations written with explicit loops over i, j."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from isoclr.pretrain.losses import (
    dcl_loss,
    gather_with_grad,
    mlm_loss,
    ntxent_loss,
    set_weights,
    weight_norm,
)


def _views(n: int = 5, d: int = 7, seed: int = 0, dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randn(n, d, generator=g, dtype=dtype)


def _normalise(z: torch.Tensor) -> list[list[float]]:
    return [[v / math.sqrt(sum(u * u for u in row)) for v in row] for row in z.tolist()]


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def slow_dcl(z1, z2, w, t):  # type: ignore[no-untyped-def]
    a, b = _normalise(z1), _normalise(z2)
    n = len(a)
    total = 0.0
    for i in range(n):
        for anchor in (a[i], b[i]):
            neg = 0.0
            for k in range(n):
                if k == i:
                    continue
                for other in (a[k], b[k]):
                    neg += math.exp(_dot(anchor, other) / t)
            total += -w[i] * _dot(a[i], b[i]) / t + math.log(neg)
    return total / (2 * n)


def slow_ntxent(z1, z2, w, t):  # type: ignore[no-untyped-def]
    a, b = _normalise(z1), _normalise(z2)
    views = [(i, v) for v in range(2) for i in range(len(a))]
    vec = {(i, 0): a[i] for i in range(len(a))} | {(i, 1): b[i] for i in range(len(a))}
    total = 0.0
    for i, v in views:
        denom = 0.0
        for j, u in views:
            if (j, u) == (i, v):
                continue
            denom += math.exp(_dot(vec[(i, v)], vec[(j, u)]) / t)
        pos = _dot(vec[(i, v)], vec[(i, 1 - v)]) / t
        total += w[i] * (-pos + math.log(denom))
    return total / len(views)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_dcl_matches_loops(weighted: bool, temperature: float) -> None:
    z1, z2 = _views()
    w = set_weights(torch.tensor([1, 2, 5, 1, 3])) if weighted else None
    wl = w.tolist() if w is not None else [1.0] * 5
    got = dcl_loss(z1, z2, w, temperature=temperature).item()
    assert got == pytest.approx(slow_dcl(z1, z2, wl, temperature), rel=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_ntxent_matches_loops(weighted: bool) -> None:
    z1, z2 = _views(seed=1)
    w = set_weights(np.array([1, 2, 5, 1, 3])) if weighted else None
    wl = list(w) if w is not None else [1.0] * 5
    got = ntxent_loss(z1, z2, None if w is None else torch.from_numpy(w)).item()
    assert got == pytest.approx(slow_ntxent(z1, z2, wl, 0.1), rel=1e-6)


def test_losses_are_symmetric_and_scale_free() -> None:
    z1, z2 = _views(seed=2)
    assert dcl_loss(z1, z2).item() == pytest.approx(dcl_loss(z2, z1).item(), rel=1e-12)
    # z are L2-normalised inside: scaling a projection changes nothing
    assert dcl_loss(3 * z1, z2).item() == pytest.approx(dcl_loss(z1, z2).item(), rel=1e-12)


def test_dcl_positive_not_in_denominator() -> None:
    """Identical views: DCL's positive term is exactly -w/t, NT-Xent is always > 0."""
    z1, _ = _views(seed=3)
    t = 0.1
    a = _normalise(z1)
    expected = slow_dcl(z1, z1, [1.0] * 5, t)
    assert dcl_loss(z1, z1.clone(), temperature=t).item() == pytest.approx(expected, rel=1e-9)
    neg_only = expected + 1 / t
    assert neg_only == pytest.approx(
        sum(math.log(sum(2 * math.exp(_dot(a[i], a[k]) / t) for k in range(5) if k != i))
            for i in range(5)) / 5, rel=1e-9)
    assert ntxent_loss(z1, z1.clone()).item() > 0


def test_weights_only_scale_positive_term_in_dcl() -> None:
    z1, z2 = _views(seed=4)
    w = torch.tensor([0.5, 1.0, 1.5, 2.0, 0.0], dtype=torch.float64)
    pos = (torch.nn.functional.normalize(z1, dim=1) * torch.nn.functional.normalize(z2, dim=1)
           ).sum(1) / 0.1
    diff = dcl_loss(z1, z2, w) - dcl_loss(z1, z2)
    assert diff.item() == pytest.approx((-(w - 1) * pos).mean().item(), rel=1e-9)


def test_gradcheck() -> None:
    z1, z2 = _views(n=4, d=3, seed=5)
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    w = torch.tensor([0.3, 1.0, 1.7, 1.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, b: dcl_loss(a, b, w, 0.5), (z1, z2))
    assert torch.autograd.gradcheck(lambda a, b: ntxent_loss(a, b, w, 0.5), (z1, z2))


def test_float32_and_errors() -> None:
    z1, z2 = _views(dtype=torch.float32)
    assert dcl_loss(z1, z2).dtype == torch.float32
    with pytest.raises(ValueError, match="weights"):
        dcl_loss(z1, z2, torch.ones(3))
    with pytest.raises(ValueError, match="two sets"):
        dcl_loss(z1[:1], z2[:1])
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        ntxent_loss(z1, z2[:3])


def test_set_weights() -> None:
    n = np.array([1, 1, 2, 3, 8, 40])
    w = set_weights(n)
    assert w.mean() == pytest.approx(1.0, rel=1e-6)
    norm = weight_norm(n, 0.4)
    assert norm == pytest.approx(np.mean(np.log(n + 0.4)))
    assert w[0] == pytest.approx(math.log(1.4) / norm, rel=1e-6)
    assert np.all(np.diff(w) >= 0)  # larger sets weigh more
    wt = set_weights(torch.tensor(n), norm=norm)
    assert isinstance(wt, torch.Tensor)
    np.testing.assert_allclose(wt.numpy(), w, rtol=1e-6)
    # weights from a training-set norm need not average 1 on another batch
    assert set_weights(np.array([1, 1]), norm=norm).mean() < 1
    with pytest.raises(ValueError):
        weight_norm([])
    with pytest.raises(ValueError):
        weight_norm([0, 2])


def test_gather_is_identity_without_distributed() -> None:
    t = torch.randn(3, 2, requires_grad=True)
    assert gather_with_grad(t) is t


def test_mlm_loss() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 6, generator=g, requires_grad=True)
    targets = torch.tensor([[0, 1, 2, 3, 4, 5], [3, 3, 2, 1, 0, 5]])
    mask = torch.tensor([[1, 1, 0, 1, 1, 1], [0, 1, 1, 0, 0, 1]], dtype=torch.bool)
    loss = mlm_loss(logits, targets, mask)
    logp = torch.log_softmax(logits, dim=1)
    scored = [(0, 0), (0, 1), (0, 3), (1, 1), (1, 2)]  # masked and A/C/G/T (N, PAD skipped)
    ref = -sum(logp[b, targets[b, i], i] for b, i in scored) / len(scored)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    loss.backward()
    assert logits.grad is not None and logits.grad[0, :, 4].abs().sum() == 0
    none = mlm_loss(logits, targets, torch.zeros_like(mask))
    assert none.item() == 0.0 and none.requires_grad
    with pytest.raises(ValueError, match="logits"):
        mlm_loss(logits[:, :3], targets, mask)
