"""The diagnostics figure of the frozen encoders (tables of :mod:`isoclr.diagnostics.run`) and the
effective-rank panel of the pre-training curves.

``fig_diagnostics``: one panel per measure (effective rank, alignment, uniformity, ortholog
retrieval top-1 and top-10), one bar per encoder; the references (the random encoder and the
k-mer profiles) are drawn grey and hatched, with a dashed line at their value, and the top-1
panel marks chance (``1 / candidates``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from isoclr.diagnostics.measures import COLUMNS
from isoclr.figures.draw import OKABE_ITO, _banner, _plt, _save, demo_note

#: the references every encoder is compared with, and how they are named in the figure
REFERENCES = {"random": "random encoder", "naive": "k-mer profile"}
PANELS = (
    ("effective_rank", "a  Effective rank", "exp(entropy of singular values)\n(higher: more directions used)"),
    ("alignment", "b  Alignment", "E‖z₁ − z₂‖², held-out pairs\n(lower: a set's transcripts closer)"),
    ("uniformity", "c  Uniformity", "log E e^(−2‖zᵢ − zⱼ‖²)\n(lower: spread more evenly)"),
    ("retrieval_top1", "d  Ortholog retrieval, top-1", "share of human transcripts whose\nmouse ortholog ranks first"),
    ("retrieval_top10", "e  Ortholog retrieval, top-10", "share ranked in the first 10"),
)


def _label(model: str) -> str:
    return REFERENCES.get(model, model.removeprefix("pretrained-"))


def read_tables(paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Diagnostics tables (``model metric value n``) concatenated."""
    parts = []
    for p in paths:
        t = pd.read_csv(p, sep="\t")
        missing = [c for c in COLUMNS if c not in t.columns]
        if missing:
            raise ValueError(f"{p}: not a diagnostics table, missing column(s) {missing}")
        parts.append(t[COLUMNS])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


def fig_diagnostics(tables: pd.DataFrame | Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                    dpi: int = 200, study: str = "", **_: Any) -> tuple[Path, Path]:
    """The figure from the per-encoder diagnostics tables (``results/diagnostics/{encoder}.tsv``)."""
    df = tables if isinstance(tables, pd.DataFrame) else read_tables(list(tables))
    wide = df.pivot_table(index="model", columns="metric", values="value", aggfunc="first")
    models = [m for m in wide.index if m not in REFERENCES] + [m for m in REFERENCES if m in wide.index]
    wide = wide.reindex(models)
    panels = [p for p in PANELS if p[0] in wide.columns and wide[p[0]].notna().any()]
    plt = _plt()
    width = max(3.2, 0.42 * len(models) + 1.0)  # room for each encoder's bar and label
    many = len(models) > 6  # value labels turned upright so they do not overlap
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(width * max(len(panels), 1) + 0.6, 4.6), squeeze=False)
    axes = axes[0]
    colours = {m: OKABE_ITO[i % 6] for i, m in enumerate(m for m in models if m not in REFERENCES)}
    x = np.arange(len(models))
    for ax, (metric, title, ylabel) in zip(axes, panels):
        vals = wide[metric].to_numpy(dtype=float)
        for i, m in enumerate(models):
            ref = m in REFERENCES
            ax.bar(i, vals[i] if np.isfinite(vals[i]) else 0.0, color="#BBBBBB" if ref else colours[m],
                   hatch="//" if ref else None, edgecolor="#555555" if ref else "none", width=0.7)
            if np.isfinite(vals[i]):  # the value beyond the bar's end (uniformity bars grow down from 0)
                ax.annotate((f"{vals[i]:.0f}" if abs(vals[i]) >= 100 else f"{vals[i]:.2g}") if many else f"{vals[i]:.3g}", (i, vals[i]),
                            xytext=(0, 2 if vals[i] >= 0 else -2), textcoords="offset points", ha="center",
                            va="bottom" if vals[i] >= 0 else "top", fontsize=7 if many else 8,
                            rotation=90 if many else 0)
            if ref and np.isfinite(vals[i]):
                ax.axhline(vals[i], color="#555555", ls="--" if m == "random" else ":", lw=1, zorder=0)
        if metric == "retrieval_top1" and "retrieval_chance_top1" in wide.columns:
            chance = float(np.nanmax(wide["retrieval_chance_top1"].to_numpy(dtype=float)))
            ax.axhline(chance, color=OKABE_ITO[3], lw=1.2, label=f"chance ({chance:.3f})")
            ax.legend(frameon=False, fontsize=8, loc="upper right")
        if metric.startswith("retrieval_top"):
            ax.set_ylim(0, 1.08)
        elif metric == "effective_rank" and np.nanmin(vals) > 0 and np.nanmax(vals) > 20 * np.nanmin(vals):
            ax.set_yscale("log")  # encoders (tens) beside the k-mer profile (hundreds)
            ax.set_ylim(top=np.nanmax(vals) * 4)
        else:
            ax.margins(y=0.22 if many else 0.12)
        ax.set_xticks(x)
        ax.set_xticklabels([_label(m) for m in models], rotation=40, ha="right")
        ax.set_title(title, loc="left")
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", alpha=0.3)
    if not panels:
        axes[0].text(0.5, 0.5, "no diagnostics", ha="center", va="center", transform=axes[0].transAxes)
    n = int(df.loc[df["metric"] == "effective_rank", "n"].max()) if (df["metric"] == "effective_rank").any() else 0
    fig.suptitle(f"Frozen encoders on held-out transcripts ({n} for the effective rank); references hatched", fontsize=12)
    fig.tight_layout()
    _banner(fig, demo_note(study))
    return _save(fig, out, dpi)


def effective_rank_panel(ax: Any, curves: pd.DataFrame) -> bool:
    """Pre-training curves' panel: validation effective rank against the step (``metrics.csv``
    column ``val_effective_rank``). False (nothing drawn) for a table without it."""
    if "val_effective_rank" not in curves.columns:
        return False
    d = curves.assign(val_effective_rank=pd.to_numeric(curves["val_effective_rank"], errors="coerce"))
    d = d.dropna(subset=["step", "val_effective_rank"])
    ax.plot(d["step"], d["val_effective_rank"], color=OKABE_ITO[5], marker="o", ms=5, lw=1.6)
    ax.set_ylabel("Effective rank (falls towards 1 on collapse)")
    ax.set_title("d  Validation effective rank", loc="left")
    ax.set_ylim(bottom=0)
    return True


def figure_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "diagnostics_figure",
               wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The ``diagnostics_figure`` rule: every encoder's table in, the PDF (and PNG) out."""
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "draw the frozen-encoder diagnostics figure (PDF and PNG)", params=params)
    fig_diagnostics(list(inputs), outputs.pdf, study=str(params.study))
