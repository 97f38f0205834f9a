"""Sampling and loading of transcript-set view pairs for contrastive pre-training.

One *epoch* visits every selected transcript set once as an anchor. For each set the sampler
draws two members (the two "views"): two different transcripts when the set has more than one
(isoforms of a gene, paralogs, or orthologs in another species, all through the set's
homology), the same transcript twice when it has only one. Batches therefore hold distinct sets.

Batches are bucketed by length: the epoch's sets are shuffled, cut into chunks of
``chunk_batches`` batches, sorted by the longer view's length inside each chunk, cut into
batches, and the batch order is shuffled again.

Length groups (dynamic padding, finer than one tensor per batch): the two views of a set are
different transcripts whose lengths can differ several-fold (a gene's isoforms, a homolog), so
a single tensor padded to the batch's longest view is mostly padding on real data however the
batch was bucketed (30% on the demo stores, 13% on the simulated benchmark). So the worker
sorts the batch's ``2B`` views by length and cuts them into at most ``length_groups``
contiguous groups (:func:`length_groups`: the cut that minimises the padded area, each group
at least ``2B / (2 * length_groups)`` rows), and pads each group only to its own longest view.
The encoder runs the groups layer by layer with batch-norm statistics pooled over all groups
(:class:`isoclr.pretrain.model.Encoder`), so the result equals one forward over the whole batch; only
the padding is gone. ``rows`` maps each group row back to its place among the ``2B`` views.

Everything random is decided in the main process by :class:`SetBatchSampler`, from
``(seed, epoch)`` alone; a :class:`BatchSpec` carries the members and a mask seed to a
DataLoader worker, which opens the HDF5 stores itself (lazily, once per process) and builds
the compact batch: ``lengths (2B,)`` of all views (views 1 in rows ``0..B-1`` and views 2 in rows
``B..2B-1``) and ``groups``, a list of dicts with ``codes``/``marks`` ``uint8 (n_g, L_g)``,
``lengths (n_g,)``, ``mask`` and ``rows (n_g,)`` (see :func:`collate`). The six float tracks are made later, on the training
device, with :func:`isoclr.core.encoding.tracks_torch`. Masking (15% of positions on both views by
default) sets the code to N and the marks to 0, so all six tracks are zero there.

The sampler's position (epoch, next batch) is part of every checkpoint, so a resumed run sees
exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
try:  # reading batches needs no pandas (benchmarks/bench_gpu.py runs with torch, numpy, h5py)
    import pandas as pd
except ImportError:  # pragma: no cover - pandas is a dependency of the package
    pd = None  # type: ignore[assignment]  # read_splits need it
import torch

from isoclr.core.encoding import PAD, N, check_drop_tracks, drop_marks

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


# --------------------------------------------------------------------------------------------
# Transcript sets (results/homology/sets.h5) and splits (results/splits/splits.tsv)
# --------------------------------------------------------------------------------------------
@dataclass
class TranscriptSets:
    """The members of every transcript set, as flat arrays (see docs/interfaces.md)."""

    path: str
    species: list[str]
    stores: list[str]
    member_species: npt.NDArray[np.int16]
    member_transcript: npt.NDArray[np.int32]
    offset: npt.NDArray[np.int64]

    @property
    def n_sets(self) -> int:
        return len(self.offset) - 1

    def sizes(self) -> npt.NDArray[np.int64]:
        """Number of transcripts in every set."""
        return np.diff(self.offset)

    @classmethod
    def load(cls, path: str | os.PathLike[str], stores: dict[str, str] | None = None) -> TranscriptSets:
        """Read ``sets.h5``. ``stores`` (species -> path) overrides the store paths in its attrs.

        Store paths recorded in the file are used as given when they exist, else relative to
        the sets file's folder, else ``stores/{species}.h5`` beside the sets file's parent.
        """
        path = str(path)
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: transcript sets file not found")
        with h5py.File(path, "r") as f:
            for key in ("members/species", "members/transcript", "sets/offset"):
                if key not in f:
                    raise ValueError(f"{path}: missing dataset /{key} (not a sets.h5 file?)")
            species = [_str(s) for s in np.atleast_1d(f.attrs.get("species", []))]
            recorded = [_str(s) for s in np.atleast_1d(f.attrs.get("stores", []))]
            member_species = f["members/species"][:].astype(np.int16)
            member_transcript = f["members/transcript"][:].astype(np.int32)
            offset = f["sets/offset"][:].astype(np.int64)
        if len(offset) == 0 or offset[0] != 0 or offset[-1] != len(member_species) or np.any(np.diff(offset) < 0):
            raise ValueError(f"{path}: /sets/offset is not a valid offset array over /members")
        if len(member_species) and (member_species.min() < 0 or member_species.max() >= len(species)):
            raise ValueError(f"{path}: /members/species holds codes outside attrs['species'] ({species})")
        resolved = []
        for i, sp in enumerate(species):
            if stores and sp in stores:
                resolved.append(str(stores[sp]))
                continue
            cands = []
            if i < len(recorded):
                cands += [Path(recorded[i]), Path(path).parent / recorded[i]]
            cands.append(Path(path).parent.parent / "stores" / f"{sp}.h5")
            hit = next((c for c in cands if c.exists()), None)
            if hit is None:
                raise FileNotFoundError(
                    f"{path}: store of species {sp!r} not found (tried {', '.join(map(str, cands))})"
                )
            resolved.append(str(hit))
        return cls(path, species, resolved, member_species, member_transcript, offset)


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_splits(path: str | os.PathLike[str], n_sets: int | None = None) -> npt.NDArray[np.object_]:
    """``splits.tsv`` -> array of split names indexed by set id (``""`` for unlisted sets)."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a splits table (set_id<TAB>split): {exc}") from None
    missing = {"set_id", "split"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)} (expected header: set_id, split)")
    ids = pd.to_numeric(table["set_id"], errors="coerce")
    bad = ids.isna() | (ids != ids.round())
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise ValueError(f"{path} line {row + 2}: set_id {table['set_id'].iloc[row]!r} is not an integer")
    table["set_id"] = ids.astype(np.int64)
    bad = ~table["split"].isin(SPLITS)
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise ValueError(f"{path} line {row + 2}: unknown split {table['split'].iloc[row]!r} (expected {SPLITS})")
    n = int(n_sets if n_sets is not None else table["set_id"].max() + 1)
    if len(table) and (table["set_id"].min() < 0 or table["set_id"].max() >= n):
        raise ValueError(f"{path}: set_id outside 0..{n - 1} (the sets file has {n} sets)")
    out = np.full(n, "", dtype=object)
    out[table["set_id"].to_numpy()] = table["split"].to_numpy(dtype=object)
    return out


def member_lengths(sets: TranscriptSets) -> npt.NDArray[np.int64]:
    """Length of every set member, read from the stores' ``seq_offset`` (no store object kept)."""
    out = np.zeros(len(sets.member_species), dtype=np.int64)
    for code, store_path in enumerate(sets.stores):
        sel = sets.member_species == code
        if not sel.any():
            continue
        with h5py.File(store_path, "r") as f:
            lengths = np.diff(f["transcripts/seq_offset"][:])
        rows = sets.member_transcript[sel]
        if rows.max() >= len(lengths):
            raise ValueError(
                f"{sets.path}: members of species {sets.species[code]!r} point past the end of "
                f"{store_path} ({len(lengths)} transcripts)"
            )
        out[sel] = lengths[rows]
    return out


# --------------------------------------------------------------------------------------------
# Sampler
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchSpec:
    """Everything a worker needs to build one batch deterministically."""

    epoch: int
    index: int  # position of this batch in this rank's epoch
    set_ids: npt.NDArray[np.int64]
    view1: npt.NDArray[np.int64]  # flat member indices (rows of TranscriptSets.member_*)
    view2: npt.NDArray[np.int64]
    mask_seed: int


@dataclass
class SetBatchSampler:
    """Deterministic, resumable batch sampler over transcript sets (one epoch = every set once).

    ``set_ids``: the sets to draw from (e.g. the training split); ``offset`` and ``lengths``:
    the sets' member offsets and every member's length. With ``world > 1`` each rank takes every
    ``world``-th batch of the same global order. ``state_dict()`` is the position of the next
    batch to hand out; the training loop saves the position after the batches it consumed.
    """

    set_ids: npt.NDArray[np.int64]
    offset: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    batch_size: int
    seed: int
    bucket: bool = True
    chunk_batches: int = 50
    rank: int = 0
    world: int = 1
    drop_last: bool = True
    epoch: int = 0
    position: int = 0
    _cache: dict[int, list[BatchSpec]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.set_ids = np.asarray(self.set_ids, dtype=np.int64)
        if len(self.set_ids) == 0:
            raise ValueError("no transcript sets to sample from (empty split?)")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    # -- the epoch's batches ---------------------------------------------------------------
    def epoch_batches(self, epoch: int) -> list[BatchSpec]:
        """This rank's batches of one epoch (cached for the current epoch only)."""
        if epoch in self._cache:
            return self._cache[epoch]
        rng = np.random.default_rng([self.seed, epoch])
        sets = self.set_ids[rng.permutation(len(self.set_ids))]
        start = self.offset[sets]
        n = self.offset[sets + 1] - start
        # Two members per set, distinct when n > 1 (uniform over ordered pairs), equal when n == 1.
        a = np.floor(rng.random(len(sets)) * n).astype(np.int64)
        shift = 1 + np.floor(rng.random(len(sets)) * np.maximum(n - 1, 1)).astype(np.int64)
        b = np.where(n > 1, (a + shift) % np.maximum(n, 1), a)
        v1, v2 = start + a, start + b
        bs = self.batch_size
        if self.bucket:
            key = np.maximum(self.lengths[v1], self.lengths[v2])
            chunk = bs * max(1, self.chunk_batches)
            order = np.concatenate(
                [i + np.argsort(key[i : i + chunk], kind="stable") for i in range(0, len(sets), chunk)]
            )
            sets, v1, v2 = sets[order], v1[order], v2[order]
        n_full = len(sets) // bs
        bounds = [(i * bs, (i + 1) * bs) for i in range(n_full)]
        if not self.drop_last and len(sets) % bs:
            bounds.append((n_full * bs, len(sets)))
        batch_order = rng.permutation(len(bounds))
        n_global = (len(batch_order) // self.world) * self.world
        mine = batch_order[:n_global][self.rank :: self.world]
        specs = []
        for index, k in enumerate(mine):
            lo, hi = bounds[k]
            mask_seed = int(np.random.SeedSequence([self.seed, epoch, int(k)]).generate_state(1)[0])
            specs.append(BatchSpec(epoch, index, sets[lo:hi], v1[lo:hi], v2[lo:hi], mask_seed))
        self._cache = {e: v for e, v in self._cache.items() if e >= epoch - 1}
        self._cache[epoch] = specs
        return specs

    def batches_per_epoch(self) -> int:
        """This rank's batches per epoch (the same every epoch)."""
        n, rest = divmod(len(self.set_ids), self.batch_size)
        n += int(rest > 0 and not self.drop_last)
        return n // self.world

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Endless stream of batches from the current position, across epochs."""
        if self.batches_per_epoch() == 0:
            raise ValueError(
                f"{len(self.set_ids)} sets give no full batch of {self.batch_size} "
                f"(x {self.world} processes): lower batch_size"
            )
        epoch, position = self.epoch, self.position
        while True:
            for spec in self.epoch_batches(epoch)[position:]:
                yield spec
            epoch, position = epoch + 1, 0

    def advance_to(self, epoch: int, index: int) -> None:
        """Record that batch ``index`` of ``epoch`` was consumed: the next one follows it."""
        if index + 1 < self.batches_per_epoch():
            self.epoch, self.position = int(epoch), int(index) + 1
        else:
            self.epoch, self.position = int(epoch) + 1, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": int(self.epoch), "position": int(self.position), "seed": int(self.seed)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if int(state.get("seed", self.seed)) != int(self.seed):
            raise ValueError(f"sampler seed differs from the checkpoint ({state['seed']} vs {self.seed})")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


# --------------------------------------------------------------------------------------------
# Dataset: one item = one whole batch (the sampler decides the batch, the worker builds it)
# --------------------------------------------------------------------------------------------
class ViewPairDataset(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Builds compact view-pair batches from the species stores, inside whichever process.

    The stores are opened lazily by the process that first reads from them (a DataLoader
    worker, normally), never inherited across ``fork``. ``opened_in`` records that process id.
    ``width_buckets`` (pre-training sets it when ``compile`` is on): each group is padded to
    its longest view's width rounded up by :func:`bucket_widths` with that many steps per
    octave; None pads to the longest view exactly.
    """

    def __init__(
        self, sets: TranscriptSets, mask_prob: float = 0.15, return_targets: bool = False, length_groups: int = 1,
        width_buckets: int | None = None, drop_tracks: Sequence[str] = (),
    ) -> None:
        self.drop_tracks = check_drop_tracks(drop_tracks)  # zeroed for every species (encoding.drop_tracks)
        if width_buckets is not None and width_buckets < 0:
            raise ValueError(f"width_buckets must be >= 0 or None, got {width_buckets}")
        self.width_buckets = width_buckets
        if not 0.0 <= mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in [0, 1), got {mask_prob}")
        if length_groups < 1:
            raise ValueError(f"length_groups must be >= 1, got {length_groups}")
        self.length_groups = int(length_groups)
        self.store_paths = list(sets.stores)
        self.member_species = sets.member_species
        self.member_transcript = sets.member_transcript
        self.set_sizes = sets.sizes()
        self.mask_prob = float(mask_prob)
        self.return_targets = return_targets
        self._stores: list[Any] | None = None
        self.opened_in: int | None = None

    def __len__(self) -> int:  # not used for sampling (the sampler yields BatchSpecs)
        return 0

    def _open(self) -> list[Any]:
        if self._stores is None or self.opened_in != os.getpid():
            from isoclr.store.format import IsoformStore

            self._stores = [IsoformStore(p) for p in self.store_paths]
            self.opened_in = os.getpid()
        return self._stores

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_stores"], state["opened_in"] = None, None  # never ship open handles
        return state

    def read(self, members: npt.NDArray[np.int64]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        stores = self._open()
        codes, marks = [], []
        for m in members:
            store = stores[self.member_species[m]]
            row = int(self.member_transcript[m])
            codes.append(np.asarray(store.codes(row), dtype=np.uint8))
            marks.append(drop_marks(np.asarray(store.marks(row), dtype=np.uint8), self.drop_tracks))
        return codes, marks

    def __getitem__(self, spec: BatchSpec) -> dict[str, Any]:  # type: ignore[override]
        members = np.concatenate([spec.view1, spec.view2])
        codes_list, marks_list = self.read(members)
        lengths = np.fromiter((len(c) for c in codes_list), dtype=np.int64, count=len(codes_list))
        # one mask stream over the real positions of the views in batch order: the same masks
        # whatever the grouping and padding
        masks = _split_rows(draw_mask(int(lengths.sum()), self.mask_prob, spec.mask_seed), lengths)
        groups = []
        for rows in length_groups(lengths, self.length_groups):
            width = None
            if self.width_buckets is not None:
                width = int(bucket_widths(lengths[rows].max(), self.width_buckets))
            group = collate([codes_list[r] for r in rows], [marks_list[r] for r in rows],
                            masks_list=[masks[r] for r in rows], return_targets=self.return_targets,
                            width=width)
            group["rows"] = torch.from_numpy(rows.astype(np.int64))
            groups.append(group)
        return {
            "groups": groups,
            "lengths": torch.from_numpy(lengths),
            "set_ids": torch.from_numpy(np.asarray(spec.set_ids, dtype=np.int64)),
            "set_sizes": torch.from_numpy(self.set_sizes[spec.set_ids].astype(np.int64)),
            "epoch": spec.epoch,
            "index": spec.index,
            "pid": os.getpid(),
        }


def draw_mask(n: int, mask_prob: float, seed: int) -> npt.NDArray[np.bool_]:
    """``n`` independent draws, True with probability ``mask_prob`` (seeded)."""
    if mask_prob <= 0:
        return np.zeros(n, dtype=bool)
    return np.random.default_rng(seed).random(n, dtype=np.float32) < mask_prob


def _split_rows(flat: npt.NDArray[Any], lengths: npt.NDArray[np.int64]) -> list[npt.NDArray[Any]]:
    return np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []


def collate(
    codes_list: list[np.ndarray],
    marks_list: list[np.ndarray],
    mask_prob: float = 0.0,
    mask_seed: int = 0,
    return_targets: bool = False,
    masks_list: list[np.ndarray] | None = None,
    width: int | None = None,
) -> dict[str, Any]:
    """Pad to the longest sequence (codes PAD, marks 0) and mask some real positions.

    ``width``: pad to at least this many positions (a bucket width, :func:`bucket_widths`).

    The masked positions are ``masks_list`` (one bool array per sequence) when given, else a
    ``mask_prob`` share drawn from ``mask_seed`` over the real positions in order (so the same
    sequences get the same masks however wide the padding). Masked positions get code N and
    marks 0. Returns torch tensors: ``codes``/``marks`` uint8 (n, L), ``lengths`` int64 (n,),
    ``mask`` bool (n, L) (True where masked), and ``targets`` (the unmasked codes) when asked.
    """
    lengths = np.fromiter((len(c) for c in codes_list), dtype=np.int64, count=len(codes_list))
    width = max(int(lengths.max()) if len(lengths) else 0, int(width or 0))
    valid = np.arange(width)[None, :] < lengths[:, None]
    codes = np.full((len(codes_list), width), PAD, dtype=np.uint8)
    marks = np.zeros((len(codes_list), width), dtype=np.uint8)
    codes[valid] = np.concatenate(codes_list) if codes_list else []
    marks[valid] = np.concatenate(marks_list) if marks_list else []
    targets = codes.copy() if return_targets else None
    mask = np.zeros(codes.shape, dtype=bool)
    if masks_list is not None:
        if [len(m) for m in masks_list] != lengths.tolist():
            raise ValueError("collate: masks_list must hold one mask per sequence, of its length")
        mask[valid] = np.concatenate(masks_list) if masks_list else []
    elif mask_prob > 0:
        mask[valid] = draw_mask(int(lengths.sum()), mask_prob, mask_seed)
    codes[mask] = N
    marks[mask] = 0
    out = {
        "codes": torch.from_numpy(codes),
        "marks": torch.from_numpy(marks),
        "lengths": torch.from_numpy(lengths),
        "mask": torch.from_numpy(mask),
    }
    if targets is not None:
        out["targets"] = torch.from_numpy(targets)
    return out


def length_groups(lengths: npt.ArrayLike, n_groups: int = 1, min_rows: int | None = None) -> list[npt.NDArray[np.int64]]:
    """Split the rows of a batch into at most ``n_groups`` groups of similar length.

    The rows are sorted by length (stable) and cut into contiguous runs; the cut minimises the
    total padded area ``sum(rows_g * max_length_g)`` (exact dynamic programme, O(n_groups n^2)
    vectorised, well under a millisecond for 512 rows). Every group has at least ``min_rows``
    rows (default ``n / (2 n_groups)``, so groups stay large enough to keep a GPU busy).
    Returns the row indices of every group, shortest group first.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    order = np.argsort(lengths, kind="stable")
    if n_groups <= 1 or n <= 1:
        return [order] if n else []
    srt = lengths[order].astype(np.float64)
    least = max(1, min(n, int(min_rows) if min_rows is not None else n // (2 * n_groups)))
    # best[j]: least padded area of the first j sorted rows cut into <= g groups
    i = np.arange(n + 1)[:, None]
    j = np.arange(n + 1)[None, :]
    allowed = (j - i) >= least  # group (i, j] holds rows i..j-1, at least `least` of them
    area = np.where(allowed, (j - i) * srt[np.maximum(j - 1, 0)], np.inf)
    best = np.where(np.arange(n + 1) == 0, 0.0, np.inf)
    cuts = []
    for _ in range(n_groups):
        total = best[:, None] + area  # (i, j)
        start = np.argmin(total, axis=0)
        new = total[start, np.arange(n + 1)]
        new[0] = 0.0
        better = new < best
        cuts.append(np.where(better, start, -1))
        best = np.where(better, new, best)
    bounds, end = [], n
    for g in range(n_groups - 1, -1, -1):
        if end == 0:
            break
        if cuts[g][end] < 0:  # this many groups did not help: fewer groups end here
            continue
        bounds.append((int(cuts[g][end]), end))
        end = int(cuts[g][end])
    return [order[lo:hi] for lo, hi in reversed(bounds)]


#: Every bucket width is a multiple of this (the encoder's down-sampling, model.DOWNSAMPLE).
BUCKET_MULTIPLE = 32

#: Bucket steps per octave when ``torch.compile`` is on (pretrain): a width in the octave
#: ``[2**k, 2**(k + 1))`` is rounded up to a multiple of ``2**k / 8`` (..., 1024, 1152, 1280, ...,
#: 1920, 2048, 2304, ...): at most 12.5% more positions than the group's longest view, measured
#: +4.1-5.8% on the demo stores and on 4,000 real human mRNAs with 4 length groups, for 4-10x
#: fewer distinct widths per epoch (428 -> 42 on the mRNAs, batch 32; 4 steps per octave cost
#: +9-10%, powers of two +39-44%; benchmarks/results/buckets.md). The graph count does not
#: depend on it (the encoder compiles with a symbolic width); the fixed widths bound the shapes
#: that ``cudnn.benchmark`` autotunes, and every width is a multiple of 32, so every pool is
#: exact and no pad branch is compiled.
COMPILE_WIDTH_BUCKETS = 8


def bucket_widths(widths: npt.ArrayLike, per_octave: int = COMPILE_WIDTH_BUCKETS,
                  multiple: int = BUCKET_MULTIPLE) -> npt.NDArray[np.int64]:
    """Round padded widths up to a small fixed set of bucket widths.

    ``per_octave`` steps per octave: a width in ``[2**k, 2**(k + 1))`` is rounded up to a
    multiple of ``2**k / per_octave`` (never finer than ``multiple``), so the rounding adds at
    most ``1 / per_octave`` of the width and a run sees about ``per_octave`` widths per octave
    of lengths. ``per_octave = 0``: only round up to a multiple of ``multiple``. Every result is
    a multiple of ``multiple`` (the encoder's down-sampling, so every pool is exact).
    """
    w = np.maximum(np.asarray(widths, dtype=np.int64), 1)
    step = np.full(w.shape, int(multiple), dtype=np.int64)
    if per_octave > 0:
        octave = np.int64(1) << (np.floor(np.log2(w)).astype(np.int64))
        step = np.maximum(step, octave // int(per_octave))
        step = -(-step // multiple) * multiple  # keep steps multiples of `multiple`
    return -(-w // step) * step


def padded_area(lengths: npt.ArrayLike, n_groups: int = 1) -> int:
    """Positions of a batch's padded tensors (one tensor, or its ``n_groups`` length groups)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return sum(len(g) * int(lengths[g].max()) for g in length_groups(lengths, n_groups))


def padding_share(lengths: npt.ArrayLike, n_groups: int = 1) -> float:
    """Share of a batch's padded tensors that is padding (one tensor, or its length groups)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return float(1 - lengths.sum() / padded_area(lengths, n_groups)) if len(lengths) else 0.0


def epoch_padding_share(sampler: SetBatchSampler, epoch: int = 0, n_groups: int = 1) -> float:
    """Padding share over one epoch of ``sampler``'s batches, padded as ``n_groups`` groups."""
    real = total = 0
    for spec in sampler.epoch_batches(epoch):
        lens = sampler.lengths[np.concatenate([spec.view1, spec.view2])]
        real += int(lens.sum())
        total += padded_area(lens, n_groups)
    return 1 - real / total if total else 0.0


def make_loader(
    dataset: ViewPairDataset, sampler: SetBatchSampler, num_workers: int = 0, seed: int = 0, prefetch: int = 4,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:  # type: ignore[type-arg]
    """A DataLoader that turns the sampler's BatchSpecs into batches (one item = one batch).

    ``pin_memory`` (set when training on CUDA): batches come in page-locked memory, so the
    ``non_blocking`` host-to-device copies of the training step overlap with compute.

    A dedicated ``generator`` keeps the DataLoader from drawing from the global torch RNG, so
    creating an iterator (e.g. after a resume) never changes the training run's random stream.
    """
    kwargs: dict[str, Any] = {}
    if num_workers > 0:
        # The training sampler is endless: one iterator serves the whole run, so its workers
        # already persist (persistent_workers would change nothing); prefetch keeps `prefetch`
        # batches per worker ready.
        kwargs = {"prefetch_factor": prefetch, "persistent_workers": False}
    return torch.utils.data.DataLoader(
        dataset,
        sampler=sampler,
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),
        **kwargs,
    )


def select_sets(
    sets: TranscriptSets, splits: npt.NDArray[np.object_], split: str, path: str = "splits.tsv"
) -> npt.NDArray[np.int64]:
    """Set ids of one split; raises a clear ValueError when the split is empty."""
    if len(splits) != sets.n_sets:
        raise ValueError(f"{path}: lists {len(splits)} sets but {sets.path} has {sets.n_sets}")
    ids = np.flatnonzero(splits == split).astype(np.int64)
    if len(ids) == 0:
        raise ValueError(f"{path}: the {split!r} split is empty (no set assigned to it)")
    return ids
