"""Which nucleotides drive a fine-tuned head's prediction: per-nucleotide attributions.

Two methods, for one output of a kept head (:func:`isoclr.evaluate.heads.load_head`):

* ``ism`` (in-silico mutagenesis, exact): every position x its 3 substitutions is predicted
  (batched copies of the transcript's tracks, one substitution each; the network is in eval
  mode, so a row's prediction does not depend on its batch). ``ism_A`` .. ``ism_T`` hold
  ``prediction(substituted) - prediction(reference)`` (0 at the reference base) and ``ism``
  the contribution ``prediction(reference) - mean(prediction of the 3 substitutions)``:
  positive where the transcript's base raises the prediction. At an ``N`` the substitutions
  are A, C and G.
* ``ig`` (integrated gradients) and ``gxi`` (gradient x input), both by Captum, over the four
  nucleotide channels (the codon and splice tracks held fixed), from the uniform background
  (0.25 per base; IG with 32 steps by default); the contribution of a position is the sum
  over its four channels, ``g[base] - mean(g)``: the gradient's estimate of ``ism``.

Output (:func:`write_attributions`, the format from the extension as for embeddings:
``.h5``, ``.npz``, ``.parquet``, ``.tsv``): one row per transcript and position with
``transcript_id``, ``gene_id``, ``position`` (0-based), ``nucleotide``, ``region``
(``5utr``, ``cds``, ``3utr`` or ``noncoding``) and one column per method (plus ``ism_A`` ..
``ism_T``); attributes: the head, the output, the methods and, per transcript, its
length, CDS and prediction. :func:`isoclr.figures.attribution.draw_attribution` draws one
figure per transcript. docs/attribution.md has the details; ``isoclr attribute`` is the command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch

from isoclr.core.encoding import check_drop_tracks, decode_sequence, drop_marks, tracks_numpy
from isoclr.evaluate.embeddings import embeddings_format

log = logging.getLogger(__name__)

METHODS = ("ism", "ig", "gxi")
ISM_COLUMNS = ("ism_A", "ism_C", "ism_G", "ism_T")
#: the three substitutions at a position holding code A, C, G, T, N
_ALT = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2], [0, 1, 2]], dtype=np.int64)


def _output_index(head: Any, output: int | str | None) -> int:
    if output is None:
        return 0
    if isinstance(output, str):
        if output not in head.outputs:
            raise ValueError(f"output {output!r} is not one of the head's outputs {head.outputs}")
        return head.outputs.index(output)
    if not 0 <= int(output) < len(head.outputs):
        raise ValueError(f"output {output} is out of range (the head has {len(head.outputs)})")
    return int(output)


def _tracks(codes: npt.NDArray[np.uint8], marks: npt.NDArray[np.uint8], device: torch.device) -> torch.Tensor:
    return torch.from_numpy(tracks_numpy(codes, marks)).to(device)


@torch.no_grad()
def ism(head: Any, codes: npt.NDArray[np.uint8], marks: npt.NDArray[np.uint8], output: int = 0,
        max_tokens: int = 65_536, positions: npt.ArrayLike | None = None) -> tuple[float, npt.NDArray[np.float64]]:
    """``(reference prediction, delta (L, 4))``: the prediction change of every substitution.

    ``3 L`` substituted copies (``3 len(positions)`` when given; other rows stay 0) run in
    batches of at most ``max_tokens`` nucleotides.
    """
    dev = head.device
    L = len(codes)
    x = _tracks(codes, marks, dev)
    length = torch.tensor([L], device=dev)
    ref = float(head.forward(x[None], length)[0, output])
    where = np.arange(L) if positions is None else np.unique(np.asarray(positions, dtype=np.int64))
    if len(where) and (where[0] < 0 or where[-1] >= L):
        raise ValueError(f"ism: positions must be in [0, {L})")
    pos = np.repeat(where, 3)
    alt = _ALT[np.minimum(codes, 4)[pos], np.tile(np.arange(3), len(where))]
    preds = np.empty(len(pos), dtype=np.float64)
    rows = max(1, int(max_tokens) // max(L, 1))
    for s in range(0, len(pos), rows):
        p = torch.from_numpy(pos[s : s + rows]).to(dev)
        a = torch.from_numpy(alt[s : s + rows]).to(dev)
        xb = x.expand(len(p), -1, -1).clone()
        i = torch.arange(len(p), device=dev)
        xb[i, :4, p] = 0
        xb[i, a, p] = 1
        preds[s : s + len(p)] = head.forward(xb, length.expand(len(p)))[:, output].double().cpu().numpy()
    delta = np.zeros((L, 4), dtype=np.float64)
    delta[pos, alt] = preds - ref
    return ref, delta


def gradient(head: Any, codes: npt.NDArray[np.uint8], marks: npt.NDArray[np.uint8], output: int = 0,
             method: str = "ig", n_steps: int = 32, internal_batch_size: int = 8) -> npt.NDArray[np.float64]:
    """Per-position attribution (L,) on the nucleotide channels (codon and splice tracks fixed),
    by Captum: ``ig``, integrated gradients from the uniform background (0.25 on each of A, C,
    G, T) to the sequence; ``gxi``, the gradient times the input centred on that background.

    Summed over the four channels, both give ``g[base] - mean(g)`` at each position (``g`` the
    gradient, integrated along the path for ``ig``): the first-order estimate of the ISM
    contribution, without the gradient's arbitrary off-simplex component (the correction of
    Majdandzic et al. 2023, Genome Biology 24:109).
    """
    from captum.attr import IntegratedGradients, Saliency

    dev = head.device
    x = _tracks(codes, marks, dev)[None]
    nuc, rest = x[:, :4].clone(), x[:, 4:]
    length = torch.tensor([x.shape[-1]], device=dev)
    background = torch.full_like(nuc, 0.25)

    def f(n: torch.Tensor, rest: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        full = torch.cat([n, rest.expand(n.shape[0], -1, -1)], dim=1)
        return head.forward(full, length.expand(n.shape[0]))[:, output]

    with torch.enable_grad():
        if method == "ig":
            attr = IntegratedGradients(f).attribute(nuc, baselines=background, n_steps=n_steps,
                                                     additional_forward_args=(rest, length),
                                                     internal_batch_size=internal_batch_size)
        elif method == "gxi":
            grad = Saliency(f).attribute(nuc.requires_grad_(True), abs=False, additional_forward_args=(rest, length))
            attr = grad * (nuc.detach() - background)
        else:
            raise ValueError(f"unknown gradient method {method!r} (ig or gxi)")
    return attr.detach().sum(dim=1)[0].double().cpu().numpy()


@dataclass
class Attributions:
    """``table``: one row per transcript and position; ``transcripts``: one row per transcript."""

    table: pd.DataFrame
    transcripts: pd.DataFrame
    attrs: dict[str, Any] = field(default_factory=dict)

    def of(self, transcript_id: str) -> pd.DataFrame:
        return self.table[self.table["transcript_id"] == transcript_id].reset_index(drop=True)


def regions(length: int, cds_start: int, cds_end: int) -> npt.NDArray[np.object_]:
    """``5utr``/``cds``/``3utr`` per position (``noncoding`` without a CDS)."""
    pos = np.arange(length)
    if cds_start < 0:
        return np.full(length, "noncoding", dtype=object)
    return np.where(pos < cds_start, "5utr", np.where(pos < cds_end, "cds", "3utr")).astype(object)


def _cds_of(source: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per transcript CDS start and end (0-based half-open; -1 when non-coding)."""
    if hasattr(source, "cds_start") and not callable(source.cds_start):
        return np.asarray(source.cds_start, dtype=np.int64), np.asarray(source.cds_end, dtype=np.int64)
    if hasattr(source, "table"):
        t = source.table()
        return t["cds_start"].to_numpy(dtype=np.int64), t["cds_end"].to_numpy(dtype=np.int64)
    return np.full(len(source), -1, dtype=np.int64), np.full(len(source), -1, dtype=np.int64)


def _ids_of(source: Any) -> tuple[list[str], list[str]]:
    if hasattr(source, "ids"):
        return list(source.ids), list(getattr(source, "gene_ids", source.ids))
    if hasattr(source, "table"):
        t = source.table()
        return t["transcript_id"].astype(str).tolist(), t["gene_id"].astype(str).tolist()
    n = len(source)
    return [f"seq{i}" for i in range(n)], [f"seq{i}" for i in range(n)]


def attribute(head: Any, source: Any, indices: npt.ArrayLike | None = None, methods: Sequence[str] = ("ism", "ig"),
              output: int | str | None = None, n_steps: int = 32, max_tokens: int = 65_536,
              progress: bool = False, drop_tracks: Sequence[str] = ()) -> Attributions:
    """Attributions of ``head`` for transcripts ``indices`` (all when None) of ``source`` (a store,
    :class:`isoclr.evaluate.embedder.FastaSequences`, or :func:`isoclr.evaluate.heads.sequence_source`).
    ``drop_tracks``: the tracks the head's study zeroed (config ``encoding.drop_tracks``), zeroed
    here too so the head sees what it was trained on."""
    methods = list(dict.fromkeys(methods))
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"unknown attribution method(s) {bad}; choose from {', '.join(METHODS)}")
    out_i = _output_index(head, output)
    ids, genes = _ids_of(source)
    cds_start, cds_end = _cds_of(source)
    idx = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
    frames, rows = [], []
    it: Any = idx
    if progress:
        from tqdm import tqdm

        it = tqdm(idx, desc="attribute", unit="transcript", leave=False)
    for i in it:
        codes, marks = source.codes(int(i)), drop_marks(source.marks(int(i)), check_drop_tracks(drop_tracks))
        L = len(codes)
        cs, ce = int(cds_start[i]), int(cds_end[i])
        cols: dict[str, Any] = {
            "transcript_id": ids[i], "gene_id": genes[i], "position": np.arange(L, dtype=np.int64),
            "nucleotide": np.frombuffer(decode_sequence(codes).encode(), dtype="S1").astype(str),
            "region": regions(L, cs, ce),
        }
        info: dict[str, Any] = {"transcript_id": ids[i], "gene_id": genes[i], "length": L, "cds_start": cs,
                                "cds_end": ce}
        ref = None
        for m in methods:
            t0 = time.perf_counter()
            if m == "ism":
                ref, delta = ism(head, codes, marks, out_i, max_tokens)
                alt = _ALT[np.minimum(codes, 4)]
                cols["ism"] = -delta[np.arange(L)[:, None], alt].mean(axis=1)
                for k, c in enumerate(ISM_COLUMNS):
                    cols[c] = delta[:, k]
            else:
                cols[m] = gradient(head, codes, marks, out_i, m, n_steps)
            info[f"seconds_{m}"] = time.perf_counter() - t0
        if ref is None:
            ref = float(head.predict_source(_One(codes, marks))[0] if head.kind == "regression"
                        else head.predict_source(_One(codes, marks))[0, out_i])
        info["prediction"] = ref
        frames.append(pd.DataFrame(cols))
        rows.append(info)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["transcript_id", "gene_id", "position", "nucleotide", "region", *methods])
    attrs = {"head": str(getattr(head, "folder", "")), "task": head.task, "output": head.outputs[out_i],
             "methods": ",".join(methods), "ig_steps": int(n_steps) if "ig" in methods else 0,
             "tracks_zeroed": ",".join(check_drop_tracks(drop_tracks)),
             "transcripts": json.dumps(rows)}
    return Attributions(table, pd.DataFrame(rows), attrs)


class _One:
    def __init__(self, codes: npt.NDArray[np.uint8], marks: npt.NDArray[np.uint8]) -> None:
        self._c, self._m = codes, marks

    def __len__(self) -> int:
        return 1

    def lengths(self) -> npt.NDArray[np.int64]:
        return np.array([len(self._c)], dtype=np.int64)

    def codes(self, i: int) -> npt.NDArray[np.uint8]:
        return self._c

    def marks(self, i: int) -> npt.NDArray[np.uint8]:
        return self._m


# ---------------------------------------------------------------------------------------------
# a planted signal (the validation of tests/test_attribute.py and benchmarks/bench_attribute.py)
# ---------------------------------------------------------------------------------------------
def planted_motif_transcripts(n: int, seed: int, motif: str = "TATTTAT", max_copies: int = 2
                              ) -> tuple[list[str], list[tuple[int, int]], list[npt.NDArray[np.bool_]], npt.NDArray[np.float64]]:
    """Random transcripts (5'UTR 30 nt, CDS 90 nt, 3'UTR to 180-260 nt) with 0..``max_copies``
    copies of ``motif`` at random 3'UTR positions; label = copies + N(0, 0.1). Returns the
    sequences, their CDS, the motif positions (bool masks) and the labels."""
    from isoclr.core.encoding import decode_sequence

    rng = np.random.default_rng(seed)
    seqs, cds, masks, y = [], [], [], []
    for _ in range(n):
        length = int(rng.integers(180, 260))
        s = list(decode_sequence(rng.integers(0, 4, length)))
        k = int(rng.integers(0, max_copies + 1))
        mask = np.zeros(length, dtype=bool)
        for p in rng.choice(np.arange(125, length - len(motif) - 3, len(motif) + 5), size=k, replace=False):
            s[p : p + len(motif)] = motif
            mask[p : p + len(motif)] = True
        seqs.append("".join(s))
        cds.append((30, 120))
        masks.append(mask)
        y.append(k + 0.1 * rng.normal())
    return seqs, cds, masks, np.asarray(y)


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
_STR = ("transcript_id", "gene_id", "nucleotide", "region")


def write_attributions(path: str | os.PathLike[str], att: Attributions) -> Path:
    """Write the table atomically in the format of ``path``'s extension (.h5/.npz/.parquet/.tsv)."""
    from isoclr.core.files import atomic_path

    fmt = embeddings_format(path)
    path = Path(path)
    t = att.table
    meta = json.dumps(att.attrs, sort_keys=True, default=str)
    with atomic_path(path, suffix=path.suffix) as tmp:
        if fmt == "h5":
            import h5py

            from isoclr.core.files import h5_create

            with h5_create(tmp) as f:
                for c in t.columns:
                    if c in _STR:
                        f.create_dataset(c, data=t[c].to_numpy(dtype=object), dtype=h5py.string_dtype("utf-8"))
                    else:
                        f.create_dataset(c, data=t[c].to_numpy())
                f.attrs["isoclr"] = meta
                f.attrs["columns"] = json.dumps(list(t.columns))  # HDF5 lists datasets by name
        elif fmt == "npz":
            with open(tmp, "wb") as fh:
                np.savez(fh, attrs=np.asarray(meta), **{c: (t[c].to_numpy(dtype=str) if c in _STR else t[c].to_numpy())
                                                       for c in t.columns})
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(t, preserve_index=False)
            pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), b"isoclr": meta.encode()}), tmp)
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write("#isoclr " + meta + "\n")
                t.to_csv(fh, sep="\t", index=False, float_format="%.9g")
    return path


def read_attributions(path: str | os.PathLike[str]) -> Attributions:
    """Read a file :func:`write_attributions` wrote (any of its formats)."""
    fmt = embeddings_format(path)
    path = Path(path)
    if fmt == "h5":
        import h5py

        with h5py.File(path, "r") as f:
            names = json.loads(f.attrs["columns"]) if "columns" in f.attrs else list(f.keys())
            cols = {c: (f[c].asstr()[:] if c in _STR else f[c][:]) for c in names}
            meta = f.attrs["isoclr"]
        t = pd.DataFrame(cols)
    elif fmt == "npz":
        with np.load(path, allow_pickle=False) as z:
            meta = str(z["attrs"])
            t = pd.DataFrame({c: z[c] for c in z.files if c != "attrs"})
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = (table.schema.metadata or {}).get(b"isoclr", b"{}").decode()
        t = table.to_pandas()
    else:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
            if not first.startswith("#isoclr "):
                raise ValueError(f"{path} line 1: expected '#isoclr {{attributes}}' (not an attributions file)")
            meta = first[len("#isoclr "):]
            t = pd.read_csv(fh, sep="\t", dtype={c: str for c in _STR}, keep_default_na=False)
    attrs = json.loads(meta)
    if "position" not in t.columns or "transcript_id" not in t.columns:
        raise ValueError(f"{path}: not an attributions file (no position / transcript_id columns)")
    order = ["transcript_id", "gene_id", "position", "nucleotide", "region"]
    t = t[order + [c for c in t.columns if c not in order]]
    return Attributions(t, pd.DataFrame(json.loads(attrs.get("transcripts", "[]"))), attrs)


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--head", required=True, help="head folder (results/<study>/eval/TASK/MODEL/frac1.0/fold0.head)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--store", help="species store (.h5)")
    src.add_argument("--genome", help="genome FASTA (with --annotation): a temporary store is built")
    src.add_argument("--transcripts", help="transcript FASTA; with --annotation its exons give the tracks, alone "
                     "the coding track comes from CDS:start-end header fields")
    parser.add_argument("--annotation", help="annotation (GTF, GFF3, genePred, refFlat, BED12) for --genome or --transcripts")
    parser.add_argument("--format", default="auto", help="annotation format (default: auto-detect)")
    parser.add_argument("--ids", default=None, help="comma-separated transcript ids to attribute (default: all)")
    parser.add_argument("--limit", type=int, default=None, help="attribute at most N transcripts (the first chosen)")
    parser.add_argument("--methods", default="ism,ig", help=f"comma-separated, of {', '.join(METHODS)} (default ism,ig)")
    parser.add_argument("--output", default=None, help="which output of a multi-label head (name or index; default the first)")
    parser.add_argument("--ig-steps", type=int, default=32, help="integrated-gradients steps (default 32)")
    parser.add_argument("--out", required=True, help="attributions file; the extension chooses .h5, .npz, .parquet or .tsv")
    parser.add_argument("--figures", default=None, help="folder for one PNG (and PDF) per transcript")
    parser.add_argument("--batch-tokens", type=int, default=65_536,
                        help="nucleotides per in-silico mutagenesis batch (default 65536; larger on a GPU)")
    parser.add_argument("--drop-tracks", default="", help="comma-separated tracks to zero (codon, splice): those "
                        "the head's study zeroed (config encoding.drop_tracks)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def _pick(ids: list[str], wanted: str | None, where: str) -> npt.NDArray[np.int64]:
    if not wanted:
        return np.arange(len(ids))
    want = [w.strip() for w in wanted.split(",") if w.strip()]
    pos = {t: i for i, t in enumerate(ids)}
    missing = [w for w in want if w not in pos]
    if missing:
        raise ValueError(f"{where}: transcript(s) {', '.join(missing[:5])} not found")
    return np.array([pos[w] for w in want], dtype=np.int64)


def run(args: argparse.Namespace) -> int:
    from isoclr.evaluate.embedder import FastaSequences, _temporary_store
    from isoclr.evaluate.heads import load_head
    from isoclr.store.format import IsoformStore

    embeddings_format(args.out)  # an unknown extension fails before any work
    if args.store and args.annotation:
        raise ValueError("--annotation goes with --genome or --transcripts, not --store")
    if args.genome and not args.annotation:
        raise ValueError("--genome needs --annotation")
    if args.threads:
        torch.set_num_threads(args.threads)
    head = load_head(args.head).to(args.device)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    output: int | str | None = args.output
    if isinstance(output, str) and output.isdigit():
        output = int(output)

    def go(source: Any, where: str) -> Attributions:
        idx = _pick(_ids_of(source)[0], args.ids, where)
        if args.limit is not None:
            idx = idx[: max(int(args.limit), 0)]
        return attribute(head, source, idx, methods, output, args.ig_steps, args.batch_tokens,
                         progress=sys.stderr.isatty(),
                         drop_tracks=[t.strip() for t in args.drop_tracks.split(",") if t.strip()])

    if args.store:
        att = go(IsoformStore(args.store), args.store)
    elif args.transcripts and not args.annotation:
        att = go(FastaSequences.from_fasta(args.transcripts), args.transcripts)
    else:
        with _temporary_store() as path:
            if args.genome:
                from isoclr.store.builder import build_store

                build_store(args.genome, args.annotation, "unknown", path, fmt=args.format, max_length=None)
            else:
                from isoclr.store.transcriptome import build_store_from_transcripts

                build_store_from_transcripts(args.transcripts, args.annotation, "unknown", path, fmt=args.format,
                                             max_length=0)
            att = go(IsoformStore(path), args.genome or args.transcripts)
    write_attributions(args.out, att)
    if args.figures:
        from isoclr.figures.attribution import draw_attribution

        for tid in att.transcripts["transcript_id"]:
            draw_attribution(att, tid, Path(args.figures) / f"{safe_name(tid)}.pdf")
    secs = {m: float(att.transcripts[f"seconds_{m}"].mean()) for m in methods} if len(att.transcripts) else {}
    print(f"{args.out}: {len(att.transcripts)} transcripts, {len(att.table)} positions; mean seconds per "
          "transcript: " + ", ".join(f"{m} {s:.2f}" for m, s in secs.items()))
    return 0


def safe_name(name: str) -> str:
    """A transcript id as a file name (other characters than letters, digits, . _ - become _)."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
