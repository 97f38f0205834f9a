"""What a pre-training reports: the training loss (kept on the device, read at the steps that log),
validation, the metrics table (``metrics.csv`` + TensorBoard) and the progress line."""

from __future__ import annotations

import csv
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from isoclr.core.files import atomic_path
from isoclr.diagnostics import measures as diagnostics
from isoclr.pretrain import loader as L
from isoclr.pretrain.state import TrainState

log = logging.getLogger(__name__)

METRIC_COLUMNS = [
    "step", "epoch", "lr", "loss", "grad_norm", "sets_per_s", "padding",
    "val_loss", "val_alignment", "val_uniformity", "val_effective_rank", "elapsed_s",
]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite (the run stops; checkpoints are kept)."""


# --------------------------------------------------------------------------------------------
# The training loss
# --------------------------------------------------------------------------------------------
class LossWatch:
    """The training loss of every step, kept on the device: its finiteness is checked there
    (no host sync per step), the first non-finite step remembered, and the loss read, averaged
    over the processes, only at the steps that log or save (one collective each), where a
    non-finite loss since the last read stops the run on every process at once.

    The collective also sums this process's real nucleotides since the last progress line
    (``nt``), so the progress line costs none of its own.
    """

    NONE = float("inf")  #: no non-finite step yet

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.last = torch.zeros((), dtype=torch.float64, device=device)
        self.first_bad = torch.full((), self.NONE, dtype=torch.float64, device=device)
        self.bad_value = torch.zeros((), dtype=torch.float64, device=device)
        self.nt = 0

    def update(self, step: int, loss: torch.Tensor) -> None:
        """The mean loss of step ``step`` over its micro-batches (a device scalar, float64)."""
        new = ~torch.isfinite(loss) & torch.isinf(self.first_bad)
        self.first_bad = torch.where(new, float(step), self.first_bad)
        self.bad_value = torch.where(new, loss, self.bad_value)
        self.last = loss

    def read(self, st: TrainState) -> tuple[float, float]:
        """(loss of the last step averaged over the processes, real nucleotides of all processes
        since the last progress line); NonFiniteLossError when a step since the last read had a
        non-finite loss on any process."""
        mine = torch.stack([self.last, self.first_bad, self.bad_value,
                            torch.tensor(float(self.nt), dtype=torch.float64, device=self.device)])
        if st.world > 1:
            parts = [torch.empty_like(mine) for _ in range(st.world)]
            dist.all_gather(parts, mine)
            table = torch.stack(parts).cpu()
        else:
            table = mine[None].cpu()
        first = int(table[:, 1].argmin())
        if np.isfinite(float(table[first, 1])):
            raise NonFiniteLossError(
                f"non-finite training loss ({float(table[first, 2])}) at step {int(table[first, 1])} of model "
                f"{st.s.name!r}; stopped. The last good checkpoint is kept: {st.last_good or 'none written yet'}. "
                "Lower the learning rate or check the input data."
            )
        return float(table[:, 0].mean()), float(table[:, 3].sum())


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
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


@torch.no_grad()
def validate(st: TrainState) -> dict[str, float]:
    """Validation loss over ``val_batches`` batches of the validation split (averaged over the
    processes: one collective), the alignment and uniformity of their rows, and the effective rank
    of one view per set (:mod:`isoclr.diagnostics.measures`; falls towards 1 as an embedding collapses)."""
    st.fwd.eval()
    vals, aligns, unifs, views = [], [], [], []
    vloader = L.make_loader(st.data["dataset"], st.data["val"], num_workers=0, seed=st.s.seed + 1)
    for i, batch in enumerate(vloader):
        if i >= st.s.val_batches or batch["epoch"] > 0:
            break
        loss, z1, z2 = st.loss(batch)
        vals.append(loss.detach())
        a, u = alignment_uniformity(z1, z2)
        aligns.append(a)
        unifs.append(u)
        views.append(z1.float().cpu().numpy())
    st.fwd.train()
    val = torch.stack(vals) if vals else torch.zeros(0, device=st.device)
    if st.world > 1:
        dist.all_reduce(val)
        val /= st.world
    return {"val_loss": float(np.mean([float(v) for v in val])),
            "val_alignment": float(np.mean(aligns)) if aligns else float("nan"),
            "val_uniformity": float(np.mean(unifs)) if unifs else float("nan"),
            "val_effective_rank": diagnostics.effective_rank(np.concatenate(views)) if views else float("nan")}


# --------------------------------------------------------------------------------------------
# Metrics table and progress
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


class Throughput:
    """Sets, real and padded nucleotides since the last ``metrics.csv`` row."""

    def __init__(self) -> None:
        self.t_start = self.t_last = time.time()
        self.sets, self.real_nt, self.padded_nt = 0, 0, 0

    def add(self, batch: Mapping[str, Any], world: int) -> int:
        """Count one micro-batch; returns its real nucleotides."""
        real = int(batch["lengths"].sum())
        self.sets += len(batch["set_ids"]) * world
        self.real_nt += real
        self.padded_nt += sum(int(g["codes"].numel()) for g in batch["groups"])
        return real

    def row(self) -> dict[str, float]:
        """sets/s, padding fraction and elapsed time since the last row (the counts restart)."""
        now = time.time()
        out = {"sets_per_s": self.sets / max(now - self.t_last, 1e-9),
               "padding": 1 - self.real_nt / max(self.padded_nt, 1), "elapsed_s": now - self.t_start}
        self.t_last, self.sets, self.real_nt, self.padded_nt = now, 0, 0, 0
        return out


class ProgressMeter:
    """The progress line every ``every`` steps: step, loss, LR, nt/s over all processes, ETA."""

    def __init__(self, name: str, total: int, start_step: int, every: int) -> None:
        self.name, self.total, self.every = name, int(total), max(1, int(every))
        self.start_step, self.t0 = int(start_step), time.time()
        self.last_t = self.t0

    def due(self, step: int) -> bool:
        return step % self.every == 0 or step == self.total

    def line(self, step: int, loss: float, lr: float, nt: float) -> str:
        """``nt``: real nucleotides of all processes since the last line."""
        now = time.time()
        rate = nt / max(now - self.last_t, 1e-9)
        done = step - self.start_step
        per_step = (now - self.t0) / max(done, 1)
        eta = per_step * (self.total - step)
        self.last_t = now
        return (f"progress {self.name}: step {step}/{self.total} ({100 * step / max(self.total, 1):.0f}%) | "
                f"loss {loss:.4f} | lr {lr:.2e} | {rate:,.0f} nt/s | {1 / max(per_step, 1e-9):.2f} steps/s | "
                f"elapsed {_hms(now - self.t0)} | ETA {_hms(eta)}")


class Monitor:
    """The reporting of one run: the loss watch, throughput, metrics table, progress line and bar."""

    def __init__(self, st: TrainState) -> None:
        self.watch = LossWatch(st.device)
        self.throughput = Throughput()
        self.metrics = MetricsLog(st.out, st.step, st.main)
        self.meter = ProgressMeter(st.s.name, st.total, st.step, st.s.progress_every)
        self.bar = progress_bar(st)

    def count(self, batch: Mapping[str, Any], world: int) -> None:
        """Count one micro-batch (sets, nucleotides, padding)."""
        self.watch.nt += self.throughput.add(batch, world)

    def step_done(self, step: int, loss: torch.Tensor) -> None:
        """After an optimiser step: its loss (on the device) and the bar."""
        self.watch.update(step, loss)
        if self.bar is not None:
            self.bar.update(1)

    def report(self, st: TrainState, grad_norm: torch.Tensor, log_row: bool, validation: bool) -> None:
        """Read the loss (stopping on a non-finite one), then the progress line when due, the
        ``metrics.csv`` row when ``log_row``, and the validation when ``validation``."""
        step = st.step
        loss, nt = self.watch.read(st)
        lr = st.sched.get_last_lr()[0]
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.3f}")
        if self.meter.due(step):
            self.watch.nt = 0
            line = self.meter.line(step, loss, lr, nt)
            if st.main:
                log.info("%s", line)
        row: dict[str, Any] = {}
        if log_row:
            row.update(step=step, epoch=st.sampler.epoch, lr=lr, loss=loss, grad_norm=float(grad_norm),
                       **self.throughput.row())
        if validation:
            row.update(step=step, epoch=st.sampler.epoch, **validate(st))
            if st.main:
                log.info("step %d: loss %.4f, validation %.4f (alignment %.3f, uniformity %.3f, effective rank %.1f)",
                         step, loss, row["val_loss"], row["val_alignment"], row["val_uniformity"],
                         row["val_effective_rank"])
        if row:
            self.metrics.write(row)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.metrics.close()


def progress_bar(st: TrainState) -> Any:
    """The interactive bar (tqdm) on rank 0 when stderr is a terminal and ``ISOCLR_PROGRESS_BAR``
    is not ``0``; None otherwise (a job log gets the progress lines only)."""
    if not (st.main and sys.stderr.isatty() and os.environ.get("ISOCLR_PROGRESS_BAR", "1") != "0"):
        return None
    from tqdm import tqdm

    return tqdm(total=st.total, initial=st.step, desc=f"pretrain {st.s.name}", unit="step", leave=False)


def _hms(seconds: float) -> str:
    s = int(round(max(0.0, seconds)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
