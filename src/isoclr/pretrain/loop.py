"""Pre-training of the encoder: contrastive (DCL, NT-Xent) or masked-nucleotide (MLM).

One readable loop in the spirit of nanoGPT's ``train.py``; every knob is a field of
:class:`isoclr.config.settings.pretrain.PretrainSettings`, read from the model's config entry
(``pretrain.models.NAME`` in config/config.yaml; defaults there and in config/schema.yaml)::

    isoclr pretrain --config config/config.yaml --model isoclr_demo --out results/pretrain/isoclr_demo
    torchrun --nproc_per_node=4 -m isoclr.cli pretrain --config ... --out ...   (multi-GPU / CPU)

Per optimiser step: ``accumulate`` micro-batches of ``batch_size`` distinct transcript sets
(split over the processes), two masked views each (:mod:`isoclr.pretrain.loader`), padded as at most
``length_groups`` length groups; tracks built on the device; encoder (all groups together, BN
statistics pooled over them) -> projector -> loss (:mod:`isoclr.pretrain.losses`; negatives gathered from every
process); backward; clip the gradient norm; AdamW step; LR schedule step (linear warm-up, then
``lr / sqrt(epoch + 1)`` with a linear decay to 0 over the last ``decay_fraction`` of the
steps, as in the original code, or cosine). Mixed precision (bf16 autocast) on GPU.

Every ``val_every`` steps: validation loss on the validation split plus alignment and
uniformity of the normalised projections (Wang & Isola 2020) and their effective rank (Roy &
Vetterli 2007; :mod:`isoclr.diagnostics.measures`), so a collapsing embedding shows while it
trains. Every ``checkpoint_every`` steps and at the end: an atomic checkpoint (model,
projector / MLM head, optimiser, scheduler, sampler position, RNG states, step, and the run's fingerprint: every training setting and the
sha256 of the input files), so ``--resume`` continues exactly, and only the same run: a
checkpoint with another fingerprint is discarded (the folder cleaned, the log says why). A
non-finite loss stops the run at the next step that logs or saves, with a message naming the
step where it appeared; no checkpoint is written after it, so the last good one is kept. The run holds an exclusive lock on the folder (``.lock``): a second run into it
fails at once.

The loop is flat, one function per job: :func:`set_up` (data, model, optimiser, schedule),
:func:`isoclr.pretrain.state.restore`, :func:`train_step` (``accumulate`` micro-batches, under DDP
one gradient all-reduce on the last), :func:`after_step` (progress, metrics row,
:func:`isoclr.pretrain.monitor.validate`, :func:`isoclr.pretrain.state.checkpoint`) and
:func:`finish`. The training loss stays on the device: its finiteness is checked there and it is
read (one collective) only at the steps that log or save.

Outputs in ``--out``: ``checkpoint.pt`` (final), ``checkpoints/step_*.pt`` and the live
``checkpoints/metrics.csv``, ``config.yaml`` (resolved), ``metrics.csv`` (copied from the live
one at the end, so a resumed run has every row), ``tensorboard/`` (if installed). The curves
figure is drawn from ``metrics.csv`` by :func:`isoclr.figures.draw.fig_pretrain_curves`.

Every ``progress_every`` steps (and at the last): one progress line in the log (step, loss,
learning rate, throughput in real nucleotides per second over all processes, elapsed time,
ETA), in every launch mode; the interactive progress bar only when stderr is a terminal and
``ISOCLR_PROGRESS_BAR`` is not ``0`` (the pipeline sets 0, so its jobs log lines, no bar).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn

from isoclr.config.settings.pretrain import PretrainSettings
from isoclr.core.devices import resolve_device
from isoclr.core.encoding import tracks_used
from isoclr.core.files import atomic_path
from isoclr.pretrain import loader as L
from isoclr.pretrain import losses, model
from isoclr.pretrain.monitor import Monitor
from isoclr.pretrain.objective import PretrainModel, architecture
from isoclr.pretrain.state import (
    TrainState,
    checkpoint,
    data_digest,
    folder_lock,
    plain,
    restore,
    run_fingerprint,
    save,
    set_rng_state,
)

log = logging.getLogger(__name__)

OBJECTIVES = PretrainSettings.OBJECTIVES

#: Called after every optimiser step (and its checkpoint, if any) with the step number.
StepCallback = Callable[[int], None]


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
def resolve(config: Mapping[str, Any], model_name: str | None = None) -> tuple[str, PretrainSettings]:
    """Pipeline config (with ``pretrain.models``) or a bare model entry -> (name, settings).

    Defaults, the seed (``null`` = the top-level seed) and the data paths are filled in by
    :class:`isoclr.config.settings.pretrain.PretrainSettings`; unknown keys are refused, naming the closest one.
    """
    if "pretrain" in config:
        s = PretrainSettings.from_config(config, model_name)
        return s.name, s
    entry = dict(config)
    name = model_name or str(entry.pop("name", "model"))
    entry.pop("name", None)
    results = str(entry.pop("results", "results"))
    s = PretrainSettings.from_entry(entry, name, seed=0, results=results)
    return name, s


class Schedule:
    """Step-based LR factor (a picklable LambdaLR function).

    ``sqrt``: linear warm-up over ``warmup`` steps, then ``1/sqrt(epoch + 1)`` (epoch counted
    from the end of the warm-up, fractional), times a linear decay to 0 over the last
    ``decay_fraction`` of the steps. ``cosine``: warm-up then cosine to ``min_ratio``.
    """

    def __init__(self, kind: str, total: int, warmup: int, steps_per_epoch: int, decay_fraction: float, min_ratio: float) -> None:
        self.kind, self.total, self.warmup = kind, int(total), int(warmup)
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.decay_steps = max(1, int(round(decay_fraction * total)))
        self.min_ratio = float(min_ratio)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.kind == "constant":
            return 1.0
        if self.kind == "cosine":
            progress = (step - self.warmup) / max(1, self.total - self.warmup)
            return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        epoch = (step - self.warmup) / self.steps_per_epoch
        decay = min(1.0, max(0.0, (self.total - step) / self.decay_steps))
        return decay / math.sqrt(epoch + 1)


# --------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------
def setup_distributed(device_pref: str) -> tuple[int, int, torch.device]:
    """(world size, rank, device) from torchrun's environment; joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(device_pref, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world, rank, device


def training_data(s: PretrainSettings, world: int, rank: int) -> dict[str, Any]:
    """This process's data: the sets, the training and validation samplers (its share of every
    batch), the view-pair dataset and the set-weight normaliser; clear errors for unusable splits."""
    sets = L.TranscriptSets.load(s.sets, s.stores)  # type: ignore[arg-type]
    splits = L.read_splits(s.splits, sets.n_sets)  # type: ignore[arg-type]
    train_ids = L.select_sets(sets, splits, "train", s.splits)
    val_ids = L.select_sets(sets, splits, "validation", s.splits)
    sizes = sets.sizes()
    if s.objective != "mlm" and not np.any(sizes[train_ids] > 1):
        raise ValueError(
            f"{s.sets}: no training set has more than one transcript, so there are no "
            "positive pairs of different transcripts to contrast (check the stores' isoforms and "
            "the homology sources)"
        )
    if np.any(sizes[train_ids] < 1):
        raise ValueError(f"{s.sets}: training sets without transcripts")
    lengths = L.member_lengths(sets)
    per_rank = s.batch_size // world
    if per_rank < 2 and s.objective != "mlm":
        raise ValueError(f"batch_size {s.batch_size} gives < 2 sets per process for {world} processes")
    if len(train_ids) < per_rank * world:
        raise ValueError(
            f"{s.splits}: the training split has {len(train_ids)} sets, fewer than one batch "
            f"({s.batch_size}); lower batch_size"
        )
    common = {"offset": sets.offset, "lengths": lengths, "batch_size": per_rank, "bucket": s.bucket,
              "chunk_batches": s.chunk_batches, "rank": rank, "world": world}
    train = L.SetBatchSampler(train_ids, seed=s.seed, **common)
    val_common = dict(common, batch_size=min(per_rank, max(2, len(val_ids) // world)))
    val = L.SetBatchSampler(val_ids, seed=s.seed + 1, **val_common)
    dataset = L.ViewPairDataset(sets, mask_prob=s.mask_prob, return_targets=s.objective == "mlm",
                                length_groups=s.length_groups,
                                width_buckets=L.COMPILE_WIDTH_BUCKETS if s.compile else None,
                                drop_tracks=s.drop_tracks)
    norm = losses.weight_norm(sizes[train_ids], s.weight_c)
    return {"sets": sets, "train": train, "val": val, "dataset": dataset, "weight_norm": norm}


def set_up(s: PretrainSettings, out: Path, world: int, rank: int, device: torch.device) -> TrainState:
    """Data, model (seeded), AdamW (no weight decay on biases and norms) and LR schedule."""
    if s.threads:
        torch.set_num_threads(s.threads)
    fingerprint = run_fingerprint(s, data_digest(s))
    data = training_data(s, world, rank)
    steps_per_epoch = max(1, data["train"].batches_per_epoch() // s.accumulate)
    # epochs -> steps from the training sets this job actually reads (explicit steps win)
    total, warmup = s.schedule_steps(steps_per_epoch)
    random.seed(s.seed)
    np.random.seed(s.seed % 2**32)
    torch.manual_seed(s.seed)
    net = PretrainModel(s).to(device)
    if world > 1:
        model.convert_sync_batchnorm(net)
    decay, no_decay = [], []
    for _, p in net.named_parameters():
        (no_decay if p.ndim < 2 else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=s.lr, betas=tuple(s.betas), **model.adamw_options(device),
    )
    schedule = Schedule(s.schedule, total, warmup, steps_per_epoch, s.decay_fraction, s.min_lr_ratio)
    resolved = {**s.to_params(), "model": architecture(s), "steps_per_epoch": steps_per_epoch,
                "resolved_steps": total, "resolved_warmup_steps": warmup, "tracks": tracks_used(s.drop_tracks)}
    return TrainState(
        s=s, out=out, world=world, rank=rank, device=device,
        amp=(device.type == "cuda") if s.amp == "auto" else bool(s.amp), fingerprint=fingerprint,
        resolved=resolved, data=data, net=net, opt=opt, sched=torch.optim.lr_scheduler.LambdaLR(opt, schedule),
        total=total,
    )


def wrap(st: TrainState) -> None:
    """DDP over the processes (the weights restored first: DDP broadcasts rank 0's), then compile."""
    if st.world > 1:
        st.ddp = nn.parallel.DistributedDataParallel(
            st.net, device_ids=[st.device.index] if st.device.type == "cuda" else None)
        st.fwd = st.ddp
    if st.s.compile:
        st.fwd = model.compile_model(st.fwd, st.device)


def announce(st: TrainState) -> None:
    """Write the settings as run (``config.yaml``) and the start line of the log (rank 0)."""
    if not st.main:
        return
    s, out = st.s, st.out
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "config.yaml", suffix=".yaml") as tmp:
        tmp.write_text(yaml.safe_dump(plain(st.resolved), sort_keys=False))
    log.info("%s: %s objective, %d encoder parameters, %d training sets, %d steps (%d per epoch), "
             "batch %d sets x %d accumulated, lr %g (%s), device %s%s; progress every %d steps",
             s.name, s.objective, model.count_parameters(st.net.encoder), len(st.sampler.set_ids), st.total,
             st.resolved["steps_per_epoch"], s.batch_size, s.accumulate, s.lr, s.schedule, st.device,
             f", {st.world} processes" if st.world > 1 else "", s.progress_every)


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------
def pretrain(
    s: PretrainSettings,
    out: str | os.PathLike[str],
    resume: bool = False,
    callbacks: Sequence[StepCallback] = (),
) -> Path:
    """Pre-train one model into ``out``; returns the final checkpoint (``out/checkpoint.pt``).

    ``resume``: continue from the newest checkpoint when it is of the same run (every training
    setting and the input data identical); otherwise start fresh in a cleaned folder.
    """
    out = Path(out)
    world, rank, device = setup_distributed(s.device)
    lock = folder_lock(out) if rank == 0 else contextlib.nullcontext()
    with lock:
        st = set_up(s, out, world, rank, device)
        rngs = restore(st, resume)
        wrap(st)
        announce(st)
        mon = Monitor(st)
        if rngs is not None:
            set_rng_state(rngs)
        train(st, mon, callbacks)
        return finish(st, mon)


def train(st: TrainState, mon: Monitor, callbacks: Sequence[StepCallback]) -> None:
    """Optimiser steps up to the total, each followed by what is due (:func:`after_step`)."""
    loader = L.make_loader(st.data["dataset"], st.sampler, num_workers=st.s.num_workers, seed=st.s.seed,
                           pin_memory=st.device.type == "cuda")
    batches: Iterator[dict[str, Any]] = iter(loader)
    st.fwd.train()
    try:
        while st.step < st.total:
            grad_norm = train_step(st, batches, mon)
            after_step(st, mon, grad_norm)
            for callback in callbacks:
                callback(st.step)
    finally:
        mon.close()
        del batches


def train_step(st: TrainState, batches: Iterator[dict[str, Any]], mon: Monitor) -> torch.Tensor:
    """One optimiser step over ``accumulate`` micro-batches; returns the gradient norm (before
    clipping). Under DDP only the last micro-batch's backward all-reduces the gradients
    (``no_sync`` on the others); the loss stays on the device (:class:`isoclr.pretrain.monitor.LossWatch`)."""
    s = st.s
    st.opt.zero_grad(set_to_none=True)
    loss_sum = torch.zeros((), dtype=torch.float64, device=st.device)
    for i in range(s.accumulate):
        batch = next(batches)
        last = i == s.accumulate - 1
        with st.ddp.no_sync() if st.ddp is not None and not last else contextlib.nullcontext():
            loss, _, _ = st.loss(batch)
            (loss / s.accumulate).backward()
        loss_sum += loss.detach().double() / s.accumulate
        st.sampler.advance_to(batch["epoch"], batch["index"])
        mon.count(batch, st.world)
    grad_norm = nn.utils.clip_grad_norm_(st.net.parameters(), s.grad_clip)
    st.opt.step()
    st.sched.step()
    st.step += 1
    mon.step_done(st.step, loss_sum)
    return grad_norm


def after_step(st: TrainState, mon: Monitor, grad_norm: torch.Tensor) -> None:
    """What is due after a step: the progress line, a ``metrics.csv`` row, validation, a
    checkpoint (every process calls this; steps with none of them cost no host sync)."""
    s, step = st.s, st.step
    last = step == st.total
    log_row = step % s.log_every == 0 or last
    validation = step % s.val_every == 0 or last
    save_now = step % s.checkpoint_every == 0 or last
    if log_row or validation or save_now or mon.meter.due(step):
        mon.report(st, grad_norm, log_row=log_row, validation=validation)
    if save_now:
        checkpoint(st)


def finish(st: TrainState, mon: Monitor) -> Path:
    """The final checkpoint (``checkpoint.pt``) and the declared ``metrics.csv``."""
    final = st.out / "checkpoint.pt"
    save(st, final)
    if st.main:
        with atomic_path(st.out / "metrics.csv", suffix=".csv") as tmp:
            shutil.copyfile(mon.metrics.path, tmp)
        from isoclr.pretrain.model_folder import write_after_pretrain  # out/model/: safetensors, config, card

        write_after_pretrain(st.out)
        log.info("%s: %d steps in %.1f s -> %s", st.s.name, st.step, time.time() - mon.throughput.t_start, final)
    if st.world > 1:
        dist.barrier()
    return final




# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def pretrain_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "pretrain",
                 wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The pipeline's ``pretrain`` rule (plain values from ``workflow/scripts/pretrain.py``).

    Every setting comes from ``params.settings`` (:meth:`PretrainSettings.job_params`), the data
    from the inputs. The number of processes is the job's ``gpu`` resource (config
    ``pretrain.gpus``, or a resources/--set-resources override), so SLURM allocates exactly the
    GPUs torchrun uses: with more than one, one process per GPU (DDP, synced BN) runs
    ``isoclr pretrain`` on the same resolved settings, written to ``launch.yaml`` beside the
    checkpoint; the processes import isoclr from the environment the job runs in. The job
    resumes from its last checkpoint when that is of the same run (a pre-empted job continues
    exactly); otherwise it starts fresh and logs why.
    """
    import subprocess

    from isoclr.core.logs import job_log

    job_log(log_path, rule, "pre-train one encoder",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    os.environ["ISOCLR_PROGRESS_BAR"] = "0"  # progress lines in the log in every launch mode, no bar
    s = PretrainSettings.from_params(params.settings, sets=inputs.sets, splits=inputs.splits,
                                     stores=dict(zip(params.species, inputs.stores)), threads=threads)
    out = Path(outputs.checkpoint).parent
    gpus = int((resources.get("gpu", 0) if resources is not None else 0) or 0)
    if gpus <= 1:
        pretrain(s, out, resume=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    launch = out / "launch.yaml"
    launch.write_text(yaml.safe_dump(s.to_params(), sort_keys=False))
    cmd = ["torchrun", "--standalone", f"--nproc_per_node={gpus}", "-m", "isoclr.cli",
           "pretrain", "--config", str(launch), "--out", str(out), "--resume"]
    with open(log_path, "a") as log_fh:
        subprocess.run(cmd, check=True, stdout=log_fh, stderr=subprocess.STDOUT)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="pipeline config (pretrain.models) or one model's YAML entry")
    parser.add_argument("--out", required=True, help="output folder, e.g. results/pretrain/MODEL")
    parser.add_argument("--model", default=None, help="model name under pretrain.models (needed when there are several)")
    parser.add_argument("--max-steps", type=int, default=None, help="override the number of optimiser steps")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest checkpoint in OUT/checkpoints if it is of the same run "
                             "(same settings and data); otherwise start fresh")
    parser.add_argument("--sets", default=None, help="sets.h5 (default: {results}/homology/sets.h5)")
    parser.add_argument("--splits", default=None, help="splits.tsv (default: {results}/splits/splits.tsv)")
    parser.add_argument("--store", action="append", default=[], metavar="SPECIES=PATH", help="store path override (repeatable)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default=None, help="auto | cpu | cuda")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=YAML", help="override a training key, e.g. --set lr=0.01")


def run(args: argparse.Namespace) -> int:
    from isoclr.config.load import pipeline_or_entry

    name, s = resolve(pipeline_or_entry(args.config), args.model)
    changes: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        changes[key] = yaml.safe_load(value)
    if changes:
        entry = {k: v for k, v in s.to_params().items() if k != "architecture"}
        entry.update(s.architecture)
        entry.update(changes)
        entry.pop("name")
        s = PretrainSettings.from_entry(entry, name, seed=s.seed or 0)
    s = s.replace(
        steps=int(args.max_steps) if args.max_steps is not None else s.steps,
        sets=args.sets or s.sets, splits=args.splits or s.splits,
        stores=dict(x.split("=", 1) for x in args.store) if args.store else s.stores,
        threads=args.threads or s.threads, device=args.device or s.device,
    )
    pretrain(s, args.out, resume=args.resume)
    return 0
