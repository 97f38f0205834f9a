"""Pre-training speed on whatever device is there (CUDA or CPU), against the device's own ceilings.

Usage (repository root; needs only torch, numpy, h5py and ``src/`` on the path)::

    PYTHONPATH=src python benchmarks/bench_gpu.py --quick                  # CPU: a few minutes
    PYTHONPATH=src python benchmarks/bench_gpu.py --out-dir "$OUT"         # GPU: see docs/gpu.md

For the small, medium and large encoders with projector and DCL loss, one full training step
(autocast forward, DCL, backward, gradient clipping, fused AdamW) on batches whose views have
the lengths of real transcripts: the project's :class:`isoclr.pretrain.loader.SetBatchSampler` draws
view pairs from the sets of a length table (``benchmarks/data/lengths.tsv``: 4,000 human RefSeq
mRNAs grouped by gene, or the demo stores' training sets), padded as ``--length-groups`` length
groups (widths rounded to :data:`isoclr.pretrain.loader.COMPILE_WIDTH_BUCKETS` buckets when compiled).
The sequence content is random (speed does not depend on it); lengths and grouping are real.

Measured in the same run:

* ``matmul_tflops_{bf16,fp32}``: the device's large square matmul rate (the FLOP ceiling);
* ``copy_gbps``: device memory copy bandwidth (bytes read + written per second);
* per size x precision (fp32, bf16 autocast) x mode (eager, compiled): nt/s and sets/s of real
  (unpadded) nucleotides, the step's FLOPs (``torch.utils.flop_counter.FlopCounterMode``) and
  achieved FLOP/s, its share of the matmul ceiling (model FLOP utilisation), a memory roofline
  (bytes = every conv/BN/linear layer's input and output activations read/written once forward
  and twice backward, over the copy bandwidth), which bound applies and the share of the
  roofline achieved, peak device memory, compile count (Dynamo graphs) and compile time;
* per size: the largest per-device batch (sets) that fits (CUDA only: binary search on OOM,
  bounded by ``--max-batch`` and time);
* the loader: a real ``DataLoader`` with the project's sampler and ``ViewPairDataset`` over an
  HDF5 store (``--sets`` of a built pipeline, else a store written from the length table with
  random sequence) with ``--workers`` workers: the share of step time spent waiting for batches.

Writes ``{out-dir}/bench_gpu_{cpu|cuda}.tsv`` and ``.md`` (machine described) and prints a short
table last. ``--budget-s`` bounds the run: configurations left when it is spent are recorded
as skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from isoclr.pretrain import loader as L  # noqa: E402
from isoclr.pretrain import losses  # noqa: E402
from isoclr.pretrain import model  # noqa: E402
from isoclr.core.encoding import PAD, tracks_torch  # noqa: E402

SIZES = ("small", "medium", "large")


# --------------------------------------------------------------------------------------------
# Device ceilings
# --------------------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Any, device: torch.device, reps: int) -> float:
    """Best of a few timings of ``reps`` calls, seconds per call."""
    fn()
    sync(device)
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        sync(device)
        best = min(best, (time.perf_counter() - t) / reps)
    return best


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int) -> float:
    """FLOP/s of an n x n x n matmul (2 n^3 FLOPs)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    reps = 20 if device.type == "cuda" else 2
    return 2 * n**3 / timed(lambda: torch.mm(a, b), device, reps)


def copy_bandwidth(device: torch.device, mib: int) -> float:
    """Bytes read + written per second by a large device-to-device copy."""
    src = torch.empty(mib * 2**20 // 4, device=device, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    reps = 20 if device.type == "cuda" else 3
    return 2 * src.numel() * 4 / timed(lambda: dst.copy_(src), device, reps)


# --------------------------------------------------------------------------------------------
# Real lengths
# --------------------------------------------------------------------------------------------
def read_lengths(path: Path, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(offset, lengths) of the sets of one source of the length table (no pandas needed)."""
    rows = np.genfromtxt(path, delimiter="\t", names=True, dtype=None, encoding="utf-8")
    sel = rows[rows["source"] == source]
    if not len(sel):
        raise SystemExit(f"{path}: no rows with source {source!r}")
    order = np.argsort(sel["set"], kind="stable")
    sets, lengths = sel["set"][order], sel["length"][order].astype(np.int64)
    _, sizes = np.unique(sets, return_counts=True)
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64), lengths


def batch_lengths(offset: np.ndarray, lengths: np.ndarray, batch: int, n: int, seed: int) -> list[np.ndarray]:
    """``n`` batches of 2 x ``batch`` view lengths from the project's sampler (bucketed)."""
    n_sets = len(offset) - 1
    sampler = L.SetBatchSampler(np.arange(n_sets), offset, lengths, batch_size=min(batch, n_sets), seed=seed)
    out: list[np.ndarray] = []
    epoch = 0
    while len(out) < n:
        for spec in sampler.epoch_batches(epoch):
            lens = lengths[np.concatenate([spec.view1, spec.view2])]
            if batch > len(spec.view1):  # more sets than the table holds: repeat its sets
                lens = np.resize(lens, 2 * batch)
            out.append(lens)
            if len(out) == n:
                break
        epoch += 1
    return out


# --------------------------------------------------------------------------------------------
# The training step
# --------------------------------------------------------------------------------------------
class Net(nn.Module):
    """Encoder + projector, as ``isoclr.pretrain.objective.PretrainModel`` for the contrastive objectives."""

    def __init__(self, size: str) -> None:
        super().__init__()
        self.encoder = model.build_encoder(size)
        self.projector = model.build_projector(size, self.encoder.out_dim)

    def forward(self, xs: list[torch.Tensor], lens: list[torch.Tensor], order: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(xs, lens))[order]


def make_batch(lens: np.ndarray, groups: int, buckets: int | None, device: torch.device, seed: int) -> dict[str, Any]:
    """Length groups of random sequence with these view lengths, tracks on the device."""
    g = np.random.default_rng(seed)
    xs, ls, rows = [], [], []
    for idx in L.length_groups(lens, groups):
        width = int(lens[idx].max())
        if buckets is not None:
            width = int(L.bucket_widths(width, buckets))
        codes = torch.from_numpy(g.integers(0, 4, (len(idx), width), dtype=np.uint8))
        valid = torch.arange(width)[None, :] < torch.from_numpy(lens[idx])[:, None]
        codes[~valid] = PAD
        marks = torch.zeros_like(codes)
        xs.append(tracks_torch(codes.to(device), marks.to(device)))
        ls.append(torch.from_numpy(lens[idx]))
        rows.append(torch.from_numpy(idx.astype(np.int64)))
    order = torch.argsort(torch.cat(rows)).to(device)
    return {"xs": xs, "lens": ls, "order": order, "real": int(lens.sum()),
            "padded": sum(int(x.shape[0] * x.shape[-1]) for x in xs), "sets": len(lens) // 2}


class Trainer:
    def __init__(self, size: str, device: torch.device, bf16: bool, compiled: bool) -> None:
        torch.manual_seed(0)
        self.net = Net(size).to(device)
        self.net.train()
        self.device, self.bf16 = device, bf16
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-3, **model.adamw_options(device))
        self.fwd: nn.Module = model.compile_model(self.net, device) if compiled else self.net

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        ctx = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with ctx:
            z = self.fwd(batch["xs"], batch["lens"], batch["order"])
        b = batch["sets"]
        w = torch.ones(b, device=self.device)
        return losses.dcl_loss(z[:b].float(), z[b:].float(), w, 0.1)

    def step(self, batch: dict[str, Any]) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(batch)
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        return float(loss.detach()) if self.device.type == "cpu" else 0.0


def count_flops(trainer: Trainer, batch: dict[str, Any]) -> float:
    """FLOPs of one forward + backward (eager; the optimiser's few FLOPs left out)."""
    from torch.utils.flop_counter import FlopCounterMode

    fwd, trainer.fwd = trainer.fwd, trainer.net
    try:
        with FlopCounterMode(display=False) as counter:
            trainer.loss(batch).backward()
    finally:
        trainer.fwd = fwd
        trainer.opt.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def activation_bytes(trainer: Trainer, batch: dict[str, Any]) -> float:
    """Roofline bytes: every conv / BN / linear layer's inputs and outputs, read or written once
    forward and twice backward (3x the forward traffic)."""
    total = [0]

    def nbytes(obj: Any) -> int:
        if isinstance(obj, torch.Tensor):
            return obj.numel() * obj.element_size()
        if isinstance(obj, (list, tuple)):
            return sum(nbytes(o) for o in obj)
        return 0

    def hook(mod: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        total[0] += nbytes(args[0]) + nbytes(out)

    kinds = (nn.Conv1d, nn.Linear, nn.modules.batchnorm._BatchNorm)
    handles = [m.register_forward_hook(hook) for m in trainer.net.modules() if isinstance(m, kinds)]
    fwd, trainer.fwd = trainer.fwd, trainer.net
    try:
        with torch.no_grad():
            trainer.loss(batch)
    finally:
        trainer.fwd = fwd
        for h in handles:
            h.remove()
    return 3.0 * total[0]


def dynamo_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"].get("unique_graphs", 0))


def peak_memory(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB, process peak


def largest_batch(size: str, device: torch.device, offset: np.ndarray, lengths: np.ndarray, groups: int,
                  lo: int, hi: int, deadline: float) -> str:
    """Largest per-device batch (sets) whose bf16 eager step fits in device memory."""
    if device.type != "cuda":
        return "n/a (CPU)"
    trainer = Trainer(size, device, bf16=True, compiled=False)
    # the longest batches of the length table: the worst case a run meets
    cands = batch_lengths(offset, lengths, 64, 50, seed=7)
    worst = max(cands, key=lambda v: v.max())
    ok, bad = 0, None
    probe = lo
    while time.time() < deadline:
        lens = np.resize(np.sort(worst)[::-1], 2 * probe)
        try:
            trainer.step(make_batch(lens, groups, None, device, 0))
            sync(device)
            ok = probe
        except torch.OutOfMemoryError:
            bad = probe
        finally:
            trainer.opt.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
        if bad is None:
            if probe >= hi:
                return f">={hi}"
            probe = min(hi, probe * 2)
        elif ok == 0:  # the first probe did not fit: halve until one does
            probe = bad // 2
            if probe < 1:
                return "0"
        else:
            if bad - ok <= max(1, ok // 16):
                return str(ok)
            probe = (ok + bad) // 2
    return f">={ok} (time)"


# --------------------------------------------------------------------------------------------
# Loader wait
# --------------------------------------------------------------------------------------------
def write_store_from_lengths(folder: Path, offset: np.ndarray, lengths: np.ndarray, seed: int = 0) -> Path:
    """A one-species store + sets.h5 with these lengths (random sequence, one exon, no CDS),
    in the format of isoclr.store.format / docs/interfaces.md, written with h5py alone."""
    g = np.random.default_rng(seed)
    n = len(lengths)
    seq_offset = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    store = folder / "stores" / "bench.h5"
    store.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(store, "w") as f:
        f.attrs["species"] = "bench"
        f.create_dataset("seq", data=g.integers(0, 4, int(seq_offset[-1]), dtype=np.uint8), chunks=(2**16,))
        t = f.create_group("transcripts")
        t["seq_offset"] = seq_offset
        t["exon_offset"] = np.arange(n + 1, dtype=np.int64)
        for key in ("cds_start", "cds_end"):
            t[key] = np.full(n, -1, dtype=np.int64)
        t["cds_phase"] = np.zeros(n, dtype=np.int64)
        gene = np.repeat(np.arange(len(offset) - 1), np.diff(offset)).astype(np.int32)
        t["gene"] = gene
        f["exons/tx_end"] = lengths.astype(np.int64)
        f["genes/tx_offset"] = offset
        f["genes/tx_index"] = np.arange(n, dtype=np.int32)
    sets = folder / "homology" / "sets.h5"
    sets.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(sets, "w") as f:
        f.attrs["species"] = ["bench"]
        f.attrs["stores"] = [str(store)]
        f["members/species"] = np.zeros(n, dtype=np.int16)
        f["members/transcript"] = np.arange(n, dtype=np.int32)
        f["sets/offset"] = offset
    return sets


def loader_wait(size: str, device: torch.device, bf16: bool, sets_path: Path, batch: int, groups: int,
                workers: int, steps: int) -> dict[str, Any]:
    """Share of training-step time spent in ``next(loader)`` (real DataLoader, project sampler)."""
    sets = L.TranscriptSets.load(sets_path)
    lengths = L.member_lengths(sets)
    ids = np.arange(sets.n_sets)
    sampler = L.SetBatchSampler(ids, sets.offset, lengths, batch_size=min(batch, sets.n_sets), seed=0)
    dataset = L.ViewPairDataset(sets, mask_prob=0.15, length_groups=groups)
    loader = L.make_loader(dataset, sampler, num_workers=workers, seed=0, pin_memory=device.type == "cuda")
    trainer = Trainer(size, device, bf16=bf16, compiled=False)
    it = iter(loader)
    wait = total = 0.0
    real = 0
    for i in range(steps + 2):
        t0 = time.perf_counter()
        b = next(it)
        t1 = time.perf_counter()
        groups_ = b["groups"]
        xs = [tracks_torch(gr["codes"].to(device, non_blocking=True), gr["marks"].to(device, non_blocking=True))
              for gr in groups_]
        lens = [gr["lengths"] for gr in groups_]
        order = torch.argsort(torch.cat([gr["rows"] for gr in groups_])).to(device, non_blocking=True)
        trainer.step({"xs": xs, "lens": lens, "order": order, "sets": len(b["set_ids"])})
        sync(device)
        t2 = time.perf_counter()
        if i >= 2:  # workers started, first batches prefetched
            wait += t1 - t0
            total += t2 - t0
            real += int(b["lengths"].sum())
    del it
    return {"loader_wait_share": round(wait / total, 4), "loader_nt_per_s": round(real / total),
            "loader_workers": workers, "loader_batch": batch, "loader_store": str(sets_path)}


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------
def machine(device: torch.device) -> str:
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        dev = f"{p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs, CUDA {torch.version.cuda}"
    else:
        dev = f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, {torch.get_num_threads()} torch threads"
    return f"{dev}; torch {torch.__version__}; Python {platform.python_version()}; {platform.platform()}"


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=SIZES)
    p.add_argument("--lengths", default=str(ROOT / "benchmarks" / "data" / "lengths.tsv"))
    p.add_argument("--source", default="cpat", help="length table source: cpat (4,000 mRNAs) or demo")
    p.add_argument("--batch", type=int, default=None, help="sets per step (default: CUDA 384 = the paper's per-GPU small batch, CPU 8)")
    p.add_argument("--length-groups", type=int, default=4)
    p.add_argument("--steps", type=int, default=None, help="timed steps per configuration (default CUDA 10, CPU 2)")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--modes", nargs="+", default=["eager", "compiled"], choices=["eager", "compiled"])
    p.add_argument("--compile-sizes", nargs="+", default=None, help="sizes to also compile (default: all on CUDA, small on CPU)")
    p.add_argument("--compile-precisions", nargs="+", default=None, help="precisions to compile (default: CUDA bf16 + fp32 small, CPU fp32)")
    p.add_argument("--sets", default=None, help="a built sets.h5 for the loader measurement (default: a store written from the length table)")
    p.add_argument("--workers", type=int, default=3, help="DataLoader workers of the loader measurement (paper config: 3 per GPU)")
    p.add_argument("--loader-steps", type=int, default=None)
    p.add_argument("--max-batch", type=int, default=2048, help="upper bound of the largest-batch search (CUDA)")
    p.add_argument("--budget-s", type=float, default=420.0, help="stop starting new measurements after this many seconds")
    p.add_argument("--quick", action="store_true", help="CPU: short run (batch 4, 1 timed step, eager only)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    a = p.parse_args(argv)
    t_start = time.time()
    deadline = t_start + a.budget_s
    if a.threads:
        torch.set_num_threads(a.threads)
    use_cuda = torch.cuda.is_available() if a.device == "auto" else a.device.startswith("cuda")
    device = torch.device("cuda" if use_cuda else "cpu")
    cuda = device.type == "cuda"
    batch = a.batch or (384 if cuda else (4 if a.quick else 8))
    steps = a.steps or (10 if cuda else (1 if a.quick else 2))
    compile_sizes = a.compile_sizes or (list(a.sizes) if cuda else a.sizes[:1])
    modes = a.modes
    if a.quick and not cuda and a.modes == ["eager", "compiled"]:
        # Inductor's CPU compile of one encoder graph takes minutes on 2 cores (409 s for tiny
        # under load): the quick CPU run measures eager only
        modes = ["eager"]
    # compiled: bf16 for every size (what training uses), fp32 for the first size only (the
    # GPU budget allows about four compiles)
    compile_precisions = a.compile_precisions or (["bf16", "fp32"] if cuda else ["fp32"])
    compile_fp32_sizes = compile_sizes if a.compile_precisions or not cuda else a.sizes[:1]
    offset, lengths = read_lengths(Path(a.lengths), a.source)
    print(f"device: {machine(device)}", flush=True)

    ceil: dict[str, float] = {}
    n = 8192 if cuda else 1024
    ceil["matmul_tflops_fp32"] = matmul_rate(device, torch.float32, n) / 1e12
    ceil["matmul_tflops_bf16"] = matmul_rate(device, torch.bfloat16, n) / 1e12
    if cuda:  # the rate training code gets by default (TF32 off for matmuls in torch)
        ceil["copy_gbps"] = copy_bandwidth(device, 1024) / 1e9
    else:
        ceil["copy_gbps"] = copy_bandwidth(device, 256) / 1e9
    print("ceilings: " + ", ".join(f"{k} {v:.3g}" for k, v in ceil.items()), flush=True)

    batches = batch_lengths(offset, lengths, batch, steps + 2, seed=1)
    rows: list[dict[str, Any]] = []
    for size in a.sizes:
        for prec in a.precisions:
            for mode in modes:
                if mode == "compiled" and (size not in compile_sizes or prec not in compile_precisions
                                           or (prec == "fp32" and size not in compile_fp32_sizes)):
                    continue
                row: dict[str, Any] = {"size": size, "precision": prec, "mode": mode, "batch_sets": batch,
                                       "length_groups": a.length_groups}
                rows.append(row)
                if time.time() > deadline:
                    row["status"] = "skipped (time budget)"
                    continue
                try:
                    row.update(run_config(size, prec, mode, device, batches, a.length_groups, steps, ceil))
                    row["status"] = "ok"
                except torch.OutOfMemoryError:
                    row["status"] = "out of memory"
                    torch.cuda.empty_cache()
                print(" ".join(f"{k}={fmt(v)}" for k, v in row.items()), flush=True)
                # results so far on disk after every measurement (a run cut short keeps them)
                write_results(a, device, ceil, rows, {}, time.time() - t_start, argv, quiet=True)
        if cuda and time.time() < deadline:
            lb = largest_batch(size, device, offset, lengths, a.length_groups, batch, a.max_batch,
                               min(deadline, time.time() + 25))
            for r in rows:
                if r["size"] == size:
                    r["largest_batch_sets"] = lb
        elif not cuda:
            for r in rows:
                if r["size"] == size:
                    r["largest_batch_sets"] = "n/a (CPU)"

    loader_row: dict[str, Any] = {}
    if time.time() < deadline:
        with tempfile.TemporaryDirectory() as tmp:
            sets_path = Path(a.sets) if a.sets else write_store_from_lengths(Path(tmp), offset, lengths)
            loader_row = loader_wait(a.sizes[0], device, cuda, sets_path, batch, a.length_groups, a.workers,
                                     a.loader_steps or (20 if cuda else 3))
            if not a.sets:
                loader_row["loader_store"] = f"written from {Path(a.lengths).name} ({a.source}), random sequence"
        print("loader: " + " ".join(f"{k}={fmt(v)}" for k, v in loader_row.items()), flush=True)

    write_results(a, device, ceil, rows, loader_row, time.time() - t_start, argv)
    return 0


def run_config(size: str, prec: str, mode: str, device: torch.device, batches: list[np.ndarray], groups: int,
               steps: int, ceil: dict[str, float]) -> dict[str, Any]:
    import torch._dynamo

    compiled = mode == "compiled"
    if compiled:
        torch._dynamo.reset()
    graphs0 = dynamo_graphs()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer = Trainer(size, device, bf16=prec == "bf16", compiled=compiled)
    buckets = L.COMPILE_WIDTH_BUCKETS if compiled else None
    data = [make_batch(lens, groups, buckets, device, seed=i) for i, lens in enumerate(batches)]
    # warm-up: two steps (compiles; cudnn autotune) on the first two batches
    t0 = time.perf_counter()
    for b in data[:2]:
        trainer.step(b)
    sync(device)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for b in data[2:]:
        trainer.step(b)
    sync(device)
    sec = (time.perf_counter() - t0) / max(1, len(data) - 2)
    real = np.mean([b["real"] for b in data[2:]])
    padded = np.mean([b["padded"] for b in data[2:]])
    sets = np.mean([b["sets"] for b in data[2:]])
    flops = count_flops(trainer, data[2])
    flops *= real / data[2]["real"]  # per average batch
    nbytes = activation_bytes(trainer, data[2]) * real / data[2]["real"]
    peak = ceil["matmul_tflops_bf16" if prec == "bf16" else "matmul_tflops_fp32"] * 1e12
    bw = ceil["copy_gbps"] * 1e9
    t_flop, t_mem = flops / peak, nbytes / bw
    roof = max(t_flop, t_mem)
    return {
        "nt_per_s": round(real / sec), "sets_per_s": round(sets / sec, 1), "s_per_step": round(sec, 4),
        "padding_share": round(1 - real / padded, 4),
        "gflop_per_step": round(flops / 1e9, 2), "flop_per_nt": round(flops / real),
        "achieved_tflops": round(flops / sec / 1e12, 4), "mfu": round(flops / sec / peak, 4),
        "gb_per_step": round(nbytes / 1e9, 3), "bound": "memory" if t_mem > t_flop else "compute",
        "roofline_s": round(roof, 5), "roofline_share": round(roof / sec, 4),
        "peak_mem_gib": round(peak_memory(device), 2),
        "graphs": dynamo_graphs() - graphs0 if compiled else 0,
        "warmup_s": round(warm, 1), "compile_s": round(max(0.0, warm - 2 * sec), 1) if compiled else 0.0,
    }


def write_results(a: argparse.Namespace, device: torch.device, ceil: dict[str, float], rows: list[dict[str, Any]],
                  loader_row: dict[str, Any], elapsed: float, argv: list[str] | None, quiet: bool = False) -> None:
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"bench_gpu_{device.type}"
    desc = machine(device)
    cols = ["size", "precision", "mode", "status", "batch_sets", "length_groups", "nt_per_s", "sets_per_s",
            "s_per_step", "padding_share", "gflop_per_step", "flop_per_nt", "achieved_tflops", "mfu",
            "gb_per_step", "bound", "roofline_s", "roofline_share", "peak_mem_gib", "largest_batch_sets",
            "graphs", "warmup_s", "compile_s"]
    extra = {"device": device.type, "device_name": desc, **{k: round(v, 4) for k, v in ceil.items()}, **loader_row}
    lines = ["\t".join(cols + list(extra))]
    for r in rows:
        lines.append("\t".join([fmt(r.get(c, "")) for c in cols] + [fmt(v) for v in extra.values()]))
    stem.with_suffix(".tsv").write_text("\n".join(lines) + "\n")
    cmd = "PYTHONPATH=src python benchmarks/bench_gpu.py " + " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    md = [f"# Pre-training speed on {device.type.upper()}", "", f"Command: `{cmd}`", "", f"Machine: {desc}.", "",
          f"Ceilings measured in the run: matmul fp32 {ceil['matmul_tflops_fp32']:.3g} TFLOP/s, "
          f"bf16 {ceil['matmul_tflops_bf16']:.3g} TFLOP/s; copy bandwidth {ceil['copy_gbps']:.3g} GB/s. "
          f"Lengths: {Path(a.lengths).name} ({a.source}). Run time {elapsed:.0f} s.", "",
          "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    if loader_row:
        md += ["", f"Loader: {loader_row['loader_workers']} workers, batch {loader_row['loader_batch']} sets, "
               f"store {loader_row['loader_store']}: waiting {100 * loader_row['loader_wait_share']:.1f}% of step time "
               f"({loader_row['loader_nt_per_s']} nt/s with the {a.sizes[0]} encoder, eager)."]
    md += ["", "nt/s counts real (unpadded) nucleotides; `mfu` = achieved FLOP/s over the measured matmul rate of "
           "the precision; `roofline_s` = max(FLOPs / matmul rate, bytes / copy bandwidth), bytes = every conv/BN/"
           "linear layer's input + output activations once forward and twice backward; `roofline_share` = "
           "roofline_s / measured s per step; `graphs` = Dynamo graphs compiled; `compile_s` = warm-up time "
           "beyond two steady steps. CPU peak memory is the process's peak RSS."]
    stem.with_suffix(".md").write_text("\n".join(md) + "\n")
    if quiet:
        return
    # the short table, last
    print()
    print(f"{'size':7s} {'prec':5s} {'mode':9s} {'nt/s':>11s} {'sets/s':>8s} {'TFLOP/s':>8s} {'MFU':>6s} "
          f"{'bound':7s} {'roof%':>6s} {'GiB':>6s} {'graphs':>6s} {'comp_s':>6s}")
    for r in rows:
        if r.get("status") != "ok":
            print(f"{r['size']:7s} {r['precision']:5s} {r['mode']:9s} {r.get('status')}")
            continue
        print(f"{r['size']:7s} {r['precision']:5s} {r['mode']:9s} {r['nt_per_s']:11,d} {r['sets_per_s']:8.1f} "
              f"{r['achieved_tflops']:8.3f} {r['mfu']:6.3f} {r['bound']:7s} {100 * r['roofline_share']:6.1f} "
              f"{r['peak_mem_gib']:6.2f} {r['graphs']:6d} {r['compile_s']:6.1f}")
    if loader_row:
        print(f"loader wait {100 * loader_row['loader_wait_share']:.1f}% of step time ({loader_row['loader_workers']} workers)")
    print(f"wrote {stem}.tsv and .md")


if __name__ == "__main__":
    raise SystemExit(main())
