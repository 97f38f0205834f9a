"""Scoring variants with a pre-trained encoder (and fine-tuned heads): ``isoclr variants``.

:func:`score_variants` reads a VCF (:mod:`isoclr.variants.vcf`), maps every record onto the
transcripts it touches (:mod:`isoclr.variants.effects`), embeds each distinct reference and
alternative mature transcript once, and adds to each variant x transcript row:

* ``cosine_distance``: 1 - cos(h_ref, h_alt) of the encoder's embeddings (0 when the mature
  transcript is unchanged: an intronic variant; the model is not run for those rows);
* per head ``H``: ``ref_H``, ``alt_H`` and ``delta_H`` = alt - ref of its prediction (``delta_H``
  0 and ``ref_H``/``alt_H`` empty where the mature transcript is unchanged).

The model is anything with ``embed(seqs, cds, exon_ends)`` (:class:`SequenceModel`);
:func:`load_model` gives one from a pre-training checkpoint, a ``results/pretrain/<model>/``
folder, or a model folder (``config.json``, loaded by ``Embedder.from_pretrained``). Heads are
anything with ``predict_sequences(seqs, cds, exon_ends)`` (:class:`SequenceHead`). docs/variants.md has
the details.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch

from isoclr.core.encoding import encode_sequence, make_marks
from isoclr.core.files import atomic_path
from isoclr.variants.effects import (
    Effect,
    check_reference,
    effects_table,
    load_transcripts,
    map_variants,
)
from isoclr.variants.genome import Genome
from isoclr.variants.vcf import RECORD_OUTCOMES, read_vcf

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
Cds = tuple[int, int] | None

#: per variant x transcript outcomes besides the record outcomes of :data:`RECORD_OUTCOMES`
EFFECT_OUTCOMES = {
    "scored": "scored (an intronic or flanking variant leaves the mature transcript unchanged: distance 0)",
    "crosses_exon_boundary": "the edit spans an exon end: the mature transcript is unknown, not scored",
    "no_transcript": "the record touches no annotated transcript (region outside)",
}


@runtime_checkable
class SequenceModel(Protocol):
    def embed(self, seqs: Sequence[str], cds: Sequence[Cds],
              exon_ends: Sequence[npt.ArrayLike] | None = None) -> npt.NDArray[np.float32]: ...


@runtime_checkable
class SequenceHead(Protocol):
    def predict_sequences(self, seqs: list[str], cds: list[Cds],
                          exon_ends: list[npt.ArrayLike] | None = None) -> npt.NDArray[Any]: ...


class _Batch:
    """Sequences with the interface :func:`isoclr.evaluate.embedder.embed_store` reads."""

    def __init__(self, seqs: Sequence[str], cds: Sequence[Cds], exon_ends: Sequence[npt.ArrayLike] | None,
                 phases: Sequence[int] | None = None) -> None:
        self._codes = [encode_sequence(s) for s in seqs]
        self._lengths = np.fromiter((len(c) for c in self._codes), dtype=np.int64, count=len(self._codes))
        self._cds = list(cds)
        self._ends = list(exon_ends) if exon_ends is not None else [[len(s)] for s in seqs]
        self._phases = list(phases) if phases is not None else [0] * len(seqs)

    def __len__(self) -> int:
        return len(self._codes)

    def lengths(self) -> npt.NDArray[np.int64]:
        return self._lengths

    def codes(self, i: int) -> npt.NDArray[np.uint8]:
        return self._codes[i]

    def marks(self, i: int) -> npt.NDArray[np.uint8]:
        c = self._cds[i]
        return make_marks(int(self._lengths[i]), self._ends[i], *(c if c is not None else (-1, -1)), self._phases[i])


class EncoderModel:
    """A frozen encoder as a :class:`SequenceModel`: the six tracks are built from the sequence,
    its CDS (coding track) and its exon ends (splice track), as for an annotated transcript."""

    def __init__(self, encoder: torch.nn.Module, info: Mapping[str, Any] | None = None, batch_size: int = 64,
                 device: str | torch.device | None = None, max_tokens: int = 2_000_000) -> None:
        self.encoder = encoder
        self.info = dict(info or {})
        self.batch_size = int(batch_size)
        self.device = device
        self.max_tokens = int(max_tokens)
        #: the tracks the encoder's pre-training zeroed (encoding.drop_tracks): zeroed here too
        self.drop_tracks = tuple(self.info.get("drop_tracks") or ())

    def embed(self, seqs: Sequence[str], cds: Sequence[Cds], exon_ends: Sequence[npt.ArrayLike] | None = None,
              phases: Sequence[int] | None = None) -> npt.NDArray[np.float32]:
        from isoclr.evaluate.embedder import embed_store

        batch = _Batch(seqs, cds, exon_ends, phases)
        return embed_store(self.encoder, batch, batch_size=self.batch_size, device=self.device,
                           max_tokens=self.max_tokens, drop_tracks=self.drop_tracks)


def load_model(path: PathLike, batch_size: int = 64, device: str | None = None) -> EncoderModel:
    """The encoder of a model folder (``config.json``: ``Embedder.from_pretrained``), a
    pre-training checkpoint (``checkpoint.pt``) or a folder holding one (results/pretrain/<model>/)."""
    from isoclr.evaluate.embedder import Embedder

    p = Path(path)
    if p.is_dir() and (p / "config.json").exists():
        emb = Embedder.from_pretrained(p)
    elif p.is_dir() and (p / "checkpoint.pt").exists():
        emb = Embedder.from_checkpoint(p / "checkpoint.pt")
    elif p.is_file():
        emb = Embedder.from_checkpoint(p)
    else:
        raise ValueError(f"{path}: no model here (a model folder with config.json, a checkpoint.pt, "
                         "or a folder holding checkpoint.pt)")
    return EncoderModel(emb.encoder, emb.info, batch_size=batch_size, device=device)


def head_name(path: PathLike, config: Mapping[str, Any]) -> str:
    """A head's column name: ``TASK.MODEL`` for a head the evaluation kept (its folder is
    ``fold0.head``, the same for every task and model), else the folder's name."""
    name = Path(path).name or str(path)
    if re.fullmatch(r"fold\d+\.head", name) and config.get("task") and config.get("model"):
        return f"{config['task']}.{config['model']}"
    return name


def load_heads(paths: Sequence[PathLike]) -> dict[str, SequenceHead]:
    """Fine-tuned heads by name (:func:`head_name`), loaded by ``isoclr.evaluate.heads.load_head``."""
    if not paths:
        return {}
    try:
        heads_mod = importlib.import_module("isoclr.evaluate.heads")
    except ModuleNotFoundError:
        raise ValueError("--head needs saved fine-tuned heads (isoclr.evaluate.heads), which this isoclr "
                         "does not have") from None
    out: dict[str, SequenceHead] = {}
    for p in paths:
        head = heads_mod.load_head(p)
        name = head_name(p, getattr(head, "config", None) or {})
        if name in out:
            raise ValueError(f"{p}: two heads named {name}")
        out[name] = head
    return out


def _cosine_distance(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    num = (a64 * b64).sum(1)
    den = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.clip(1.0 - np.divide(num, den, out=np.ones_like(num), where=den > 0), 0.0, 2.0)


def score_effects(effects: Sequence[Effect], model: SequenceModel,
                  heads: Mapping[str, SequenceHead] | None = None) -> pd.DataFrame:
    """:func:`effects_table` plus ``cosine_distance`` and the heads' ``ref_/alt_/delta_`` columns
    (NaN on rows not scored). Only transcripts a variant changes are run through the model, each
    distinct sequence (with its tracks) once."""
    table = effects_table(effects)
    keys: dict[tuple[Any, ...], int] = {}
    seqs: list[str] = []
    cds: list[Cds] = []
    ends: list[npt.NDArray[np.int64]] = []
    phases: list[int] = []

    def key_of(seq: str, c: Cds, e: npt.NDArray[np.int64], phase: int) -> int:
        k = (seq, c, tuple(int(x) for x in e), phase)
        if k not in keys:
            keys[k] = len(seqs)
            seqs.append(seq)
            cds.append(c)
            ends.append(np.asarray(e, dtype=np.int64))
            phases.append(phase)
        return keys[k]

    rows, ref_i, alt_i, same = [], [], [], []
    for r, f in enumerate(effects):
        t = f.transcript
        if t is None or f.alt_seq is None or f.status != "scored":
            continue
        ref_seq = t._seq if t._seq is not None else ""
        if f.alt_seq == ref_seq:  # unchanged mature RNA (intron, splice site): distance 0, no model run
            same.append(r)
            continue
        rows.append(r)
        ref_i.append(key_of(ref_seq, t.tx_cds(), t.exon_ends(), t.cds_phase))
        alt_i.append(key_of(f.alt_seq, f.alt_cds, f.alt_exon_ends if f.alt_exon_ends is not None else t.exon_ends(),
                            t.cds_phase))
    table["cosine_distance"] = np.nan
    table.loc[same, "cosine_distance"] = 0.0
    head_cols: dict[str, npt.NDArray[np.float64]] = {}
    if seqs:
        h = np.asarray(model.embed(seqs, cds, ends, phases) if isinstance(model, EncoderModel)
                       else model.embed(seqs, cds, ends), dtype=np.float32)
        ri, ai = np.asarray(ref_i), np.asarray(alt_i)
        table.loc[rows, "cosine_distance"] = _cosine_distance(h[ri], h[ai])
    for name, head in (heads or {}).items():
        pred = (np.asarray(head.predict_sequences(list(seqs), list(cds), list(ends)), dtype=np.float64)
                .reshape(len(seqs), -1)
                if seqs else np.zeros((0, 1)))
        ri, ai = np.asarray(ref_i, dtype=np.int64), np.asarray(alt_i, dtype=np.int64)
        for j in range(pred.shape[1]):
            col = name if pred.shape[1] == 1 else f"{name}_{j}"
            for what, vals in (("ref", pred[ri, j]), ("alt", pred[ai, j]), ("delta", pred[ai, j] - pred[ri, j])):
                arr = np.full(len(table), np.nan)
                arr[rows] = vals
                if what == "delta":
                    arr[same] = 0.0
                head_cols[f"{what}_{col}"] = arr
    for k, v in head_cols.items():
        table[k] = v
    return table


def outcome_counts(table: pd.DataFrame) -> dict[str, int]:
    """Records per outcome (a record touching several transcripts counts once per outcome)."""
    per = table.drop_duplicates(["vcf_line", "status"])
    return {str(k): int(v) for k, v in per["status"].value_counts().sort_index().items()}


def score_variants(vcf: PathLike, genome: PathLike | Genome, annotation: Any, model: SequenceModel | PathLike,
                   heads: Mapping[str, SequenceHead] | Sequence[PathLike] | None = None,
                   max_indel: int = 50) -> pd.DataFrame:
    """Every record of ``vcf`` on every transcript of ``annotation`` it touches, scored (see the
    module's docstring); ``table.attrs["counts"]`` holds the records per outcome."""
    g = genome if isinstance(genome, Genome) else Genome(genome)
    variants = read_vcf(vcf, max_indel=max_indel)
    check_reference(variants, g)
    transcripts, _dropped = load_transcripts(annotation, g)
    effects = map_variants(variants, transcripts, g)
    mdl = model if isinstance(model, SequenceModel) else load_model(model)
    hd = heads if isinstance(heads, Mapping) else load_heads(list(heads or []))
    table = score_effects(effects, mdl, hd)
    table.attrs["counts"] = outcome_counts(table)
    return table


def write_table(table: pd.DataFrame, out: PathLike) -> None:
    """The table as TSV, written to a temporary path then renamed."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")


def variants_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "variants",
                 wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The pipeline's ``variants`` rule (plain values from ``workflow/scripts/variants.py``):
    ``params.settings`` is :class:`isoclr.variants.settings.VariantsSettings`."""
    from isoclr.core.logs import job_log

    log_ = job_log(log_path, rule, "score a VCF's variants on the transcripts they touch", wildcards=wildcards,
                   threads=threads, resources=resources, params=params)
    s = dict(params.settings)
    torch.set_num_threads(max(int(threads or 1), 1))
    model = load_model(inputs.checkpoint, batch_size=s["batch_size"])
    table = score_variants(inputs.vcf, inputs.genome, inputs.annotation, model, load_heads(s["heads"]),
                           max_indel=s["max_indel"])
    write_table(table, outputs.table)
    counts = table.attrs["counts"]
    log_.info("%s: %d records, %d variant x transcript rows; records per outcome: %s", outputs.table,
              table["vcf_line"].nunique(), len(table), ", ".join(f"{v} {k}" for k, v in counts.items()))


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vcf", required=True, help="variants: VCF, plain, gzip or bgzip (SNVs and short indels)")
    parser.add_argument("--genome", required=True, help="genome FASTA, plain or bgzip (the .fai is made if absent)")
    parser.add_argument("--annotation", required=True, help="annotation (GTF, GFF3, genePred, refFlat, BED12)")
    parser.add_argument("--model", required=True, help="model folder (config.json), pre-training checkpoint.pt, "
                        "or a results/pretrain/<model>/ folder")
    parser.add_argument("--head", action="append", default=[], help="fine-tuned head folder (repeatable): adds "
                        "ref_/alt_/delta_<head> columns")
    parser.add_argument("--out", required=True, help="output table (.tsv)")
    parser.add_argument("--max-indel", type=int, default=50, help="longest REF or ALT scored (default 50)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default=None, help="cpu | cuda (default: GPU when available)")


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model, batch_size=args.batch_size, device=args.device)
    heads = load_heads(args.head)
    table = score_variants(args.vcf, args.genome, args.annotation, model, heads, max_indel=args.max_indel)
    write_table(table, args.out)
    counts = table.attrs["counts"]
    n_rec = int(table["vcf_line"].nunique())
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    log.info("%s: %d records, %d variant x transcript rows (%s)", args.out, n_rec, len(table), summary)
    print(f"{args.out}: {n_rec} records, {len(table)} rows; records per outcome: {summary}", file=sys.stderr)
    return 0


__all__ = ["EFFECT_OUTCOMES", "RECORD_OUTCOMES", "EncoderModel", "SequenceHead", "SequenceModel", "load_heads",
           "load_model", "outcome_counts", "score_effects", "score_variants", "variants_job", "write_table"]
