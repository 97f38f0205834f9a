"""Device correctness check: what the encoder computes on this device agrees with itself and
with float32, whichever device this is (CUDA, or the CPU with bf16 autocast on the CPU).

Usage (repository root; needs only torch, numpy and ``src/`` on the path)::

    PYTHONPATH=src python benchmarks/check_gpu.py                      # small encoder, inductor
    PYTHONPATH=src python benchmarks/check_gpu.py --size tiny --backend aot_eager   # fast (tests)

Checks, each PASS or FAIL with the measured difference and the tolerance:

1. ``bf16_vs_fp32``: one training step's loss and gradients under bf16 autocast agree with the
   float32 step within bf16 tolerance: loss within 5 %, cosine of all gradients >= 0.9 and of
   every weight's >= 0.8 (bf16 keeps 8 bits of mantissa; on the tiny CPU check the all-gradient
   cosine is 0.95): loose enough for round-off, tight enough for a wrong dtype path, NaN or sign;
2. ``compiled_vs_eager``: ``torch.compile`` (``isoclr.pretrain.model.compile_model``, the pre-training
   path, widths bucketed) gives the eager loss and gradients (dropout off, float32);
3. ``groups_vs_padded``: a batch run as length groups gives the projections and gradients of
   one tensor padded to the longest view (masked BN pools its statistics over all groups);
4. ``masked_bn``: training-mode masked BN on a padded tensor equals plain batch norm over the
   valid positions only;
5. ``padding_invariance``: in eval mode a sequence's ``h`` does not depend on its padding.

Writes ``{out-dir}/check_gpu_{cpu|cuda}.tsv`` and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn
from torch._dynamo.utils import counters

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from isoclr.pretrain import loader as L  # noqa: E402
from isoclr.pretrain import losses  # noqa: E402
from isoclr.pretrain import model  # noqa: E402
from isoclr.core.encoding import PAD, tracks_torch  # noqa: E402


class Net(nn.Module):
    """Encoder + projector (as isoclr.pretrain.objective.PretrainModel for DCL)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.encoder = model.build_encoder(cfg)
        self.projector = model.build_projector(cfg, self.encoder.out_dim)

    def forward(self, xs: list[torch.Tensor], lens: list[torch.Tensor], order: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(xs, lens))[order]


def views(n: int, lo: int, hi: int, seed: int) -> list[np.ndarray]:
    g = np.random.default_rng(seed)
    return [g.integers(0, 4, int(k), dtype=np.uint8) for k in g.integers(lo, hi, n)]


def padded(seqs: list[np.ndarray], device: torch.device, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    lens = np.array([len(s) for s in seqs])
    w = max(int(lens.max()), width or 0)
    codes = np.full((len(seqs), w), PAD, dtype=np.uint8)
    for i, s in enumerate(seqs):
        codes[i, : len(s)] = s
    c = torch.from_numpy(codes).to(device)
    return tracks_torch(c, torch.zeros_like(c)), torch.from_numpy(lens)


def grouped(seqs: list[np.ndarray], groups: int, device: torch.device, buckets: int | None = None) -> dict[str, Any]:
    lens = np.array([len(s) for s in seqs])
    xs, ls, rows = [], [], []
    for idx in L.length_groups(lens, groups):
        width = int(L.bucket_widths(lens[idx].max(), buckets)) if buckets is not None else None
        x, n = padded([seqs[i] for i in idx], device, width)
        xs.append(x)
        ls.append(n)
        rows.append(torch.from_numpy(idx.astype(np.int64)))
    return {"xs": xs, "lens": ls, "order": torch.argsort(torch.cat(rows)).to(device), "sets": len(seqs) // 2}


def step(net: nn.Module, fwd: nn.Module, batch: dict[str, Any], device: torch.device, bf16: bool
         ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Loss, projections z and gradients of one forward + backward."""
    net.zero_grad(set_to_none=True)
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with ctx:
        z = fwd(batch["xs"], batch["lens"], batch["order"])
    b = batch["sets"]
    loss = losses.dcl_loss(z[:b].float(), z[b:].float(), torch.ones(b, device=device), 0.1)
    loss.backward()
    grads = {k: p.grad.detach().float().clone() for k, p in net.named_parameters() if p.grad is not None}
    return loss.detach().float(), z.detach().float(), grads


def fresh(cfg: dict[str, Any], device: torch.device, state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    torch.manual_seed(0)
    net = Net(cfg).to(device)
    if state is not None:
        net.load_state_dict(state)
    net.train()
    return net


class Report:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, check: str, what: str, value: float, tol: float, ok: bool | None = None) -> bool:
        ok = bool(value <= tol) if ok is None else ok
        self.rows.append({"check": check, "what": what, "value": f"{value:.3g}", "tolerance": f"{tol:.3g}",
                          "result": "PASS" if ok else "FAIL"})
        print(f"{'PASS' if ok else 'FAIL'}  {check:20s} {what:45s} {value:.3g} (tolerance {tol:.3g})", flush=True)
        return ok

    def close(self, check: str, what: str, a: torch.Tensor, b: torch.Tensor, rtol: float, atol: float) -> bool:
        """max |a - b| / (atol + rtol |b|) <= 1, reported as that ratio."""
        ratio = float(((a - b).abs() / (atol + rtol * b.abs())).max())
        return self.add(check, what, ratio, 1.0)

    def grads_close(self, check: str, ga: dict[str, torch.Tensor], gb: dict[str, torch.Tensor], rtol: float, atol: float) -> bool:
        worst, name = 0.0, ""
        for k in gb:
            scale = float(gb[k].abs().max()) + 1e-12  # relative to each tensor's largest gradient
            r = float(((ga[k] - gb[k]).abs() / (atol * scale + rtol * gb[k].abs())).max())
            if r > worst:
                worst, name = r, k
        return self.add(check, f"gradients (worst: {name})", worst, 1.0)

    def grads_cosine(self, check: str, ga: dict[str, torch.Tensor], gb: dict[str, torch.Tensor], least: float) -> bool:
        cos = {k: float(F.cosine_similarity(ga[k].flatten(), gb[k].flatten(), dim=0)) for k in gb if gb[k].abs().max() > 0}
        k = min(cos, key=lambda n: cos[n])
        return self.add(check, f"1 - gradient cosine (worst: {k})", 1 - cos[k], 1 - least)


def run_checks(device: torch.device, size: str, backend: str, batch: int, groups: int, seed: int = 0) -> Report:
    rep = Report()
    cfg = {"size": size, "dropout": 0.0}
    seqs = views(2 * batch, 200, 3000, seed)
    state = {k: v.clone() for k, v in fresh(cfg, device).state_dict().items()}

    # 1. bf16 autocast vs float32
    net = fresh(cfg, device, state)
    b = grouped(seqs, groups, device)
    l32, z32, g32 = step(net, net, b, device, bf16=False)
    net = fresh(cfg, device, state)
    l16, z16, g16 = step(net, net, b, device, bf16=True)
    rep.add("bf16_vs_fp32", "loss relative difference", float((l16 - l32).abs() / l32.abs()), 5e-2)
    flat16 = torch.cat([g16[k].flatten() for k in g32])
    flat32 = torch.cat([g32[k].flatten() for k in g32])
    rep.add("bf16_vs_fp32", "1 - cosine of all gradients", 1 - float(F.cosine_similarity(flat16, flat32, dim=0)), 0.1)
    # weights only: a BN bias feeding another BN has a near-zero gradient (cancellation),
    # whose direction bf16 round-off decides
    weights = [k for k in g32 if g32[k].dim() >= 2]
    rep.grads_cosine("bf16_vs_fp32", {k: g16[k] for k in weights}, {k: g32[k] for k in weights}, 0.8)

    # 2. compiled vs eager (the pre-training path: dynamic shapes, bucketed widths)
    torch._dynamo.reset()
    counters.clear()  # reset() keeps the counters of earlier compiles in this process
    bb = grouped(seqs, groups, device, buckets=L.COMPILE_WIDTH_BUCKETS)
    net = fresh(cfg, device, state)
    le, ze, ge = step(net, net, bb, device, bf16=False)
    net = fresh(cfg, device, state)
    comp = model.compile_model(net, device, backend=backend)
    lc, zc, gc = step(net, comp, bb, device, bf16=False)
    # a second batch of other widths: must not fail, and still match
    seqs2 = views(2 * batch, 100, 2000, seed + 1)
    bb2 = grouped(seqs2, groups, device, buckets=L.COMPILE_WIDTH_BUCKETS)
    net2 = fresh(cfg, device, state)
    le2, _, _ = step(net2, net2, bb2, device, bf16=False)
    lc2, _, _ = step(net, comp, bb2, device, bf16=False)  # net's weights are unchanged (no step)
    rep.add("compiled_vs_eager", "loss relative difference", float((lc - le).abs() / le.abs()), 1e-4)
    rep.add("compiled_vs_eager", "loss relative difference, other widths", float((lc2 - le2).abs() / le2.abs()), 1e-4)
    rep.close("compiled_vs_eager", "projections z", zc, ze, 1e-3, 1e-4)
    rep.grads_close("compiled_vs_eager", gc, ge, 1e-2, 1e-3)
    graphs = int(counters["stats"].get("unique_graphs", 0))
    n_group_counts = len({len(bb["xs"]), len(bb2["xs"])})  # one graph per number of groups
    rep.add("compiled_vs_eager", f"graphs for 2 batch shapes, {n_group_counts} group count(s)", float(graphs),
            float(n_group_counts))

    # 3. length groups vs one padded tensor (same rows, BN statistics pooled over groups)
    net = fresh(cfg, device, state)
    lg, zg, gg = step(net, net, grouped(seqs, groups, device), device, bf16=False)
    x, n = padded(seqs, device)
    one = {"xs": [x], "lens": [n], "order": torch.arange(len(seqs), device=device), "sets": batch}
    net = fresh(cfg, device, state)
    lp, zp, gp = step(net, net, one, device, bf16=False)
    rep.add("groups_vs_padded", "loss relative difference", float((lg - lp).abs() / lp.abs()), 1e-4)
    rep.close("groups_vs_padded", "projections z", zg, zp, 1e-3, 1e-4)
    rep.grads_close("groups_vs_padded", gg, gp, 1e-2, 1e-3)

    # 4. masked BN = batch norm over the valid positions only
    g = torch.Generator().manual_seed(seed)
    bn = model.MaskedBatchNorm1d(16).to(device).train()
    lens = torch.randint(5, 64, (6,), generator=g)
    xb = torch.randn(6, 16, 64, generator=g).to(device)
    mask = model.length_mask(lens.to(device), 64)
    yb = bn(xb, mask)
    valid = torch.cat([xb[i, :, : int(lens[i])] for i in range(6)], dim=1)  # (C, sum of lengths)
    ref = F.batch_norm(valid.T, None, None, bn.weight, bn.bias, True, 0.0, bn.eps).T
    got = torch.cat([yb[i, :, : int(lens[i])] for i in range(6)], dim=1)
    rep.close("masked_bn", "outputs on valid positions", got.detach(), ref.detach(), 1e-4, 1e-4)

    # 5. eval mode: h does not depend on padding
    enc = fresh(cfg, device, state).encoder.eval()
    s = seqs[:4]
    with torch.no_grad():
        x1, n1 = padded(s, device)
        x2, n2 = padded(s, device, width=int(n1.max()) + 777)
        h1, h2 = enc(x1, n1), enc(x2, n2)
    rep.close("padding_invariance", "h, padded +777", h2, h1, 1e-4, 1e-5)
    return rep


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--size", default="small", choices=list(model.SIZES))
    p.add_argument("--backend", default="inductor", help="torch.compile backend (aot_eager: fast, no code generation)")
    p.add_argument("--batch", type=int, default=8, help="sets per batch (two views each)")
    p.add_argument("--length-groups", type=int, default=3)
    p.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    a = p.parse_args(argv)
    use_cuda = torch.cuda.is_available() if a.device == "auto" else a.device.startswith("cuda")
    device = torch.device("cuda" if use_cuda else "cpu")
    if use_cuda:  # the fp32 reference must be float32, not TF32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    name = torch.cuda.get_device_name(device) if use_cuda else f"CPU {platform.machine()}"
    print(f"device: {name}; torch {torch.__version__}; size {a.size}; backend {a.backend}", flush=True)
    rep = run_checks(device, a.size, a.backend, a.batch, a.length_groups)
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"check_gpu_{device.type}.tsv"
    cols = ["check", "what", "value", "tolerance", "result"]
    lines = ["\t".join(cols + ["device", "size", "backend"])]
    lines += ["\t".join([r[c] for c in cols] + [name, a.size, a.backend]) for r in rep.rows]
    path.write_text("\n".join(lines) + "\n")
    failed = [r for r in rep.rows if r["result"] == "FAIL"]
    print(f"{len(rep.rows) - len(failed)} of {len(rep.rows)} checks passed; wrote {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
