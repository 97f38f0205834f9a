"""Run the learning check (tests/test_learning.py) over several seeds, offline.

Each seed changes both the simulated transcriptome and the pre-training run; each seed runs
exactly what the CI test runs for its one seed (same SIM, TRAIN and thread count). Writes a per-seed
table of probe Pearson r (pre-trained vs random encoder) to ``--out`` (``.md`` + ``.tsv``)::

    python benchmarks/learning_check_seeds.py --seeds 0 1 2 3 4 --out benchmarks/results/learning_check

``--sim``/``--train`` take JSON overrides of the test's SIM / TRAIN settings (for exploring);
the committed results use the test's own settings (no overrides).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def one(args: tuple[int, dict, dict, int]) -> dict:
    seed, sim, train, threads = args
    os.environ.setdefault("TQDM_DISABLE", "1")
    import test_learning as tl
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"lcheck{seed}_") as tmp:
        r_trained, r_random = tl.run_check(Path(tmp), seed, sim, {"threads": threads, **train})
    ok = r_trained > r_random + tl.MARGIN and r_trained > tl.MIN_R
    row = {"seed": seed, "r_pretrained": round(r_trained, 3), "r_random": round(r_random, 3),
           "difference": round(r_trained - r_random, 3), "passes": ok, "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(row), flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--sim", default="{}", help="JSON overrides of the test's SimConfig")
    ap.add_argument("--train", default="{}", help="JSON overrides of the test's TRAIN dict")
    ap.add_argument("--jobs", type=int, default=2, help="seeds run in parallel (separate processes)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per job (default: the test's TRAIN threads)")
    ap.add_argument("--out", default=None, help="write OUT.md and OUT.tsv")
    args = ap.parse_args()
    sim, train = json.loads(args.sim), json.loads(args.train)
    if args.threads is None:
        import test_learning as tl

        args.threads = int(tl.TRAIN["threads"])
    work = [(s, sim, train, args.threads) for s in args.seeds]
    if args.jobs > 1:
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            rows = pool.map(one, work, chunksize=1)
    else:
        rows = [one(w) for w in work]

    import pandas as pd
    import test_learning as tl

    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out.with_suffix(".tsv"), sep="\t", index=False)
        cmd = "python benchmarks/" + Path(__file__).name + " " + " ".join(sys.argv[1:])
        lines = [
            "# Learning check over seeds",
            "",
            f"Command: `{cmd}`",
            "",
            "Settings: tests/test_learning.py SIM and TRAIN" + (f", sim overrides {sim}" if sim else "")
            + (f", train overrides {train}" if train else "") + f"; {args.threads} torch threads per seed, "
            f"{args.jobs} seed(s) at a time.",
            f"Pass: r pre-trained > r random + {tl.MARGIN} and r pre-trained > {tl.MIN_R}.",
            "",
            "| seed | r pre-trained | r random | difference | passes | seconds |",
            "|---:|---:|---:|---:|:---:|---:|",
        ]
        lines += [f"| {r.seed} | {r.r_pretrained:.3f} | {r.r_random:.3f} | {r.difference:.3f} | "
                  f"{'yes' if r.passes else 'NO'} | {r.seconds:.0f} |" for r in table.itertuples()]
        lines += ["", f"{int(table['passes'].sum())}/{len(table)} seeds pass.", ""]
        out.with_suffix(".md").write_text("\n".join(lines))
    return 0 if table["passes"].all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
