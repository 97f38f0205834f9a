"""Each stage's fingerprinted code: what a rule's ``code`` param hashes (isoclr.config.fingerprint).

    python benchmarks/stage_fingerprints.py            # per stage: modules (functions, classes and constants reached)
    python benchmarks/stage_fingerprints.py --items    # ... and every function, class and constant

A job reruns when this code changes (and when its params or inputs do); editing code listed
under no stage reruns nothing. Runs from a checkout without installing anything:
``PYTHONPATH=src`` is set for you.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from isoclr.config import fingerprint as F


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", action="store_true", help="list every function, class and constant")
    args = parser.parse_args(argv)
    print(f"{'stage':<9} {'modules':>7} {'items':>5}  fingerprint")
    for stage in F.stages():
        items = F.stage_items(stage)
        by_module: dict[str, list[str]] = defaultdict(list)
        for module, name in items:
            by_module[module or "isoclr"].append(name or "(top-level code)")
        for module in F.stage_settings(stage):
            by_module[module].append("(whole module: the stage's settings)")
        print(f"{stage:<9} {len(by_module):>7} {len(items):>5}  {F.source_fingerprint(stage)[:16]}"
              f"  entries: {', '.join(F.stage_entries(stage))}")
        for module in sorted(by_module):
            names = by_module[module]
            print(f"    {module:<28} {len(names):>3}" + (f"  {', '.join(sorted(names))}" if args.items else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
