"""Write benchmarks/results/human_mouse_mrna.{md,tsv} (+ _paired.tsv) from a finished
human_mouse_mrna study (config/human_mouse_mrna.yaml).

Reads the study's tidy metrics table (``{results}/metrics/metrics.tsv``), its diagnostics
tables, its per-job Snakemake benchmark files and, optionally, the ``/usr/bin/time -v`` log of
the run and a hand-written notes file (the reading), and writes:

* ``human_mouse_mrna.tsv``: per task, model, fraction and metric (test folds): runs, mean, SD,
  95 % interval (t over runs), training rows;
* ``human_mouse_mrna_paired.tsv``: the arm comparisons the study asks for, (c) - (b), (c) -
  random, (c) - naive, (c) - (a) and (c) - (d), per task and fraction on the main metric, with
  their intervals and the smallest difference the design could detect;
* ``human_mouse_mrna.md``: those tables, the diagnostics of every frozen encoder, how the
  network jobs stopped, the time per stage, the command, and the notes.

How an arm difference is judged. An arm with pre-training seeds (c, b: three each) scores each
seed by its mean over the test folds (run r tests on fold r); the arm's score is the mean over
its seeds, and the difference between arms is judged against the spread between seeds (Welch t
over the seed scores; one-sample t over the seeds of (c) when the other arm has one model).
The folds are the same for every model, so fold effects cancel in the difference. The smallest
detectable difference (two-sided 5 %, power 80 %) is ``(t(0.975, df) + t(0.80, df)) * SE``.
The fold-paired interval (per fold: arm mean minus the other's, t over folds) is given beside it.

    python benchmarks/human_mouse_mrna_report.py --config config/human_mouse_mrna.yaml \\
        --time-log logs/human_mouse_mrna_run.log --notes benchmarks/human_mouse_mrna_notes.md \\
        --out benchmarks/results/human_mouse_mrna
"""

from __future__ import annotations

import argparse
import math
import platform
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from human_mrna_report import stage_times  # the same per-stage sums (benchmarks/ is on the path)

from isoclr.config.load import load_config
from isoclr.evaluate.metrics import interval, summarise

MAIN = {"halflife_human": "pearson", "halflife_mouse": "pearson", "go_mf_human": "auroc_macro"}
SHOWN = {"pearson", "spearman", "mse", "auroc_macro", "auprc_macro"}
#: arm -> (label, the linear-probe models of its pre-training seeds)
ARMS = {
    "c": ("(c) IsoCLR human+mouse, orthologs joined", ["isoclr-linear", "pretrained-isoclr_joint_s2-linear",
                                                       "pretrained-isoclr_joint_s3-linear"]),
    "b": ("(b) IsoCLR human+mouse, species apart", ["pretrained-isoclr_apart-linear",
                                                    "pretrained-isoclr_apart_s2-linear",
                                                    "pretrained-isoclr_apart_s3-linear"]),
    "a": ("(a) IsoCLR human only", ["pretrained-isoclr_human-linear"]),
    "d": ("(d) MLM human+mouse", ["mlm-linear"]),
    "random": ("random encoder", ["random-linear"]),
    "naive": ("naive k-mer baseline", ["naive-linear"]),
}
COMPARISONS = [("c", "b", "what orthologs add"), ("c", "random", "pre-training vs random features"),
               ("c", "naive", "vs k-mer counts"), ("c", "a", "what a second species adds"),
               ("c", "d", "contrastive vs masked-nucleotide")]
DIAG_ENCODERS = {"c": ["isoclr", "pretrained-isoclr_joint_s2", "pretrained-isoclr_joint_s3"],
                 "b": ["pretrained-isoclr_apart", "pretrained-isoclr_apart_s2", "pretrained-isoclr_apart_s3"],
                 "a": ["pretrained-isoclr_human"], "d": ["mlm"], "random": ["random"], "naive": ["naive"]}
STAGES = ["download", "store", "homology", "homology_isoforms", "splits", "model_sets", "pretrain", "tasks",
          "embed_task", "evaluate_linear", "evaluate_network", "diagnostics", "figures"]


def fmt(x: float, digits: int = 3) -> str:
    return "" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def seed_scores(test: pd.DataFrame, arm: str, task: str, fraction: float, metric: str) -> pd.DataFrame:
    """One row per (seed model, run): the arm's values on this task, fraction and metric."""
    models = ARMS[arm][1]
    d = test[(test.task == task) & (test.fraction == fraction) & (test.metric == metric) & test.model.isin(models)]
    return d[["model", "run", "value"]]


def compare(test: pd.DataFrame, x: str, y: str, task: str, fraction: float, metric: str) -> dict | None:
    a, b = seed_scores(test, x, task, fraction, metric), seed_scores(test, y, task, fraction, metric)
    runs = sorted(set(a.run) & set(b.run))
    if not runs:
        return None
    a, b = a[a.run.isin(runs)], b[b.run.isin(runs)]
    sa = a.groupby("model")["value"].mean().to_numpy()  # per seed: mean over the test folds
    sb = b.groupby("model")["value"].mean().to_numpy()
    diff = float(sa.mean() - sb.mean())
    if len(sa) > 1 and len(sb) > 1:  # Welch over seed scores
        va, vb = sa.var(ddof=1) / len(sa), sb.var(ddof=1) / len(sb)
        se = math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (len(sa) - 1) + vb**2 / (len(sb) - 1)) if va + vb > 0 else len(sa) + len(sb) - 2
        how = f"Welch, seeds {len(sa)} vs {len(sb)}"
    elif len(sa) > 1:  # the other arm is one model: over the seeds of this one
        se, df = float(sa.std(ddof=1) / math.sqrt(len(sa))), len(sa) - 1
        how = f"one-sample, {len(sa)} seeds"
    else:
        se, df, how = math.nan, math.nan, "one model each"
    tq = float(stats.t.ppf(0.975, df)) if np.isfinite(df) else math.nan
    mdd = (tq + float(stats.t.ppf(0.80, df))) * se if np.isfinite(df) else math.nan
    per_fold = (a.groupby("run")["value"].mean() - b.groupby("run")["value"].mean()).dropna().to_numpy()
    n, fm, fsd, flo, fhi = interval(per_fold)
    return {"task": task, "metric": metric, "fraction": fraction, "arm": x, "reference": y, "diff": diff,
            "se": se, "df": df, "ci95_low": diff - tq * se, "ci95_high": diff + tq * se, "mdd80": mdd,
            "test": how, "seed_sd_arm": float(sa.std(ddof=1)) if len(sa) > 1 else math.nan,
            "seed_sd_reference": float(sb.std(ddof=1)) if len(sb) > 1 else math.nan,
            "runs": n, "fold_sd": fsd, "fold_ci95_low": flo, "fold_ci95_high": fhi}


def arm_summary(test: pd.DataFrame, task: str, fraction: float, metric: str) -> list[tuple[str, str]]:
    out = []
    for arm, (label, _models) in ARMS.items():
        s = seed_scores(test, arm, task, fraction, metric)
        if s.empty:
            continue
        seeds = s.groupby("model")["value"].mean().to_numpy()
        n, mean, sd, lo, hi = interval(seeds)
        txt = f"{fmt(mean)}" + (f" ± {fmt(sd)} over {n} seeds" if n > 1 else " (one model)")
        out.append((label, txt))
    return out


def diagnostics(results: Path) -> pd.DataFrame:
    frames = [pd.read_csv(p, sep="\t") for p in sorted((results / "diagnostics").glob("*.tsv"))]
    if not frames:
        return pd.DataFrame()
    d = pd.concat(frames).pivot_table(index="model", columns="metric", values="value", aggfunc="first")
    rows = []
    shown = [m for m in ("effective_rank", "dimensions", "alignment", "uniformity", "retrieval_top1",
                         "retrieval_top10", "retrieval_median_rank", "retrieval_candidates") if m in d.columns]
    for arm, encs in DIAG_ENCODERS.items():
        e = d.reindex([x for x in encs if x in d.index])
        if e.empty:
            continue
        row = {"arm": ARMS[arm][0], "encoders": len(e)}
        for m in shown:
            v = e[m].to_numpy(dtype=float)
            digits = 0 if m in ("dimensions", "retrieval_candidates", "retrieval_median_rank") else 3
            row[m] = f"{fmt(np.nanmean(v), digits)}" + (f" ± {fmt(np.nanstd(v, ddof=1), digits)}" if len(v) > 1 else "")
        rows.append(row)
    return pd.DataFrame(rows)


def pretraining(results: Path, models: list[str]) -> pd.DataFrame:
    """Per pre-trained model: its last logged step (metrics.csv): losses, the validation
    diagnostics logged while training, epochs and seconds."""
    rows = []
    for m in models:
        path = results / "pretrain" / m / "metrics.csv"
        if not path.exists():
            continue
        t = pd.read_csv(path)
        last, val = t.iloc[-1], t.dropna(subset=["val_loss"])
        v = val.iloc[-1] if len(val) else last
        rows.append({"model": m, "steps": int(last["step"]), "epochs": int(last["epoch"]) + 1,
                     "loss_first": float(t["loss"].iloc[0]), "loss_last": float(last["loss"]),
                     "val_loss": float(v["val_loss"]), "val_alignment": float(v["val_alignment"]),
                     "val_uniformity": float(v["val_uniformity"]), "val_effective_rank": float(v["val_effective_rank"]),
                     "seconds": round(float(last["elapsed_s"]))})
    return pd.DataFrame(rows)


def training(metrics: pd.DataFrame) -> pd.DataFrame:
    m = metrics[(metrics.split == "test") & metrics.model.isin(["isoclr-finetune", "supervised", "saluki"])]
    m = m.drop_duplicates(["task", "model", "fraction", "run"])
    if m.empty or "epochs" not in m:
        return pd.DataFrame()
    cap = m["hit_cap"].astype(str).str.lower().isin(["true", "1"])
    return (m.assign(cap=cap).groupby(["model", "fraction"])
            .agg(jobs=("epochs", "size"), epochs_median=("epochs", "median"), epochs_max=("epochs", "max"),
                 best_epoch_median=("best_epoch", "median"), hit_cap=("cap", "sum"))
            .reset_index().sort_values(["model", "fraction"], ascending=[True, False])
            .astype({"fraction": str, "epochs_median": str, "epochs_max": int, "best_epoch_median": str, "hit_cap": int}))


def md_table(df: pd.DataFrame) -> list[str]:
    cols = list(df.columns)
    out = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        out.append("| " + " | ".join(fmt(v) if isinstance(v, float) else str(v) for v in r) + " |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config/human_mouse_mrna.yaml")
    ap.add_argument("--time-log", help="the run's `/usr/bin/time -v snakemake ...` output")
    ap.add_argument("--command", default="/usr/bin/time -v snakemake --cores 2 --configfile config/human_mouse_mrna.yaml")
    ap.add_argument("--notes", help="markdown inserted as the reading of the numbers")
    ap.add_argument("--commit", default="", help="the commit the study ran at")
    ap.add_argument("--load", default="", help="what else ran on the machine during the study")
    ap.add_argument("--results", default=None, help="the study's results folder (default: the config's)")
    ap.add_argument("--out", default="benchmarks/results/human_mouse_mrna")
    args = ap.parse_args(argv)

    config = load_config([args.config])
    results = Path(args.results or config["results"])
    metrics = pd.read_csv(results / "metrics" / "metrics.tsv", sep="\t")
    test = metrics[metrics.split == "test"].assign(value=lambda d: pd.to_numeric(d["value"], errors="coerce"))
    s = summarise(metrics)
    table = s[(s.split == "test") & s.metric.isin(SHOWN)].reset_index(drop=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix(".tsv"), sep="\t", index=False, float_format="%.6g")
    fractions = sorted(test.fraction.unique(), reverse=True)
    pairs = pd.DataFrame([r for task, metric in MAIN.items() for f in fractions for x, y, _ in COMPARISONS
                          if (r := compare(test, x, y, task, f, metric)) is not None])
    pairs.to_csv(out.parent / f"{out.name}_paired.tsv", sep="\t", index=False, float_format="%.6g")

    lines = ["# human_mouse_mrna: do real orthologs make the contrastive encoder beat random features?", "",
             f"Command: `{args.command}`" + (f" at commit `{args.commit}`" if args.commit else ""),
             f"(then `python benchmarks/human_mouse_mrna_report.py --config {args.config} ...` for this page). "
             f"Machine: {platform.machine()}, 2 CPU cores, no GPU.", ""]
    if args.time_log and Path(args.time_log).exists():
        text = Path(args.time_log).read_text(errors="replace")
        mm = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)
        cpu = re.search(r"Percent of CPU this job got: (\S+)", text)
        jobs = re.findall(r"(\d+) of (\d+) steps \(100%\) done", text)
        lines += [f"Time: whole study **{mm.group(1) if mm else '?'}** wall (h:mm:ss), CPU {cpu.group(1) if cpu else '?'}"
                  + (f", {jobs[-1][1]} jobs" if jobs else "") + (f". Load: {args.load}" if args.load else "") + ".", ""]
    if args.notes and Path(args.notes).exists():
        lines += [Path(args.notes).read_text().rstrip(), ""]
    lines += ["## The arm comparisons (linear probes, frozen encoders)", "",
              "Main metric: Pearson r (half-life), macro AUROC (GO). `diff`: arm minus reference; `CI` 95 % "
              "judged against the spread between pre-training seeds (see the script's docstring); `MDD`: the "
              "smallest difference this design detects with 80 % power; `fold CI`: the fold-paired interval.", "",
              "| task | fraction | comparison | diff | CI (seeds) | MDD | test | fold CI |", "|---|---|---|---|---|---|---|---|"]
    why = {(x, y): w for x, y, w in COMPARISONS}
    for _, r in pairs.iterrows():
        lines.append(f"| {r.task} | {r.fraction:g} | {r.arm} − {r.reference} ({why[(r.arm, r.reference)]}) | "
                     f"{fmt(r['diff'])} | [{fmt(r.ci95_low)}, {fmt(r.ci95_high)}] | {fmt(r.mdd80)} | {r.test} | "
                     f"[{fmt(r.fold_ci95_low)}, {fmt(r.fold_ci95_high)}] |")
    lines += ["", "## Arms on the main metric (mean over test folds, then over pre-training seeds)", ""]
    for task, metric in MAIN.items():
        lines += [f"### {task}: {metric}", "", "| arm | " + " | ".join(f"fraction {f:g}" for f in fractions) + " |",
                  "|---|" + "---|" * len(fractions)]
        cells: dict[str, list[str]] = {}
        for f in fractions:
            for label, txt in arm_summary(test, task, f, metric):
                cells.setdefault(label, []).append(txt)
        for label, vals in cells.items():
            lines.append(f"| {label} | " + " | ".join(vals) + " |")
        lines.append("")
    diag = diagnostics(results)
    if not diag.empty:
        lines += ["## Diagnostics of the frozen encoders (held-out transcripts)", "",
                  "Effective rank (entropy of the singular values, of the embedding dimension), alignment and "
                  "uniformity (Wang & Isola 2020) on held-out positive pairs, and ortholog retrieval: each held-out "
                  "human gene's mouse ortholog ranked among every held-out mouse transcript by cosine similarity "
                  "(pairs no arm saw in pre-training; `retrieval_candidates` mouse transcripts, so chance top-1 is "
                  "1 / candidates). `dimensions`: of the embedding (the k-mer profile's is its feature count). Arms "
                  "with seeds: mean ± SD over seeds.", ""]
        lines += md_table(diag) + [""]
    pre = pretraining(results, list(config["pretrain"]["models"]))
    if not pre.empty:
        lines += ["## Pre-training (each arm's last logged step, metrics.csv)", "",
                  "The same encoder, batch, steps and learning-rate schedule for every arm; the validation "
                  "columns are measured on the arm's validation sets while it trains (loss: its own objective, "
                  "so DCL and MLM losses are not comparable).", ""]
        lines += md_table(pre) + [""]
    tr = training(metrics)
    if not tr.empty:
        lines += ["## How the network jobs stopped", "",
                  "Early stopping on the validation fold (patience "
                  f"{config['evaluation']['finetune']['patience']}, cap {config['evaluation']['finetune']['max_epochs']} "
                  "epochs): epochs run, best epoch, and jobs that reached the cap.", ""]
        lines += md_table(tr) + [""]
    lines += ["## Every model, task and fraction (test folds: mean ± SD over runs [95 % interval])", ""]
    for task, part in table.groupby("task", sort=False):
        for metric in [m for m in ("pearson", "spearman", "mse", "auroc_macro", "auprc_macro") if m in set(part.metric)]:
            p = part[part.metric == metric]
            fr = sorted(p.fraction.unique(), reverse=True)
            ntr = {f: int(p[p.fraction == f]["n_train"].iloc[0]) for f in fr}
            lines += [f"### {task}: {metric}", "",
                      "| model | " + " | ".join(f"fraction {f:g} (n_train {ntr[f]})" for f in fr) + " |",
                      "|---|" + "---|" * len(fr)]
            for model, e in p.groupby("model"):
                row = []
                for f in fr:
                    r = e[e.fraction == f]
                    row.append("" if r.empty else
                               f"{fmt(r.iloc[0]['mean'])} ± {fmt(r.iloc[0]['sd'])} "
                               f"[{fmt(r.iloc[0].ci95_low)}, {fmt(r.iloc[0].ci95_high)}]"
                               + ("*" if r.iloc[0].min_train_applied else ""))
                lines.append(f"| {model} | " + " | ".join(row) + " |")
            lines.append("")
    times = stage_times(results / "benchmarks", STAGES)
    if not times.empty:
        lines += ["## Time per stage", "",
                  "Sums over a stage's jobs of each job's wall and CPU seconds (Snakemake `benchmark:` files); two "
                  "jobs run at once on the two cores, so the sums exceed the elapsed time.", ""]
        lines += md_table(times.assign(wall_s_sum=times.wall_s_sum.round(0), cpu_s_sum=times.cpu_s_sum.round(0),
                                       max_rss_mb=times.max_rss_mb.round(0))) + [""]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
