"""The naive baseline: hand-made sequence features for a ridge / logistic probe.

As mRNABench's naive baseline (k-mer counts, GC content, CDS length; Dalal et al. 2024) and
the check any learned encoder must pass: if a linear probe on IsoCLR embeddings does not beat a
linear model on k-mer counts, the user must see that. Features of one transcript:

* ``log1p`` of its length and of its 5'UTR, CDS and 3'UTR lengths (non-coding: 0, 0, 0),
* GC content (G + C over A, C, G, T; N excluded),
* counts of every k-mer for k = 3..6 (64 + 256 + 1,024 + 4,096 columns), windows holding an N
  skipped.

The model ``naive-linear`` reads these as its "embeddings" (``results/embeddings/naive/``), so
the same probe (:mod:`isoclr.evaluate.probes`: standardised features, ``RidgeCV`` or per-label
logistic regression) is fitted on the same rows as every other model. NumPy only (no torch):
k-mers of all transcripts of a block are counted at once with one ``bincount``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

KS: tuple[int, ...] = (3, 4, 5, 6)
#: nucleotides counted per block (bounds the int64 window arrays: ~8 bytes x 3 per nucleotide)
BLOCK_NT = 8_000_000


def kmer_counts(codes: npt.NDArray[np.uint8], offsets: npt.NDArray[np.integer], k: int) -> npt.NDArray[np.float32]:
    """(n, 4**k) k-mer counts of ``n`` sequences concatenated in ``codes`` (0-3 = A, C, G, T;
    anything else an N), sequence ``i`` being ``codes[offsets[i]:offsets[i+1]]``. A k-mer's
    column is its base-4 number (A=0 ... T=3, first base most significant)."""
    codes = np.asarray(codes, dtype=np.uint8)
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    out = np.zeros((n, 4**k), dtype=np.float32)
    nw = len(codes) - k + 1
    if n == 0 or nw <= 0:
        return out
    bad = np.concatenate([[0], np.cumsum(codes > 3, dtype=np.int64)])
    clean = (bad[k : k + nw] - bad[:nw]) == 0  # no N in the window
    idx = np.zeros(nw, dtype=np.int64)
    for j in range(k):  # k vectorised passes, not one per nucleotide
        idx = idx * 4 + np.minimum(codes[j : j + nw], 3)
    start = np.arange(nw, dtype=np.int64)
    seq = np.searchsorted(offsets, start, side="right") - 1
    inside = (start + k) <= offsets[np.minimum(seq + 1, n)]  # the window ends in its sequence
    keep = clean & inside & (seq < n)
    flat = np.bincount(seq[keep] * 4**k + idx[keep], minlength=n * 4**k)
    out[:] = flat.reshape(n, 4**k)
    return out


def region_lengths(length: npt.ArrayLike, cds_start: npt.ArrayLike, cds_end: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(n, 3) 5'UTR, CDS and 3'UTR lengths (a non-coding transcript: 0, 0, 0)."""
    length = np.asarray(length, dtype=np.int64)
    cs = np.asarray(cds_start, dtype=np.int64)
    ce = np.minimum(np.asarray(cds_end, dtype=np.int64), length)
    coding = (cs >= 0) & (ce > cs)
    utr5 = np.where(coding, cs, 0)
    cds = np.where(coding, ce - cs, 0)
    utr3 = np.where(coding, length - ce, 0)
    return np.stack([utr5, cds, utr3], axis=1).astype(np.float64)


def feature_names(ks: Sequence[int] = KS) -> list[str]:
    names = ["log1p_length", "log1p_utr5", "log1p_cds", "log1p_utr3", "gc"]
    for k in ks:
        grid = np.array(np.meshgrid(*[np.arange(4)] * k, indexing="ij")).reshape(k, -1).T
        names += ["".join("ACGT"[b] for b in row) for row in grid]
    return names


def naive_features(
    seqs: Sequence[npt.NDArray[np.uint8]],
    cds_start: npt.ArrayLike,
    cds_end: npt.ArrayLike,
    ks: Sequence[int] = KS,
) -> npt.NDArray[np.float32]:
    """(n, 5 + sum 4**k) features of ``n`` transcripts (module docstring), in row order."""
    n = len(seqs)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=n)
    regions = region_lengths(lengths, cds_start, cds_end)
    width = 5 + sum(4**k for k in ks)
    out = np.zeros((n, width), dtype=np.float32)
    out[:, 0] = np.log1p(lengths)
    out[:, 1:4] = np.log1p(regions)
    start = 0
    while start < n:  # blocks of ~BLOCK_NT nucleotides
        stop = start + 1
        total = lengths[start]
        while stop < n and total + lengths[stop] <= BLOCK_NT:
            total += lengths[stop]
            stop += 1
        block = [np.asarray(s, dtype=np.uint8) for s in seqs[start:stop]]
        codes = np.concatenate(block) if block else np.zeros(0, np.uint8)
        offsets = np.concatenate([[0], np.cumsum(lengths[start:stop])])
        base = kmer_counts(codes, offsets, 1)  # A, C, G, T
        acgt = base.sum(axis=1)
        out[start:stop, 4] = np.divide(base[:, 1] + base[:, 2], acgt, out=np.zeros(stop - start, np.float32), where=acgt > 0)
        col = 5
        for k in ks:
            out[start:stop, col : col + 4**k] = kmer_counts(codes, offsets, k)
            col += 4**k
        start = stop
    return out


def store_features(store: object, rows: npt.ArrayLike, ks: Sequence[int] = KS) -> npt.NDArray[np.float32]:
    """Naive features of store rows ``rows`` (an :class:`isoclr.store.format.IsoformStore`)."""
    rows = np.asarray(rows, dtype=np.int64)
    ix = store.index  # type: ignore[attr-defined]
    seqs = [store.codes(int(i)) for i in rows]  # type: ignore[attr-defined]
    return naive_features(seqs, ix["cds_start"][rows], ix["cds_end"][rows], ks)
