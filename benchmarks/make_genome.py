"""Scale the real demo loci up to a genome-sized benchmark input (FASTA + GTF).

Each synthetic contig ``tileK_J`` is a concatenation of copies of the real demo contigs
(human chr1/chr2/chr3/chr19 excerpts, mouse chr9 excerpt, fly chr2L/chr2R excerpts: 11 Mb per
tile), and the GTF repeats their real GENCODE / FlyBase rows with coordinates shifted onto the
copy and ``_tK`` appended to gene and transcript ids. Sequence and gene models are therefore real
(splice sites, exon lengths, isoform mixes, N runs), only repeated.

Usage: python benchmarks/make_genome.py OUT_DIR --tiles 38 [--tiles-per-contig 2] [--gzip]
writes OUT_DIR/genome.fa (60 columns), OUT_DIR/annotation.gtf[.gz] and prints the sizes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo"
SOURCES = ["human", "mouse", "fly"]


def read_fasta(path: Path) -> list[tuple[str, bytes]]:
    out = []
    with gzip.open(path, "rb") as fh:
        text = fh.read()
    for rec in text.split(b">")[1:]:
        head, _, body = rec.partition(b"\n")
        out.append((head.split()[0].decode(), body.replace(b"\n", b"")))
    return out


def read_gtf(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", header=None, comment="#", dtype=str, quoting=3)


def wrap(seq: bytes, width: int = 60) -> bytes:
    a = np.frombuffer(seq, dtype=np.uint8)
    n = len(a)
    lines = -(-n // width)
    out = np.full(n + lines, ord("\n"), dtype=np.uint8)
    idx = np.arange(n)
    out[idx + idx // width] = a
    return out.tobytes()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--tiles", type=int, default=38, help="copies of the 11 Mb demo block")
    ap.add_argument("--tiles-per-contig", type=int, default=2)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    contigs: list[tuple[str, bytes]] = []
    gtfs: dict[str, pd.DataFrame] = {}
    for src in SOURCES:
        for name, seq in read_fasta(DEMO / src / "genome.fa.gz"):
            contigs.append((f"{src}:{name}", seq))
        gtf = read_gtf(DEMO / src / "annotation.gtf.gz")
        gtf[0] = src + ":" + gtf[0]
        gtfs[src] = gtf
    gtf_all = pd.concat(gtfs.values(), ignore_index=True)
    gtf_all[3] = gtf_all[3].astype(np.int64)
    gtf_all[4] = gtf_all[4].astype(np.int64)
    offset_in_tile = {}
    pos = 0
    for name, seq in contigs:
        offset_in_tile[name] = pos
        pos += len(seq)
    tile_len = pos
    tile_seq = b"".join(seq for _, seq in contigs)
    base_shift = gtf_all[0].map(offset_in_tile).to_numpy()

    n_contigs = -(-args.tiles // args.tiles_per_contig)
    total_bases = 0
    with open(args.out / "genome.fa", "wb") as fa, open(args.out / "annotation.gtf", "w") as gf:
        for c in range(n_contigs):
            tiles = [t for t in range(c * args.tiles_per_contig, min(args.tiles, (c + 1) * args.tiles_per_contig))]
            name = f"tile{c}"
            fa.write(f">{name}\n".encode())
            fa.write(wrap(tile_seq * len(tiles)))
            total_bases += tile_len * len(tiles)
            for j, t in enumerate(tiles):
                g = gtf_all.copy()
                shift = base_shift + j * tile_len
                g[0] = name
                g[3] = g[3] + shift
                g[4] = g[4] + shift
                g[8] = (
                    g[8]
                    .str.replace(r'gene_id "([^"]+)"', rf'gene_id "\1_t{t}"', regex=True)
                    .str.replace(r'transcript_id "([^"]+)"', rf'transcript_id "\1_t{t}"', regex=True)
                )
                buf = io.StringIO()
                g.to_csv(buf, sep="\t", header=False, index=False, quoting=3)
                gf.write(buf.getvalue())
    n_tx = gtf_all[8].str.extract(r'transcript_id "([^"]+)"')[0].nunique() * args.tiles
    print(f"{args.out}: {n_contigs} contigs, {total_bases:,} bases, ~{n_tx:,} transcripts", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
