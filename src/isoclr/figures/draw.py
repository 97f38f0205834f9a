"""The paper's figures, drawn from the metrics table (results/metrics/metrics.tsv).

Every figure is a function ``fig_*(metrics, out, **options)`` that writes ``out`` (PDF) and the
PNG beside it. Points are the mean over folds, error bars one standard deviation; the training
fraction axis is logarithmic. Colours are the Okabe-Ito colour-blind-safe palette and every
model also has its own marker and line style, so the figures read in grey-scale print. Fonts are
10 pt or larger at the saved size. A model or task missing from the table is skipped and named
in a note on the figure; an empty table gives a figure that says so (never an exception).

t-SNE (figure 4, one per GO aspect): one transcript per gene (the task rows), classes are the
task's GO terms, ``classes`` of them chosen to cover the most genes (:func:`top_terms`; all
three of the cellular-component task). A gene
annotated to several of them goes to the rarest of its terms (counted over the task), so the
small classes keep their genes; the classes are then subsampled (seeded) to the size of the
smallest, capped at ``max_per_class``. Perplexity is ``min(30, (n - 1) / 3)``, so a few dozen
points still embed.

Model sizes (``fig_model_sizes``): linear-probe Pearson r of every pre-trained model on the
half-life and MRL tasks against its encoder's parameter count (worked out from the architecture
by :func:`isoclr.pretrain.architecture.encoder_parameters`; log axis), with the random encoder, the naive
baseline and Saluki as horizontal reference lines (mean, ± SD band).

Scale: a figure of the study ``demo``, or whose largest training set (t-SNE: genes) has fewer
than ``demo_below`` rows, carries a banner saying it is drawn from demo-sized data
(:func:`demo_note`), so it is never mistaken for the paper's result.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.core.files import atomic_path
from isoclr.config.registry import FIGURES  # noqa: F401  (the figure names, owned by the config registry)

log = logging.getLogger(__name__)

# Okabe & Ito (2008) colour-blind-safe palette
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
MODEL_STYLE: dict[str, dict[str, Any]] = {
    "isoclr-linear": {"label": "IsoCLR linear probe", "short": "IsoCLR", "color": "#0072B2", "marker": "o", "ls": "-"},
    "isoclr-finetune": {"label": "IsoCLR fine-tuned", "short": "IsoCLR fine-tuned", "color": "#009E73", "marker": "s", "ls": "-"},
    "supervised": {"label": "Supervised (same CNN, random init)", "short": "Supervised", "color": "#D55E00", "marker": "^", "ls": "--"},
    "random-linear": {"label": "Random encoder, linear probe", "short": "Random encoder", "color": "#000000", "marker": "x", "ls": ":"},
    "mlm-linear": {"label": "MLM linear probe", "short": "MLM", "color": "#CC79A7", "marker": "D", "ls": "-."},
    "saluki": {"label": "Saluki", "short": "Saluki", "color": "#E69F00", "marker": "v", "ls": "--"},
    "naive-linear": {"label": "Naive (k-mers, GC, lengths)", "short": "Naive k-mer", "color": "#56B4E9", "marker": "P", "ls": ":"},
}
METRIC_LABEL = {
    "mse": "Test MSE (PC1 units², lower is better)",
    "pearson": "Test Pearson r",
    "spearman": "Test Spearman ρ",
    "auroc_macro": "Test AUROC (macro over terms)",
    "auprc_macro": "Test AUPRC (macro over terms)",
    "auroc_micro": "Test AUROC (micro)",
    "auprc_micro": "Test AUPRC (micro)",
}
FRACTION_LABEL = "Fraction of training data (log scale)"
METRICS_COLUMNS = [
    "task", "species", "model", "fraction", "run", "fold", "split", "metric", "value", "n_train",
    "min_train_applied",
]


def _style(model: str, i: int = 0) -> dict[str, Any]:
    if model in MODEL_STYLE:
        return MODEL_STYLE[model]
    markers = "PX*hd<>"
    name = model.removeprefix("external-").removeprefix("pretrained-").removesuffix("-linear")
    label = f"{name} linear probe" if model.endswith("-linear") else model
    return {"label": label, "short": name, "color": OKABE_ITO[(i + 4) % len(OKABE_ITO)], "marker": markers[i % len(markers)], "ls": "-."}


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "xtick.labelsize": 9,
            "ytick.labelsize": 9,
            "legend.fontsize": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "pdf.fonttype": 42,
            "savefig.bbox": "tight",
        }
    )
    return plt


def read_metrics(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """The metrics table; a missing or empty file gives an empty table (figures say "no data").

    A list of paths (the per-job tables of results/eval/, as the figure rules pass them, so a
    figure depends only on the jobs it draws) is read and concatenated.
    """
    if not isinstance(path, (str, os.PathLike)):
        tables = [read_metrics(one) for one in path]
        tables = [t for t in tables if len(t)]
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=METRICS_COLUMNS)
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        log.warning("metrics table %s is missing or empty", p)
        return pd.DataFrame(columns=METRICS_COLUMNS)
    df = pd.read_csv(p, sep="\t")
    missing = {"task", "model", "fraction", "fold", "metric", "value"} - set(df.columns)
    if missing:
        raise ValueError(f"{p}: line 1: metrics table lacks columns {sorted(missing)}")
    df["fraction"] = pd.to_numeric(df["fraction"], errors="coerce")
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    return df


def summarise(metrics: pd.DataFrame, task: str, metric: str) -> pd.DataFrame:
    """One task's metric per model and fraction, from :func:`isoclr.evaluate.metrics.summarise`:
    mean, standard deviation (0 for a single run: no error bar) and run count, with the training
    rows behind each point (``n_train``: median over runs) and whether ``min_train`` lifted it."""
    from isoclr.evaluate.metrics import summarise as over_runs

    cols = ["model", "fraction", "mean", "std", "n", "n_train", "min_train_applied"]
    d = metrics.loc[(metrics["task"] == task) & (metrics["metric"] == metric)]
    s = over_runs(d.loc[pd.to_numeric(d["value"], errors="coerce").notna() & d["fraction"].notna()], ci=False)
    s = s.loc[s["split"] == "test"] if len(s) else s
    out = s.rename(columns={"sd": "std", "n_runs": "n"}).assign(std=lambda t: t["std"].fillna(0.0))
    return out[cols].sort_values(["model", "fraction"]).reset_index(drop=True)


def _save(fig: Any, out: str | os.PathLike[str], dpi: int = 200) -> tuple[Path, Path]:
    out = Path(out)
    png = out.with_suffix(".png")
    with atomic_path(out, suffix=".pdf") as tmp:
        fig.savefig(tmp, format="pdf")
    with atomic_path(png, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return out, png


def _note(fig: Any, notes: Sequence[str], y: float = -0.02) -> None:
    """The italic note under a figure, wrapped to the figure's width by hand: matplotlib's own
    ``wrap=True`` is not what ``bbox_inches="tight"`` measures, so a long note was cut at the
    right edge of the saved image."""
    if notes:
        import textwrap

        width = max(40, int(fig.get_figwidth() * 13))  # characters per line at 9 pt italic
        text = textwrap.fill("Note: " + "; ".join(notes), width=width, break_on_hyphens=False)
        fig.text(0.01, y, text, ha="left", va="top", fontsize=9, style="italic", gid="note")


def demo_note(study: str = "", n_rows: float | None = None, demo_below: int = 0, what: str = "training rows") -> str | None:
    """The banner text of a demo-sized figure, or None: the study is ``demo``, or its largest
    training set (``n_rows``: at the largest fraction; t-SNE: genes) is below ``demo_below``."""
    known = n_rows is not None and np.isfinite(n_rows)
    small = known and demo_below > 0 and float(n_rows) < demo_below  # type: ignore[arg-type]
    if study != "demo" and not small:
        return None
    size = f"at most {int(n_rows):,} {what}" if known else "a few dozen genes"  # type: ignore[arg-type]
    where = f"study '{study}'" if study else "this study"
    return f"DEMO-SIZED DATA ({where}: {size}): not the paper's scale; do not compare with the paper"


def _banner(fig: Any, text: str | None) -> None:
    """The demo-data banner above the figure (a bordered, coloured line of text)."""
    if text:
        fig.text(0.5, 1.0, text, ha="center", va="bottom", fontsize=10, fontweight="bold", color="#D55E00",
                 bbox={"boxstyle": "round,pad=0.3", "facecolor": "#FFF4E5", "edgecolor": "#D55E00"}, gid="demo-note")


def _max_train(metrics: pd.DataFrame, tasks: Sequence[str]) -> float | None:
    """Largest ``n_train`` of the tasks' rows (None when the table has none)."""
    if not len(metrics) or "n_train" not in metrics:
        return None
    v = pd.to_numeric(metrics.loc[metrics["task"].isin(list(tasks)), "n_train"], errors="coerce").max()
    return float(v) if np.isfinite(v) else None


def _fraction_panel(ax: Any, metrics: pd.DataFrame, task: str, metric: str, models: Sequence[str], reference: Sequence[str] = ()) -> list[str]:
    """Metric vs fraction, one line per model (mean ± SD over folds). Returns missing models."""
    s = summarise(metrics, task, metric)
    missing = []
    drawn = 0
    everyone = list(models) + list(reference)
    for i, model in enumerate(everyone):
        d = s.loc[s["model"] == model]
        if d.empty:
            missing.append(model)
            continue
        st = _style(model, i)
        dodge = 1.06 ** (i - (len(everyone) - 1) / 2)  # small horizontal offset: error bars do not overlap
        ax.errorbar(
            d["fraction"] * dodge, d["mean"], yerr=d["std"], label=st["label"], color=st["color"], marker=st["marker"],
            ls=st["ls"], lw=1.8, ms=6, capsize=3, alpha=0.8 if model in reference else 1.0,
        )
        lifted = d.loc[d["min_train_applied"].astype(bool)]
        if len(lifted):  # min_train lifted these fractions: marked, not silently like their neighbour
            ax.scatter(lifted["fraction"] * dodge, lifted["mean"], s=120, facecolors="none", edgecolors="black",
                       linewidths=1.2, zorder=5)
        drawn += 1
    ax.set_xscale("log")
    ax.set_xlabel(FRACTION_LABEL)
    ax.set_ylabel(METRIC_LABEL.get(metric, metric))
    if drawn:
        shown = s.loc[s["model"].isin(list(models) + list(reference))]
        fr = sorted(shown["fraction"].unique())
        n_tr = shown.groupby("fraction")["n_train"].median()
        ax.set_xticks(fr)  # each fraction with the training rows behind it
        ax.set_xticklabels([f"{f:g}" + (f"\nn={int(n_tr[f])}" if np.isfinite(n_tr[f]) else "") for f in fr], rotation=0)
        ax.minorticks_off()
        ax.grid(True, alpha=0.3)
    else:
        ax.text(0.5, 0.5, f"no {metric} results for task {task}", ha="center", va="center", transform=ax.transAxes, fontsize=10)
    return missing


def _fraction_figure(
    metrics: pd.DataFrame, out: str | os.PathLike[str], task: str, panels: Sequence[tuple[str, str]],
    models: Sequence[str], reference: Sequence[str] = (), title: str = "", dpi: int = 200,
    study: str = "", demo_below: int = 0,
) -> tuple[Path, Path]:
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    missing: set[str] = set()
    for ax, (metric, sub) in zip(axes[0], panels):
        missing |= set(_fraction_panel(ax, metrics, task, metric, models, reference))
        ax.set_title(sub, loc="left")
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    # one legend for all panels, below them, so it never hides a line
    handles, labels = max((ax.get_legend_handles_labels() for ax in axes[0]), key=lambda hl: len(hl[0]))
    ncol = 1 if len(panels) == 1 else min(3, max(1, len(handles)))
    rows = -(-len(handles) // ncol) if handles else 0
    if handles:
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, frameon=False)
    n_runs = metrics.loc[metrics["task"] == task, "fold"].nunique() if len(metrics) else 0
    notes = [f"mean ± SD over {n_runs} run(s); n = training rows"] if n_runs else []
    if len(metrics) and "min_train_applied" in metrics:
        sel = metrics.loc[metrics["task"] == task, "min_train_applied"].astype(str).str.lower().eq("true")
        if sel.any():
            notes.append("circled: min_train lifted the fraction")
    if missing:
        notes.append("not in the metrics table: " + ", ".join(sorted(missing)))
    _note(fig, notes, y=-0.03 - 0.06 * rows)
    _banner(fig, demo_note(study, _max_train(metrics, [task]), demo_below))
    return _save(fig, out, dpi)


def _scale(options: dict[str, Any]) -> dict[str, Any]:
    """The scale options (study, demo_below) among a figure's keyword options."""
    return {k: options[k] for k in ("study", "demo_below") if k in options}


def fig2a_go_linear_probe(metrics: pd.DataFrame, out: str | os.PathLike[str], task: str = "go_mf_human", dpi: int = 200, **kw: Any) -> tuple[Path, Path]:
    """GO molecular function (multi-label): linear probe vs supervised, AUROC and AUPRC."""
    return _fraction_figure(
        metrics, out, task, [("auroc_macro", "a  AUROC"), ("auprc_macro", "b  AUPRC")],
        ["isoclr-linear", "supervised"], ["random-linear"], f"GO molecular function ({task}): linear probe vs supervised", dpi, **_scale(kw),
    )


def fig2b_halflife_linear_probe_mse(metrics: pd.DataFrame, out: str | os.PathLike[str], task: str = "halflife_human", dpi: int = 200, **kw: Any) -> tuple[Path, Path]:
    """RNA half-life: test MSE by data fraction, linear probe vs supervised (random probe as reference)."""
    return _fraction_figure(metrics, out, task, [("mse", "")], ["isoclr-linear", "supervised"], ["random-linear"], f"RNA half-life ({task}): MSE", dpi, **_scale(kw))


def fig2c_halflife_linear_probe_pearson(metrics: pd.DataFrame, out: str | os.PathLike[str], task: str = "halflife_human", dpi: int = 200, **kw: Any) -> tuple[Path, Path]:
    """RNA half-life: test Pearson r by data fraction."""
    return _fraction_figure(metrics, out, task, [("pearson", "")], ["isoclr-linear", "supervised"], ["random-linear"], f"RNA half-life ({task}): Pearson r", dpi, **_scale(kw))


def fig3_halflife_finetune(metrics: pd.DataFrame, out: str | os.PathLike[str], task: str = "halflife_human", dpi: int = 200, **kw: Any) -> tuple[Path, Path]:
    """RNA half-life: fine-tuned IsoCLR vs supervised vs Saluki, Pearson and MSE."""
    return _fraction_figure(
        metrics, out, task, [("pearson", "a  Pearson r"), ("mse", "b  MSE")],
        ["isoclr-finetune", "supervised", "saluki"], [], f"RNA half-life ({task}): fine-tuning", dpi, **_scale(kw),
    )


def fig_linear_probe_comparison(metrics: pd.DataFrame, out: str | os.PathLike[str], task: str = "halflife_human", fraction: float = 1.0, metric: str = "pearson", dpi: int = 200, study: str = "", demo_below: int = 0, **_: Any) -> tuple[Path, Path]:
    """Linear-probe Pearson r at fraction 1.0 for every encoder evaluated, with Saluki (the
    supervised reference) when evaluated (bars: mean ± SD)."""
    plt = _plt()
    s = summarise(metrics, task, metric)
    s = s.loc[np.isclose(s["fraction"].astype(float), fraction) & (s["model"].str.endswith("-linear") | (s["model"] == "saluki"))]
    s = s.sort_values("mean", ascending=False)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.2 * len(s) + 2), 4.2))
    if s.empty:
        ax.text(0.5, 0.5, f"no linear-probe {metric} results for {task} at fraction {fraction:g}", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
    else:
        styles = [_style(m, i) for i, m in enumerate(s["model"])]
        x = np.arange(len(s))
        ax.bar(x, s["mean"], yerr=s["std"], capsize=4, color=[st["color"] for st in styles], edgecolor="black", linewidth=0.8,
               hatch=None, error_kw={"elinewidth": 1.4, "ecolor": "#777777"})  # grey: visible on the black bar too
        # value labels beyond the end of the error bar (above it for a positive mean, below it for
        # a negative one), offset in points, so they never sit on the error bar or its caps
        for xi, (m, sd) in enumerate(zip(s["mean"], s["std"])):
            up = m >= 0
            end = max(m + sd, 0.0) if up else min(m - sd, 0.0)
            ax.annotate(f"{m:.2f}", (xi, end), xytext=(0, 4 if up else -4), textcoords="offset points",
                        ha="center", va="bottom" if up else "top", fontsize=9)
        lo = min(0.0, float((s["mean"] - s["std"]).min()))
        hi = max(0.0, float((s["mean"] + s["std"]).max()))
        pad = 0.15 * max(hi - lo, 1e-6)  # room for the labels inside the axes
        ax.set_ylim(lo - (pad if lo < 0 else 0), hi + pad)
        ax.set_xticks(x)
        ax.set_xticklabels([st["short"] for st in styles], rotation=20, ha="right")
        ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel(f"{METRIC_LABEL.get(metric, metric)}, linear probe")
    ax.set_title(f"Linear probes on {task} (fraction {fraction:g})", loc="left")
    fig.tight_layout()
    n_runs = int(s["n"].max()) if len(s) else 0
    _note(fig, [f"mean ± SD over {n_runs} run(s) (each its own homology-aware test fold)"] if n_runs else [])
    _banner(fig, demo_note(study, float(s["n_train"].max()) if len(s) else None, demo_below))
    return _save(fig, out, dpi)


# -- t-SNE --------------------------------------------------------------------------------------
def balanced_classes(y: npt.NDArray[np.integer], max_per_class: int = 500, seed: int = 0) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Rows and class of a balanced sample from a multi-label matrix (n, K) (module docstring)."""
    y = np.asarray(y).astype(bool)
    counts = y.sum(axis=0)
    order = np.argsort(counts, kind="stable")  # rarest first
    cls = np.full(len(y), -1, dtype=np.int64)
    for k in order[::-1]:  # rarest last, so it overwrites
        cls[y[:, k]] = k
    present = [k for k in range(y.shape[1]) if (cls == k).any()]
    if not present:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n = min(max_per_class, min(int((cls == k).sum()) for k in present))
    rng = np.random.default_rng([seed, 41])
    rows = np.concatenate([np.sort(rng.choice(np.flatnonzero(cls == k), n, replace=False)) for k in present])
    return rows, cls[rows]


def top_terms(y: npt.NDArray[np.integer], k: int) -> npt.NDArray[np.int64]:
    """Columns of ``k`` terms that between them cover the most genes (greedy: each next term
    the one with the most genes not yet covered; ties: the earlier column), in column order.
    Nested terms (a term and its near-synonym parent, common at shallow GO depths) would
    leave a class of a few genes after the rarest-term assignment; the greedy cover avoids it."""
    y = np.asarray(y).astype(bool)
    covered = np.zeros(len(y), dtype=bool)
    chosen: list[int] = []
    for _ in range(min(max(1, int(k)), y.shape[1])):
        gain = (y & ~covered[:, None]).sum(axis=0)
        gain[chosen] = -1
        best = int(np.argmax(gain))
        chosen.append(best)
        covered |= y[:, best]
    return np.sort(np.asarray(chosen, dtype=np.int64))


def fig4_tsne_go_cellular_component(
    metrics: pd.DataFrame | None, out: str | os.PathLike[str], embeddings: str | os.PathLike[str] | None = None,
    task_file: str | os.PathLike[str] | None = None, max_per_class: int = 500, seed: int = 0, dpi: int = 200,
    aspect: str = "cellular component", classes: int = 3, task: str | None = None, study: str = "",
    demo_below: int = 0, **_: Any,
) -> tuple[Path, Path]:
    """t-SNE of the encoder's ``h`` for one transcript per gene, coloured by ``classes`` of the
    task's GO terms (of the ``aspect`` the title names; :func:`top_terms`)."""
    import h5py
    from sklearn.manifold import TSNE

    from isoclr.tasks.file import TaskData

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 5.2))
    notes: list[str] = []
    n_genes: float | None = None
    try:
        if not embeddings or not task_file or not Path(embeddings).exists() or not Path(task_file).exists():
            raise FileNotFoundError(f"embeddings {embeddings} or task {task_file} missing")
        data = TaskData.load(task_file)
        n_genes = float(len(data))
        with h5py.File(embeddings, "r") as f:
            h = f["h"][:] if "h" in f else f["embeddings"][:]
        if len(h) != len(data):
            raise ValueError(f"{embeddings}: {len(h)} rows, task {task_file} has {len(data)}")
        if data.y.ndim != 2:
            raise ValueError(f"{task_file}: not a multi-label (GO) task")
        keep = top_terms(data.y, classes)
        names = [data.label_names[int(k)] for k in keep]
        rows, cls = balanced_classes(data.y[:, keep], max_per_class, seed)
        if len(rows) < 5:
            raise ValueError(f"only {len(rows)} genes after balancing")
        perplexity = float(min(30.0, max(2.0, (len(rows) - 1) / 3)))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(h[rows].astype(np.float64))
        markers = "osD^v"
        for k in np.unique(cls):
            m = cls == k
            ax.scatter(xy[m, 0], xy[m, 1], s=22, color=OKABE_ITO[int(k) % len(OKABE_ITO)], marker=markers[int(k) % 5],
                       label=f"{names[int(k)]} (n={int(m.sum())})", edgecolor="white", linewidth=0.3, alpha=0.9)
        ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1)
        notes.append(f"{len(rows)} genes, one transcript each, balanced classes; perplexity {perplexity:.0f}; a gene with several terms counts for its rarest term")
    except (FileNotFoundError, ValueError, KeyError) as exc:
        log.warning("t-SNE (%s): %s", aspect, exc)
        ax.text(0.5, 0.5, f"no t-SNE: {exc}", ha="center", va="center", transform=ax.transAxes, wrap=True, fontsize=9)
    ax.set_xlabel("t-SNE 1 (arbitrary units)")
    ax.set_ylabel("t-SNE 2 (arbitrary units)")
    ax.set_title(f"IsoCLR embeddings (h), GO {aspect}" + (f" ({task})" if task else ""), loc="left")
    fig.tight_layout()
    _note(fig, notes)
    _banner(fig, demo_note(study, n_genes, demo_below, what="genes"))
    return _save(fig, out, dpi)


def fig4_tsne_go_molecular_function(metrics: pd.DataFrame | None, out: str | os.PathLike[str], **kw: Any) -> tuple[Path, Path]:
    """t-SNE coloured by the task's GO molecular-function terms (:func:`top_terms`)."""
    return fig4_tsne_go_cellular_component(metrics, out, **{"aspect": "molecular function", **kw})


def fig4_tsne_go_biological_process(metrics: pd.DataFrame | None, out: str | os.PathLike[str], **kw: Any) -> tuple[Path, Path]:
    """t-SNE coloured by the task's GO biological-process terms (:func:`top_terms`)."""
    return fig4_tsne_go_cellular_component(metrics, out, **{"aspect": "biological process", **kw})


PRETRAIN_LABEL = {
    "step": "Optimiser step",
    "loss": "Contrastive loss (nats)",
    "mlm": "Masked-nucleotide cross-entropy (nats)",
    "lr": "Learning rate (AdamW)",
    "val_alignment": "Alignment E‖z₁ − z₂‖² (unitless)",
    "val_uniformity": "Uniformity log E e^(−2‖zᵢ − zⱼ‖²) (unitless)",
}


def fig_pretrain_curves(metrics_csv: str | os.PathLike[str], out: str | os.PathLike[str], dpi: int = 200, objective: str | None = None, study: str = "", **_: Any) -> tuple[Path, Path]:
    """Pre-training curves of one model from ``results/pretrain/{model}/metrics.csv``, three
    panels against the optimiser step: (a) training loss (every ``log_every`` steps) and
    validation loss (every ``val_every``), (b) validation alignment and uniformity of the
    normalised projections (Wang & Isola 2020), (c) the learning rate, and (d) when logged, the
    validation effective rank (a collapsing embedding falls towards 1). Other columns of the
    table (epoch, throughput, padding, elapsed time) are not drawn."""
    plt = _plt()
    p = Path(metrics_csv)
    df = pd.read_csv(p) if p.exists() and p.stat().st_size else pd.DataFrame(columns=["step"])
    for c in ("step", "loss", "val_loss", "lr", "val_alignment", "val_uniformity"):
        df[c] = pd.to_numeric(df[c], errors="coerce") if c in df.columns else np.nan
    model_name = p.parent.name
    resolved = p.parent / "config.yaml"  # the run's resolved config (pretrain.py), for the objective
    if objective is None and resolved.exists():  # a top-level `objective: NAME` line (no YAML parser in envs/figures.yaml)
        import re

        found = re.search(r"^objective:\s*['\"]?(\w+)", resolved.read_text(), re.MULTILINE)
        objective = found.group(1) if found else None
    mlm = objective == "mlm" if objective is not None else model_name.startswith("mlm")
    from isoclr.figures.diagnostics import effective_rank_panel

    # (d) the validation effective rank, for runs that logged it (isoclr.figures.diagnostics)
    has_rank = "val_effective_rank" in df.columns and pd.to_numeric(df["val_effective_rank"], errors="coerce").notna().any()
    fig, axes = plt.subplots(1, 4 if has_rank else 3, figsize=(20.0 if has_rank else 15.0, 4.2))
    if has_rank:
        effective_rank_panel(axes[3], df)
    tr, va = df.dropna(subset=["step", "loss"]), df.dropna(subset=["step", "val_loss"])
    ax = axes[0]
    ax.plot(tr["step"], tr["loss"], color=OKABE_ITO[0], lw=1.6, label="training")
    ax.plot(va["step"], va["val_loss"], color=OKABE_ITO[3], lw=1.6, ls="--", marker="o", ms=5, label="validation")
    ax.set_ylabel(PRETRAIN_LABEL["mlm" if mlm else "loss"])
    ax.set_title("a  Loss", loc="left")
    if len(tr) or len(va):
        ax.legend(frameon=False)
    ax = axes[1]
    au = df.dropna(subset=["step", "val_alignment"])
    ax.plot(au["step"], au["val_alignment"], color=OKABE_ITO[2], marker="s", ms=5, lw=1.6, label="alignment, left axis (lower: views of a set closer)")
    ax.set_ylabel(PRETRAIN_LABEL["val_alignment"])
    ax2 = ax.twinx()
    ax2.spines["right"].set_visible(True)
    un = df.dropna(subset=["step", "val_uniformity"])
    ax2.plot(un["step"], un["val_uniformity"], color=OKABE_ITO[4], marker="^", ms=5, lw=1.6, ls=":", label="uniformity, right axis (lower: spread more evenly)")
    ax2.set_ylabel(PRETRAIN_LABEL["val_uniformity"])
    ax.set_title("b  Validation alignment and uniformity", loc="left")
    if len(au) or len(un):
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=9)
    ax = axes[2]
    lr = df.dropna(subset=["step", "lr"])
    ax.plot(lr["step"], lr["lr"], color=OKABE_ITO[1], lw=1.6)
    ax.set_ylabel(PRETRAIN_LABEL["lr"])
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.set_title("c  Learning rate", loc="left")
    for a in axes:
        a.set_xlabel(PRETRAIN_LABEL["step"])
        a.grid(True, alpha=0.3)
    if df.dropna(subset=["step"]).empty:
        axes[0].text(0.5, 0.5, f"no curves in {p}", ha="center", va="center", transform=axes[0].transAxes)
    fig.suptitle(f"Pre-training of {model_name}" + (f" ({objective})" if objective else ""), fontsize=12)
    fig.tight_layout(w_pad=3.0)  # room between panel b's right axis label and panel c
    _banner(fig, demo_note(study))
    return _save(fig, out, dpi)


def fig_mrl_linear_probe_comparison(metrics: pd.DataFrame, out: str | os.PathLike[str], task: str = "mrl_human", dpi: int = 200, **kw: Any) -> tuple[Path, Path]:
    """Mean ribosome load: linear-probe Pearson r of every encoder and Saluki (the blog's figure)."""
    return fig_linear_probe_comparison(metrics, out, task=task, dpi=dpi, **kw)


def fig_halflife_mouse(metrics: pd.DataFrame, out: str | os.PathLike[str], task: str = "halflife_mouse", dpi: int = 200, **kw: Any) -> tuple[Path, Path]:
    """Mouse half-life: Pearson r and MSE by data fraction, linear probe, fine-tuning, supervised, Saluki."""
    return _fraction_figure(
        metrics, out, task, [("pearson", "a  Pearson r"), ("mse", "b  MSE")],
        ["isoclr-linear", "isoclr-finetune", "supervised", "saluki"], ["random-linear"], f"Mouse RNA half-life ({task})", dpi, **_scale(kw),
    )


#: fig_model_sizes: contrastive encoders in size order (not the reference lines' colours); MLM: #CC79A7
SIZE_COLOURS = ("#0072B2", "#009E73", "#D55E00", "#000000", "#F0E442")


def _params_label(n: float) -> str:
    return f"{n / 1e6:.2g} M" if n >= 1e5 else f"{n / 1e3:.3g} k"


def fig_model_sizes(
    metrics: pd.DataFrame, out: str | os.PathLike[str], tasks: Sequence[str] = ("halflife_human", "mrl_human"),
    encoders: dict[str, dict[str, Any]] | None = None, fraction: float = 1.0, metric: str = "pearson",
    dpi: int = 200, study: str = "", demo_below: int = 0, **_: Any,
) -> tuple[Path, Path]:
    """Linear-probe Pearson r vs encoder parameters, one panel per task (half-life, MRL): one
    point per pre-trained model (mean ± SD over runs; contrastive models joined by a line in
    size order, MLM models open markers), random encoder / naive / Saluki as reference lines."""
    plt = _plt()
    encoders = dict(encoders or {})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.4 * len(tasks), 4.4), squeeze=False)
    shown: set[str] = set()
    n_runs = 0
    n_max: list[float] = []
    order = sorted(encoders, key=lambda m: (encoders[m]["parameters"], m))
    for ax, task, letter in zip(axes[0], tasks, "abcdefgh"):
        s = summarise(metrics, task, metric)
        s = s.loc[np.isclose(s["fraction"].astype(float), fraction)]
        n_max += [float(v) for v in s["n_train"] if np.isfinite(v)]
        drawn = []
        xs = sorted({float(encoders[m]["parameters"]) for m in order})
        for model in order:
            d = s.loc[s["model"] == model]
            if d.empty:
                continue
            shown.add(model)
            e = encoders[model]
            same = [m for m in order if encoders[m]["parameters"] == e["parameters"]]
            dodge = 1.04 ** (same.index(model) - (len(same) - 1) / 2)  # equal sizes side by side
            mlm = e.get("objective") == "mlm"
            color = "#CC79A7" if mlm else SIZE_COLOURS[[m for m in order if encoders[m].get("objective") != "mlm"].index(model) % len(SIZE_COLOURS)]
            ax.errorbar([e["parameters"] * dodge], d["mean"], yerr=d["std"], color=color, marker="D" if mlm else "o",
                        ms=8, capsize=4, lw=0, elinewidth=1.6, mfc="white" if mlm else color, mew=1.6,
                        label=f"{e['model']} ({e['size']}, {e.get('objective', 'dcl').upper()}, {_params_label(e['parameters'])})")
            n_runs = max(n_runs, int(d["n"].max()))
            if not mlm:
                drawn.append((e["parameters"] * dodge, float(d["mean"].iloc[0])))
        if len(drawn) > 1:
            px, py = zip(*sorted(drawn))
            ax.plot(px, py, color=OKABE_ITO[0], lw=1.2, alpha=0.6, zorder=1)
        for j, ref in enumerate(("random-linear", "naive-linear", "saluki")):
            d = s.loc[s["model"] == ref]
            if d.empty:
                continue
            st = _style(ref, j)
            m, sd = float(d["mean"].iloc[0]), float(d["std"].iloc[0])
            ax.axhline(m, color=st["color"], ls=st["ls"] if st["ls"] != "-" else "--", lw=1.4,
                       label=f"{st['short']} (reference, r = {m:.2f})")
            ax.axhspan(m - sd, m + sd, color=st["color"], alpha=0.08, lw=0)
            n_runs = max(n_runs, int(d["n"].max()))
        ax.set_xscale("log")
        if xs:
            ax.set_xlim(min(xs) / 2.5, max(xs) * 2.5)
            ax.set_xticks(xs)
            ax.set_xticklabels([_params_label(x) for x in xs])
            ax.minorticks_off()
        ax.set_xlabel("Encoder parameters (log scale)")
        ax.set_ylabel(f"{METRIC_LABEL.get(metric, metric)}, linear probe")
        ax.set_title(f"{letter}  {task} (fraction {fraction:g})", loc="left")
        ax.grid(True, alpha=0.3)
        if s.loc[s["model"].isin(order + ["random-linear", "naive-linear", "saluki"])].empty:
            ax.text(0.5, 0.5, f"no linear-probe {metric} results for {task}", ha="center", va="center",
                    transform=ax.transAxes, fontsize=10)
    fig.suptitle("Linear probe vs encoder size", fontsize=12)
    fig.tight_layout()
    handles: dict[str, Any] = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab.split(" (reference")[0] if "reference" in lab else lab, h)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(2, len(handles)), frameon=False)
    rows = -(-len(handles) // 2) if handles else 0
    notes = [f"mean ± SD over {n_runs} run(s); parameters of the encoder f (projector excluded), from its architecture"] if n_runs else []
    if not encoders:
        notes.append("no pre-trained model is probed on these tasks")
    elif set(order) - shown:
        notes.append("not in the metrics table: " + ", ".join(sorted(set(order) - shown)))
    _note(fig, notes, y=-0.03 - 0.06 * rows)
    _banner(fig, demo_note(study, max(n_max) if n_max else None, demo_below))
    return _save(fig, out, dpi)


DRAW: dict[str, Callable[..., tuple[Path, Path]]] = {
    "fig2a_go_linear_probe": fig2a_go_linear_probe,
    "fig2b_halflife_linear_probe_mse": fig2b_halflife_linear_probe_mse,
    "fig2c_halflife_linear_probe_pearson": fig2c_halflife_linear_probe_pearson,
    "fig3_halflife_finetune": fig3_halflife_finetune,
    "fig4_tsne_go_cellular_component": fig4_tsne_go_cellular_component,
    "fig4_tsne_go_molecular_function": fig4_tsne_go_molecular_function,
    "fig4_tsne_go_biological_process": fig4_tsne_go_biological_process,
    "fig_linear_probe_comparison": fig_linear_probe_comparison,
    "fig_mrl_linear_probe_comparison": fig_mrl_linear_probe_comparison,
    "fig_halflife_mouse": fig_halflife_mouse,
    "fig_model_sizes": fig_model_sizes,
}


def draw(name: str, out: str | os.PathLike[str], metrics: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | pd.DataFrame | None = None, **options: Any) -> tuple[Path, Path]:
    """Draw figure ``name`` to ``out`` (.pdf) and its .png."""
    if name == "fig_pretrain_curves":
        return fig_pretrain_curves(options.pop("pretrain_metrics"), out, **options)
    if name not in DRAW:
        raise ValueError(f"unknown figure {name!r}; one of {sorted(DRAW) + ['fig_pretrain_curves']}")
    table = metrics if isinstance(metrics, pd.DataFrame) else read_metrics(metrics) if metrics is not None else pd.DataFrame(columns=METRICS_COLUMNS)
    return DRAW[name](table, out, **{k: v for k, v in options.items() if v is not None})


def figure_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "figures",
               wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The pipeline's ``figure_*`` rules (plain values from ``workflow/scripts/figures.py``):
    ``params.settings`` is :class:`isoclr.config.settings.FigureSettings`."""
    from isoclr.config.settings.figures import FigureSettings
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "draw one figure (PDF and PNG)",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    s = FigureSettings.from_mapping(params.settings, "the rule's params")
    draw(s.name, outputs.pdf, inputs.get("metrics"), embeddings=inputs.get("embeddings"),
         task_file=inputs.get("task_file"), pretrain_metrics=inputs.get("pretrain_metrics"), **s.options())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--figure", required=True, choices=sorted(DRAW) + ["fig_pretrain_curves"])
    parser.add_argument("--out", required=True, help="PDF path; the PNG is written beside it")
    parser.add_argument("--metrics", help="results/metrics/metrics.tsv")
    parser.add_argument("--task", help="task of the figure (default: the figure's own)")
    parser.add_argument("--embeddings", help="t-SNE figures: results/embeddings/isoclr/go_cc_human.h5")
    parser.add_argument("--task-file", help="t-SNE figures: results/tasks/go_cc_human.h5")
    parser.add_argument("--pretrain-metrics", help="fig_pretrain_curves: results/pretrain/MODEL/metrics.csv")
    parser.add_argument("--max-per-class", type=int, help="t-SNE: genes per class at most (default 500)")
    parser.add_argument("--seed", type=int, help="t-SNE seed (default 0)")
    parser.add_argument("--dpi", type=int, help="PNG resolution (default 200)")
    parser.add_argument("--config", help="pipeline config: the figure's settings (tasks, the size figure's "
                        "encoders, study) as the workflow gives them; options given here win")
    parser.add_argument("--study", help="the study drawn (demo: the figure says it is demo-sized)")
    parser.add_argument("--demo-below", type=int, help="training rows below which the figure says it is demo-sized")


def run(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {}
    if args.config:
        from isoclr.config.load import config_option
        from isoclr.config.settings.figures import FigureSettings

        config = config_option(args.config)
        options = FigureSettings.from_config(config, args.figure if args.figure in DRAW else "pretrain_curves_x").options()
    given = {"task": args.task, "embeddings": args.embeddings, "task_file": args.task_file,
             "pretrain_metrics": args.pretrain_metrics, "max_per_class": args.max_per_class, "seed": args.seed,
             "dpi": args.dpi, "study": args.study, "demo_below": args.demo_below}
    options.update({k: v for k, v in given.items() if v is not None})
    draw(args.figure, args.out, args.metrics, **options)
    return 0
