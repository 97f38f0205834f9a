"""The state of one pre-training and its checkpoints.

:class:`TrainState` holds what the loop trains (model, optimiser, schedule, sampler position,
step). A checkpoint (:func:`save`) stores all of it, every process's RNG states and the run's
fingerprint (every training setting and the sha256 of the input files), so :func:`restore`
continues a run exactly, and only the same run: a checkpoint with another fingerprint is
discarded (:func:`resumable_checkpoint` cleans the folder and logs why). The run holds an
exclusive lock on its folder (:func:`folder_lock`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from isoclr.config.settings import PretrainSettings
from isoclr.core.files import file_sha256
from isoclr.pretrain import loader as L
from isoclr.pretrain import model
from isoclr.pretrain.objective import PretrainModel, architecture, batch_loss

log = logging.getLogger(__name__)


class FolderLockedError(RuntimeError):
    """Another pre-training holds the lock of this model folder."""


@dataclass
class TrainState:
    """Everything one pre-training process holds while it runs (see :func:`isoclr.pretrain.loop.set_up`)."""

    s: PretrainSettings
    out: Path
    world: int
    rank: int
    device: torch.device
    amp: bool
    fingerprint: dict[str, Any]
    resolved: dict[str, Any]  #: the settings as run (``config.yaml``, and in every checkpoint)
    data: dict[str, Any]  #: :func:`isoclr.pretrain.loop.training_data`
    net: PretrainModel
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    total: int
    fwd: nn.Module = field(init=False)  #: ``net`` as the forward calls it (DDP, compiled)
    ddp: nn.parallel.DistributedDataParallel | None = None
    step: int = 0
    last_good: Path | None = None  #: the newest checkpoint written or resumed from

    def __post_init__(self) -> None:
        self.fwd = self.net

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def sampler(self) -> L.SetBatchSampler:
        return self.data["train"]

    def loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:func:`isoclr.pretrain.objective.batch_loss` of one batch."""
        return batch_loss(self.fwd, self.net.encoder, batch, self.s, self.device, self.amp,
                          self.data["weight_norm"])


# --------------------------------------------------------------------------------------------
# The run's fingerprint
# --------------------------------------------------------------------------------------------
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


def plain(value: Any) -> Any:
    """Config -> YAML-safe plain types."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Human-readable ``key: checkpoint X vs config Y`` lines for differing keys."""
    keys = sorted(set(old) | set(new))
    return [f"{k}: checkpoint {old.get(k)!r} vs config {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


# --------------------------------------------------------------------------------------------
# RNG states
# --------------------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
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


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    py, npy = state["python"], state["numpy"]
    random.setstate((int(py["version"]), tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    np.random.set_state((npy["kind"], npy["key"].numpy().astype(np.uint32), int(npy["pos"]),
                         int(npy["has_gauss"]), float(npy["cached_gaussian"])))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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


def save(st: TrainState, path: Path) -> None:
    """Write a checkpoint of the run (every process calls this: the RNG states are gathered)."""
    rngs: Any = rng_state()
    if st.world > 1:
        gathered: list[Any] = [None] * st.world
        dist.all_gather_object(gathered, rngs)
        rngs = gathered
    if not st.main:
        return
    net = st.net
    model.save_checkpoint(
        path, net.encoder, st.s.objective, net.projector,
        mlm_head=net.head.state_dict() if net.head is not None else None,
        optimizer=st.opt.state_dict(), scheduler=st.sched.state_dict(), sampler=st.sampler.state_dict(),
        rng=rngs, step=st.step, epoch=st.sampler.epoch, config=plain(st.resolved),
        set_weight_norm=float(st.data["weight_norm"]), fingerprint=plain(st.fingerprint),
    )


def checkpoint(st: TrainState) -> None:
    """``checkpoints/step_N.pt`` of the current step; only the newest ``keep_checkpoints`` stay."""
    path = st.out / "checkpoints" / f"step_{st.step:07d}.pt"
    save(st, path)
    st.last_good = path
    if st.main:
        for old in sorted((st.out / "checkpoints").glob("step_*.pt"), key=_ckpt_step)[:-st.s.keep_checkpoints]:
            old.unlink(missing_ok=True)


def restore(st: TrainState, resume: bool) -> dict[str, Any] | None:
    """Continue from the newest checkpoint of the same run when ``resume`` (rank 0 decides,
    the others follow); otherwise clean the folder. Returns this process's RNG states to set
    once everything is built (None for a fresh start)."""
    path = None
    if st.main:
        path = resumable_checkpoint(st.out, st.fingerprint) if resume else None
        if not resume:
            clean(st.out)
    if st.world > 1:
        found: list[Any] = [str(path) if path else None]
        dist.broadcast_object_list(found, src=0)
        path = Path(found[0]) if found[0] else None
    if path is None:
        return None
    ckpt = model.load_checkpoint(path, map_location=st.device)
    st.net.encoder.load_state_dict(ckpt["encoder"])
    if st.net.projector is not None:
        st.net.projector.load_state_dict(ckpt["projector"])
    if st.net.head is not None:
        st.net.head.load_state_dict(ckpt["mlm_head"])
    st.opt.load_state_dict(ckpt["optimizer"])
    st.sched.load_state_dict(ckpt["scheduler"])
    st.sampler.load_state_dict(ckpt["sampler"])
    st.step, st.last_good = int(ckpt["step"]), path
    log.info("resumed from %s at step %d (epoch %d, batch %d)", path, st.step, st.sampler.epoch, st.sampler.position)
    rngs = ckpt["rng"]
    return rngs[st.rank] if isinstance(rngs, list) and st.rank < len(rngs) else rngs


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


def clean(out: Path) -> None:
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
            clean(out)
        log.info("no checkpoint in %s: starting from scratch", out / "checkpoints")
        return None
    # a file that does not load with weights_only (a crafted pickle, an older isoclr's) is
    # refused with a message naming it, not silently deleted
    ckpt = model.load_checkpoint(path, map_location="cpu")
    old = ckpt.get("fingerprint")
    if old == plain(fingerprint):
        return path
    diff = config_differences(old or {}, plain(fingerprint)) if isinstance(old, Mapping) else ["no fingerprint"]
    log.warning("%s is from a different run (%s): starting fresh in a clean %s", path, "; ".join(diff), out)
    clean(out)
    return None
