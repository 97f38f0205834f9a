"""``isoclr evaluate``: one evaluation job (``job``), one task's embeddings (``embed``) or the
metrics table of many jobs (``collect``), with the pipeline's settings (``--config``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from isoclr.config.settings import EmbedSettings, EvaluationSettings
from isoclr.evaluate.jobs import embed_task, run_job


def _load_config(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    from isoclr.config.safe_yaml import load_yaml

    return load_yaml(path)  # bounded: alias bombs, duplicate and non-string keys refused


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    job = sub.add_parser("job", help="train/evaluate one model on one task, fraction and fold")
    job.add_argument("--task", required=True, help="task file results/tasks/{task}.h5")
    job.add_argument("--model", required=True, help="isoclr-linear, supervised, saluki, ...")
    job.add_argument("--fraction", type=float, required=True)
    job.add_argument("--fold", type=int, required=True)
    job.add_argument("--out", required=True, help="output TSV")
    job.add_argument("--embeddings", help="embeddings file (linear probes)")
    job.add_argument("--checkpoint", help="pre-training checkpoint (isoclr-finetune)")
    job.add_argument("--config", help="pipeline config YAML (evaluation, pretrain and seed sections)")
    job.add_argument("--device", help="auto | cpu | cuda[:N] (overrides the config)")
    job.add_argument("--threads", type=int, default=None)
    emb = sub.add_parser("embed", help="embed a task's rows with one encoder")
    emb.add_argument("--task", required=True)
    emb.add_argument("--encoder", required=True, help="isoclr, mlm, random or external-NAME")
    emb.add_argument("--out", required=True)
    emb.add_argument("--checkpoint", help="pre-training checkpoint (isoclr, mlm)")
    emb.add_argument("--config", help="pipeline config YAML")
    emb.add_argument("--batch-size", type=int, default=None, help="default: evaluation.embed_batch_size (16)")
    emb.add_argument("--device", default=None)
    emb.add_argument("--threads", type=int, default=None)
    col = sub.add_parser("collect", help="concatenate job tables into metrics.tsv")
    col.add_argument("--out", required=True)
    col.add_argument("tables", nargs="+")


def run(args: argparse.Namespace) -> int:
    if args.action == "collect":
        from isoclr.evaluate.collect import collect_metrics

        collect_metrics(args.tables, args.out)
        return 0
    config = _load_config(args.config)
    task_name = Path(args.task).stem
    if args.action == "embed":
        e = EmbedSettings.from_config(config, args.encoder).to_params() if config else {"encoder": args.encoder}
        e.pop("encoder")
        e["batch_size"] = args.batch_size or e.get("batch_size", 16)
        e["device"] = args.device or e.get("device", "auto")
        embed_task(args.task, args.encoder, args.out, checkpoint=args.checkpoint, threads=args.threads, **e)
        return 0
    # the same settings object as the pipeline's evaluation rules (isoclr.config.settings)
    kw = EvaluationSettings.from_config(config, task_name, args.model).job_kwargs() if config else {}
    if args.device:
        kw["device"] = args.device
    table = run_job(
        args.task, args.model, args.fraction, args.fold, args.out, embeddings=args.embeddings,
        checkpoint=args.checkpoint, threads=args.threads, **kw,
    )
    print(table.to_string(index=False))
    return 0

