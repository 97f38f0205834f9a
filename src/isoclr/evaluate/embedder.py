"""Embed transcripts with a (frozen) pre-trained encoder.

:func:`embed_store` reads transcripts from a species store (or any object with ``codes(i)``,
``marks(i)`` and ``lengths()``, such as :class:`FastaSequences`) in batches of similar length
(dynamic padding), builds the six tracks on the device (GPU when there is one) and returns
``h`` in the order of the requested indices.

:class:`Embedder` is the Python API and ``isoclr embed`` the command; both take a store, a
genome + annotation, a transcript FASTA + annotation, or a FASTA alone, and give the one
embeddings layout of :mod:`isoclr.evaluate.embeddings` (file format from the output's extension).
docs/embedding.md has the details.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch

from isoclr.core.devices import resolve_device
from isoclr.core.encoding import CODON_BIT, check_drop_tracks, drop_marks, encode_sequence, tracks_torch
from isoclr.evaluate.embeddings import Embeddings, embeddings_format, write_embeddings
from isoclr.pretrain.loader import collate

log = logging.getLogger(__name__)

#: the longest transcript the pre-training stores hold (their filters.max_length, 12,288 nt in
#: the paper): longer sequences are outside what an encoder was trained on. A checkpoint that
#: records its own ``max_length`` overrides it.
TRAINING_MAX_LENGTH = 12288
#: what to do with sequences over the maximum: embed them with one warning, leave them out, or
#: refuse the whole input
TOO_LONG = ("warn", "skip", "refuse")


def token_batches(lengths: npt.NDArray[np.integer], max_tokens: int, max_batch: int) -> list[npt.NDArray[np.int64]]:
    """Positions into ``lengths`` grouped into batches of similar length under a token budget.

    Sorted by length; a batch closes when it holds ``max_batch`` sequences or when padding to
    its longest member would exceed ``max_tokens`` nucleotides. (Training batches of a fixed
    size are :func:`isoclr.evaluate.finetune.length_batches`.)
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
    drop_tracks: Sequence[str] = (),
) -> npt.NDArray[np.float32]:
    """``h`` (n, D) float32 for transcripts ``indices`` of ``store`` (all when None), input order.

    ``store``: an :class:`isoclr.store.format.IsoformStore` or a path to one. Batches are sorted by
    length (at most ``batch_size`` sequences and ``max_tokens`` padded nucleotides each); the
    encoder runs in eval mode on ``device`` (default: GPU when available). ``drop_tracks``
    (``codon``, ``splice``): tracks zeroed in every input (config ``encoding.drop_tracks``).
    """
    from isoclr.store.format import IsoformStore

    if not hasattr(store, "codes"):
        store = IsoformStore(store)
    idx = np.arange(len(store)) if indices is None else np.asarray(indices, dtype=np.int64)
    dev = resolve_device(device)
    was_training = encoder.training
    encoder.eval()
    encoder.to(dev)
    out_dim = int(encoder.out_dim)
    out = np.zeros((len(idx), out_dim), dtype=np.float32)
    lengths = store.lengths()[idx] if len(idx) else np.zeros(0, dtype=np.int64)
    batches = token_batches(lengths, max_tokens, batch_size)
    it = batches
    if progress:
        from tqdm import tqdm

        it = tqdm(batches, desc="embed", unit="batch", leave=False)
    for pos in it:
        rows = idx[pos]
        codes = [store.codes(int(r)) for r in rows]
        top = np.fromiter((c.max(initial=0) for c in codes), dtype=np.int64, count=len(codes))
        if len(top) and top.max() > 4:  # a crafted input: named, never run
            k = int(np.argmax(top > 4))
            raise ValueError(f"{_source(store)}: {_record(store, int(rows[k]))}: nucleotide code "
                             f"{int(top[k])} is not 0-4 (A, C, G, T, N)")
        b = collate(codes, [drop_marks(store.marks(int(r)), drop_tracks) for r in rows])
        x = tracks_torch(b["codes"].to(dev), b["marks"].to(dev))
        h = encoder(x, b["lengths"].to(dev))
        out[pos] = h.float().cpu().numpy()
    encoder.train(was_training)
    return out


def _source(store: Any) -> str:
    return str(getattr(store, "path", None) or getattr(store, "source", "") or "sequences")


def _record(store: Any, i: int) -> str:
    ids = getattr(store, "ids", None)
    return f"record {i + 1} ({ids[i]})" if ids is not None else f"transcript {i}"


# ---------------------------------------------------------------------------------------------
# sequences without a store (a FASTA alone)
# ---------------------------------------------------------------------------------------------
#: GENCODE ``transcripts.fa`` (``|CDS:61-1041|``) and gffread ``-w`` (`` CDS=61-1041``): 1-based,
#: inclusive, stop codon included
_CDS_FIELD = re.compile(r"(?:^|[|\s])CDS[:=](\d+)-(\d+)(?=$|[|\s])")
_GENE_FIELD = re.compile(r"(?:^|\s)gene(?:_id)?=(\S+)")


def parse_header(header: str) -> dict[str, Any]:
    """Transcript id, gene id and CDS (0-based half-open, -1 when absent) of a FASTA header.

    GENCODE: ``ENST...|ENSG...|...|CDS:61-1041|...`` (id = field 1, gene = field 2); gffread:
    ``ID gene=G CDS=61-1041``; anything else: the first word is the id and the gene.
    """
    name = header.split(maxsplit=1)[0] if header.strip() else ""
    fields = name.split("|")
    tid = fields[0]
    gene = fields[1] if len(fields) > 1 and fields[1] else ""
    if not gene:
        g = _GENE_FIELD.search(header)
        gene = g.group(1) if g else tid
    m = _CDS_FIELD.search(header)
    cds_start, cds_end = (int(m.group(1)) - 1, int(m.group(2))) if m else (-1, -1)
    return {"transcript_id": tid, "gene_id": gene, "cds_start": cds_start, "cds_end": cds_end}


class FastaSequences:
    """Sequences without an annotation, with the interface :func:`embed_store` reads.

    The splice track is empty (exons unknown); the coding track marks the codons of a CDS
    given in the header (:func:`parse_header`), else it is empty too. ``tracks`` says which
    (``header_cds`` / ``none``, one per sequence).
    """

    def __init__(self, ids: Sequence[str], gene_ids: Sequence[str], codes: Sequence[npt.NDArray[np.uint8]],
                 cds_start: Sequence[int] | None = None, cds_end: Sequence[int] | None = None,
                 source: str = "") -> None:
        n = len(codes)
        self.source = source
        self.ids = [str(x) for x in ids]
        self.gene_ids = [str(x) for x in gene_ids]
        self._codes = [np.asarray(c, dtype=np.uint8) for c in codes]
        self._lengths = np.fromiter((len(c) for c in self._codes), dtype=np.int64, count=n)
        self.cds_start = np.asarray(cds_start if cds_start is not None else [-1] * n, dtype=np.int64)
        self.cds_end = np.asarray(cds_end if cds_end is not None else [-1] * n, dtype=np.int64)
        empty = np.flatnonzero(self._lengths == 0)
        if len(empty):
            b = int(empty[0])
            raise ValueError(f"{source or 'sequences'}: record {b + 1} ({self.ids[b]}): empty sequence "
                             f"(0 nt{f'; {len(empty)} such records' if len(empty) > 1 else ''}): "
                             "remove it or give it its sequence")
        bad = np.flatnonzero((self.cds_start >= 0) & ((self.cds_end > self._lengths) | (self.cds_end <= self.cds_start)))
        if len(bad):
            b = int(bad[0])
            raise ValueError(f"{source}: {self.ids[b]}: header CDS {self.cds_start[b] + 1}-{self.cds_end[b]} "
                             f"is outside the sequence (1-{self._lengths[b]})")
        if not (len(self.ids) == len(self.gene_ids) == n):
            raise ValueError("ids, gene_ids and codes need one entry per sequence")

    @classmethod
    def from_fasta(cls, path: str | os.PathLike[str]) -> FastaSequences:
        """Every record of a (plain or gzip) FASTA; U reads as T, lower case as upper."""
        from isoclr.store.genome import AMBIGUOUS
        from isoclr.store.transcriptome import read_transcript_fasta

        fa = read_transcript_fasta(path, checksum=False)
        info = [parse_header(h) for h in fa.headers]
        codes = [np.where(c == AMBIGUOUS, np.uint8(4), c) if (c == AMBIGUOUS).any() else c for c in fa.codes]
        ids = [i["transcript_id"] for i in info]
        dup = pd.Series(ids)[pd.Series(ids).duplicated()]
        if len(dup):
            raise ValueError(f"{path}: transcript id {dup.iloc[0]} appears twice (after cutting the header at '|')")
        return cls(ids, [i["gene_id"] for i in info], codes, [i["cds_start"] for i in info],
                   [i["cds_end"] for i in info], source=str(path))

    @classmethod
    def from_strings(cls, seqs: Mapping[str, str] | Sequence[str]) -> FastaSequences:
        """Sequences given as text: a mapping id -> sequence, or a list (ids ``seq0``, ...)."""
        items = list(seqs.items()) if isinstance(seqs, Mapping) else [(f"seq{i}", s) for i, s in enumerate(seqs)]
        return cls([k for k, _ in items], [k for k, _ in items], [encode_sequence(v) for _, v in items])

    def __len__(self) -> int:
        return len(self._codes)

    def lengths(self) -> npt.NDArray[np.int64]:
        return self._lengths

    def codes(self, i: int) -> npt.NDArray[np.uint8]:
        return self._codes[i]

    def marks(self, i: int) -> npt.NDArray[np.uint8]:
        marks = np.zeros(int(self._lengths[i]), dtype=np.uint8)
        s, e = int(self.cds_start[i]), int(self.cds_end[i])
        if s >= 0:
            marks[s:e:3] |= CODON_BIT
        return marks

    def tracks_source(self) -> npt.NDArray[np.object_]:
        return np.where(self.cds_start >= 0, "header_cds", "none").astype(object)


# ---------------------------------------------------------------------------------------------
# the Python API
# ---------------------------------------------------------------------------------------------
class Embedder:
    """A frozen encoder that embeds stores, genomes + annotations, or FASTA files.

    >>> emb = Embedder.from_checkpoint("results/pretrain/isoclr_demo/checkpoint.pt")  # doctest: +SKIP
    >>> df = emb.embed_fasta("my_isoforms.fa")  # doctest: +SKIP
    >>> X = df.filter(regex=r"^h_").to_numpy()  # (n, D)  # doctest: +SKIP

    Every ``embed_*`` method returns one DataFrame row per transcript: ``transcript_id``,
    ``gene_id``, ``species``, ``length``, ``tracks`` (see :mod:`isoclr.evaluate.embeddings`), then
    ``h_0`` .. ``h_{D-1}`` (float32); ``df.attrs`` holds the provenance. Pass the frame to
    :func:`isoclr.evaluate.embeddings.write_embeddings` to save it (.h5, .npz, .parquet or .tsv).
    """

    def __init__(self, encoder: torch.nn.Module, info: Mapping[str, Any] | None = None,
                 device: str | torch.device | None = None, batch_size: int = 64,
                 max_tokens: int = 2_000_000, max_length: int | None = None,
                 too_long: str = "warn", drop_tracks: Sequence[str] | None = None) -> None:
        """``max_length``: the longest sequence the encoder was trained on (default: the
        checkpoint's ``max_length`` if it records one, else :data:`TRAINING_MAX_LENGTH`);
        ``too_long``: what happens to longer ones (:data:`TOO_LONG`: ``warn`` embeds them
        with one warning giving their count, ``skip`` leaves them out with that warning,
        ``refuse`` is an error naming the input and the first of them); ``drop_tracks`` None:
        the tracks the encoder's pre-training dropped (``encoding.drop_tracks``)."""
        self.encoder = encoder
        self.info = dict(info or {})
        if drop_tracks is None:  # the tracks the encoder was pre-trained without (its run's config)
            drop_tracks = self.info.get("drop_tracks") or ()
        self.drop_tracks = check_drop_tracks(drop_tracks)
        self.device = device
        self.batch_size = int(batch_size)
        self.max_tokens = int(max_tokens)
        if too_long not in TOO_LONG:
            raise ValueError(f"too_long must be one of {', '.join(TOO_LONG)}, got {too_long!r}")
        self.too_long = too_long
        self.max_length = int(max_length if max_length is not None
                              else self.info.get("max_length", TRAINING_MAX_LENGTH))
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {self.max_length}")

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], device: str | torch.device | None = None,
                        batch_size: int = 64, max_length: int | None = None,
                        too_long: str = "warn", drop_tracks: Sequence[str] | None = None) -> Embedder:
        """Load the encoder of a pre-training checkpoint (``results/pretrain/{model}/checkpoint.pt``).
        ``drop_tracks`` None: the tracks its pre-training dropped (``encoding.drop_tracks``)."""
        from isoclr.pretrain.model import load_encoder

        encoder, info = load_encoder(path, map_location="cpu")
        info = {**info, "checkpoint": str(path)}
        return cls(encoder, info, device=device, batch_size=batch_size, max_length=max_length,
                   too_long=too_long, drop_tracks=drop_tracks)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str], device: str | torch.device | None = None,
                        batch_size: int = 64) -> Embedder:
        """Load the encoder of a model folder (``model.safetensors`` + ``config.json``, written at
        the end of pre-training or by ``isoclr export-model``; docs/models.md). A folder this
        isoclr did not write, or that was changed, is refused with
        :class:`isoclr.pretrain.model_folder.ModelFolderError`."""
        from isoclr.pretrain.model_folder import load_model_folder

        encoder, config = load_model_folder(folder)
        info = {"model_config": encoder.config, "objective": config.get("objective"), "checkpoint": str(folder),
                "model_folder": str(folder), "isoclr_version": config.get("isoclr_version"),
                "drop_tracks": list(config.get("drop_tracks") or [])}
        return cls(encoder, info, device=device, batch_size=batch_size)

    def _kept(self, source: Any, lengths: npt.NDArray[np.int64], ids: Sequence[str]) -> npt.NDArray[np.int64]:
        """Rows to embed: all, or (``too_long='skip'``) those within :attr:`max_length`; one
        warning gives the count of longer ones; ``refuse`` raises naming the first."""
        over = np.flatnonzero(lengths > self.max_length)
        rows = np.arange(len(lengths), dtype=np.int64)
        if not len(over):
            return rows
        first = int(over[np.argmax(lengths[over])])
        what = (f"{_source(source)}: {len(over)} of {len(lengths)} sequences are longer than "
                f"{self.max_length:,} nt, the longest the encoder was trained on (longest: "
                f"{ids[first]}, {int(lengths[first]):,} nt)")
        if self.too_long == "refuse":
            raise ValueError(f"{what}; --too-long skip leaves them out, --too-long warn embeds "
                             "them anyway, --max-length N moves the limit")
        if self.too_long == "skip":
            log.warning("%s: left out (--too-long skip)", what)
            return np.delete(rows, over)
        log.warning("%s: embedded anyway, outside the training range (--too-long skip leaves "
                    "them out)", what)
        return rows

    @property
    def dim(self) -> int:
        return int(self.encoder.out_dim)

    def _attrs(self, **extra: Any) -> dict[str, Any]:
        out = {"checkpoint": str(self.info.get("checkpoint", "")), "objective": str(self.info.get("objective", "")),
               "drop_tracks": ",".join(self.drop_tracks)}
        out.update({k: str(v) for k, v in extra.items()})
        return out

    def _run(self, source: Any, progress: bool = False,
             rows: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.float32]:
        return embed_store(self.encoder, source, rows, batch_size=self.batch_size, device=self.device,
                           max_tokens=self.max_tokens, progress=progress, drop_tracks=self.drop_tracks)

    def embeddings_of_store(self, store: Any, progress: bool = False, **attrs: Any) -> Embeddings:
        """:class:`isoclr.evaluate.embeddings.Embeddings` of every transcript of a store (path or object)."""
        from isoclr.store.format import IsoformStore

        st = store if hasattr(store, "table") else IsoformStore(store)
        t = st.table()
        rows = self._kept(st, t["length"].to_numpy(), t["transcript_id"].to_numpy())
        h = self._run(st, progress, rows)
        t = t.iloc[rows]
        table = pd.DataFrame({"transcript_id": t["transcript_id"], "gene_id": t["gene_id"],
                              "species": st.species or "unknown", "length": t["length"], "tracks": "annotation"})
        attrs.setdefault("input", getattr(st, "path", store))
        return Embeddings(table, h, self._attrs(**attrs))

    def embeddings_of_fasta(self, fasta: str | os.PathLike[str] | FastaSequences, species: str = "unknown",
                            progress: bool = False, **attrs: Any) -> Embeddings:
        seqs = fasta if isinstance(fasta, FastaSequences) else FastaSequences.from_fasta(fasta)
        rows = self._kept(seqs, seqs.lengths(), seqs.ids)
        h = self._run(seqs, progress, rows)
        table = pd.DataFrame({"transcript_id": np.asarray(seqs.ids, dtype=object)[rows],
                              "gene_id": np.asarray(seqs.gene_ids, dtype=object)[rows],
                              "species": species, "length": seqs.lengths()[rows],
                              "tracks": seqs.tracks_source()[rows]})
        name = "sequences" if isinstance(fasta, FastaSequences) else fasta
        return Embeddings(table, h, self._attrs(input=name, **attrs))

    def embed_store(self, store: Any) -> pd.DataFrame:
        """Every transcript of a species store (``.h5`` path or :class:`isoclr.store.format.IsoformStore`)."""
        return self.embeddings_of_store(store).frame()

    def embed_fasta(self, fasta: str | os.PathLike[str], annotation: str | os.PathLike[str] | None = None,
                    species: str = "unknown", **build: Any) -> pd.DataFrame:
        """The records of a transcript FASTA. With ``annotation`` (genomic coordinates, any
        format ``isoclr build`` reads) the splice and coding tracks come from it (records not
        in it are dropped; ``build`` goes to
        :func:`isoclr.store.transcriptome.build_store_from_transcripts`); without, from
        ``CDS:start-end`` header fields where present, else they are empty (column ``tracks``)."""
        if annotation is None:
            return self.embeddings_of_fasta(fasta, species).frame()
        with _temporary_store() as path:
            from isoclr.store.transcriptome import build_store_from_transcripts

            build_store_from_transcripts(fasta, annotation, species, path, **{"max_length": 0, **build})
            return self.embeddings_of_store(path, input=fasta, annotation=annotation).frame()

    def embed_genome(self, genome: str | os.PathLike[str], annotation: str | os.PathLike[str],
                     species: str = "unknown", **build: Any) -> pd.DataFrame:
        """The annotated transcripts of a genome (``build`` goes to :func:`isoclr.store.builder.build_store`)."""
        with _temporary_store() as path:
            from isoclr.store.builder import build_store

            build_store(genome, annotation, species, path, **{"max_length": None, **build})
            return self.embeddings_of_store(path, input=genome, annotation=annotation).frame()

    def embed_sequences(self, seqs: Mapping[str, str] | Sequence[str]) -> pd.DataFrame:
        """Sequences as text (id -> sequence, or a list): coding and splice tracks empty."""
        return self.embeddings_of_fasta(FastaSequences.from_strings(seqs)).frame()


class _temporary_store:
    """A path for a store in a temporary folder, removed afterwards."""

    def __enter__(self) -> Path:
        self._dir = tempfile.TemporaryDirectory(prefix="isoclr-embed-")
        return Path(self._dir.name) / "store.h5"

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="pre-training checkpoint (checkpoint.pt)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--store", help="species store (.h5) to embed")
    src.add_argument("--genome", help="genome FASTA (with --annotation): a temporary store is built")
    src.add_argument("--transcripts", help="transcript FASTA; with --annotation its exons give the "
                     "tracks, alone the coding track comes from CDS:start-end header fields")
    parser.add_argument("--annotation", help="annotation (GTF, GFF3, genePred, refFlat, BED12) for --genome or --transcripts")
    parser.add_argument("--format", default="auto", help="annotation format (default: auto-detect)")
    parser.add_argument("--species", default="unknown", help="species name (--genome / --transcripts)")
    parser.add_argument("--out", required=True,
                        help="output; the extension chooses the format: .h5, .npz, .parquet or .tsv")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=None, metavar="NT",
                        help="the longest sequence the encoder was trained on (default: the "
                        f"checkpoint's, else {TRAINING_MAX_LENGTH:,} nt, the paper's stores)")
    parser.add_argument("--too-long", choices=TOO_LONG, default="warn",
                        help="sequences longer than --max-length: warn (embed them, one warning "
                        "with their count), skip (leave them out) or refuse (an error)")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: GPU when available)")


def run(args: argparse.Namespace) -> int:
    embeddings_format(args.out)  # an unknown extension fails before any work
    if args.store and args.annotation:
        raise ValueError("--annotation goes with --genome or --transcripts, not --store")
    if args.genome and not args.annotation:
        raise ValueError("--genome needs --annotation")
    emb = Embedder.from_checkpoint(args.checkpoint, device=args.device, batch_size=args.batch_size,
                                   max_length=args.max_length, too_long=args.too_long)
    if args.store:
        result = emb.embeddings_of_store(args.store, progress=True)
    elif args.transcripts and not args.annotation:
        result = emb.embeddings_of_fasta(args.transcripts, args.species, progress=True)
    else:
        with _temporary_store() as path:
            if args.genome:
                from isoclr.store.builder import build_store

                build_store(args.genome, args.annotation, args.species, path, fmt=args.format, max_length=None)
                extra = {"input": args.genome}
            else:
                from isoclr.store.transcriptome import build_store_from_transcripts

                stats = build_store_from_transcripts(args.transcripts, args.annotation, args.species, path,
                                                     fmt=args.format, max_length=0)
                left = {k: v for k, v in stats["dropped"].items() if v}
                if left:
                    print(f"{args.out}: not embedded: " + ", ".join(f"{v} {k}" for k, v in left.items())
                          + " (missing_annotation: FASTA records absent from the annotation; embed "
                          "them without --annotation)", file=sys.stderr)
                extra = {"input": args.transcripts}
            result = emb.embeddings_of_store(path, progress=True, annotation=args.annotation, **extra)
    write_embeddings(args.out, result)
    counts = result.table["tracks"].value_counts().to_dict()
    log.info("%s: %d embeddings of dimension %d (tracks: %s)", args.out, len(result), result.h.shape[1],
             ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"{args.out}: {len(result)} embeddings of dimension {result.h.shape[1]}")
    return 0
