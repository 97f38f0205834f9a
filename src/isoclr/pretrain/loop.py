"""Pre-training of the encoder: contrastive (DCL, NT-Xent) or masked-nucleotide (MLM).

One readable loop in the spirit of nanoGPT's ``train.py``; every knob is a field of
:class:`isoclr.config.settings.PretrainSettings`, read from the model's config entry
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
Vetterli 2007; :mod:`isoclr.evaluate.diagnostics`), so a collapsing embedding shows while it
trains. Every ``checkpoint_every`` steps and at the end: an atomic checkpoint (model, projector / MLM head, optimiser, scheduler,
sampler position, RNG states, step, and the run's fingerprint: every training setting and the
sha256 of the input files), so ``--resume`` continues exactly, and only the same run: a
checkpoint with another fingerprint is discarded (the folder cleaned, the log says why). A
non-finite loss stops the run with a clear message and leaves the last good checkpoint
untouched. The run holds an exclusive lock on the folder (``.lock``): a second run into it
fails at once.

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
import csv
import fcntl
import shutil
import logging
import math
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn

from isoclr.evaluate import diagnostics
from isoclr.pretrain import loader as L
from isoclr.pretrain import losses
from isoclr.pretrain import model
from isoclr.core.encoding import tracks_torch, tracks_used
from isoclr.core.files import atomic_path, file_sha256
from isoclr.config.settings import PretrainSettings

log = logging.getLogger(__name__)

OBJECTIVES = PretrainSettings.OBJECTIVES


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite (the run stops; checkpoints are kept)."""


class FolderLockedError(RuntimeError):
    """Another pre-training holds the lock of this model folder."""


METRIC_COLUMNS = [
    "step", "epoch", "lr", "loss", "grad_norm", "sets_per_s", "padding",
    "val_loss", "val_alignment", "val_uniformity", "val_effective_rank", "elapsed_s",
]

#: Called after every optimiser step (and its checkpoint, if any) with the step number.
StepCallback = Callable[[int], None]


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
def resolve(config: Mapping[str, Any], model_name: str | None = None) -> tuple[str, PretrainSettings]:
    """Pipeline config (with ``pretrain.models``) or a bare model entry -> (name, settings).

    Defaults, the seed (``null`` = the top-level seed) and the data paths are filled in by
    :class:`isoclr.config.settings.PretrainSettings`; unknown keys are refused, naming the closest one.
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


def architecture(s: PretrainSettings) -> dict[str, Any]:
    """The full resolved architecture (:func:`isoclr.pretrain.model.resolve_config`)."""
    return model.resolve_config(s.arch_config())


def data_digest(s: PretrainSettings) -> dict[str, str]:
    """sha256 of every input file of a run: sets.h5, splits.tsv and each species store."""
    sets = L.TranscriptSets.load(s.sets, s.stores)  # type: ignore[arg-type]
    files = {"sets": str(s.sets), "splits": str(s.splits)}
    files.update({f"store:{sp}": str(p) for sp, p in zip(sets.species, sets.stores)})
    return {k: file_sha256(p) for k, p in files.items()}


def run_fingerprint(s: PretrainSettings, data: Mapping[str, str]) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: every training setting (architecture
    resolved) and the input data's checksums."""
    return {**s.training(), "architecture": architecture(s), "data": dict(data)}


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
# Model wrapper (one module, so DDP / compile / the optimiser see everything)
# --------------------------------------------------------------------------------------------
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


def alignment_uniformity(z1: torch.Tensor, z2: torch.Tensor) -> tuple[float, float]:
    """Wang & Isola (2020): alignment E||z1 - z2||^2 and uniformity log E exp(-2||zi - zj||^2).

    On the normalised projections z (contrastive objectives) or encoder outputs h (MLM).
    """
    z1 = nn.functional.normalize(z1.float(), dim=1)
    z2 = nn.functional.normalize(z2.float(), dim=1)
    align = (z1 - z2).pow(2).sum(1).mean()
    z = torch.cat([z1, z2])
    unif = torch.pdist(z, p=2).pow(2).mul(-2).exp().mean().log()
    return float(align), float(unif)


# --------------------------------------------------------------------------------------------
# Distributed helpers
# --------------------------------------------------------------------------------------------
def _setup_distributed(device_pref: str) -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device_pref == "auto" else device_pref.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("config asks for device cuda but no GPU is visible")
    device = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return world, rank, device


def _all_mean(value: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        value = value.detach().clone()
        dist.all_reduce(value)
        value /= world
    return value


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------
def _ckpt_step(path: Path) -> int:
    m = re.search(r"step_(\d+)\.pt$", path.name)
    return int(m.group(1)) if m else -1


def latest_checkpoint(out: Path) -> Path | None:
    """The newest ``checkpoints/step_*.pt`` under ``out`` (None when there is none)."""
    cands = sorted((out / "checkpoints").glob("step_*.pt"), key=_ckpt_step)
    return cands[-1] if cands else None


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Human-readable ``key: checkpoint X vs config Y`` lines for differing keys."""
    keys = sorted(set(old) | set(new))
    return [f"{k}: checkpoint {old.get(k)!r} vs config {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def _rng_state() -> dict[str, Any]:
    """Every RNG's state as tensors and plain numbers (so checkpoints load with weights_only)."""
    version, mt, gauss = random.getstate()
    kind, key, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": int(version), "state": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": str(kind), "key": torch.from_numpy(np.asarray(key, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    py, npy = state["python"], state["numpy"]
    random.setstate((int(py["version"]), tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    np.random.set_state((npy["kind"], npy["key"].numpy().astype(np.uint32), int(npy["pos"]),
                         int(npy["has_gauss"]), float(npy["cached_gaussian"])))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------------------------
# Logs and figure
# --------------------------------------------------------------------------------------------
class MetricsLog:
    """The live ``checkpoints/metrics.csv`` (appended, truncated to the resume step; not a
    declared output, so Snakemake leaves it for a resumed job) + optional TensorBoard. The
    declared ``metrics.csv`` is a copy written at the end."""

    def __init__(self, out: Path, resume_step: int, enabled: bool) -> None:
        self.path = out / "checkpoints" / "metrics.csv"
        self.enabled = enabled
        self.tb = None
        if not enabled:
            return
        rows = []
        if resume_step > 0 and self.path.exists():
            with open(self.path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= resume_step]
        with atomic_path(self.path, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, METRIC_COLUMNS)
            w.writeheader()
            w.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"), purge_step=resume_step + 1 if resume_step else None)
        except Exception:  # noqa: BLE001 - tensorboard is optional
            log.info("tensorboard not available; logging to metrics.csv only")

    def write(self, row: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, METRIC_COLUMNS).writerow({k: row.get(k, "") for k in METRIC_COLUMNS})
        if self.tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)) and v == v:
                    self.tb.add_scalar(k, v, int(row["step"]))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


class ProgressMeter:
    """The progress line every ``every`` steps: step, loss, LR, nt/s over all processes, ETA.

    ``nt`` counts this process's real (unpadded) nucleotides since the last line; under DDP the
    counts are summed over the processes (a collective: every rank calls :meth:`line` at the
    same steps).
    """

    def __init__(self, name: str, total: int, start_step: int, every: int) -> None:
        self.name, self.total, self.every = name, int(total), max(1, int(every))
        self.start_step, self.t0 = int(start_step), time.time()
        self.last_t, self.nt = self.t0, 0

    def due(self, step: int) -> bool:
        return step % self.every == 0 or step == self.total

    def line(self, step: int, loss: float, lr: float, world: int) -> str:
        now = time.time()
        nt = torch.tensor(float(self.nt))
        if world > 1:
            nt = _all_mean(nt.to(_dist_device()), world).cpu() * world
        rate = float(nt) / max(now - self.last_t, 1e-9)
        done = step - self.start_step
        per_step = (now - self.t0) / max(done, 1)
        eta = per_step * (self.total - step)
        self.last_t, self.nt = now, 0
        return (f"progress {self.name}: step {step}/{self.total} ({100 * step / max(self.total, 1):.0f}%) | "
                f"loss {loss:.4f} | lr {lr:.2e} | {rate:,.0f} nt/s | {1 / max(per_step, 1e-9):.2f} steps/s | "
                f"elapsed {_hms(now - self.t0)} | ETA {_hms(eta)}")


def _dist_device() -> torch.device:
    if dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _hms(seconds: float) -> str:
    s = int(round(max(0.0, seconds)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def _data(s: PretrainSettings, world: int, rank: int) -> dict[str, Any]:
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


# --------------------------------------------------------------------------------------------
# The model folder: lock, resume or a clean start
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock (``flock``) on ``out/.lock`` while training into ``out``; a second
    run into the same folder fails at once (the lock goes with the process, even on SIGKILL)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / ".lock"
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise FolderLockedError(
            f"{out}: another pre-training is running in this model folder (it holds {path}); "
            "wait for it to finish or train into another folder"
        ) from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _clean(out: Path) -> None:
    """Remove what an earlier, different run left in ``out`` (checkpoints, curves, logs)."""
    for name in ("checkpoints", "tensorboard"):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in ("checkpoint.pt", "metrics.csv", "config.yaml", "curves.pdf", "curves.png"):
        (out / name).unlink(missing_ok=True)


def resumable_checkpoint(out: Path, fingerprint: Mapping[str, Any]) -> Path | None:
    """The newest checkpoint of ``out`` if it belongs to the same run (same settings and input
    data, :func:`run_fingerprint`); otherwise None, after cleaning the folder and logging why."""
    path = latest_checkpoint(out)
    if path is None:
        if (out / "checkpoints").exists() or (out / "checkpoint.pt").exists():
            _clean(out)
        log.info("no checkpoint in %s: starting from scratch", out / "checkpoints")
        return None
    # a file that does not load with weights_only (a crafted pickle, an older isoclr's) is
    # refused with a message naming it, not silently deleted
    ckpt = model.load_checkpoint(path, map_location="cpu")
    old = ckpt.get("fingerprint")
    if old == _plain(fingerprint):
        return path
    diff = config_differences(old or {}, _plain(fingerprint)) if isinstance(old, Mapping) else ["no fingerprint"]
    log.warning("%s is from a different run (%s): starting fresh in a clean %s", path, "; ".join(diff), out)
    _clean(out)
    return None


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
    world, rank, device = _setup_distributed(s.device)
    main = rank == 0
    lock = folder_lock(out) if main else contextlib.nullcontext()
    with lock:
        return _train(s, out, resume, callbacks, world, rank, device)


def _train(s: PretrainSettings, out: Path, resume: bool, callbacks: Sequence[StepCallback],
           world: int, rank: int, device: torch.device) -> Path:
    main = rank == 0
    if s.threads:
        torch.set_num_threads(s.threads)
    amp = (device.type == "cuda") if s.amp == "auto" else bool(s.amp)
    fingerprint = run_fingerprint(s, data_digest(s))

    data = _data(s, world, rank)
    sampler: L.SetBatchSampler = data["train"]
    steps_per_epoch = max(1, sampler.batches_per_epoch() // s.accumulate)
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
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)

    step, rng_state = 0, None
    if main:
        ckpt_path = resumable_checkpoint(out, fingerprint) if resume else None
        if not resume:
            _clean(out)
    else:
        ckpt_path = None
    if world > 1:
        found: list[Any] = [str(ckpt_path) if ckpt_path else None]
        dist.broadcast_object_list(found, src=0)
        ckpt_path = Path(found[0]) if found[0] else None
    if ckpt_path is not None:
        ckpt = model.load_checkpoint(ckpt_path, map_location=device)
        net.encoder.load_state_dict(ckpt["encoder"])
        if net.projector is not None:
            net.projector.load_state_dict(ckpt["projector"])
        if net.head is not None:
            net.head.load_state_dict(ckpt["mlm_head"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        sampler.load_state_dict(ckpt["sampler"])
        step = int(ckpt["step"])
        rng_state = ckpt["rng"][rank] if isinstance(ckpt["rng"], list) and rank < len(ckpt["rng"]) else ckpt["rng"]
        log.info("resumed from %s at step %d (epoch %d, batch %d)", ckpt_path, step, sampler.epoch, sampler.position)

    fwd: nn.Module = net
    if world > 1:
        fwd = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    if s.compile:
        fwd = model.compile_model(fwd, device)  # type: ignore[assignment]

    resolved = {**s.to_params(), "model": architecture(s), "steps_per_epoch": steps_per_epoch,
                "resolved_steps": total, "resolved_warmup_steps": warmup, "tracks": tracks_used(s.drop_tracks)}
    if main:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "config.yaml", suffix=".yaml") as tmp:
            tmp.write_text(yaml.safe_dump(_plain(resolved), sort_keys=False))
        log.info("%s: %s objective, %d encoder parameters, %d training sets, %d steps (%d per epoch), "
                 "batch %d sets x %d accumulated, lr %g (%s), device %s%s; progress every %d steps",
                 s.name, s.objective, model.count_parameters(net.encoder), len(sampler.set_ids), total,
                 steps_per_epoch, s.batch_size, s.accumulate, s.lr, s.schedule, device,
                 f", {world} processes" if world > 1 else "", s.progress_every)
    metrics = MetricsLog(out, step, main)

    def save(path: Path) -> None:
        rngs = _rng_state()
        if world > 1:
            gathered: list[Any] = [None] * world
            dist.all_gather_object(gathered, rngs)
            rngs = gathered  # type: ignore[assignment]
        if not main:
            return
        model.save_checkpoint(
            path, net.encoder, s.objective, net.projector,
            mlm_head=net.head.state_dict() if net.head is not None else None,
            optimizer=opt.state_dict(), scheduler=sched.state_dict(), sampler=sampler.state_dict(),
            rng=rngs, step=step, epoch=sampler.epoch, config=_plain(resolved), set_weight_norm=float(data["weight_norm"]),
            fingerprint=_plain(fingerprint),
        )

    def keep_last(n: int) -> None:
        if not main:
            return
        for old in sorted((out / "checkpoints").glob("step_*.pt"), key=_ckpt_step)[:-n]:
            old.unlink(missing_ok=True)

    def compute_loss(batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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
            # validation: alignment/uniformity of the views' normalised h (no projector in MLM)
            with ctx:
                h = net.encoder(xs, lens)[order]
            return loss, h[:b], h[b:]
        w = losses.set_weights(batch["set_sizes"].to(device), s.weight_c, data["weight_norm"])
        lossf = losses.dcl_loss if s.objective == "dcl" else losses.ntxent_loss
        loss = lossf(y[:b].float(), y[b:].float(), w, s.temperature)
        return loss, y[:b], y[b:]

    @torch.no_grad()
    def validate() -> dict[str, float]:
        fwd.eval()
        vals, aligns, unifs, views = [], [], [], []
        vloader = L.make_loader(data["dataset"], data["val"], num_workers=0, seed=s.seed + 1)
        for i, batch in enumerate(vloader):
            if i >= s.val_batches or batch["epoch"] > 0:
                break
            loss, z1, z2 = compute_loss(batch)
            vals.append(float(_all_mean(loss, world)))
            a, u = alignment_uniformity(z1, z2)
            aligns.append(a)
            unifs.append(u)
            views.append(z1.float().cpu().numpy())  # one view per validation set
        fwd.train()
        # effective rank (isoclr.evaluate.diagnostics) of the outputs the alignment is measured on:
        # falls towards 1 while an embedding collapses
        rank = diagnostics.effective_rank(np.concatenate(views)) if views else float("nan")
        return {"val_loss": float(np.mean(vals)), "val_alignment": float(np.mean(aligns)) if aligns else float("nan"),
                "val_uniformity": float(np.mean(unifs)) if unifs else float("nan"), "val_effective_rank": rank}

    if rng_state is not None:
        _set_rng_state(rng_state)
    loader = L.make_loader(data["dataset"], sampler, num_workers=s.num_workers, seed=s.seed,
                           pin_memory=device.type == "cuda")
    batches: Iterator[dict[str, Any]] = iter(loader)
    fwd.train()
    t_start = time.time()
    t_last, sets_since, real_nt, padded_nt = time.time(), 0, 0, 0
    progress = None
    if main and sys.stderr.isatty() and os.environ.get("ISOCLR_PROGRESS_BAR", "1") != "0":
        from tqdm import tqdm

        progress = tqdm(total=total, initial=step, desc=f"pretrain {s.name}", unit="step", leave=False)
    meter = ProgressMeter(s.name, total, step, s.progress_every)
    last_good = ckpt_path
    try:
        while step < total:
            opt.zero_grad(set_to_none=True)
            loss_sum = 0.0
            for _ in range(s.accumulate):
                batch = next(batches)
                loss, _, _ = compute_loss(batch)
                (loss / s.accumulate).backward()
                loss_sum += float(_all_mean(loss.detach(), world)) / s.accumulate
                sampler.advance_to(batch["epoch"], batch["index"])
                sets_since += len(batch["set_ids"]) * world
                real_nt += int(batch["lengths"].sum())
                meter.nt += int(batch["lengths"].sum())
                padded_nt += sum(int(g["codes"].numel()) for g in batch["groups"])
            if not math.isfinite(loss_sum):
                raise NonFiniteLossError(
                    f"non-finite training loss ({loss_sum}) at step {step + 1} of model {s.name!r}; "
                    f"stopped. The last good checkpoint is kept: {last_good or 'none written yet'}. "
                    "Lower the learning rate or check the input data."
                )
            grad_norm = nn.utils.clip_grad_norm_(net.parameters(), s.grad_clip)
            opt.step()
            sched.step()
            step += 1
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{loss_sum:.3f}")
            if meter.due(step):
                line = meter.line(step, loss_sum, sched.get_last_lr()[0], world)
                if main:
                    log.info("%s", line)
            row: dict[str, Any] = {}
            if step % s.log_every == 0 or step == total:
                now = time.time()
                row.update(step=step, epoch=sampler.epoch, lr=sched.get_last_lr()[0], loss=loss_sum,
                           grad_norm=float(grad_norm), sets_per_s=sets_since / max(now - t_last, 1e-9),
                           padding=1 - real_nt / max(padded_nt, 1), elapsed_s=now - t_start)
                t_last, sets_since, real_nt, padded_nt = now, 0, 0, 0
            if step % s.val_every == 0 or step == total:
                row.update(step=step, epoch=sampler.epoch, **validate())
                if main:
                    log.info("step %d: loss %.4f, validation %.4f (alignment %.3f, uniformity %.3f, "
                             "effective rank %.1f)", step, loss_sum, row["val_loss"], row["val_alignment"],
                             row["val_uniformity"], row["val_effective_rank"])
            if row:
                metrics.write(row)
            if step % s.checkpoint_every == 0 or step == total:
                path = out / "checkpoints" / f"step_{step:07d}.pt"
                save(path)
                last_good = path
                keep_last(s.keep_checkpoints)
            for callback in callbacks:
                callback(step)
    finally:
        if progress is not None:
            progress.close()
        metrics.close()
        del batches
    final = out / "checkpoint.pt"
    save(final)
    if main:
        with atomic_path(out / "metrics.csv", suffix=".csv") as tmp:
            shutil.copyfile(metrics.path, tmp)
        log.info("%s: %d steps in %.1f s -> %s", s.name, step, time.time() - t_start, final)
    if world > 1:
        dist.barrier()
    return final


def _plain(value: Any) -> Any:
    """Config -> YAML-safe plain types."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping")
    return data


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
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
    raw = load_config(args.config)
    name, s = resolve(raw, args.model)
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
