"""Pre-training ablations of the human_mrna study, scored on VALIDATION rows only.

The study (``snakemake --cores 2 --configfile config/human_mrna.yaml``) reports test-fold
numbers. When pre-training does not beat the random encoder or the naive baseline there, this
script asks why, without looking at a test row: it pre-trains variants of the study's IsoCLR
model (longer, another learning rate, no masking, a wider encoder...), embeds the study's task
rows with each, and fits the same linear probes on each run's training rows, scoring the run's
VALIDATION fold (run r validates on fold r+1). The study's own encoders (IsoCLR, MLM, random)
and the naive features are scored the same way, as references.

Probes: half-life, ridge with the alpha chosen by RidgeCV's leave-one-out on the training rows
(as the study); GO, one logistic regression per term with C chosen by 3-fold cross-validation
inside the training rows (the study chooses C on the validation fold, which is scored here).

Run after the study (it reads its stores, sets, splits and task files)::

    python benchmarks/human_mrna_ablation.py --config config/human_mrna.yaml \\
        --variants epochs30 lr1e-3 nomask --out benchmarks/results/human_mrna_ablation

Pre-training outputs go to ``{results}/ablation/{variant}/`` (a rerun reuses a finished one).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from isoclr.evaluate import jobs as E
from isoclr.pretrain import loader as L
from isoclr.pretrain import loop as P
from isoclr.evaluate.metrics import compute_metrics
from isoclr.evaluate.probes import DEFAULT_ALPHAS, ridge_probe, standardise

log = logging.getLogger("human_mrna_ablation")

#: variant -> (changes to the study's IsoCLR entry, epochs at which to score its checkpoints)
VARIANTS: dict[str, tuple[dict[str, Any], tuple[int, ...]]] = {
    # pre-training length: one 30-epoch run scored at 5, 10, 20 and 30 epochs (the schedule is
    # that of 30 epochs, so epoch 10 here is not the study's 10-epoch model)
    "epochs30": ({"epochs": 30}, (5, 10, 20, 30)),
    "lr1e-3": ({"lr": 1.0e-3}, ()),
    "lr1e-2": ({"lr": 1.0e-2}, ()),
    "nomask": ({"mask_prob": 0.0}, ()),
    "mask30": ({"mask_prob": 0.3}, ()),
    "temp0.5": ({"temperature": 0.5}, ()),
    # a wider encoder (the paper's small preset, h 256 instead of the study's tiny, h 64), for 5
    # epochs (the 30-epoch run scored best at 5)
    "small5": ({"size": "small", "epochs": 5}, ()),
    # views: pre-train on the 300-odd training sets with two or more transcripts only (isoforms or
    # genes sharing a symbol), the same 440 steps; in the study 89 % of the sets hold one
    # transcript, whose two views differ only by their masks
    "isoforms_only": ({"views": "isoforms_only", "steps": 440, "warmup_steps": 44}, ()),
}


def pretrain_variant(s: P.PretrainSettings, name: str, changes: dict[str, Any], epochs: tuple[int, ...],
                     work: Path, steps_per_epoch: int) -> dict[str, Path]:
    """Pre-train one variant (or reuse a finished run); its checkpoints by label."""
    out = work / name
    ckpt_every = steps_per_epoch * min(epochs) if epochs else 10**9
    entry = {k: v for k, v in s.to_params().items() if k not in ("architecture", "name")}
    entry.update(s.architecture)
    views = changes.get("views")
    entry.update({k: v for k, v in changes.items() if k != "views"})
    if "size" in changes:  # a preset replaces the study's architecture keys
        for key in s.architecture:
            if key != "size":
                entry.pop(key, None)
    entry.update(checkpoint_every=int(ckpt_every), keep_checkpoints=1000)
    v = P.PretrainSettings.from_entry(entry, name, seed=s.seed or 0)
    splits = s.splits
    if views == "isoforms_only":
        splits = str(out / "splits_isoforms_only.tsv")
        if not Path(splits).exists():
            sizes = L.TranscriptSets.load(s.sets, s.stores).sizes()
            table = pd.read_csv(s.splits, sep="\t")
            keep = ~((table["split"] == "train") & (sizes[table["set_id"].to_numpy()] < 2))
            out.mkdir(parents=True, exist_ok=True)
            table[keep].to_csv(splits, sep="\t", index=False)
            log.info("%s: %d of %d training sets have two or more transcripts", name,
                     int(((table["split"] == "train") & keep).sum()), int((table["split"] == "train").sum()))
    v = v.replace(sets=s.sets, splits=splits, stores=s.stores, threads=s.threads, device=s.device)
    final = out / "checkpoint.pt"
    if not final.exists():
        t0 = time.time()
        P.pretrain(v, out, resume=True)
        (out / "pretrain_seconds.txt").write_text(f"{time.time() - t0:.1f}\n")
        log.info("%s: pre-trained in %.0f s", name, time.time() - t0)
    found = {} if epochs else {name: final}  # with epochs, the last one is the final model
    for ep in epochs:
        path = out / "checkpoints" / f"step_{ep * steps_per_epoch:07d}.pt"
        if path.exists():
            found[f"{name}@{ep}ep"] = path
    return found


def go_probe(h: np.ndarray, y: np.ndarray, train: np.ndarray, score: np.ndarray, cs: list[float],
             seed: int) -> np.ndarray:
    """One-vs-rest logistic regression, C per term by 3-fold CV (log-loss) on the training rows."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    xtr, xsc = standardise(h[train], h[score])
    ytr = (y[train] > 0).astype(int)
    pred = np.empty((len(score), y.shape[1]))
    for k in range(y.shape[1]):
        npos = int(ytr[:, k].sum())
        if npos < 3 or npos > len(ytr) - 3:
            if npos in (0, len(ytr)):
                pred[:, k] = npos / len(ytr)
                continue
            model = LogisticRegression(C=float(min(cs)), max_iter=1000).fit(xtr, ytr[:, k])
        else:
            cv = StratifiedKFold(3, shuffle=True, random_state=seed)
            model = LogisticRegressionCV(Cs=list(cs), cv=cv, scoring="neg_log_loss", max_iter=1000).fit(xtr, ytr[:, k])
        pred[:, k] = model.predict_proba(xsc)[:, 1]
    return pred


def score_encoder(label: str, tasks: dict[str, Any], embeddings: dict[str, np.ndarray], runs: list[int],
                  fractions: list[float], probe: dict[str, Any], seed: int,
                  split: str = "validation") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for task_name, task in tasks.items():
        if task_name not in embeddings:
            continue
        h = embeddings[task_name]
        for fraction in fractions:
            for run in runs:
                train, val, test = task.split(run, fraction)
                rows_scored = val if split == "validation" else test  # test: only with --test
                if task.kind == "regression":
                    pred = ridge_probe(h[train], task.y[train], h[rows_scored], probe.get("alphas", DEFAULT_ALPHAS)).predictions
                else:
                    pred = go_probe(h, task.y, train, rows_scored, probe.get("Cs", [1e-3, 1e-2, 0.1, 1.0, 10.0]), seed)
                metrics = compute_metrics(task.kind, task.y[rows_scored], pred, task.label_names)
                for metric, value in metrics.items():
                    rows.append({"encoder": label, "task": task_name, "fraction": fraction, "run": run,
                                 "split": split, "metric": metric, "value": float(value),
                                 "n_train": len(train)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config/human_mrna.yaml")
    ap.add_argument("--model", default="isoclr_mrna", help="the study's IsoCLR model the variants change")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--fractions", nargs="*", type=float, default=[1.0, 0.1])
    ap.add_argument("--out", default="benchmarks/results/human_mrna_ablation", help="output stem (.tsv, .md)")
    ap.add_argument("--test", nargs="*", default=[],
                    help="encoders (labels before ' (') to score on the TEST folds too, once the choice is made "
                         "on validation, e.g. small5 random isoclr")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", category=FutureWarning)

    config = yaml.safe_load(Path(args.config).read_text())
    results = Path(config.get("results", "results"))
    _, s = P.resolve(config, args.model)
    ev = config.get("evaluation", {})
    runs = list(range(int(ev.get("runs", 3))))
    seed = int(config.get("seed", 0))
    probe = dict(ev.get("probe", {}))
    task_names = [t for t in ev.get("tasks", {}) if (results / "tasks" / f"{t}.h5").exists()]
    tasks = {t: E.load_task(results / "tasks" / f"{t}.h5") for t in task_names}
    data = P.training_data(s, 1, 0)
    steps_per_epoch = max(1, data["train"].batches_per_epoch() // s.accumulate)
    del data

    rows: list[dict[str, Any]] = []
    timings: dict[str, float] = {}

    scored: dict[str, dict[str, np.ndarray]] = {}

    def add(label: str, embeddings: dict[str, np.ndarray]) -> None:
        scored[label] = embeddings
        rows.extend(score_encoder(label, tasks, embeddings, runs, args.fractions, probe, seed))

    def study_embeddings(encoder: str) -> dict[str, np.ndarray] | None:
        out = {}
        for t, task in tasks.items():
            path = results / "embeddings" / encoder / f"{t}.h5"
            if not path.exists():
                return None
            out[t] = E.read_embeddings(path, task)
        return out

    for encoder, label in (("random", "random"), ("mlm", "mlm (study)"), ("isoclr", "isoclr (study, 10 ep)"),
                           ("naive", "naive")):
        emb = study_embeddings(encoder)
        if emb is not None:
            if encoder == "naive":  # 5,445 features: the cross-validated GO probe takes too long here
                emb = {t: e for t, e in emb.items() if tasks[t].kind == "regression"}
            add(label, emb)
    work = results / "ablation"
    # controls for the size variants: a random encoder of the same (wider) architecture
    for size in sorted({VARIANTS[n][0]["size"] for n in args.variants if "size" in VARIANTS[n][0]}):
        emb = {}
        for t in tasks:
            h5 = work / "random" / f"{size}_{t}.h5"
            if h5.exists():
                emb[t] = E.read_embeddings(h5, tasks[t])
            else:
                h5.parent.mkdir(parents=True, exist_ok=True)
                emb[t] = E.embed_task(results / "tasks" / f"{t}.h5", "random", h5, model_cfg={"size": size},
                                      seed=seed, threads=s.threads)
        add(f"random ({size})", emb)
    write(rows, timings, Path(args.out), args)
    for name in args.variants:
        changes, epochs = VARIANTS[name]
        ckpts = pretrain_variant(s, name, changes, epochs, work, steps_per_epoch)
        took = work / name / "pretrain_seconds.txt"
        if took.exists():
            timings[name] = float(took.read_text())
        for label, ckpt in ckpts.items():
            emb = {}
            for t in tasks:
                h5 = work / name / "embeddings" / f"{label.replace('@', '_')}_{t}.h5"
                if h5.exists():
                    emb[t] = E.read_embeddings(h5, tasks[t])
                else:
                    h5.parent.mkdir(parents=True, exist_ok=True)
                    emb[t] = E.embed_task(results / "tasks" / f"{t}.h5", "isoclr", h5, checkpoint=ckpt,
                                          seed=seed, threads=s.threads)
            add(label + ("" if "@" in label else f" ({json.dumps(changes)[1:-1]})"), emb)
        # write as we go, so a long run leaves its finished variants behind
        write(rows, timings, Path(args.out), args)
    if args.test:  # scored once, after the choice was made on validation
        for label in scored:
            if label.split(" (")[0] in args.test:
                rows.extend(score_encoder(label, tasks, scored[label], runs, args.fractions, probe, seed, split="test"))
    write(rows, timings, Path(args.out), args)
    return 0


def write(rows: list[dict[str, Any]], timings: dict[str, float], out: Path, args: argparse.Namespace) -> None:
    table = pd.DataFrame(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix(".tsv"), sep="\t", index=False)
    main_metrics = {"pearson", "spearman", "mse", "auroc_macro"}
    t = table[table.metric.isin(main_metrics)]
    g = t.groupby(["split", "task", "metric", "fraction", "encoder"], sort=False)["value"]
    summ = g.agg(["mean", "std", "count"]).reset_index()
    n_train = t.groupby(["task", "fraction"])["n_train"].mean().round().astype(int)
    summ = summ.sort_values("split", kind="stable", key=lambda s: s.map({"validation": 0, "test": 1}))
    lines = ["# human_mrna: pre-training ablations, scored on validation folds", "",
             "Command: `python benchmarks/human_mrna_ablation.py " + " ".join(sys.argv[1:]) + "`", "",
             "Mean ± SD over the study's runs (run r validates on fold r+1). The test folds are read only "
             "for the encoders given to --test, after the choice was made on validation.", ""]
    for (split, task, metric), part in summ.groupby(["split", "task", "metric"], sort=False):
        fr = sorted(part.fraction.unique(), reverse=True)
        what = "validation" if split == "validation" else "TEST, scored once after the choice on validation"
        lines.append(f"## {task}: {metric} ({what})")
        lines.append("")
        lines.append("| encoder | " + " | ".join(f"fraction {f:g} (n_train {n_train[(task, f)]})" for f in fr) + " |")
        lines.append("|---|" + "---|" * len(fr))
        for enc, e in part.groupby("encoder", sort=False):
            cells = []
            for f in fr:
                r = e[e.fraction == f]
                cells.append(f"{r['mean'].iloc[0]:.3f} ± {r['std'].iloc[0]:.3f}" if len(r) else "")
            lines.append(f"| {enc} | " + " | ".join(cells) + " |")
        lines.append("")
    if timings:
        lines.append("Pre-training wall time per variant (2 CPU threads): " +
                     ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items()))
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
