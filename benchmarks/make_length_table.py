"""Write the transcript-length tables the GPU benchmark samples from (no pipeline needed there).

Usage (repository root, venv active; the demo stores come from
``snakemake --cores 2 results/splits/splits.tsv``)::

    python benchmarks/make_length_table.py \
        --cpat ../shared/data/transcriptomes/human_refseq_cpat \
        --sets results/homology/sets.h5 --splits results/splits/splits.tsv \
        --out benchmarks/data/lengths.tsv

Output: TSV ``source``, ``set``, ``length``: one row per transcript; ``set`` groups the
transcripts a contrastive pair is drawn from (``cpat``: the Entrez gene of 4,000 human RefSeq
mRNAs, NCBI/org.Hs.eg.db 3.16; an accession without a gene is its own set; ``demo``: the
training split's transcript sets of the demo stores, GENCODE/FlyBase excerpts). Only lengths and
set numbers are kept (no sequence), so the table is small enough to commit.
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np
import pandas as pd


def fasta_lengths(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    name = None
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith(">"):
                name = line[1:].split()[0]
                out[name] = 0
            elif name is not None:
                out[name] += len(line.strip())
    return out


def cpat_table(folder: Path) -> pd.DataFrame:
    lengths = fasta_lengths(folder / "transcripts.fa.gz")
    genes = pd.read_csv(folder / "genes.tsv.gz", sep="\t", dtype=str)
    key = genes["entrez_id"].fillna("tx:" + genes["transcript_id"])
    set_id = pd.factorize(key)[0]
    return pd.DataFrame({"source": "cpat", "set": set_id,
                         "length": genes["transcript_id"].map(lengths).astype(int)})


def demo_table(sets_path: str, splits_path: str) -> pd.DataFrame:
    from isoclr.pretrain import loader as L

    sets = L.TranscriptSets.load(sets_path)
    splits = L.read_splits(splits_path, sets.n_sets)
    lengths = L.member_lengths(sets)
    rows = []
    for new_id, s in enumerate(np.flatnonzero(splits == "train")):
        for m in range(sets.offset[s], sets.offset[s + 1]):
            rows.append(("demo", new_id, int(lengths[m])))
    return pd.DataFrame(rows, columns=["source", "set", "length"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpat", required=True, help="folder with transcripts.fa.gz and genes.tsv.gz")
    p.add_argument("--sets", default=None, help="demo sets.h5 (optional)")
    p.add_argument("--splits", default=None)
    p.add_argument("--out", default="benchmarks/data/lengths.tsv")
    a = p.parse_args()
    parts = [cpat_table(Path(a.cpat))]
    if a.sets:
        parts.append(demo_table(a.sets, a.splits))
    table = pd.concat(parts, ignore_index=True)
    table.to_csv(a.out, sep="\t", index=False)
    for src, t in table.groupby("source"):
        print(f"{src}: {len(t)} transcripts in {t['set'].nunique()} sets, median length {int(t['length'].median())}")


if __name__ == "__main__":
    main()
