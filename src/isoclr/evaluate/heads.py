"""Fine-tuned task heads kept as folders, and a predictor that reads them.

The network jobs of the evaluation (``isoclr-finetune``, ``supervised``, ``saluki``) keep their
trained network at full training data on fold 0 (``results/<study>/eval/{task}/{model}/
frac1/fold0.head/``, :func:`isoclr.evaluate.jobs.run_job`), in the model-folder layout of
:mod:`isoclr.pretrain.model_folder`: ``model.safetensors`` (no pickle) and ``config.json``:

============= =========================================================================
key           value
============= =========================================================================
format        ``isoclr-head`` (``format_version`` 1, ``isoclr_version``)
network       ``encoder_linear`` (the IsoCLR encoder + a linear layer) or ``saluki``
encoder       for ``encoder_linear``: the encoder's architecture, tracks and input
              conventions (as a model folder's config.json); ``saluki``: its widths
task, kind    the task's name and kind (``regression`` or ``multilabel``)
label         ``{"scale": "mean_sd", "mean", "sd", "name"}`` (regression: the network
              predicts standardised values) or ``{"scale": "probability", "classes"}``
fold, ...     fold, fraction, model, seed, training rows, best epoch, test metrics
============= =========================================================================

:func:`load_head` gives a :class:`HeadPredictor` whose ``predict*`` methods return
predictions in the label's scale (regression: the label's units; multilabel: one
probability per class).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from isoclr import __version__
from isoclr.core.encoding import CODON_BIT, encode_sequence, make_marks, tracks_torch
from isoclr.pretrain.model_folder import (
    CONFIG,
    FORMAT_VERSION,
    HEAD_FORMAT,
    WEIGHTS,
    ModelFolderError,
    check_architecture,
    encoder_block,
    load_state,
    read_config,
    read_tensors,
    write_folder,
)

NETWORKS = ("encoder_linear", "saluki")


def save_head(
    network: nn.Module,
    out: str | os.PathLike[str],
    *,
    task: str,
    kind: str,
    label_names: Sequence[str],
    y_mean: float = 0.0,
    y_std: float = 1.0,
    fold: int = 0,
    fraction: float = 1.0,
    model: str = "",
    objective: str = "",
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a trained task network (``EncoderWithHead`` or ``Saluki``) as a head folder."""
    from isoclr.evaluate.baselines import Saluki
    from isoclr.evaluate.finetune import EncoderWithHead

    if kind not in ("regression", "multilabel"):
        raise ValueError(f"save_head: kind must be regression or multilabel, got {kind!r}")
    net = network.module if hasattr(network, "module") else network
    cfg: dict[str, Any] = {"format": HEAD_FORMAT, "format_version": FORMAT_VERSION, "isoclr_version": __version__}
    if isinstance(net, EncoderWithHead):
        enc = net.encoder
        cfg.update(network="encoder_linear", encoder=encoder_block(enc.config, objective),
                   head_dropout=float(net.dropout.p))
        n_out = int(net.head.out_features)
    elif isinstance(net, Saluki):
        cfg.update(network="saluki", saluki=net.cfg.to_params())
        n_out = int(net.n_out)
    else:
        raise TypeError(f"save_head: a {type(net).__name__} is not a network this can keep "
                        "(EncoderWithHead or Saluki)")
    if kind == "regression":
        label = {"scale": "mean_sd", "mean": float(y_mean), "sd": float(y_std),
                 "name": str(label_names[0]) if len(label_names) else task}
    else:
        label = {"scale": "probability", "classes": [str(c) for c in label_names]}
        if len(label["classes"]) != n_out:
            raise ValueError(f"save_head: {n_out} outputs but {len(label['classes'])} class names")
    cfg.update(task=str(task), kind=kind, n_out=n_out, label=label, fold=int(fold), fraction=float(fraction),
               model=str(model), **dict(extra or {}))
    return write_folder(out, net.state_dict(), cfg)


def _check_head_config(cfg: Mapping[str, Any], where: str) -> None:
    network, kind = cfg.get("network"), cfg.get("kind")
    if network not in NETWORKS:
        raise ModelFolderError(f"{where}: network {network!r} is not one of {NETWORKS}")
    if kind not in ("regression", "multilabel"):
        raise ModelFolderError(f"{where}: kind {kind!r} is not regression or multilabel")
    n_out = cfg.get("n_out")
    if not isinstance(n_out, int) or isinstance(n_out, bool) or not 1 <= n_out <= 100_000:
        raise ModelFolderError(f"{where}: n_out must be an integer in [1, 100000], got {n_out!r}")
    label = cfg.get("label")
    if not isinstance(label, dict):
        raise ModelFolderError(f"{where}: label must be an object")
    if kind == "regression":
        ok = label.get("scale") == "mean_sd" and all(
            isinstance(label.get(k), (int, float)) and not isinstance(label.get(k), bool) for k in ("mean", "sd"))
        if not ok or n_out != 1 or not float(label["sd"]) > 0:
            raise ModelFolderError(f"{where}: a regression head needs n_out 1 and label "
                                   "{scale: mean_sd, mean, sd > 0}")
    else:
        classes = label.get("classes")
        if label.get("scale") != "probability" or not isinstance(classes, list) or len(classes) != n_out \
                or not all(isinstance(c, str) for c in classes):
            raise ModelFolderError(f"{where}: a multilabel head needs label {{scale: probability, classes}} "
                                   f"with {n_out} class names")


def _build_network(cfg: Mapping[str, Any], where: str) -> nn.Module:
    from isoclr.evaluate.finetune import EncoderWithHead
    from isoclr.pretrain.model import build_encoder

    if cfg["network"] == "encoder_linear":
        block = cfg.get("encoder")
        if not isinstance(block, dict):
            raise ModelFolderError(f"{where}: an encoder_linear head needs its 'encoder' block")
        arch = check_architecture(block.get("architecture"), where)
        return EncoderWithHead(build_encoder(arch), int(cfg["n_out"]), 0.0)
    from isoclr.config.settings.evaluate import SalukiSettings
    from isoclr.evaluate.baselines import Saluki

    sal = cfg.get("saluki")
    if not isinstance(sal, dict):
        raise ModelFolderError(f"{where}: a saluki head needs its 'saluki' widths")
    for k, v in sal.items():
        lim = 1.0 if k == "dropout" else 4096
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= lim or (k != "dropout" and v < 1):
            raise ModelFolderError(f"{where}: saluki {k} = {v!r} is out of range")
    try:
        return Saluki(int(cfg["n_out"]), SalukiSettings.from_mapping(sal, f"{where} saluki"))
    except (TypeError, ValueError) as err:
        raise ModelFolderError(f"{where}: {err}") from err


class HeadPredictor:
    """A kept task network, predicting in the label's scale (eval mode, CPU unless moved).

    ``predict_sequences(seqs, cds)``: sequences as text with their CDS (0-based half-open
    ``(start, end)``, stop codon included, or None for non-coding); ``predict(batch)``: a list
    of sequences, anything with ``codes(i)``/``marks(i)``/``lengths()`` (a store,
    :class:`isoclr.evaluate.embedder.FastaSequences`) or a ``(tracks, lengths)`` pair of tensors.
    :meth:`forward` is the differentiable map from tracks to the scaled prediction
    (:mod:`isoclr.attribute.methods` uses it).
    """

    def __init__(self, network: nn.Module, config: Mapping[str, Any], folder: str = "") -> None:
        self.network = network.eval().requires_grad_(False)
        self.config = dict(config)
        self.folder = folder
        self.kind = str(config["kind"])
        label = config["label"]
        self.mean = float(label.get("mean", 0.0))
        self.sd = float(label.get("sd", 1.0))
        self.outputs: list[str] = [str(label.get("name", config.get("task", "")))] if self.kind == "regression" \
            else list(label["classes"])
        self.device = torch.device("cpu")
        self.batch_size = 32

    def to(self, device: str | torch.device) -> HeadPredictor:
        self.device = torch.device(device)
        self.network.to(self.device)
        return self

    @property
    def task(self) -> str:
        return str(self.config.get("task", ""))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, 6, L) tracks, (B,) lengths -> (B, n_out) predictions in the label's scale."""
        out = self.network(x, lengths).float()
        return out * self.sd + self.mean if self.kind == "regression" else torch.sigmoid(out)

    def _finish(self, out: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return out[:, 0] if self.kind == "regression" else out

    @torch.no_grad()
    def predict_source(self, source: Any, indices: npt.ArrayLike | None = None) -> npt.NDArray[np.float64]:
        """Predictions for transcripts ``indices`` (all when None) of a store or ``FastaSequences``."""
        from isoclr.evaluate.embedder import token_batches
        from isoclr.pretrain.loader import collate

        idx = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
        out = np.zeros((len(idx), int(self.config["n_out"])), dtype=np.float64)
        lengths = source.lengths()[idx] if len(idx) else np.zeros(0, dtype=np.int64)
        for pos in token_batches(lengths, 2_000_000, self.batch_size):
            rows = idx[pos]
            b = collate([source.codes(int(r)) for r in rows], [source.marks(int(r)) for r in rows])
            x = tracks_torch(b["codes"].to(self.device), b["marks"].to(self.device))
            out[pos] = self.forward(x, b["lengths"].to(self.device)).cpu().numpy()
        return self._finish(out)

    def predict_sequences(self, seqs: Sequence[str], cds: Sequence[tuple[int, int] | None] | None = None,
                          exon_ends: Sequence[Sequence[int] | None] | None = None) -> npt.NDArray[np.float64]:
        """Predictions for sequences as text. ``cds``: per sequence ``(start, end)`` 0-based
        half-open (stop codon included) or None; ``exon_ends``: per sequence the exclusive exon
        ends in transcript coordinates (the splice track), or None for none (as for a FASTA)."""
        return self.predict_source(sequence_source(seqs, cds, exon_ends))

    def predict(self, batch: Any) -> npt.NDArray[np.float64]:
        """Predictions for a list of sequences, a store-like source, or ``(tracks, lengths)``."""
        if isinstance(batch, tuple) and len(batch) == 2 and isinstance(batch[0], torch.Tensor):
            with torch.no_grad():
                return self._finish(self.forward(batch[0].to(self.device), torch.as_tensor(batch[1]).to(self.device))
                                    .cpu().numpy().astype(np.float64))
        if isinstance(batch, str):
            raise TypeError("predict: give a list of sequences, not one string")
        if hasattr(batch, "codes") and hasattr(batch, "marks"):
            return self.predict_source(batch)
        return self.predict_sequences(list(batch))


class _Encoded:
    """Sequences with their marks, the interface :meth:`HeadPredictor.predict_source` reads."""

    def __init__(self, codes: list[npt.NDArray[np.uint8]], marks: list[npt.NDArray[np.uint8]],
                 cds: Sequence[tuple[int, int] | None] | None = None, ids: Sequence[str] | None = None) -> None:
        self._codes, self._marks = codes, marks
        self._lengths = np.array([len(c) for c in codes], dtype=np.int64)
        cds = list(cds) if cds is not None else [None] * len(codes)
        self.cds_start = np.array([c[0] if c is not None else -1 for c in cds], dtype=np.int64)
        self.cds_end = np.array([c[1] if c is not None else -1 for c in cds], dtype=np.int64)
        self.ids = list(ids) if ids is not None else [f"seq{i}" for i in range(len(codes))]
        self.gene_ids = self.ids

    def __len__(self) -> int:
        return len(self._codes)

    def lengths(self) -> npt.NDArray[np.int64]:
        return self._lengths

    def codes(self, i: int) -> npt.NDArray[np.uint8]:
        return self._codes[i]

    def marks(self, i: int) -> npt.NDArray[np.uint8]:
        return self._marks[i]


def sequence_marks(length: int, cds: tuple[int, int] | None, exon_ends: Sequence[int] | None) -> npt.NDArray[np.uint8]:
    """Codon and splice marks of one sequence (no splice marks when ``exon_ends`` is None)."""
    if cds is not None:
        s, e = int(cds[0]), int(cds[1])
        if not 0 <= s < e <= length:
            raise ValueError(f"CDS {s}-{e} is outside a sequence of length {length}")
    if exon_ends is None:
        marks = np.zeros(length, dtype=np.uint8)
        if cds is not None:
            marks[int(cds[0]) : int(cds[1]) : 3] |= CODON_BIT
        return marks
    s, e = cds if cds is not None else (-1, -1)
    return make_marks(length, exon_ends, int(s), int(e))


def sequence_source(seqs: Sequence[str], cds: Sequence[tuple[int, int] | None] | None = None,
                    exon_ends: Sequence[Sequence[int] | None] | None = None,
                    ids: Sequence[str] | None = None) -> _Encoded:
    """Encoded sequences with their tracks (see :meth:`HeadPredictor.predict_sequences`)."""
    n = len(seqs)
    cds = list(cds) if cds is not None else [None] * n
    exon_ends = list(exon_ends) if exon_ends is not None else [None] * n
    if len(cds) != n or len(exon_ends) != n:
        raise ValueError(f"{n} sequences but {len(cds)} CDS entries and {len(exon_ends)} exon lists")
    codes = [encode_sequence(s) for s in seqs]
    if any(len(c) == 0 for c in codes):
        raise ValueError("an empty sequence cannot be predicted")
    return _Encoded(codes, [sequence_marks(len(c), cd, ex) for c, cd, ex in zip(codes, cds, exon_ends)], cds, ids)


def load_head(folder: str | os.PathLike[str]) -> HeadPredictor:
    """The :class:`HeadPredictor` of a head folder (:func:`save_head`); a folder this isoclr did
    not write, or that was changed, is refused with a ModelFolderError."""
    cfg = read_config(folder, HEAD_FORMAT)
    where = str(Path(folder) / CONFIG)
    _check_head_config(cfg, where)
    net = _build_network(cfg, where)
    load_state(net, read_tensors(folder, cfg), "", str(Path(folder) / WEIGHTS))
    return HeadPredictor(net, cfg, str(folder))
