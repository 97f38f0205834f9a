"""The six-track mature-RNA encoding (Fradkin et al. 2023, arXiv:2310.08738, after Saluki),
built late from a compact form.

Stores keep one byte per nucleotide (``codes``: A=0, C=1, G=2, T=3, N/IUPAC=4) plus exon and
CDS coordinates. Loaders turn a transcript into ``codes`` and ``marks`` (bit 0: first nucleotide
of a codon, bit 1: last nucleotide of an exon), both ``uint8`` of length L. The float tracks
(6, L) are made from those only when a model needs them, on the GPU when there is one:

====== ==========================================================================
track  meaning
====== ==========================================================================
0-3    one-hot A, C, G, T (U read as T); N and other IUPAC codes are all zeros
4      1 on the first nucleotide of every codon, CDS start (after the phase) to CDS end
5      1 on the last nucleotide of every exon, the transcript's last nucleotide included
====== ==========================================================================
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

N_TRACKS = 6
A, C, G, T, N = 0, 1, 2, 3, 4
PAD = 5  # code used for padding in batches: encodes to all-zero tracks, like N
CODON_BIT = np.uint8(1)
SPLICE_BIT = np.uint8(2)

_ENCODE = np.full(256, N, dtype=np.uint8)
for _ch, _code in (("A", A), ("C", C), ("G", G), ("T", T), ("U", T)):
    _ENCODE[ord(_ch)] = _code
    _ENCODE[ord(_ch.lower())] = _code
_DECODE = np.frombuffer(b"ACGTNN", dtype=np.uint8)

# Characters accepted in a genome FASTA (IUPAC nucleotide codes, either case, and '-'/'*').
IUPAC = frozenset("ACGTUNRYSWKMBDHVacgtunryswkmbdhv")


def encode_sequence(seq: str | bytes | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Nucleotide text to codes (case-insensitive; soft-masked bases count as upper case)."""
    if isinstance(seq, str):
        seq = seq.encode("ascii")
    raw = np.frombuffer(seq, dtype=np.uint8) if isinstance(seq, bytes) else seq
    return _ENCODE[raw]


def decode_sequence(codes: npt.NDArray[np.integer]) -> str:
    """Codes back to upper-case text (N for 4 and for padding)."""
    return _DECODE[np.asarray(codes, dtype=np.uint8)].tobytes().decode("ascii")


def make_marks(
    length: int,
    exon_ends: npt.ArrayLike,
    cds_start: int = -1,
    cds_end: int = -1,
    cds_phase: int = 0,
) -> npt.NDArray[np.uint8]:
    """Codon and splice marks for one transcript, in transcript coordinates.

    ``exon_ends``: exclusive end of every exon in transcript order (the last equals ``length``).
    ``cds_start``/``cds_end``: 0-based half-open CDS span including the stop codon, -1 when
    non-coding. ``cds_phase``: bases before the first complete codon (5'-incomplete CDS).
    """
    marks = np.zeros(length, dtype=np.uint8)
    ends = np.asarray(exon_ends, dtype=np.int64)
    if length:
        marks[ends[(ends > 0) & (ends <= length)] - 1] |= SPLICE_BIT
        marks[length - 1] |= SPLICE_BIT
    if cds_start >= 0 and cds_end > cds_start:
        marks[cds_start + cds_phase : min(cds_end, length) : 3] |= CODON_BIT
    return marks


def tracks_numpy(
    codes: npt.NDArray[np.uint8], marks: npt.NDArray[np.uint8], dtype: npt.DTypeLike = np.float32
) -> npt.NDArray[np.floating]:
    """(L,) codes + marks -> (6, L) tracks."""
    out = np.zeros((N_TRACKS, codes.shape[-1]), dtype=dtype)
    nuc = codes < 4
    out[codes[nuc], np.nonzero(nuc)[0]] = 1
    out[4] = (marks & CODON_BIT) > 0
    out[5] = (marks & SPLICE_BIT) > 0
    return out


def tracks_torch(codes, marks, dtype=None):  # type: ignore[no-untyped-def]
    """Batched (B, L) codes + marks (torch uint8, any device) -> (B, 6, L) float tracks.

    Runs where the tensors are, so the loader ships 2 bytes per nucleotide and the GPU
    expands them. Padding (code 5) and N (code 4) give all-zero nucleotide tracks.
    """
    import torch

    dtype = dtype or torch.float32
    onehot = torch.nn.functional.one_hot(codes.long(), num_classes=6)[..., :4]
    codon = (marks & int(CODON_BIT)).ne(0).unsqueeze(-1)
    splice = (marks & int(SPLICE_BIT)).ne(0).unsqueeze(-1)
    x = torch.cat([onehot.bool(), codon, splice], dim=-1)
    return x.permute(0, 2, 1).to(dtype)
