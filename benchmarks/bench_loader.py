"""Loader throughput vs the training step's consumption, and padding with/without bucketing.

    python benchmarks/bench_loader.py [--families 1500] [--batch-size 64] [--workers 2]

Simulates a transcriptome (``isoclr.simulate``; or use ``--sets/--splits`` of a real one),
then measures

* loader: sets/s delivered by ``isoclr.pretrain.loader`` (HDF5 stores read in ``--workers`` worker
  processes, masking, padding), batches consumed as fast as they come;
* training: sets/s one optimiser step consumes (tiny and small models, CPU, batches already in
  memory, tracks built in the step), i.e. what the loader must keep up with;
* padding share of an epoch with and without length bucketing, with each batch padded as one
  tensor or as ``--length-groups`` length groups (what training does), on the simulated data
  and, with ``--also-sets/--also-splits``, on a real transcriptome (e.g. the demo stores:
  results/homology/sets.h5, results/splits/splits.tsv after ``snakemake --cores 2
  results/splits/splits.tsv``).

Writes benchmarks/results/loader.tsv and loader.md (with the command line).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from isoclr.pretrain import loader as L
from isoclr.pretrain import losses
from isoclr.core.encoding import tracks_torch
from isoclr.pretrain.loop import resolve
from isoclr.pretrain.objective import PretrainModel, batch_order
from isoclr.simulate import SimConfig, write_simulation

RESULTS = Path(__file__).resolve().parent / "results"


def loader_rate(dataset: L.ViewPairDataset, sampler: L.SetBatchSampler, workers: int, n_batches: int) -> float:
    dl = L.make_loader(dataset, sampler, num_workers=workers, seed=0)
    it = iter(dl)
    next(it)  # worker start-up and first store open are not throughput
    t = time.perf_counter()
    n = 0
    for _ in range(n_batches):
        n += len(next(it)["set_ids"])
    return n / (time.perf_counter() - t)


def train_rate(size: str, batches: list[dict], steps: int) -> float:
    _, cfg = resolve({"size": size, "objective": "dcl"})
    torch.manual_seed(0)
    net = PretrainModel(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    norm = 1.0

    def step(batch: dict) -> None:
        groups = batch["groups"]
        xs = [tracks_torch(g["codes"], g["marks"]) for g in groups]
        z = net(xs, [g["lengths"] for g in groups], batch_order(groups))
        b = len(batch["set_ids"])
        loss = losses.dcl_loss(z[:b], z[b:], losses.set_weights(batch["set_sizes"], norm=norm))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()

    step(batches[0])  # warm-up
    t = time.perf_counter()
    n = 0
    for i in range(steps):
        batch = batches[1 + i % (len(batches) - 1)]
        step(batch)
        n += len(batch["set_ids"])
    return n / (time.perf_counter() - t)


def training_sets(sets_path: str, splits_path: str) -> tuple[L.TranscriptSets, np.ndarray, np.ndarray]:
    """(sets, training set ids, every member's length) of a sets.h5 + splits.tsv."""
    sets = L.TranscriptSets.load(sets_path)
    ids = L.select_sets(sets, L.read_splits(splits_path, sets.n_sets), "train", str(splits_path))
    return sets, ids, L.member_lengths(sets)


def padding_rows(name: str, sets: L.TranscriptSets, ids: np.ndarray, lengths: np.ndarray, batch_size: int,
                 groups: int, epochs: int = 3) -> list[dict]:
    """Padding share (mean over ``epochs`` epochs) bucketed or not, one tensor or length groups."""
    rows = []
    for bucket in (True, False):
        sampler = L.SetBatchSampler(ids, sets.offset, lengths, batch_size, 0, bucket=bucket)
        for g in sorted({1, groups}):
            share = np.mean([L.epoch_padding_share(sampler, e, n_groups=g) for e in range(epochs)])
            setting = f"{name}, batch {batch_size}, {'bucketed' if bucket else 'no bucketing'}, " + (
                "one tensor per batch" if g == 1 else f"{g} length groups")
            rows.append({"measure": "padding_share", "setting": setting, "value": round(float(share), 4)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", type=int, default=1500)
    p.add_argument("--sets", default=None)
    p.add_argument("--splits", default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--loader-batches", type=int, default=40)
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--length-groups", type=int, default=4, help="length groups per batch (pretrain length_groups)")
    p.add_argument("--also-sets", default=None, help="padding only: a second (real) sets.h5")
    p.add_argument("--also-splits", default=None)
    p.add_argument("--also-batch-size", type=int, default=32)
    p.add_argument("--sizes", nargs="+", default=["tiny", "small"])
    p.add_argument("--threads", type=int, default=2, help="torch threads of the training step")
    p.add_argument("--out", default=str(RESULTS / "loader"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        if args.sets:
            sets_path, splits_path, source = args.sets, args.splits, args.sets
        else:
            paths = write_simulation(SimConfig(seed=0, n_families=args.families), tmp)
            sets_path, splits_path = paths["sets"], paths["splits"]
            source = f"simulated, {args.families} families"
        sets, ids, lengths = training_sets(str(sets_path), str(splits_path))
        kw = dict(offset=sets.offset, lengths=lengths, batch_size=args.batch_size, seed=0)
        bucketed = L.SetBatchSampler(ids, bucket=True, **kw)
        n_load = min(args.loader_batches, bucketed.batches_per_epoch() * 3 - 1)
        ds = L.ViewPairDataset(sets, length_groups=args.length_groups)
        load = loader_rate(ds, bucketed, args.workers, n_load)
        rows = [
            {"measure": "loader_sets_per_s", "setting": f"{args.workers} workers, batch {args.batch_size}, "
             f"{args.length_groups} length groups", "value": round(load, 1)},
            *padding_rows("simulated" if not args.sets else args.sets, sets, ids, lengths, args.batch_size,
                          args.length_groups),
        ]
        if args.also_sets:
            rows += padding_rows(args.also_sets, *training_sets(args.also_sets, args.also_splits), args.also_batch_size,
                                 args.length_groups)
        for groups in sorted({1, args.length_groups}, reverse=True):
            ds = L.ViewPairDataset(sets, length_groups=groups)
            batches = [ds[s] for s in bucketed.epoch_batches(0)[: args.train_steps + 1]]
            for size in args.sizes:
                rate = train_rate(size, batches, args.train_steps)
                label = f"{size}, CPU {args.threads} threads, {groups} length group{'s' if groups > 1 else ''}"
                rows.append({"measure": "train_sets_per_s", "setting": label, "value": round(rate, 1)})
                if groups == args.length_groups:
                    rows.append({"measure": "loader_over_train", "setting": size, "value": round(load / rate, 1)})
    df = pd.DataFrame(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.with_suffix(".tsv"), sep="\t", index=False)
    cmd = "python benchmarks/bench_loader.py " + " ".join(sys.argv[1:] if argv is None else argv)
    mean_len = float(np.mean(lengths))
    md = [
        "# Loader benchmark",
        "",
        f"Command: `{cmd.strip()}`",
        "",
        f"Data: {source}; {len(ids)} training sets, mean transcript length {mean_len:.0f} nt; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads.",
        "",
        "| measure | setting | value |",
        "|---|---|---|",
        *[f"| {r.measure} | {r.setting} | {r.value} |" for r in df.itertuples()],
        "",
        "Targets: loader >= 3x the training step's consumption; padding < 10% with bucketing.",
        "The two views of a set can differ several-fold in length; padded as one tensor per batch,",
        "that difference is padding no bucketing removes. Training pads each batch as length",
        "groups (isoclr.pretrain.loader.length_groups; BN statistics pooled over the groups, so the result",
        "equals one tensor's), which removes it.",
    ]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
