"""Benchmark `isoclr build` against `gffread -w` and `bedtools getfasta -split -s` (not a test).

Same inputs for every tool, in one run, at two sizes:

* demo: resources/demo/human (GRCh38 chr1-3 first Mb + chr19 1-2 Mb, 5 Mb, 935 transcripts);
* genome scale: benchmarks/make_genome.py tiles the real demo loci (human, mouse, fly) onto
  19 synthetic contigs: 418 Mb of genome, 51,110 transcripts (generated once under
  benchmarks/work/, git-ignored).

For each tool: wall-clock seconds, transcripts per second, peak resident memory of the child
(``/usr/bin/time``), peak memory / genome size, and output bytes per transcript nucleotide
(the store for isoclr, the FASTA for the others). isoclr builds with ``--max-length 0`` so it
keeps every transcript, like the other two; bedtools reads a BED12 of the same transcripts
(exported from the store, not timed). Every tool starts without a ``.fai`` index (gffread and
bedtools build one; isoclr scans the headers), so all pay the same cold start.

Usage: python benchmarks/bench_build.py [--tiles 38] [--repeats 3] [--skip-genome-scale]
Writes benchmarks/results/build.tsv and build.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results"
ISOCLR = [sys.executable, "-m", "isoclr.cli"]


def timed(cmd: list[str], stdout: Path | None = None) -> tuple[float, int, float]:
    """Run ``cmd`` under ``/usr/bin/time``; return (wall seconds, peak RSS bytes of the tool,
    CPU seconds user + system: on a shared machine the fairer comparison).

    ``/usr/bin/time`` (small) forks the tool, so the peak is the tool's own, not inflated by the
    memory of this Python process that a child inherits before ``exec``.
    """
    report = WORK / ".time.txt"
    out = open(stdout, "wb") if stdout else subprocess.DEVNULL  # noqa: SIM115
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S", "-o", str(report), *cmd], stdout=out, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if stdout:
        out.close()  # type: ignore[union-attr]
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode()[-2000:]}")
    _, max_kb, user, system = report.read_text().split()[-4:]
    return wall, int(max_kb) * 1024, float(user) + float(system)


def fasta_stats(path: Path) -> tuple[int, int]:
    n = nt = 0
    with open(path, "rb") as fh:
        for line in fh:
            if line.startswith(b">"):
                n += 1
            else:
                nt += len(line.rstrip())
    return n, nt


def genome_bases(fa: Path) -> int:
    n = 0
    with open(fa, "rb") as fh:
        for line in fh:
            if not line.startswith(b">"):
                n += len(line.rstrip())
    return n


def prepare_demo() -> Path:
    d = WORK / "demo"
    d.mkdir(parents=True, exist_ok=True)
    src = ROOT / "resources" / "demo" / "human"
    for name in ("genome.fa", "annotation.gtf"):
        if not (d / name).exists():
            with gzip.open(src / f"{name}.gz", "rb") as fi, open(d / name, "wb") as fo:
                shutil.copyfileobj(fi, fo)
    shutil.copy(src / "genome.fa.gz", d / "genome.fa.gz")
    return d


def prepare_genome_scale(tiles: int) -> Path:
    d = WORK / f"genome_scale_{tiles}"
    if not (d / "annotation.gtf").exists():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_genome.py"), str(d), "--tiles", str(tiles)], check=True)
    if not (d / "genome.fa.gz").exists():
        with open(d / "genome.fa.gz.part", "wb") as fo:
            subprocess.run(["gzip", "-1", "-c", str(d / "genome.fa")], stdout=fo, check=True)
        os.replace(d / "genome.fa.gz.part", d / "genome.fa.gz")
    return d


def bench(label: str, d: Path, repeats: int) -> list[dict[str, object]]:
    fa, gtf = d / "genome.fa", d / "annotation.gtf"
    gsize = genome_bases(fa)
    out = d / "out"
    out.mkdir(exist_ok=True)
    fai = Path(str(fa) + ".fai")
    store = out / "store.h5"
    runs = {
        "isoclr build (plain FASTA)": (
            ISOCLR + ["build", "--genome", str(fa), "--annotation", str(gtf), "--species", "bench",
                      "--out", str(store), "--max-length", "0"], None),
        "isoclr build (gzip FASTA)": (
            ISOCLR + ["build", "--genome", str(d / "genome.fa.gz"), "--annotation", str(gtf), "--species", "bench",
                      "--out", str(out / "store_gz.h5"), "--max-length", "0"], None),
        "gffread -w": (["gffread", "-g", str(fa), "-w", str(out / "gffread.fa"), str(gtf)], None),
        "bedtools getfasta -split -s": (
            ["bedtools", "getfasta", "-fi", str(fa), "-bed", str(out / "tx.bed"), "-split", "-s", "-name",
             "-fo", str(out / "bedtools.fa")], None),
    }
    rows = []
    for name, (cmd, stdout) in runs.items():
        best = None
        for _ in range(repeats):
            if fai.exists():
                fai.unlink()
            wall, rss, cpu = timed(cmd, stdout)
            best = (wall, rss, cpu) if best is None or wall < best[0] else best
            if name.startswith("isoclr build (plain") and not (out / "tx.bed").exists():
                subprocess.run(ISOCLR + ["export", str(store), "--bed12", str(out / "tx.bed"), "--fasta", str(out / "isoclr.fa")], check=True, capture_output=True)
        assert best is not None
        if name.startswith("isoclr"):
            import h5py

            with h5py.File(out / ("store.h5" if "plain" in name else "store_gz.h5")) as f:
                n_tx = len(f["transcripts/id"])
                nt = int(f["transcripts/seq_offset"][-1])
            size = (out / ("store.h5" if "plain" in name else "store_gz.h5")).stat().st_size
        else:
            path = out / ("gffread.fa" if name.startswith("gffread") else "bedtools.fa")
            n_tx, nt = fasta_stats(path)
            size = path.stat().st_size
        rows.append({
            "input": label, "tool": name, "genome_bases": gsize, "transcripts": n_tx, "nucleotides": nt,
            "seconds": round(best[0], 2), "cpu_seconds": round(best[2], 2),
            "transcripts_per_s": round(n_tx / best[0]),
            "peak_rss_mb": round(best[1] / 2**20), "peak_over_genome": round(best[1] / gsize, 2),
            "output_bytes_per_nt": round(size / nt, 3), "repeats": repeats,
        })
        print(rows[-1], file=sys.stderr)
    # same transcripts, same sequences (checked, not timed)
    ours, ref = fasta_stats(out / "isoclr.fa"), fasta_stats(out / "gffread.fa")
    if ours != ref:
        raise RuntimeError(f"{label}: isoclr export {ours} differs from gffread {ref} (records, nt)")
    (out / "tx.bed").unlink()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiles", type=int, default=38, help="copies of the 11 Mb demo block (38: 418 Mb, 51k transcripts)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per tool at demo size (best kept)")
    ap.add_argument("--scale-repeats", type=int, default=1, help="runs per tool at genome scale")
    ap.add_argument("--skip-genome-scale", action="store_true")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    rows = bench("demo (human, 5 Mb)", prepare_demo(), args.repeats)
    if not args.skip_genome_scale:
        d = prepare_genome_scale(args.tiles)
        rows += bench(f"genome scale ({args.tiles} tiles)", d, args.scale_repeats)
    load1 = os.getloadavg()
    df = pd.DataFrame(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    df.to_csv(RESULTS / "build.tsv", sep="\t", index=False)
    cmd = "python benchmarks/bench_build.py " + " ".join(argv if argv is not None else sys.argv[1:])
    gff = subprocess.run(["gffread", "--version"], capture_output=True, text=True).stdout.strip()
    bt = subprocess.run(["bedtools", "--version"], capture_output=True, text=True).stdout.strip()
    md = [
        "# Build benchmark: isoclr build vs gffread -w vs bedtools getfasta",
        "",
        f"Command: `{cmd.strip()}` (run from the repository root; {time.strftime('%Y-%m-%d %H:%M')}).",
        f"Machine: {os.cpu_count()} cores **shared with other jobs** (load average {load0[0]:.1f} at the start, "
        f"{load1[0]:.1f} at the end), {platform.python_implementation()} {platform.python_version()}; "
        f"gffread {gff}, {bt}. Timings on a busy machine are noisy: compare rows of one run only.",
        "",
        "isoclr times include everything `isoclr build` does: annotation parsing, contig-name "
        "reconciliation, genome reading and encoding, extraction, CDS conversion and writing the "
        "compressed HDF5 store. Peak memory is the child's maximum resident set size.",
        "",
        df.to_markdown(index=False),
        "",
        "Targets: no slower than `gffread -w`; peak memory under twice the genome size "
        "(`peak_over_genome` < 2); store at most 1.1 bytes per transcript nucleotide.",
        "",
    ]
    (RESULTS / "build.md").write_text("\n".join(md))
    print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
