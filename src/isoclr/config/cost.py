"""Cost model: wall time and device hours of a config's pre-training and evaluation grid.

From a measured throughput table (``benchmarks/bench_gpu.py`` writes
``benchmarks/results/bench_gpu_{cpu,cuda}.tsv``, one row per encoder size x precision x mode)::

    isoclr cost --config config/paper.yaml --bench benchmarks/results/bench_gpu_cuda.tsv

Per device type in the table(s) and per ``pretrain.models`` entry::

    nucleotides = epochs x training sets x 2 views x mean view length
    wall hours  = nucleotides / (nt/s per device x devices x scaling) / 3600,  device hours = wall x devices

with the best measured rate of the model's size (bf16 rows preferred, compiled or eager,
whichever is faster), ``devices`` = ``pretrain.gpus`` and ``scaling`` the assumed DDP scaling
efficiency (default 0.9: not measured, one GPU is). Training sets: the ``train`` row of
``splits/summary.tsv`` when given, else ``totals sets`` of ``homology/sets.stats.tsv`` times
``splits.fractions.train``, else ``--train-sets`` (the paper config's own estimate, 120,000, is
the default and is labelled an estimate in the output).

Evaluation grid: every (task, model, fraction, fold) job of ``evaluation`` that trains an
encoder (``isoclr-finetune``, ``supervised``; ``saluki`` costed at the small encoder's rate,
a proxy) runs at most ``evaluation.finetune.max_epochs`` epochs (early stopping makes it
fewer: an upper bound) over ``fraction x (n_folds - 2) / n_folds`` of the task's labelled
transcripts (run r tests on fold r, validates on r + 1), on one device each; the grid's wall time spreads the jobs over ``pretrain.gpus``
devices. Linear probes embed each task's transcripts once per encoder (every (encoder, task) pair of
isoclr.config.settings.embedding_jobs but the CPU naive features; inference, about a
third of a training step's FLOPs; counted at 3x the training rate). Labelled transcripts per
task: :data:`TASK_ROWS` (the label files' gene counts, an estimate) unless given.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isoclr.config import settings as S

#: Labelled transcripts per task of the paper config (estimates: one transcript per gene of the
#: label file: Saluki human 13,921 and mouse 14,463 genes, GOA human 20,728 annotated genes,
#: the MRL arrays' 12,459 isoforms).
TASK_ROWS: dict[str, int] = {"halflife_human": 13921, "halflife_mouse": 14463, "go_mf_human": 20728,
                             "go_cc_human": 20728, "go_bp_human": 20728, "mrl_human": 12459}

#: The paper config's estimate of training sets (config/paper.yaml, pretrain comment).
PAPER_TRAIN_SETS_ESTIMATE = 120_000

#: Mean transcript length (nt) of the 4,000 human RefSeq mRNAs (benchmarks/data/lengths.tsv).
DEFAULT_MEAN_LENGTH = 2980.0

FINETUNE_MODELS = ("isoclr-finetune", "supervised", "saluki")


@dataclass(frozen=True)
class Rate:
    device: str
    device_name: str
    size: str
    nt_per_s: float
    how: str  # precision and mode of the row used


def read_bench(paths: Sequence[str | os.PathLike[str]]) -> list[Rate]:
    """Best measured training rate per (device name, size) of one or more bench TSVs."""
    best: dict[tuple[str, str], Rate] = {}
    for path in paths:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows or not {"size", "precision", "mode", "nt_per_s", "status"} <= set(rows[0]):
            raise ValueError(f"{path}: not a bench_gpu table (needs size, precision, mode, nt_per_s, status)")
        for r in rows:
            if r["status"] != "ok" or not r["nt_per_s"]:
                continue
            rate = Rate(r.get("device", "?"), r.get("device_name", r.get("device", "?")), r["size"],
                        float(r["nt_per_s"]), f"{r['precision']} {r['mode']}")
            key = (rate.device_name, rate.size)
            old = best.get(key)
            # bf16 is what training uses on a GPU: prefer it, then the faster row
            rank = (r["precision"] == "bf16" or rate.device == "cpu", rate.nt_per_s)
            if old is None or rank > (old.how.startswith("bf16") or old.device == "cpu", old.nt_per_s):
                best[key] = rate
    if not best:
        raise ValueError(f"{', '.join(map(str, paths))}: no measured ('ok') rows")
    return list(best.values())


def train_sets(config: Mapping[str, Any], sets_stats: str | None = None, splits_summary: str | None = None,
               fallback: int = PAPER_TRAIN_SETS_ESTIMATE) -> tuple[int, str]:
    """(training sets, where the number comes from)."""
    if splits_summary and Path(splits_summary).exists():
        with open(splits_summary, newline="") as fh:
            for r in csv.DictReader(fh, delimiter="\t"):
                if r.get("split") == "train":
                    return int(r["sets"]), f"{splits_summary} (train row)"
    if sets_stats and Path(sets_stats).exists():
        with open(sets_stats, newline="") as fh:
            for r in csv.DictReader(fh, delimiter="\t"):
                if r.get("section") == "totals" and r.get("key") == "sets":
                    frac = float(((config.get("splits") or {}).get("fractions") or {}).get("train", 0.8))
                    return int(round(int(r["value"]) * frac)), f"{sets_stats} x train fraction {frac}"
    return int(fallback), "ESTIMATE (no sets.stats.tsv / splits summary given)"


def _size_of(entry: Mapping[str, Any]) -> str:
    return str(entry.get("size", "small"))


def plan(config: Mapping[str, Any], rates: Sequence[Rate], n_train_sets: int, epochs: float | None = None,
         mean_length: float = DEFAULT_MEAN_LENGTH, scaling: float = 0.9,
         task_rows: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """One row per device and job group: pre-training per model, the evaluation grid's parts.

    ``epochs``: every model's pre-training epochs; None: each model's own (``epochs``, or its
    ``steps`` x ``batch_size`` sets, or the default steps), as the job resolves them."""
    task_rows = {**TASK_ROWS, **(task_rows or {})}
    pre = config.get("pretrain") or {}
    gpus = max(1, int(pre.get("gpus") or 1))
    models = pre.get("models") or {}
    devices = sorted({(r.device, r.device_name) for r in rates})
    out: list[dict[str, Any]] = []
    for dev, name in devices:
        by_size = {r.size: r for r in rates if r.device_name == name}

        def rate_for(size: str) -> Rate | None:
            return by_size.get(size) or by_size.get("small")

        for model_name, entry in models.items():
            entry = entry or {}
            size = _size_of(entry)
            rate = by_size.get(size)
            nt = _pretrain_sets(config, model_name, n_train_sets, epochs) * 2 * mean_length
            row = {"device": dev, "device_name": name, "job": f"pretrain {model_name}", "size": size,
                   "jobs": 1, "devices_per_job": gpus, "nucleotides": nt}
            if rate is None:
                out.append({**row, "rate": "not measured", "wall_h": math.nan, "device_h": math.nan})
                continue
            wall = nt / (rate.nt_per_s * gpus * (scaling if gpus > 1 else 1.0)) / 3600
            out.append({**row, "rate": f"{rate.nt_per_s:,.0f} nt/s ({rate.how})", "wall_h": wall,
                        "device_h": wall * gpus})
        ev = config.get("evaluation") or {}
        n_folds = int((config.get("tasks") or {}).get("n_folds", S.TaskStageSettings.n_folds))
        train_share = (n_folds - 2) / n_folds  # run r tests on fold r, validates on r+1, trains on the rest
        enc_size = _size_of(models.get(ev.get("isoclr_model"), {}) or {})
        ft_nt = probe_nt = 0.0
        n_ft = n_probe = 0
        for task in S.eval_tasks(config):
            if task not in task_rows:
                raise ValueError(f"cost: no labelled-transcript count for task {task!r}; pass --task-rows {task}=N")
        for task, model, frac, _fold in S.eval_jobs(config):
            if model in FINETUNE_MODELS:
                tune = S.EvaluationSettings.from_config(config, task, model).finetune
                n_ft += 1
                ft_nt += float(tune.max_epochs if tune else 100) * task_rows[task] * float(frac) * train_share * mean_length
        for encoder, task in S.embedding_jobs(config):
            if encoder != "naive":  # k-mer features on the CPU
                n_probe += 1
                probe_nt += task_rows.get(task, 0) * mean_length  # embedded once per encoder and task
        rate = rate_for(enc_size)
        for job, nt, n, factor in (("evaluation: fine-tune + supervised jobs", ft_nt, n_ft, 1.0),
                                   ("evaluation: linear-probe embeddings", probe_nt, n_probe, 3.0)):
            row = {"device": dev, "device_name": name, "job": job, "size": enc_size, "jobs": n,
                   "devices_per_job": 1, "nucleotides": nt}
            if rate is None:
                out.append({**row, "rate": "not measured", "wall_h": math.nan, "device_h": math.nan})
                continue
            dev_h = nt / (rate.nt_per_s * factor) / 3600
            out.append({**row, "rate": f"{rate.nt_per_s * factor:,.0f} nt/s ({rate.how}{', x3 inference' if factor != 1 else ''})",
                        "wall_h": dev_h / gpus, "device_h": dev_h})
    return out


def _pretrain_sets(config: Mapping[str, Any], model: str, n_train_sets: int, epochs: float | None) -> float:
    """Training sets a model's pre-training reads (epochs x sets, or steps x batch)."""
    if epochs is not None:
        return float(epochs) * n_train_sets
    s = S.PretrainSettings.from_config(config, model)
    if s.steps is None and s.epochs is not None:
        return float(s.epochs) * n_train_sets
    spe = max(1, n_train_sets // (s.batch_size * s.accumulate))
    return float(s.schedule_steps(spe)[0] * s.batch_size * s.accumulate)


def to_markdown(rows: Sequence[Mapping[str, Any]], source: str, epochs: float | None, mean_length: float) -> str:
    cols = ["device_name", "job", "size", "jobs", "devices_per_job", "nucleotides", "rate", "wall_h", "device_h"]
    length = "each model's pre-training length" if epochs is None else f"{epochs:g} pre-training epochs"
    lines = [f"Training sets: {source}; {length}; mean view length {mean_length:.0f} nt.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        vals = []
        for c in cols:
            v = r[c]
            if c == "device_name":
                v = str(v).split(";")[0]
            elif c == "nucleotides":
                v = f"{v:.3g}"
            elif c in ("wall_h", "device_h"):
                v = "n/a" if v != v else (f"{v:,.1f}" if v >= 1 else f"{v:.3f}")
            vals.append(str(v))
        lines.append("| " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="pipeline config, e.g. config/paper.yaml")
    parser.add_argument("--bench", nargs="+", required=True, help="bench_gpu TSV(s), one per device type")
    parser.add_argument("--sets-stats", default=None, help="homology/sets.stats.tsv of the built sets")
    parser.add_argument("--splits-summary", default=None, help="splits/summary.tsv (its train row)")
    parser.add_argument("--train-sets", type=int, default=PAPER_TRAIN_SETS_ESTIMATE,
                        help="training sets when no stats file is given (default: the paper config's estimate)")
    parser.add_argument("--epochs", type=float, default=None,
                        help="pre-training epochs of every model (default: each model's epochs / steps in the config)")
    parser.add_argument("--mean-length", type=float, default=DEFAULT_MEAN_LENGTH, help="mean view length, nt")
    parser.add_argument("--scaling", type=float, default=0.9, help="assumed multi-GPU scaling efficiency")
    parser.add_argument("--task-rows", action="append", default=[], metavar="TASK=N",
                        help="labelled transcripts of a task (default: TASK_ROWS estimates)")
    parser.add_argument("--out", default=None, help="also write the table as markdown here")


def parse_task_rows(items: list[str]) -> dict[str, int]:
    """``--task-rows TASK=N`` values -> {task: N}."""
    rows = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--task-rows {item!r}: expected TASK=N")
        rows[key] = int(value)
    return rows


def run(args: argparse.Namespace) -> int:
    from isoclr.config.safe_yaml import load_yaml

    config = load_yaml(args.config)  # bounded: alias bombs, duplicate and non-string keys refused
    rates = read_bench(args.bench)
    n, source = train_sets(config, args.sets_stats, args.splits_summary, args.train_sets)
    task_rows = parse_task_rows(args.task_rows)
    rows = plan(config, rates, n, args.epochs, args.mean_length, args.scaling, task_rows)
    md = to_markdown(rows, f"{n:,} ({source})", args.epochs, args.mean_length)
    print(md)
    if args.out:
        Path(args.out).write_text(md)
    return 0
