"""Padding cost of bucketed group widths (what ``torch.compile`` runs pad to), on real lengths.

Usage (repository root)::

    python benchmarks/bench_buckets.py --lengths benchmarks/data/lengths.tsv --out benchmarks/results/buckets

For every source of the length table (``demo``: the demo stores' training sets; ``cpat``: 4,000
human RefSeq mRNAs grouped by gene) one epoch of the project's :class:`SetBatchSampler` (length
bucketed, two views per set) is padded as ``length_groups`` groups, each group's width rounded
by a scheme: ``exact`` (no rounding, the eager default), ``x32`` (multiple of 32),
``octave/N`` (:func:`isoclr.pretrain.loader.bucket_widths` with N steps per octave) or ``x512``
(multiples of 512). Reported: the padding share of the padded tensors, the extra positions
over ``exact``, and how many distinct widths and (rows, width) shapes the epoch holds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from isoclr.pretrain import loader as L

SCHEMES = ["exact", "x32", "octave/8", "octave/4", "octave/2", "octave/1", "x512"]


def round_width(width: int, scheme: str) -> int:
    if scheme == "exact":
        return width
    if scheme == "x32":
        return int(L.bucket_widths(width, 0))
    if scheme == "x512":
        return int(-(-width // 512) * 512)
    return int(L.bucket_widths(width, int(scheme.split("/")[1])))


def measure(table: pd.DataFrame, batch: int, groups: int, seed: int = 0) -> list[dict[str, object]]:
    table = table.sort_values("set", kind="stable")
    sizes = table.groupby("set").size().to_numpy()
    offset = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    lengths = table["length"].to_numpy(np.int64)
    sampler = L.SetBatchSampler(np.arange(len(sizes)), offset, lengths, batch_size=batch, seed=seed)
    rows = []
    for scheme in SCHEMES:
        real = area = 0
        widths, shapes = set(), set()
        for spec in sampler.epoch_batches(0):
            lens = lengths[np.concatenate([spec.view1, spec.view2])]
            real += int(lens.sum())
            for g in L.length_groups(lens, groups):
                w = round_width(int(lens[g].max()), scheme)
                area += len(g) * w
                widths.add(w)
                shapes.add((len(g), w))
        rows.append({"batch": batch, "length_groups": groups, "scheme": scheme,
                     "padding_share": round(1 - real / area, 4), "area_over_real": round(area / real, 4),
                     "distinct_widths": len(widths), "distinct_shapes": len(shapes),
                     "batches": len(sampler.epoch_batches(0))})
    exact = rows[0]["area_over_real"]
    for r in rows:
        r["extra_over_exact"] = round(float(r["area_over_real"]) / float(exact) - 1, 4)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", default="benchmarks/data/lengths.tsv")
    p.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    p.add_argument("--groups", type=int, nargs="+", default=[1, 4])
    p.add_argument("--out", default="benchmarks/results/buckets")
    a = p.parse_args()
    table = pd.read_csv(a.lengths, sep="\t")
    rows = []
    for src, t in table.groupby("source"):
        for b in a.batches:
            if t["set"].nunique() < b:
                continue
            for g in a.groups:
                rows += [{"source": src, **r} for r in measure(t, b, g)]
    df = pd.DataFrame(rows)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.with_suffix(".tsv"), sep="\t", index=False)
    md = ["# Padding cost of bucketed widths", "",
          f"Command: `python benchmarks/bench_buckets.py --lengths {a.lengths} --out {a.out}`", "",
          "One epoch of the project's sampler (seed 0); `padding_share` = share of the padded "
          "tensors that is padding; `extra_over_exact` = positions computed beyond the exact "
          "(unrounded) groups.", "", df.to_markdown(index=False), ""]
    out.with_suffix(".md").write_text("\n".join(md))
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
