"""One figure per attributed transcript (:mod:`isoclr.attribute.methods`).

Top: one panel per method, the per-nucleotide contribution along the mRNA (bars: up raises the
prediction, down lowers it), with the 5'UTR, CDS and 3'UTR shaded and the strongest window
outlined. Bottom: a sequence logo of that window (logomaker), each letter the transcript's base
scaled by its contribution (below the axis when it lowers the prediction). The strongest window
is the ``window`` positions with the largest summed absolute contribution of the first method.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.figures.draw import OKABE_ITO, _plt, _save

REGION_COLOURS = {"5utr": "#E69F00", "cds": "#56B4E9", "3utr": "#009E73"}
REGION_LABELS = {"5utr": "5'UTR", "cds": "CDS", "3utr": "3'UTR"}
METHOD_LABELS = {"ism": "in-silico mutagenesis", "ig": "integrated gradients", "gxi": "gradient x input"}
LOGO_COLOURS = {"A": "#009E73", "C": "#0072B2", "G": "#E69F00", "T": "#D55E00"}


def strongest_window(score: npt.NDArray[np.floating], window: int) -> int:
    """Start of the ``window`` positions with the largest summed ``|score|``."""
    w = min(window, len(score))
    csum = np.concatenate([[0.0], np.cumsum(np.abs(score))])
    return int(np.argmax(csum[w:] - csum[:-w]))


def _spans(region: npt.NDArray[np.object_]) -> list[tuple[str, int, int]]:
    """Runs of equal region labels: (label, start, end)."""
    if not len(region):
        return []
    change = np.flatnonzero(region[1:] != region[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(region)]])
    return [(str(region[s]), int(s), int(e)) for s, e in zip(starts, ends)]


def draw_attribution(att: Any, transcript_id: str, out: str | os.PathLike[str], window: int = 20,
                     methods: list[str] | None = None) -> tuple[Path, Path]:
    """Draw ``transcript_id`` of an :class:`isoclr.attribute.methods.Attributions`; writes
    ``out`` (PDF) and the PNG beside it."""
    import logomaker

    plt = _plt()
    t = att.of(transcript_id)
    if t.empty:
        raise ValueError(f"{transcript_id}: not in the attributions")
    methods = methods or [m for m in str(att.attrs.get("methods", "")).split(",") if m in t.columns]
    info = att.transcripts.set_index("transcript_id").loc[transcript_id] if len(att.transcripts) else None
    pos = t["position"].to_numpy()
    region = t["region"].to_numpy(dtype=object)
    first = t[methods[0]].to_numpy(dtype=float)
    w0 = strongest_window(first, window)
    w1 = min(w0 + window, len(first))
    x = pos + 1  # 1-based positions on every axis, as the titles give them
    fig = plt.figure(figsize=(10, 1.9 * len(methods) + 2.7))
    grid = fig.add_gridspec(len(methods) + 2, 1, height_ratios=[0.22] + [1.0] * len(methods) + [1.2], hspace=0.85)
    top = fig.add_subplot(grid[0])  # the transcript's regions as a bar
    for name, a, b in _spans(region):
        top.axvspan(a + 0.5, b + 0.5, color=REGION_COLOURS.get(name, "#BBBBBB"), alpha=0.6, lw=0)
        if b - a >= 0.04 * len(pos):  # a label only where it fits
            top.text((a + b) / 2 + 0.5, 0.5, REGION_LABELS.get(name, name), ha="center", va="center", fontsize=9)
    top.set_xlim(0.5, len(pos) + 0.5)
    top.set_axis_off()
    for k, m in enumerate(methods):
        ax = fig.add_subplot(grid[k + 1], sharex=top)
        s = t[m].to_numpy(dtype=float)
        for name, a, b in _spans(region):
            if name in REGION_COLOURS:
                ax.axvspan(a + 0.5, b + 0.5, color=REGION_COLOURS[name], alpha=0.15, lw=0)
        ax.bar(x, np.where(s > 0, s, 0), width=1.0, color=OKABE_ITO[0], lw=0)
        ax.bar(x, np.where(s < 0, s, 0), width=1.0, color=OKABE_ITO[3], lw=0)
        ax.axhline(0, color="black", lw=0.5)
        ax.axvspan(w0 + 0.5, w1 + 0.5, fill=False, ec="black", lw=1.0, ls="--")
        ax.set_ylabel("contribution", fontsize=9)
        ax.set_title(METHOD_LABELS.get(m, m), loc="left", fontsize=10)
        ax.tick_params(labelbottom=True)
        if k == len(methods) - 1:
            ax.set_xlabel("position in the mature transcript (nt, 5' to 3')")
    ax = fig.add_subplot(grid[len(methods) + 1])
    nuc = t["nucleotide"].to_numpy(dtype=str)[w0:w1]
    mat = pd.DataFrame(0.0, index=np.arange(w0 + 1, w1 + 1), columns=list("ACGT"))
    for i, (b, v) in enumerate(zip(nuc, first[w0:w1])):
        if b in mat.columns:
            mat.iloc[i, mat.columns.get_loc(b)] = v
    logomaker.Logo(mat, ax=ax, color_scheme=LOGO_COLOURS, flip_below=False)
    ax.axhline(0, color="black", lw=0.5)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    regs = sorted({REGION_LABELS.get(r, r) for r in region[w0:w1]})
    ax.set_title(f"strongest {w1 - w0}-nt window, positions {w0 + 1}-{w1} ({', '.join(regs)}), "
                 f"{METHOD_LABELS.get(methods[0], methods[0])}", loc="left", fontsize=10)
    ax.set_ylabel("contribution", fontsize=9)
    ax.set_xlabel("position (nt)")
    pred = f", prediction {float(info['prediction']):.3g}" if info is not None and "prediction" in info else ""
    task = att.attrs.get("task", "")
    output = att.attrs.get("output", "")
    fig.suptitle(f"{transcript_id}: {task} ({output}){pred}", x=0.01, y=0.93, ha="left", fontsize=11)
    return _save(fig, out, dpi=150)
