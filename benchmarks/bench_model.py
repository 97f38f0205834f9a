"""Encoder throughput: training step (forward + backward) and inference, in nucleotides/s.

Usage (from the repository root, the venv active):

    python benchmarks/bench_model.py --sizes small medium --batch 8 --length 4096 \
        --warmup 1 --iters 5 --out benchmarks/results/model

Writes ``OUT.tsv`` (one row per size and mode) and ``OUT.md`` (the table, the command, the
machine). Every sequence is ``--length`` long (no padding), so nucleotides = batch x length per
iteration. Training mode runs the encoder + projector + DCL loss on two halves of the batch
(the pre-training step without the optimiser); inference runs the encoder alone under
``torch.no_grad`` in eval mode (the embedding stage).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from isoclr.pretrain.losses import dcl_loss
from isoclr.pretrain.model import REFERENCE_PARAMS, SIZES, build_encoder, build_projector, count_parameters


def _inputs(batch: int, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 4, (batch, length), generator=g)
    x = torch.nn.functional.one_hot(codes, 6).permute(0, 2, 1).float()
    return x.to(device), torch.full((batch,), length, dtype=torch.long, device=device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(size: str, batch: int, length: int, warmup: int, iters: int,
          device: torch.device) -> list[dict[str, object]]:
    torch.manual_seed(0)
    enc = build_encoder(size).to(device)
    proj = build_projector(size, enc.out_dim).to(device)
    x, lengths = _inputs(batch, length, device)
    rows = []
    for mode in ("train", "inference"):
        times = []
        for i in range(warmup + iters):
            _sync(device)
            t0 = time.perf_counter()
            if mode == "train":
                enc.train(), proj.train()
                z = proj(enc(x, lengths))
                loss = dcl_loss(z[: batch // 2], z[batch // 2 :])
                loss.backward()
                enc.zero_grad(set_to_none=True), proj.zero_grad(set_to_none=True)
            else:
                enc.eval()
                with torch.no_grad():
                    enc(x, lengths)
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
        sec, median = min(times), statistics.median(times)
        rows.append({
            "size": size, "mode": mode, "device": device.type,
            "threads": torch.get_num_threads(), "batch": batch, "length": length,
            "encoder_params": count_parameters(enc), "projector_params": count_parameters(proj),
            "best_s_per_batch": round(sec, 4), "median_s_per_batch": round(median, 4),
            "nt_per_s": round(batch * length / sec),
            "iters": iters,
        })
        print(f"{size:7s} {mode:9s} {sec:8.3f} s/batch  {batch * length / sec:12,.0f} nt/s",
              flush=True)
    return rows


def _param_table() -> pd.DataFrame:
    rows = []
    for size, preset in SIZES.items():
        enc = build_encoder(size)
        rows.append({
            "size": size, "widths": tuple(preset["widths"]), "blocks": tuple(preset["blocks"]),
            "kernel_size": preset["kernel_size"], "h_dim": enc.out_dim,
            "encoder_params": count_parameters(enc),
            "reference": f"~{REFERENCE_PARAMS[size] / 1e6:g} M" if size in REFERENCE_PARAMS else "",
            "projector_params": count_parameters(build_projector(size, enc.out_dim)),
        })
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["small", "medium"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--length", type=int, default=4096)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", default="benchmarks/results/model")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load_before = os.getloadavg()[0]
    rows = [r for s in args.sizes
            for r in bench(s, args.batch, args.length, args.warmup, args.iters, device)]
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix(".tsv"), sep="\t", index=False)
    command = "python benchmarks/bench_model.py " + " ".join(shlex.quote(a) for a in
                                                               (argv or sys.argv[1:]))
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
               f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
               f"1-min load average before/after {load_before:.1f}/{os.getloadavg()[0]:.1f}")
    if device.type == "cuda":
        machine += f", GPU {torch.cuda.get_device_name()}"
    md = [
        "# Encoder throughput",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine}.",
        "",
        ("`train` = encoder + projector forward, DCL loss, backward (no optimiser step); "
         "`inference` = encoder forward in eval mode without gradients. Best and median of "
         f"{args.iters} iterations after {args.warmup} warm-up; nt/s = batch x length / best "
         "seconds per batch (the best time is the least disturbed by other jobs on a shared "
         "machine; see the load average)."),
        "",
        table.to_markdown(index=False),
        "",
        "## Parameter counts of the presets (`python -m isoclr.pretrain.model`)",
        "",
        _param_table().to_markdown(index=False),
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
