"""Write mouse_identical_genes.tsv.gz: pairs of different mouse genes whose mRNAs here are
identical, a `pairs` homology source that keeps each pair in one set (so no split or fold
separates two copies of one sequence).

    python3 resources/human_mouse_mrna/make_study_files.py resources/human_mouse_mrna

Python 3 standard library; the output is gzip-compressed like `gzip -9 -n` (no name, no time),
so two runs give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path


def main(folder: Path) -> None:
    by_seq: dict[str, list[tuple[str, str]]] = {}
    with gzip.open(folder / "mouse_transcripts.fa.gz", "rt") as fh:
        lines = fh.read().split("\n")
    for header, seq in zip(lines[0::2], lines[1::2]):
        fields = header[1:].split("|")
        by_seq.setdefault(seq, []).append((fields[1].split(".")[0], fields[5]))
    rows = set()
    for genes in by_seq.values():
        ids = sorted({g for g, _ in genes})
        rows.update((ids[0], other) for other in ids[1:])  # each gene joined to the first
    text = "".join(f"{a}\t{b}\n" for a, b in sorted(rows))
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode())
    (folder / "mouse_identical_genes.tsv.gz").write_bytes(buf.getvalue())
    print(f"{len(rows)} pairs:\n{text}", end="")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
