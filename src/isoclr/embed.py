"""Embed transcripts with a (frozen) pre-trained encoder.

:func:`embed_store` reads transcripts from a species store in batches of similar length
(dynamic padding), builds the six tracks on the device (GPU when there is one) and returns
``h`` in the order of the requested indices. ``isoclr embed`` writes ``EMB.h5`` with
``/embeddings`` (n, D) float32, ``/transcript_id`` and ``/gene_id`` (docs/interfaces.md).
With ``--genome``/``--annotation`` instead of ``--store``, a temporary store is built first with
:func:`isoclr.isoforms.build_store`.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
import torch

from isoclr.encoding import tracks_torch
from isoclr.io import atomic_path, h5_create
from isoclr.loader import collate

log = logging.getLogger(__name__)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def length_batches(lengths: npt.NDArray[np.integer], max_tokens: int, max_batch: int) -> list[npt.NDArray[np.int64]]:
    """Positions into ``lengths`` grouped into batches of similar length.

    Sorted by length; a batch closes when it holds ``max_batch`` sequences or when padding to
    its longest member would exceed ``max_tokens`` nucleotides.
    """
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < max_batch and (end - start + 1) * int(lengths[order[end]]) <= max_tokens:
            end += 1
        batches.append(order[start:end].astype(np.int64))
        start = end
    return batches


@torch.no_grad()
def embed_store(
    encoder: torch.nn.Module,
    store: Any,
    indices: npt.ArrayLike | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    max_tokens: int = 2_000_000,
    progress: bool = False,
) -> npt.NDArray[np.float32]:
    """``h`` (n, D) float32 for transcripts ``indices`` of ``store`` (all when None), input order.

    ``store``: an :class:`isoclr.store.IsoformStore` or a path to one. Batches are sorted by
    length (at most ``batch_size`` sequences and ``max_tokens`` padded nucleotides each); the
    encoder runs in eval mode on ``device`` (default: GPU when available).
    """
    from isoclr.store import IsoformStore

    if not hasattr(store, "codes"):
        store = IsoformStore(store)
    idx = np.arange(len(store)) if indices is None else np.asarray(indices, dtype=np.int64)
    dev = torch.device(device) if device is not None else default_device()
    was_training = encoder.training
    encoder.eval()
    encoder.to(dev)
    out_dim = int(getattr(encoder, "out_dim"))
    out = np.zeros((len(idx), out_dim), dtype=np.float32)
    lengths = store.lengths()[idx] if len(idx) else np.zeros(0, dtype=np.int64)
    batches = length_batches(lengths, max_tokens, batch_size)
    it = batches
    if progress:
        from tqdm import tqdm

        it = tqdm(batches, desc="embed", unit="batch", leave=False)
    for pos in it:
        rows = idx[pos]
        b = collate([store.codes(int(r)) for r in rows], [store.marks(int(r)) for r in rows])
        x = tracks_torch(b["codes"].to(dev), b["marks"].to(dev))
        h = encoder(x, b["lengths"].to(dev))
        out[pos] = h.float().cpu().numpy()
    encoder.train(was_training)
    return out


def write_embeddings(path: str | os.PathLike[str], h: npt.NDArray[np.float32], transcript_id: Any, gene_id: Any, attrs: dict[str, Any] | None = None) -> None:
    """``EMB.h5``: ``/embeddings`` (n, D), ``/transcript_id``, ``/gene_id`` (written atomically)."""
    str_dt = h5py.string_dtype("utf-8")
    with atomic_path(path, suffix=".h5") as tmp, h5_create(tmp) as f:
        f.create_dataset("embeddings", data=np.asarray(h, dtype=np.float32))
        f.create_dataset("transcript_id", data=np.asarray(transcript_id, dtype=object), dtype=str_dt)
        f.create_dataset("gene_id", data=np.asarray(gene_id, dtype=object), dtype=str_dt)
        for k, v in (attrs or {}).items():
            f.attrs[k] = v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="pre-training checkpoint (checkpoint.pt)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--store", help="species store (.h5) to embed")
    src.add_argument("--genome", help="genome FASTA (with --annotation): a temporary store is built")
    parser.add_argument("--annotation", help="annotation (GTF, GFF3, genePred, refFlat, BED12) for --genome")
    parser.add_argument("--species", default="unknown", help="species name for a --genome store")
    parser.add_argument("--out", required=True, help="output EMB.h5")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default=None, help="cpu | cuda (default: GPU when available)")


def run(args: argparse.Namespace) -> int:
    from isoclr.model import load_encoder
    from isoclr.store import IsoformStore

    encoder, info = load_encoder(args.checkpoint, map_location="cpu")
    with tempfile.TemporaryDirectory(prefix="isoclr-embed-", dir=Path(args.out).resolve().parent) as tmpdir:
        if args.store:
            store_path = Path(args.store)
        else:
            if not args.annotation:
                raise ValueError("--genome needs --annotation")
            from isoclr.isoforms import build_store

            store_path = Path(tmpdir) / "store.h5"
            build_store(args.genome, args.annotation, args.species, store_path)
        store = IsoformStore(store_path)
        table = store.table()
        h = embed_store(encoder, store, batch_size=args.batch_size, device=args.device, progress=True)
        write_embeddings(args.out, h, table["transcript_id"], table["gene_id"],
                         {"checkpoint": str(args.checkpoint), "objective": str(info.get("objective"))})
        store.close()
    log.info("%s: %d embeddings of dimension %d", args.out, h.shape[0], h.shape[1])
    return 0
