"""Attribution aggregated over 3'UTR k-mers, and where known elements fall.

A window's score is the mean attribution of its k positions; every k-window inside a 3'UTR
counts (windows never cross from one transcript into the next). :func:`kmer_table` ranks every
k-mer by its windows' mean score (negative = the sequence lowers the prediction, e.g. a shorter
half-life); :func:`element_table` reads the two best-known destabilising 3'UTR elements of
mRNA half-life against the other windows: the AU-rich element core ``ATTTA`` (Shaw & Kamen
1986) and the Pumilio binding element ``TGTAHATA`` (Wang et al. 2002), both as DNA. AUROC < 0.5:
the element's windows score lower than the others; ``auroc_vs_same_gc`` compares only with
windows of the element windows' G/C count, so that A/U-richness alone does not count.
Vectorised over all positions (no loop over windows).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

#: name -> (k, regular expression over A/C/G/T)
ELEMENTS: dict[str, tuple[int, str]] = {
    "ATTTA (AU-rich element)": (5, "ATTTA"),
    "TGTAHATA (Pumilio)": (8, "TGTA[ACT]ATA"),
}
_BASES = "ACGT"
_CODE = np.full(256, 4, dtype=np.int64)
for _i, _b in enumerate(_BASES):
    _CODE[ord(_b)] = _i
    _CODE[ord(_b.lower())] = _i
#: windows a k-mer needs before :func:`kmer_table` ranks it
MIN_WINDOWS = 20


def utr3_windows(table: pd.DataFrame, method: str, k: int) -> pd.DataFrame:
    """Every k-window inside a 3'UTR of an attributions table: ``transcript_id``, ``start``
    (0-based transcript position), ``kmer`` and ``mean`` (the window's mean attribution);
    windows with a base other than A/C/G/T are left out."""
    utr = table[table["region"] == "3utr"]
    cols = ["transcript_id", "start", "kmer", "mean"]
    if len(utr) < k:
        return pd.DataFrame(columns=cols)
    tid = utr["transcript_id"].to_numpy()
    pos = utr["position"].to_numpy(dtype=np.int64)
    score = utr[method].to_numpy(dtype=np.float64)
    base = _CODE[np.frombuffer("".join(utr["nucleotide"].astype(str)).encode("ascii"), dtype=np.uint8)]
    # a window starting at i is whole when its last position is k-1 further in the same transcript
    group = np.concatenate([[0], np.cumsum(tid[1:] != tid[:-1])])
    start = np.arange(len(utr) - k + 1)
    end = start + k - 1
    whole = (group[start] == group[end]) & (pos[end] - pos[start] == k - 1)
    win = np.lib.stride_tricks.sliding_window_view(base, k)
    clean = (win < 4).all(axis=1)
    ok = whole & clean
    csum = np.concatenate([[0.0], np.cumsum(score)])
    means = (csum[start + k] - csum[start]) / k
    ids = (win[ok] * (4 ** np.arange(k - 1, -1, -1))).sum(axis=1)
    uniq, inverse = np.unique(ids, return_inverse=True)
    names = np.array(["".join(_BASES[(u // 4 ** j) % 4] for j in range(k - 1, -1, -1)) for u in uniq], dtype=object)
    return pd.DataFrame({"transcript_id": tid[start[ok]], "start": pos[start[ok]], "kmer": names[inverse],
                         "mean": means[ok]})


def kmer_table(table: pd.DataFrame, methods: Sequence[str], k: int = 5, min_windows: int = MIN_WINDOWS
               ) -> pd.DataFrame:
    """Per method and k-mer with at least ``min_windows`` 3'UTR windows: ``windows``, ``mean``
    score and ``rank`` (1 = the most negative k-mer)."""
    out = []
    for m in methods:
        per = utr3_windows(table, m, k).groupby("kmer")["mean"].agg(["mean", "size"])
        per = per[per["size"] >= min_windows].rename(columns={"size": "windows"})
        per["rank"] = per["mean"].rank(method="min").astype(int)
        out.append(per.reset_index().assign(method=m)[["method", "kmer", "windows", "mean", "rank"]])
    cols = ["method", "kmer", "windows", "mean", "rank"]
    return pd.concat(out, ignore_index=True).sort_values(["method", "rank"]) if out else pd.DataFrame(columns=cols)


def _auroc(hit: npt.NDArray[np.bool_], score: npt.NDArray[np.float64]) -> float:
    if not 0 < hit.sum() < len(hit):
        return float("nan")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(hit, score))


def element_table(table: pd.DataFrame, methods: Sequence[str], elements: dict[str, tuple[int, str]] | None = None
                  ) -> pd.DataFrame:
    """Per method and element: its 3'UTR windows against every other window of its length
    (counts, mean scores, AUROCs), and its rank among the k-mers of its length (overall and
    among k-mers of the same G/C count), with the eight most negative k-mers."""
    rows = []
    for m in methods:
        utr_mean = float(table.loc[table["region"] == "3utr", m].mean()) if len(table) else float("nan")
        for name, (k, pattern) in (elements or ELEMENTS).items():
            win = utr3_windows(table, m, k)
            hit = win["kmer"].str.fullmatch(pattern).to_numpy(dtype=bool)
            score = win["mean"].to_numpy(dtype=np.float64)
            gc = win["kmer"].str.count("[GC]").to_numpy()
            same = np.isin(gc, np.unique(gc[hit]))
            by = win.groupby("kmer")["mean"].agg(["mean", "size"])
            by = by[by["size"] >= MIN_WINDOWS]
            rank = by["mean"].rank(method="min")
            matched = [km for km in by.index if re.fullmatch(pattern, km)]
            same_gc = by[by.index.str.count("[GC]").isin(np.unique(gc[hit]))] if hit.any() else by.iloc[:0]
            rows.append({
                "method": m, "element": name, "k": k, "windows": int(hit.sum()), "all_windows": len(win),
                "mean_element": float(score[hit].mean()) if hit.any() else float("nan"),
                "mean_other": float(score[~hit].mean()) if (~hit).any() else float("nan"),
                "mean_3utr_position": utr_mean,
                "auroc_element_vs_other": _auroc(hit, score),
                "auroc_vs_same_gc": _auroc(hit[same], score[same]),
                "element_kmers_ranked": len(matched),
                "best_rank": int(rank[matched].min()) if matched else -1,
                "kmers_ranked": len(by),
                "best_rank_same_gc": int(same_gc["mean"].rank(method="min")[matched].min()) if matched and len(same_gc) else -1,
                "kmers_same_gc": len(same_gc),
                "most_negative_kmers": ", ".join(by["mean"].nsmallest(8).index),
            })
    return pd.DataFrame(rows)
