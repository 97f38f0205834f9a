"""What the checks a store gets when opened cost, next to reading it.

Usage: python benchmarks/bench_store_checks.py STORE.h5 [--repeats 5]

Times (best of ``--repeats``, each on a freshly opened file): opening the store with every
check (:func:`isoclr.store.format.check_store`, which also reads the in-memory index a reader
needs anyway, and the genomic exon coordinates and strands it checks); reading that index without checks (what opening cost before the checks); the
checks alone (the difference); reading every nucleotide (``all_codes``) and exporting the
transcript FASTA (what a reader of the whole store does next). The genome-scale store is made by
``python benchmarks/make_genome.py DIR --tiles 38`` then ``isoclr build --genome DIR/genome.fa
--annotation DIR/annotation.gtf --species bench --out DIR/store.h5``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from isoclr.store.export import export_store
from isoclr.store.format import IsoformStore, check_store, open_store_file


def _index_before(f: h5py.File) -> dict[str, np.ndarray]:
    """The index an IsoformStore read on first use before the checks (no exon coordinates,
    no strands: those were read by ``table()`` / ``exons()``)."""
    t = f["transcripts"]
    return {
        "seq_offset": t["seq_offset"][:], "exon_offset": t["exon_offset"][:],
        "exon_tx_end": f["exons/tx_end"][:].astype(np.int64),
        "cds_start": t["cds_start"][:].astype(np.int64), "cds_end": t["cds_end"][:].astype(np.int64),
        "cds_phase": t["cds_phase"][:].astype(np.int64), "gene": t["gene"][:],
        "gene_tx_offset": f["genes/tx_offset"][:], "gene_tx_index": f["genes/tx_index"][:],
    }


def _index_without_checks(f: h5py.File) -> dict[str, np.ndarray]:
    """Every array the checks read, read without checking them."""
    t = f["transcripts"]
    return {
        "seq_offset": t["seq_offset"][:], "exon_offset": t["exon_offset"][:],
        "exon_tx_end": f["exons/tx_end"][:].astype(np.int64),
        "exon_start": f["exons/start"][:], "exon_end": f["exons/end"][:],
        "cds_start": t["cds_start"][:].astype(np.int64), "cds_end": t["cds_end"][:].astype(np.int64),
        "cds_phase": t["cds_phase"][:].astype(np.int64), "gene": t["gene"][:],
        "strand": t["strand"][:],
        "gene_tx_offset": f["genes/tx_offset"][:], "gene_tx_index": f["genes/tx_index"][:],
    }


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    path = Path(args.store)

    def checked() -> None:
        with open_store_file(path) as f:
            check_store(f, path)

    def unchecked() -> None:
        with open_store_file(path) as f:
            _index_without_checks(f)

    def before() -> None:
        with open_store_file(path) as f:
            _index_before(f)

    def read_all() -> None:
        with IsoformStore(path) as st:
            st.all_codes()

    def export() -> None:
        with tempfile.TemporaryDirectory() as d:
            export_store(path, fasta=Path(d) / "x.fa")

    st = IsoformStore(path)
    n, nt, ne = len(st), int(st.index["seq_offset"][-1]), len(st.index["exon_tx_end"])
    st.close()
    t_checked = best(checked, args.repeats)
    t_unchecked = best(unchecked, args.repeats)
    t_before = best(before, args.repeats)
    t_all = best(read_all, max(1, args.repeats // 2))
    t_export = best(export, 1)
    extra = t_checked - t_unchecked
    print(f"store: {path} ({os.path.getsize(path) / 1e6:.0f} MB; {n:,} transcripts, {ne:,} exons, "
          f"{nt:,} nt); best of {args.repeats}")
    print("| step | seconds |")
    print("|---|---:|")
    print(f"| open + index + every check (`check_store`) | {t_checked:.3f} |")
    print(f"| open + the same index arrays, no checks | {t_unchecked:.3f} |")
    print(f"| **the checks alone** | **{extra:.3f}** |")
    print(f"| open + the index read before the checks (no exon coordinates, no strands) | "
          f"{t_before:.3f} |")
    print(f"| **opening: with the checks minus before** | **{t_checked - t_before:.3f}** |")
    print(f"| read every nucleotide (`all_codes`) | {t_all:.3f} |")
    print(f"| `isoclr export --fasta` (whole store) | {t_export:.3f} |")
    added = t_checked - t_before
    print(f"opening costs {added:.3f} s more ({100 * added / t_all:.1f}% of reading the "
          f"nucleotides, {100 * added / t_export:.1f}% of an export)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
