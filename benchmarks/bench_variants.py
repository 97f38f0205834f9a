"""Benchmark `isoclr variants` (not a test): variants per second on CPU, and peak memory against
the genome's size.

1. **Speed**: SNVs and short indels placed in exons of the demo human transcripts (real GENCODE
   transcript lengths), scored in-process with a randomly initialised encoder of the ``small``
   preset (the paper's small model, ~0.9 M parameters; weights do not change the cost) on CPU.
   Reported: records per second, variant x transcript pairs per second, the sequences the model
   runs on (the reference and alternative of every transcript a variant changes; intronic pairs
   cost nothing) and the split between mapping (annotation, bedtools intersect, pyfaidx fetches,
   alternative transcripts) and embedding.
2. **Memory**: the same VCF and annotation scored by ``isoclr variants`` in a child process
   against (a) the demo human genome (5 Mb) and (b) the same four contigs followed by synthetic
   random contigs up to ``--large-mb`` Mb (plain FASTA, and bgzip with ``--bgzip``). The peak
   resident memory of the child (``/usr/bin/time``) should not grow with the genome: the FASTA is
   read by random access. Each genome is scored twice: cold (no ``.fai``: pyfaidx indexes it,
   one pass over the file) and warm (index present).

Usage: python benchmarks/bench_variants.py [--variants 200] [--large-mb 400] [--bgzip]
Writes benchmarks/results/variants.tsv and variants.md (inputs under benchmarks/work/, git-ignored).
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
WORK = ROOT / "benchmarks" / "work" / "variants"
RESULTS = ROOT / "benchmarks" / "results"
DEMO = ROOT / "resources" / "demo" / "human"
OTHER = {"A": "G", "C": "T", "G": "A", "T": "C"}


def demo_genome() -> Path:
    out = WORK / "human.fa"
    if not out.exists():
        with gzip.open(DEMO / "genome.fa.gz", "rb") as fi, open(out, "wb") as fo:
            shutil.copyfileobj(fi, fo)
    return out


def read_fasta(path: Path) -> dict[str, str]:
    out = {}
    for rec in path.read_text().split(">")[1:]:
        head, _, body = rec.partition("\n")
        out[head.split()[0]] = body.replace("\n", "")
    return out


def large_genome(small: Path, megabases: int, seed: int = 0) -> Path:
    """The demo contigs, then random contigs of 50 Mb up to ``megabases`` in all (plain, 60 columns)."""
    out = WORK / f"large_{megabases}Mb.fa"
    if out.exists():
        return out
    rng = np.random.default_rng(seed)
    tmp = out.with_suffix(".part")
    with open(tmp, "wb") as fo:
        fo.write(small.read_bytes())
        left, k = megabases * 1_000_000 - 5_000_000, 0
        while left > 0:
            n = min(left, 50_000_000)
            seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, n)]
            width = 60
            rows = -(-n // width)
            buf = np.full(n + rows, ord("\n"), dtype=np.uint8)
            idx = np.arange(n)
            buf[idx + idx // width] = seq
            fo.write(f">synthetic{k}\n".encode())
            fo.write(buf.tobytes())
            left -= n
            k += 1
    tmp.rename(out)
    return out


def place_variants(genome: dict[str, str], n: int, seed: int = 1) -> Path:
    """``n`` records in exons of distinct demo transcripts: 70% SNVs, 15% 1-3 nt deletions, 15% insertions."""
    from isoclr.store.annotation import read_annotation

    ann = read_annotation(DEMO / "annotation.gtf.gz")
    tx, ex = ann.transcripts, ann.exons
    off = ann.exon_offsets()
    rng = np.random.default_rng(seed)
    rows = []
    for i in rng.permutation(len(tx))[: n * 2]:
        e = ex.iloc[off[i]:off[i + 1]]
        k = int(rng.integers(len(e)))
        a, b = int(e["start"].iat[k]), int(e["end"].iat[k])
        if b - a < 12:
            continue
        g = int(rng.integers(a + 4, b - 4))
        chrom = tx["chrom"].iat[i]
        s = genome[chrom]
        r = rng.random()
        if r < 0.7:
            rows.append((chrom, g + 1, s[g], OTHER.get(s[g], "A")))
        elif r < 0.85:
            m = int(rng.integers(1, 4))
            rows.append((chrom, g, s[g - 1:g + m], s[g - 1]))
        else:
            rows.append((chrom, g + 1, s[g], s[g] + "".join(rng.choice(list("ACGT"), int(rng.integers(1, 4))))))
        if len(rows) == n:
            break
    rows = sorted(set(rows), key=lambda r: (r[0], r[1]))
    vcf = WORK / f"bench_{n}.vcf"
    with open(vcf, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for c, p, r, a in rows:
            fh.write(f"{c}\t{p}\t.\t{r}\t{a}\t.\tPASS\t.\n")
    return vcf


def speed(vcf: Path, genome: Path, repeats: int, size: str) -> list[dict]:
    import torch

    from isoclr.pretrain.model import build_encoder
    from isoclr.variants.effects import check_reference, load_transcripts, map_variants
    from isoclr.variants.genome import Genome
    from isoclr.variants.score import EncoderModel, score_effects
    from isoclr.variants.vcf import read_vcf

    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = EncoderModel(build_encoder({"size": size}), batch_size=16)
    n_params = sum(p.numel() for p in model.encoder.parameters())
    g = Genome(genome)
    out = []
    for rep in range(repeats):
        t0 = time.perf_counter()
        transcripts, _ = load_transcripts(DEMO / "annotation.gtf.gz", g)  # fresh: sequences fetched again
        variants = read_vcf(vcf)
        check_reference(variants, g)
        effects = map_variants(variants, transcripts, g)
        t1 = time.perf_counter()
        table = score_effects(effects, model)
        t2 = time.perf_counter()
        scored = table[table["status"] == "scored"]
        changed = [f for f in effects if f.status == "scored" and f.transcript is not None
                   and f.alt_seq != f.transcript._seq]
        unique = {f.alt_seq for f in changed} | {f.transcript._seq for f in changed}
        nt = sum(len(u) for u in unique)
        out.append({
            "what": f"speed, {size} encoder ({n_params / 1e6:.2f} M parameters), CPU 2 threads", "repeat": rep,
            "records": len(variants), "pairs": len(scored), "pairs_changed": len(changed),
            "sequences_embedded": len(unique), "median_length": float(np.median([len(u) for u in unique])),
            "nt_embedded": nt, "map_s": round(t1 - t0, 3), "embed_s": round(t2 - t1, 3),
            "total_s": round(t2 - t0, 3), "records_per_s": round(len(variants) / (t2 - t0), 3),
            "pairs_per_s": round(len(scored) / (t2 - t0), 2), "knt_per_s_embedded": round(nt / 1e3 / (t2 - t1), 1),
        })
        print(out[-1], flush=True)
    return out


def peak(vcf: Path, genome: Path, ckpt: Path, label: str, cold: bool) -> dict:
    if cold:
        for ext in (".fai", ".gzi"):
            Path(str(genome) + ext).unlink(missing_ok=True)
    out = WORK / f"out_{label}.tsv"
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "isoclr.cli", "variants", "--vcf", str(vcf), "--genome",
           str(genome), "--annotation", str(DEMO / "annotation.gtf.gz"), "--model", str(ckpt), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "2"}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    row = {"what": f"memory, {label}, {'cold (builds the index)' if cold else 'warm (index present)'}",
           "genome_mb": round(genome.stat().st_size / 1e6, 1), "records": len(vcf.read_text().splitlines()) - 2,
           "total_s": round(wall, 2), "peak_rss_mb": round(rss_kb / 1024, 1)}
    print(row, flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", type=int, default=200)
    ap.add_argument("--large-mb", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="small", help="encoder preset for the speed part")
    ap.add_argument("--bgzip", action="store_true", help="also score a bgzip copy of the large genome")
    args = ap.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    small = demo_genome()
    vcf = place_variants(read_fasta(small), args.variants)
    rows = speed(vcf, small, args.repeats, args.size)

    import torch

    from isoclr.pretrain.model import build_encoder, save_checkpoint

    torch.manual_seed(0)
    ckpt = WORK / "tiny.pt"
    save_checkpoint(ckpt, build_encoder({"size": "tiny"}), "dcl")
    large = large_genome(small, args.large_mb)
    genomes = [("demo 5 Mb, plain", small), (f"{args.large_mb} Mb, plain", large)]
    if args.bgzip:
        bgz = Path(str(large) + ".gz")
        if not bgz.exists():
            subprocess.run(["bgzip", "-k", "-@", "2", str(large)], check=True)
        genomes.append((f"{args.large_mb} Mb, bgzip", bgz))
    for label, genome in genomes:
        for cold in (True, False):
            rows.append(peak(vcf, genome, ckpt, label, cold))
    load1 = os.getloadavg()[0]
    table = pd.DataFrame(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(RESULTS / "variants.tsv", sep="\t", index=False)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    cmd = "python benchmarks/bench_variants.py " + " ".join(argv if argv is not None else sys.argv[1:])
    sp = table[table["what"].str.startswith("speed")]
    mem = table[table["what"].str.startswith("memory")]
    md = [
        "# Variant scoring benchmark: `isoclr variants`",
        "",
        f"Command: `{cmd.strip()}` (from the repository root; commit {commit}; started {started}).",
        (f"Machine: {os.cpu_count()} cores **shared with other jobs** (load average {load0:.1f} at the start, "
         f"{load1:.1f} at the end), CPython {platform.python_version()}, torch {torch.__version__} (CPU, 2 threads). "
         "Timings on a busy machine are noisy: compare rows of one run only."),
        "",
        "## Speed (in-process, demo human genome and annotation)",
        "",
        sp.drop(columns=[c for c in ("genome_mb", "peak_rss_mb") if c in sp]).to_markdown(index=False),
        "",
        "## Peak memory against the genome's size (`isoclr variants` in a child process, tiny encoder)",
        "",
        mem[["what", "genome_mb", "records", "total_s", "peak_rss_mb"]].to_markdown(index=False),
        "",
    ]
    (RESULTS / "variants.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
