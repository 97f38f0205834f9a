"""The diagnostics job: one frozen encoder on a study's held-out data (the ``diagnostics``
rule's job and ``isoclr diagnostics``), with the measures of :mod:`isoclr.diagnostics.measures`.

The test split's transcripts (a seeded sample) give the effective rank; one positive pair per
test set with two or more transcripts gives alignment and uniformity; the held-out ortholog
pairs file (splits stage, ``splits/heldout_orthologs.tsv``) gives ortholog retrieval. ``naive``
is the k-mer-profile reference (:func:`kmer_profiles`); torch encoders are built as the
embedding jobs build them and read the study's tracks (``encoding.drop_tracks``).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import numpy.typing as npt

from isoclr.core.files import atomic_path
from isoclr.diagnostics import measures as D

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# k-mer profiles (the retrieval reference that knows only sequence composition)
# ---------------------------------------------------------------------------------------------
def kmer_profiles(seqs: Sequence[npt.NDArray[np.uint8]], ks: Sequence[int] = (3, 4, 5, 6)) -> npt.NDArray[np.float32]:
    """(n, sum 4**k) k-mer frequencies (each k's block sums to 1; the counts of
    :func:`isoclr.evaluate.naive.kmer_counts`), a length-free composition profile."""
    from isoclr.evaluate.naive import kmer_counts

    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    codes = np.concatenate([np.asarray(s, dtype=np.uint8) for s in seqs]) if len(seqs) else np.zeros(0, np.uint8)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    blocks = []
    for k in ks:
        counts = kmer_counts(codes, offsets, k)
        total = counts.sum(axis=1, keepdims=True)
        blocks.append(np.divide(counts, total, out=np.zeros_like(counts), where=total > 0))
    return np.concatenate(blocks, axis=1).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# one encoder on a study's held-out data (the pipeline job)
# ---------------------------------------------------------------------------------------------
#: (store, rows) -> (len(rows), D) embeddings
EmbedFn = Callable[[Any, npt.NDArray[np.int64]], npt.NDArray[np.float32]]


def heldout_members(sets: Any, splits: npt.NDArray[np.object_],
                    split: str | Sequence[str] = "test") -> npt.NDArray[np.int64]:
    """Member positions (into ``sets.member_*``) of every set of ``split`` (one name or several)."""
    ids = np.flatnonzero(np.isin(splits, [split] if isinstance(split, str) else list(split)))
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    starts, stops = sets.offset[ids], sets.offset[ids + 1]
    return np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)]).astype(np.int64)


def heldout_pairs(sets: Any, splits: npt.NDArray[np.object_], max_pairs: int, seed: int,
                  split: str = "test") -> npt.NDArray[np.int64]:
    """(p, 2) member positions: two distinct members of each ``split`` set with two or more
    (a seeded choice per set; at most ``max_pairs`` sets, a seeded sample)."""
    rng = np.random.default_rng(seed)
    ids = np.flatnonzero((splits == split) & (np.diff(sets.offset) > 1))
    if len(ids) > max_pairs:
        ids = np.sort(rng.choice(ids, max_pairs, replace=False))
    out = np.empty((len(ids), 2), dtype=np.int64)
    for row, s in enumerate(ids):
        out[row] = sets.offset[s] + rng.choice(int(sets.offset[s + 1] - sets.offset[s]), 2, replace=False)
    return out


def diagnose(
    model: str,
    embed: EmbedFn,
    sets_path: str | os.PathLike[str],
    splits_path: str | os.PathLike[str],
    stores: Mapping[str, str] | None = None,
    orthologs: str | os.PathLike[str] | None = None,
    *,
    max_transcripts: int = 2000,
    max_pairs: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The diagnostics table (:data:`COLUMNS`) of one encoder (``embed``) on a study's test split:
    effective rank over (at most ``max_transcripts``, a seeded sample of) the test sets'
    transcripts; alignment and uniformity over one positive pair per test set (at most
    ``max_pairs``); with ``orthologs`` (two or more species), ortholog retrieval."""
    import pandas as pd

    from isoclr.pretrain.loader import TranscriptSets, read_splits
    from isoclr.store.format import IsoformStore

    sets = TranscriptSets.load(sets_path, dict(stores) if stores else None)
    splits = read_splits(splits_path, sets.n_sets)
    rng = np.random.default_rng(seed)
    members = heldout_members(sets, splits)
    if len(members) == 0:
        raise ValueError(f"{splits_path}: no test sets, nothing to diagnose")
    if len(members) > max_transcripts:
        members = np.sort(rng.choice(members, max_transcripts, replace=False))
    pairs = heldout_pairs(sets, splits, max_pairs, seed)
    opened = [IsoformStore(p) for p in sets.stores]
    # every transcript needed, embedded once per species
    wanted: dict[int, set[int]] = {}
    for m in np.concatenate([members, pairs.ravel()]):
        wanted.setdefault(int(sets.member_species[m]), set()).add(int(sets.member_transcript[m]))
    table = None
    if orthologs is not None:
        table = D.read_heldout_orthologs(orthologs)
        id_of = {sp: st.table()["transcript_id"].astype(str).tolist() for sp, st in enumerate(opened)}
        ids = {sp: {t: i for i, t in enumerate(names)} for sp, names in id_of.items()}
        where: dict[str, tuple[int, int]] = {}
        for col, side in (("human_transcript", "species_a"), ("mouse_transcript", "species_b")):
            named = table[side] if side in table.columns else [None] * len(table)
            for t, sp_name in zip(table[col], named):
                look = ids.items() if sp_name is None or sp_name not in sets.species else \
                    [(sets.species.index(sp_name), ids[sets.species.index(sp_name)])]
                hit = next(((sp, rows[t]) for sp, rows in look if t in rows), None)
                if hit is None:
                    raise ValueError(f"{orthologs}: transcript {t} ({col}) is in no species store "
                                     f"({sp_name or ', '.join(sets.species)})")
                where[t] = hit
                wanted.setdefault(hit[0], set()).add(hit[1])
        # the candidates: every held-out (not training) transcript of the mouse transcripts' species
        mouse_species = {where[t][0] for t in table["mouse_transcript"]}
        all_held = heldout_members(sets, splits, ("validation", "test"))
        extra = all_held[np.isin(sets.member_species[all_held], list(mouse_species))]
        candidates: list[str] = []
        for m in extra:
            sp, row = int(sets.member_species[m]), int(sets.member_transcript[m])
            where.setdefault(id_of[sp][row], (sp, row))
            wanted.setdefault(sp, set()).add(row)
            candidates.append(id_of[sp][row])
    h: dict[tuple[int, int], npt.NDArray[np.float32]] = {}
    for sp, rows_set in sorted(wanted.items()):
        rows = np.array(sorted(rows_set), dtype=np.int64)
        emb = np.asarray(embed(opened[sp], rows), dtype=np.float32)
        if emb.shape[0] != len(rows) or not np.all(np.isfinite(emb)):
            raise RuntimeError(f"{model}: the encoder gave {emb.shape} (or non-finite) embeddings for {len(rows)} rows")
        h.update({(sp, int(r)): emb[i] for i, r in enumerate(rows)})

    def of(positions: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return np.stack([h[(int(sets.member_species[m]), int(sets.member_transcript[m]))] for m in positions])

    hm = of(members)
    rows: list[tuple[str, float, int]] = [
        ("effective_rank", D.effective_rank(hm), len(hm)),
        ("effective_rank_max", float(min(hm.shape)), len(hm)),
        ("dimensions", float(hm.shape[1]), len(hm)),
    ]
    if len(pairs):
        a, u = D.alignment_uniformity(of(pairs[:, 0]), of(pairs[:, 1]), seed=seed)
        rows += [("alignment", a, len(pairs)), ("uniformity", u, len(pairs))]
    if table is not None and len(table):
        keys = list(where)
        lookup = {t: i for i, t in enumerate(keys)}
        mat = np.stack([h[where[t]] for t in keys])
        r = D.ortholog_retrieval(table, lookup, lookup, mat, mat, candidates)
        rows += [("retrieval_top1", r.top1, r.n_queries), ("retrieval_top10", r.top10, r.n_queries),
                 ("retrieval_median_rank", r.median_rank, r.n_queries),
                 ("retrieval_chance_top1", r.chance_top1, r.n_candidates),
                 ("retrieval_candidates", float(r.n_candidates), r.n_candidates)]
    out = pd.DataFrame([(model, m, v, n) for m, v, n in rows], columns=D.COLUMNS)
    log.info("%s: %s", model, ", ".join(f"{m} {v:.4g}" for m, v, _ in rows))
    return out


def torch_embedder(encoder: Any, batch_size: int = 16, device: str | None = "auto",
                   drop_tracks: Sequence[str] = ()) -> EmbedFn:
    """An :data:`EmbedFn` of a frozen torch encoder (:func:`isoclr.evaluate.embedder.embed_store`)."""
    from isoclr.evaluate.embedder import embed_store
    from isoclr.core.devices import resolve_device

    dev = resolve_device(device)

    def embed(store: Any, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return embed_store(encoder, store, rows, batch_size=batch_size, device=dev, drop_tracks=drop_tracks)

    return embed


def kmer_embedder(store: Any, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """The k-mer profile :data:`EmbedFn` (:func:`kmer_profiles`)."""
    return kmer_profiles([store.codes(int(r)) for r in rows])


def run_diagnostics(
    encoder: str,
    out: str | os.PathLike[str],
    sets: str | os.PathLike[str],
    splits: str | os.PathLike[str],
    stores: Mapping[str, str] | None = None,
    orthologs: str | os.PathLike[str] | None = None,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    model_cfg: Mapping[str, Any] | None = None,
    seed: int = 0,
    sample_seed: int = 0,
    batch_size: int = 16,
    device: str | None = "auto",
    drop_tracks: Sequence[str] = (),
    max_transcripts: int = 2000,
    max_pairs: int = 1000,
    threads: int | None = None,
) -> pd.DataFrame:
    """One frozen encoder's diagnostics table, written to ``out`` (TSV, atomically). ``naive``
    is the k-mer-profile reference; every other encoder is built as the embedding jobs build it
    (:func:`isoclr.evaluate.jobs.make_encoder`, ``seed`` the random encoder's). ``sample_seed``
    picks the held-out transcripts and pairs: the same for every encoder of a study."""
    if encoder == "naive":
        embed = kmer_embedder
    else:
        import torch

        from isoclr.evaluate.jobs import make_encoder

        if threads:
            torch.set_num_threads(int(threads))
        embed = torch_embedder(make_encoder(encoder, checkpoint, model_cfg, seed), batch_size, device, drop_tracks)
    table = diagnose(encoder, embed, sets, splits, stores, orthologs, max_transcripts=max_transcripts,
                     max_pairs=max_pairs, seed=sample_seed)
    write_table(table, out)
    return table


def write_table(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    with atomic_path(path, suffix=".tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="NaN", float_format="%.6g")


def diagnostics_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "diagnostics",
                    wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The ``diagnostics`` rule: ``params.settings`` is
    :class:`isoclr.config.settings.diagnostics.DiagnosticsSettings`, ``params.species`` the stores' species."""
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "diagnostics of one frozen encoder on the held-out transcripts",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    s = dict(params.settings)
    run_diagnostics(s.pop("encoder"), outputs[0], inputs.sets, inputs.splits,
                    dict(zip(params.species, inputs.stores)), inputs.get("orthologs"),
                    checkpoint=inputs.get("checkpoint"), threads=threads, **s)


# ---------------------------------------------------------------------------------------------
# CLI: isoclr diagnostics
# ---------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    job = sub.add_parser("run", help="one encoder's diagnostics table")
    job.add_argument("--encoder", required=True, help="isoclr, mlm, random, naive (k-mer profiles) or pretrained-NAME")
    job.add_argument("--out", required=True, help="output TSV")
    job.add_argument("--sets", required=True, help="results/homology/sets.h5")
    job.add_argument("--splits", required=True, help="results/splits/splits.tsv")
    job.add_argument("--orthologs", help="results/splits/heldout_orthologs.tsv (ortholog retrieval)")
    job.add_argument("--checkpoint", help="pre-training checkpoint (isoclr, mlm, pretrained-NAME)")
    job.add_argument("--store", action="append", default=[], metavar="SPECIES=PATH", help="store path override (repeatable)")
    job.add_argument("--config", help="pipeline config YAML (seed, random encoder, encoding, diagnostics; default: the demo config)")
    job.add_argument("--device", default=None)
    job.add_argument("--threads", type=int, default=None)
    fig = sub.add_parser("figure", help="the diagnostics figure (PDF and PNG) from the tables")
    fig.add_argument("--out", required=True, help="PDF path; the PNG is written beside it")
    fig.add_argument("--study", default="", help="the study drawn (demo: the figure says it is demo-sized)")
    fig.add_argument("tables", nargs="+")


def run(args: argparse.Namespace) -> int:
    if args.action == "figure":
        from isoclr.figures.diagnostics import fig_diagnostics

        fig_diagnostics(args.tables, args.out, study=args.study)
        return 0
    from isoclr.config.load import config_option
    from isoclr.config.settings.diagnostics import DiagnosticsSettings

    config = config_option(args.config)  # the pipeline's settings for the same config
    kw = DiagnosticsSettings.from_config(config, args.encoder).to_params()
    kw.pop("encoder")
    if args.device:
        kw["device"] = args.device
    stores = dict(x.split("=", 1) for x in args.store) if args.store else None
    table = run_diagnostics(args.encoder, args.out, args.sets, args.splits, stores, args.orthologs,
                            checkpoint=args.checkpoint, threads=args.threads, **kw)
    print(table.to_string(index=False))
    return 0
