"""Write benchmarks/results/human_mrna.{md,tsv} from a finished human_mrna study.

Reads the study's tidy metrics table (``{results}/metrics/metrics.tsv``), its per-job Snakemake
benchmark files (``{results}/benchmarks/``) and, optionally, the ``/usr/bin/time -v`` log of the
run and a hand-written notes file (the reading of the numbers), and writes:

* ``human_mrna.tsv``: per task, model, fraction and metric (test folds): n_runs, mean, SD, 95 %
  interval (t over runs), n_train;
* ``human_mrna.md``: those tables per task, the paired differences of the pre-trained encoders
  against the random encoder and the naive baseline (same runs, same rows), wall time per stage,
  the command, and the notes.

    python benchmarks/human_mrna_report.py --config config/human_mrna.yaml \\
        --time-log logs/human_mrna_run.log --notes benchmarks/human_mrna_notes.md \\
        --out benchmarks/results/human_mrna
"""

from __future__ import annotations

import argparse
import platform
import re
from pathlib import Path

import numpy as np
import pandas as pd

from isoclr.config.load import load_config
from isoclr.tables.summary import interval, summarise

METRICS = {"regression": ["pearson", "spearman", "mse"], "go": ["auroc_macro", "auprc_macro"]}
STAGES = ["download", "store", "homology", "splits", "pretrain", "task", "embed_task", "evaluate_linear",
          "evaluate_network", "figure"]


def summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """The study's summary (:func:`isoclr.tables.summary.summarise`) on the test folds, main metrics only."""
    keep = set(METRICS["regression"] + METRICS["go"])
    s = summarise(metrics)
    return s[(s.split == "test") & s.metric.isin(keep)].reset_index(drop=True)


def paired(metrics: pd.DataFrame, model: str, reference: str) -> pd.DataFrame:
    """model - reference per run on the same task, fraction, fold and metric."""
    m = metrics[metrics.split == "test"]
    a = m[m.model == model].set_index(["task", "fraction", "run", "metric"])["value"]
    b = m[m.model == reference].set_index(["task", "fraction", "run", "metric"])["value"]
    d = (a - b).dropna().reset_index()
    rows = []
    for (task, fraction, metric), x in d.groupby(["task", "fraction", "metric"]):
        n, mean, sd, lo, hi = interval(x["value"].to_numpy())
        rows.append({"task": task, "fraction": fraction, "metric": metric, "model": model, "reference": reference,
                     "n_runs": n, "diff_mean": mean, "diff_sd": sd, "ci95_low": lo, "ci95_high": hi})
    return pd.DataFrame(rows)


def stage_times(bench: Path, stages: list[str] = STAGES) -> pd.DataFrame:
    """Per stage: its jobs and the sums of their wall and CPU seconds, peak RSS (benchmark files)."""
    rows = []
    for stage in stages:
        files = sorted((bench / stage).rglob("*.tsv"))
        if not files:
            continue
        t = pd.concat([pd.read_csv(f, sep="\t") for f in files])
        rows.append({"stage": stage, "jobs": len(files), "wall_s_sum": float(t["s"].sum()),
                     "cpu_s_sum": float(pd.to_numeric(t["cpu_time"], errors="coerce").sum()),
                     "max_rss_mb": float(pd.to_numeric(t["max_rss"], errors="coerce").max())})
    return pd.DataFrame(rows)


def fmt(x: float, digits: int = 3) -> str:
    return "" if not np.isfinite(x) else f"{x:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config/human_mrna.yaml")
    ap.add_argument("--time-log", help="the run's `/usr/bin/time -v snakemake ...` output")
    ap.add_argument("--command", default="/usr/bin/time -v snakemake --cores 2 --configfile config/human_mrna.yaml")
    ap.add_argument("--notes", help="markdown appended as the reading of the numbers")
    ap.add_argument("--commit", default="", help="the commit the study ran at")
    ap.add_argument("--out", default="benchmarks/results/human_mrna")
    args = ap.parse_args(argv)

    config = load_config([args.config])  # as the pipeline reads it (defaults filled)
    results = Path(config["results"])
    metrics = pd.read_csv(results / "metrics" / "metrics.tsv", sep="\t")
    table = summary(metrics)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix(".tsv"), sep="\t", index=False, float_format="%.6g")

    wall = ""
    if args.time_log and Path(args.time_log).exists():
        text = Path(args.time_log).read_text(errors="replace")
        mm = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        cpu = re.search(r"Percent of CPU this job got: (\S+)", text)
        wall = (f"whole study: **{mm.group(1) if mm else '?'}** wall (h:mm:ss or m:ss), CPU {cpu.group(1) if cpu else '?'}"
                f", peak RSS of the largest process {int(rss.group(1)) / 1024:.0f} MB" if rss else "")
    lines = ["# human_mrna: the 4,000-mRNA human study on 2 CPU cores", "",
             f"Command: `{args.command}`" + (f" at commit `{args.commit}`" if args.commit else ""),
             f"(then `python benchmarks/human_mrna_report.py ...` for this page). Machine: {platform.machine()}, "
             "2 CPU cores, no GPU.", ""]
    if wall:
        lines += [f"Time: {wall}.", ""]
    k = int(config["tasks"]["n_folds"])
    lines += [f"Test folds: run r tests on fold r of {k} homology-aware folds (validates on r+1, trains on the "
              f"other {k - 2}); mean ± SD over the runs and a 95 % t-interval. `n_train`: training genes per run "
              "(median); * = raised to `min_train`.", ""]
    for task, part in table.groupby("task", sort=False):
        kind = "go" if task.startswith("go") else "regression"
        for metric in METRICS[kind]:
            p = part[part.metric == metric]
            if p.empty:
                continue
            fr = sorted(p.fraction.unique(), reverse=True)
            lines.append(f"## {task}: {metric}")
            lines.append("")
            ntr = {f: int(p[p.fraction == f]["n_train"].iloc[0]) for f in fr}
            lines.append("| model | " + " | ".join(f"fraction {f:g} (n_train {ntr[f]})" for f in fr) + " |")
            lines.append("|---|" + "---|" * len(fr))
            for model, e in p.groupby("model"):
                cells = []
                for f in fr:
                    r = e[e.fraction == f]
                    if r.empty:
                        cells.append("")
                        continue
                    r = r.iloc[0]
                    star = "*" if r.min_train_applied else ""
                    cells.append(f"{fmt(r['mean'])} ± {fmt(r['sd'])} [{fmt(r.ci95_low)}, {fmt(r.ci95_high)}]{star}")
                lines.append(f"| {model} | " + " | ".join(cells) + " |")
            lines.append("")
    pairs = [paired(metrics, m, ref) for m in ("isoclr-linear", "mlm-linear", "isoclr-finetune")
             for ref in ("random-linear", "naive-linear", "supervised") if m != ref]
    pairs = [p for p in pairs if not p.empty]
    if pairs:
        d = pd.concat(pairs)
        d = d[d.metric.isin(["pearson", "auroc_macro"])]
        lines += ["## Paired differences (same runs, same test rows)", "",
                  "Difference in Pearson r (half-life) or macro AUROC (GO), mean ± SD over runs [95 % interval]; "
                  "an interval that excludes 0 is a difference the runs support.", "",
                  "| task | fraction | model − reference | difference |", "|---|---|---|---|"]
        for _, r in d.sort_values(["task", "metric", "fraction", "model", "reference"], ascending=[True, True, False, True, True]).iterrows():
            lines.append(f"| {r.task} | {r.fraction:g} | {r.model} − {r.reference} | "
                         f"{fmt(r.diff_mean)} ± {fmt(r.diff_sd)} [{fmt(r.ci95_low)}, {fmt(r.ci95_high)}] |")
        lines.append("")
    times = stage_times(results / "benchmarks")
    if not times.empty:
        lines += ["## Time per stage", "",
                  "Sums over a stage's jobs of each job's wall and CPU seconds (Snakemake `benchmark:` files); "
                  "two jobs run at once on the two cores, so the sums exceed the elapsed time.", "",
                  "| stage | jobs | wall s (sum) | CPU s (sum) | peak RSS MB |", "|---|---|---|---|---|"]
        for _, r in times.iterrows():
            lines.append(f"| {r.stage} | {r.jobs} | {r.wall_s_sum:.0f} | {r.cpu_s_sum:.0f} | {r.max_rss_mb:.0f} |")
        lines.append("")
    if args.notes and Path(args.notes).exists():
        lines += [Path(args.notes).read_text().rstrip(), ""]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
