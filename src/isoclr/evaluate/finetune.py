"""End-to-end training of a network on a task: fine-tuning, supervised and Saluki baselines.

One readable loop serves every network model of the evaluation, so they differ only in the
network they start from:

* ``isoclr-finetune``: the pre-trained encoder (``isoclr.pretrain.model.load_encoder``) + a linear head;
* ``supervised``: the same architecture from random initialisation (``build_encoder``) + head;
* ``saluki``: :class:`isoclr.evaluate.baselines.Saluki`.

Training: AdamW, gradient clipping, batches of transcripts of similar length (sorted by length,
chunked, chunk order shuffled per epoch), six-track input built on the device with
:func:`isoclr.core.encoding.tracks_torch` from padded ``codes``/``marks``. Regression targets are
standardised with the training rows' mean and std (predictions are mapped back); multi-label
tasks use binary cross-entropy on logits and predict probabilities. After every epoch the
validation loss is measured; the best epoch's weights are kept, and training stops after
``patience`` epochs without improvement or at ``max_epochs``.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from tqdm import tqdm

from isoclr.core.devices import resolve_device
from isoclr.core.encoding import PAD, tracks_torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning hyper-parameters (config ``evaluation.finetune``)."""

    max_epochs: int = 30
    patience: int = 5  # epochs without validation improvement before stopping
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 32  # transcripts per batch (batches group similar lengths)
    grad_clip: float = 1.0
    head_dropout: float = 0.1
    amp: bool = True  # bfloat16 autocast on CUDA (ignored on CPU)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> TrainConfig:
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"finetune config: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**cfg)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Sequences:
    """The ``codes`` and ``marks`` of a task's transcripts, in task row order."""

    codes: list[npt.NDArray[np.uint8]]
    marks: list[npt.NDArray[np.uint8]]

    def __post_init__(self) -> None:
        if len(self.codes) != len(self.marks):
            raise ValueError(f"Sequences: {len(self.codes)} codes but {len(self.marks)} marks")
        self.lengths = np.array([len(c) for c in self.codes], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def from_store(cls, store: Any, rows: npt.ArrayLike) -> Sequences:
        """Read transcripts ``rows`` of an :class:`isoclr.store.format.IsoformStore`."""
        rows = np.asarray(rows, dtype=np.int64)
        codes = [np.asarray(store.codes(int(i)), dtype=np.uint8) for i in rows]
        marks = [np.asarray(store.marks(int(i)), dtype=np.uint8) for i in rows]
        return cls(codes, marks)

    def batch(self, idx: npt.ArrayLike) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Padded uint8 ``codes`` (PAD) and ``marks`` (0) (B, Lmax), and ``lengths`` (B,)."""
        idx = np.asarray(idx, dtype=np.int64)
        lengths = self.lengths[idx]
        width = int(max(lengths.max(initial=1), 1))
        codes = np.full((len(idx), width), PAD, dtype=np.uint8)
        marks = np.zeros((len(idx), width), dtype=np.uint8)
        for row, i in enumerate(idx):
            codes[row, : lengths[row]] = self.codes[i]
            marks[row, : lengths[row]] = self.marks[i]
        return torch.from_numpy(codes), torch.from_numpy(marks), torch.from_numpy(lengths)


def length_batches(
    lengths: npt.NDArray[np.integer],
    idx: npt.ArrayLike,
    batch_size: int,
    rng: np.random.Generator | None = None,
) -> list[npt.NDArray[np.int64]]:
    """Split ``idx`` into batches of similar length; with ``rng``, ties and batch order shuffled."""
    idx = np.asarray(idx, dtype=np.int64)
    if rng is not None:
        idx = idx[rng.permutation(len(idx))]
    order = idx[np.argsort(lengths[idx], kind="stable")]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:  # no single-example batch (batch norm)
        last = batches.pop()
        batches[-1] = np.concatenate([batches[-1], last])
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class EncoderWithHead(nn.Module):
    """An encoder (``forward(x, lengths) -> (B, D)``, ``out_dim``) followed by a linear head."""

    def __init__(self, encoder: nn.Module, n_out: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(int(encoder.out_dim), n_out)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.encoder(x, lengths)))


class Trainer:
    """Train a network ``forward(x, lengths) -> (B, n_out)`` on one task split."""

    def __init__(
        self,
        model: nn.Module,
        kind: str,
        cfg: TrainConfig,
        seed: int,
        device: torch.device | str | None = "auto",
    ) -> None:
        if kind not in ("regression", "multilabel"):
            raise ValueError(f"unknown task kind {kind!r} (expected 'regression' or 'multilabel')")
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.kind = kind
        self.cfg = cfg
        self.seed = seed
        self.y_mean = 0.0
        self.y_std = 1.0
        self.history: list[dict[str, float]] = []

    # -- targets -------------------------------------------------------------------------------
    def _targets(self, y: npt.NDArray) -> torch.Tensor:
        if self.kind == "regression":
            t = (np.asarray(y, dtype=np.float64).reshape(len(y), -1) - self.y_mean) / self.y_std
            return torch.as_tensor(t, dtype=torch.float32)
        return torch.as_tensor((np.asarray(y) > 0).astype(np.float32))

    def _loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        out = out.float()
        if self.kind == "regression":
            return nn.functional.mse_loss(out, target)
        return nn.functional.binary_cross_entropy_with_logits(out, target)

    def _forward(self, seqs: Sequences, idx: npt.NDArray[np.int64]) -> torch.Tensor:
        codes, marks, lengths = seqs.batch(idx)
        x = tracks_torch(codes.to(self.device), marks.to(self.device))
        use_amp = self.cfg.amp and self.device.type == "cuda"
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=use_amp):
            return self.model(x, lengths.to(self.device))

    # -- loop ----------------------------------------------------------------------------------
    def _epoch_loss(self, seqs: Sequences, y: npt.NDArray, idx: npt.NDArray[np.int64]) -> float:
        self.model.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for b in length_batches(seqs.lengths, idx, self.cfg.batch_size):
                target = self._targets(y[b]).to(self.device)
                total += float(self._loss(self._forward(seqs, b), target)) * len(b)
                n += len(b)
        return total / max(n, 1)

    def fit(
        self,
        seqs: Sequences,
        y: npt.NDArray,
        train_idx: npt.ArrayLike,
        val_idx: npt.ArrayLike,
    ) -> Trainer:
        """Train on ``train_idx`` with early stopping on ``val_idx`` (rows of ``seqs``/``y``)."""
        train_idx = np.asarray(train_idx, dtype=np.int64)
        val_idx = np.asarray(val_idx, dtype=np.int64)
        if len(train_idx) == 0:
            raise ValueError("Trainer.fit: no training rows")
        if self.kind == "regression":
            ytr = np.asarray(y, dtype=np.float64)[train_idx]
            self.y_mean = float(ytr.mean())
            self.y_std = float(ytr.std()) if len(ytr) > 1 and ytr.std() > 0 else 1.0
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        stop_idx = val_idx if len(val_idx) else train_idx
        best_loss, best_state, best_epoch, waited = math.inf, None, -1, 0
        epochs = tqdm(range(self.cfg.max_epochs), desc="epochs", unit="epoch", leave=False, disable=None)
        for epoch in epochs:
            self.model.train()
            train_total = 0.0
            for b in length_batches(seqs.lengths, train_idx, self.cfg.batch_size, rng):
                if len(b) < getattr(self.model, "min_batch", 1):
                    continue  # e.g. Saluki's batch-norm head cannot train on one example
                target = self._targets(y[b]).to(self.device)
                loss = self._loss(self._forward(seqs, b), target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if self.cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
                opt.step()
                train_total += float(loss.detach()) * len(b)
            val_loss = self._epoch_loss(seqs, y, stop_idx)
            self.history.append(
                {"epoch": epoch, "train_loss": train_total / len(train_idx), "val_loss": val_loss}
            )
            log.info("epoch %d: train loss %.4f, validation loss %.4f", epoch, train_total / len(train_idx), val_loss)
            if val_loss < best_loss - 1e-9 or best_state is None:
                best_loss, best_epoch, waited = val_loss, epoch, 0
                best_state = copy.deepcopy(self.model.state_dict())
            else:
                waited += 1
                if waited >= self.cfg.patience:
                    log.info("early stop after epoch %d (best %d)", epoch, best_epoch)
                    break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.best_epoch = best_epoch
        return self

    def predict(self, seqs: Sequences, idx: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Predictions for rows ``idx`` in their given order (targets' scale, probabilities)."""
        idx = np.asarray(idx, dtype=np.int64)
        self.model.eval()
        out = np.empty((len(idx), 0))
        parts: dict[int, npt.NDArray[np.float64]] = {}
        with torch.no_grad():
            pos = {int(i): k for k, i in enumerate(idx)}
            for b in length_batches(seqs.lengths, idx, self.cfg.batch_size):
                o = self._forward(seqs, b).float()
                o = torch.sigmoid(o) if self.kind == "multilabel" else o * self.y_std + self.y_mean
                for i, row in zip(b, o.cpu().numpy().astype(np.float64)):
                    parts[pos[int(i)]] = row
        if parts:
            out = np.stack([parts[k] for k in range(len(idx))])
        return out[:, 0] if self.kind == "regression" else out


def train_and_predict(
    model: nn.Module,
    kind: str,
    seqs: Sequences,
    y: npt.NDArray,
    split: Sequence[npt.ArrayLike],
    cfg: TrainConfig,
    seed: int,
    device: str | None = "auto",
) -> tuple[npt.NDArray[np.float64], Trainer]:
    """Fit on ``split = (train, val, test)`` and return the test predictions and the trainer."""
    train_idx, val_idx, test_idx = split
    trainer = Trainer(model, kind, cfg, seed, device).fit(seqs, y, train_idx, val_idx)
    return trainer.predict(seqs, test_idx), trainer

