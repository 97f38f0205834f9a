"""Attributions (isoclr attribute): CPU cost per transcript, the planted-motif check, and what a
real half-life head puts on known 3'UTR elements.

Usage (from the repository root, the venv active)::

    python benchmarks/bench_attribute.py --sizes tiny small --store STORE.h5 --threads 1 \
        [--planted] [--head HEAD --task TASK.h5 --kmer-transcripts 200] --out benchmarks/results/attribute

1. Cost: for each encoder size (a head of random weights: the cost does not depend on the
   weights) and each length (the 25/50/75 % quantiles of ``--store``'s transcripts, or
   ``--lengths``), the wall and process CPU seconds of ``ig`` (``--ig-steps``), ``gxi`` and
   ``ism``. ISM runs ``3 L`` forward passes of one length, in equal batches, so its cost is
   measured on ``--ism-positions`` positions and scaled by ``L / positions`` (stated as such).
2. ``--planted``: the check of tests/test_attribute.py (a tiny head trained on transcripts with
   planted TATTTAT copies), AUROC of each method's attribution at the motif's positions.
3. ``--head`` + ``--task``: attributions of a trained half-life head on the task's fold-0 test
   transcripts; every k-nucleotide window lying in a 3'UTR gets the mean attribution of its
   positions; reported: the AU-rich element ATTTA and the Pumilio element TGTAHATA (H = A, C or
   T) against every other window of their length (mean, count, AUROC of motif windows vs the
   rest, and ATTTA's rank among all 5-mers).

Writes ``OUT.md`` (tables, the command, the commit, the machine) and ``OUT.tsv`` (cost rows).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from isoclr.attribute.methods import attribute, gradient, ism, planted_motif_transcripts
from isoclr.config.load import defaults
from isoclr.config.settings.evaluate import FinetuneSettings
from isoclr.evaluate.finetune import EncoderWithHead, Sequences, Trainer
from isoclr.evaluate.heads import load_head, save_head, sequence_source
from isoclr.pretrain.model import build_encoder, count_parameters


def _timed(fn, *args):  # type: ignore[no-untyped-def]
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - w, time.process_time() - c


def cost(sizes: list[str], lengths: list[int], ig_steps: int, ism_positions: int, tmp: Path) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(0)
    for size in sizes:
        torch.manual_seed(0)
        net = EncoderWithHead(build_encoder({"size": size}), 1).eval()
        save_head(net, tmp / f"head_{size}", task="cost", kind="regression", label_names=["y"])
        head = load_head(tmp / f"head_{size}")
        warm = sequence_source(["ACGT" * 50], [None])  # one-time start-up (imports, allocator) untimed
        gradient(head, warm.codes(0), warm.marks(0), 0, "ig", 2)
        ism(head, warm.codes(0), warm.marks(0), 0, 65_536, [0, 1])
        for L in lengths:
            src = sequence_source(["".join(rng.choice(list("ACGT"), L))], [(L // 5, L // 5 + 3 * (L // 5))])
            codes, marks = src.codes(0), src.marks(0)
            ig = _timed(gradient, head, codes, marks, 0, "ig", ig_steps)
            gxi = _timed(gradient, head, codes, marks, 0, "gxi")
            k = min(ism_positions, L)
            pos = np.sort(rng.choice(L, k, replace=False))
            part = _timed(ism, head, codes, marks, 0, 65_536, pos)
            scale = L / k
            rows.append({"size": size, "encoder_params": count_parameters(net.encoder), "length": L,
                         "ig_wall_s": ig[1], "ig_cpu_s": ig[2], "gxi_wall_s": gxi[1], "gxi_cpu_s": gxi[2],
                         "ism_wall_s": part[1] * scale, "ism_cpu_s": part[2] * scale, "ism_measured_positions": k,
                         "ism_forward_passes": 3 * L})
            print(rows[-1], file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def planted(ig_steps: int) -> pd.DataFrame:
    from sklearn.metrics import roc_auc_score

    seqs, cds, masks, y = planted_motif_transcripts(320, seed=0)
    src = sequence_source(seqs, cds)
    data = Sequences([src.codes(i) for i in range(len(src))], [src.marks(i) for i in range(len(src))])
    torch.manual_seed(1)
    net = EncoderWithHead(build_encoder({"size": "tiny", "dropout": 0.0}), 1, 0.0)
    tr = Trainer(net, "regression", FinetuneSettings.from_mapping({**defaults("finetune"), "max_epochs": 12, "patience": 50, "lr": 3e-3, "batch_size": 16, "amp": False}, "test"),
                 seed=1, device="cpu").fit(data, y, np.arange(260), np.arange(260, 320))
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_attribute_{os.getpid()}"
    save_head(tr.model, tmp / "planted", task="planted", kind="regression", label_names=["copies"],
              y_mean=tr.y_mean, y_std=tr.y_std)
    head = load_head(tmp / "planted")
    test = [i for i in range(260, 320) if masks[i].any()][:12]
    att = attribute(head, sequence_source([seqs[i] for i in test], [cds[i] for i in test]),
                    methods=["ism", "ig", "gxi"], n_steps=ig_steps)
    motif = np.concatenate([masks[i] for i in test])
    r = float(np.corrcoef(head.predict_sequences(seqs[260:], cds[260:]), y[260:])[0, 1])
    return pd.DataFrame([{"method": m, "auroc_motif_positions": roc_auc_score(motif, att.table[m]),
                          "transcripts": len(test), "motif_positions": int(motif.sum()), "positions": len(motif),
                          "head_pearson_r_heldout": r} for m in ("ism", "ig", "gxi")])


def kmers(head_path: str, task_path: str, n: int, methods: list[str], ig_steps: int,
          drop_tracks: list[str]) -> tuple[pd.DataFrame, dict]:
    """The pipeline's 3'UTR reading (isoclr.attribute.elements) of the first ``n`` fold-0 test
    transcripts of a task, with the time it took."""
    from isoclr.attribute.elements import element_table, kmer_table
    from isoclr.attribute.job import transcript_rows
    from isoclr.evaluate.jobs import load_task, task_store_path
    from isoclr.store.format import IsoformStore

    head = load_head(head_path)
    task = load_task(task_path)
    store = IsoformStore(task_store_path(task, task_path))
    rows = transcript_rows(task, n, [], task_path)
    w, c = time.perf_counter(), time.process_time()
    att = attribute(head, store, rows, methods, n_steps=ig_steps, drop_tracks=drop_tracks)
    info = {"transcripts": len(rows), "wall_s": time.perf_counter() - w, "cpu_s": time.process_time() - c,
            "nt": int(store.lengths()[rows].sum()), "utr3_nt": int((att.table["region"] == "3utr").sum()),
            "head": head_path, "task": task_path, "output": head.outputs[0],
            "head_test_metrics": head.config.get("test_metrics", {})}
    top = kmer_table(att.table, methods).groupby("method").head(10)
    return element_table(att.table, methods), info | {"kmers": top}


def _md(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="*", default=["tiny", "small"])
    ap.add_argument("--store", default=None, help="a store whose length quantiles (25/50/75 %%) are the lengths")
    ap.add_argument("--lengths", nargs="*", type=int, default=None)
    ap.add_argument("--ig-steps", type=int, default=32)
    ap.add_argument("--ism-positions", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--planted", action="store_true")
    ap.add_argument("--head", default=None)
    ap.add_argument("--task", default=None)
    ap.add_argument("--kmer-transcripts", type=int, default=100)
    ap.add_argument("--kmer-methods", default="ig,gxi")
    ap.add_argument("--drop-tracks", default="", help="tracks the head's study zeroed (encoding.drop_tracks)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lengths = args.lengths
    if lengths is None and args.store:
        from isoclr.store.format import IsoformStore

        lengths = [int(v) for v in np.quantile(IsoformStore(args.store).lengths(), [0.25, 0.5, 0.75])]
    lengths = lengths or [1000, 2500, 5000]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    cmd = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    md = ["# Attributions: cost per transcript, planted check, known 3'UTR elements", "",
          f"Command: `{cmd}` at commit `{commit}`.", "",
          (f"Machine: {platform.machine()}, {os.cpu_count()} cores visible (shared), {args.threads} torch thread(s); "
          f"torch {torch.__version__}; Python {platform.python_version()}."), ""]
    if args.sizes:
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_attribute_{os.getpid()}"
        c = cost(args.sizes, lengths, args.ig_steps, args.ism_positions, tmp)
        c.to_csv(out.with_suffix(".tsv"), sep="\t", index=False)
        md += ["## CPU cost per transcript", "",
               (f"Random sequences of the lengths given (from `{args.store}`: its 25/50/75 % quantiles)"
                if args.store else "Random sequences of the lengths given")
               + (f" (`ig` with {args.ig_steps} steps). `ism` is measured on {args.ism_positions} positions and scaled "
                  "to the whole transcript (3 L forward passes of equal batches, so the scaling is linear); "
                  "`*_cpu_s` is the process CPU time, `*_wall_s` wall time on the shared machine."), "", _md(c), ""]
    if args.planted:
        p = planted(args.ig_steps)
        md += ["## Planted motif (the check of tests/test_attribute.py)", "",
               ("AUROC of the attribution at the planted TATTTAT positions against every other position of 12 "
                "held-out transcripts carrying 1-2 copies (a tiny head trained in ~12 epochs on 260 transcripts):"), "",
               _md(p), ""]
    if args.head and args.task:
        k, info = kmers(args.head, args.task, args.kmer_transcripts, args.kmer_methods.split(","), args.ig_steps,
                        [t for t in args.drop_tracks.split(",") if t])
        md += ["## A half-life head: known 3'UTR elements", "",
               (f"Head `{info['head']}` (output `{info['output']}`, test metrics {info['head_test_metrics']}); "
                f"{info['transcripts']} fold-0 test transcripts of `{info['task']}` ({info['nt']:,} nt, "
                f"{info['utr3_nt']:,} in 3'UTRs), attributed in {info['wall_s']:.0f} s wall / {info['cpu_s']:.0f} s "
                "CPU. A window's score is the mean attribution of its positions; negative = the sequence lowers the "
                "predicted half-life. AUROC < 0.5: motif windows score lower than other windows of the same length "
                "(`auroc_vs_same_gc`: only windows with the motif windows' G/C count, so AU-richness alone does not "
                "count)."),
               "", _md(k), "", "The ten most negative 3'UTR 5-mers (at least 20 windows) per method:", "",
               _md(info["kmers"]), ""]
    out.with_suffix(".md").write_text("\n".join(md))
    print(out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
