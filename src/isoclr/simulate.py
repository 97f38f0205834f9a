"""A simulated transcriptome with a known answer, for the learning check and for tests.

Gene *families* each carry a few sequence motifs drawn from a small motif bank. A family has a
prototype sequence; its paralogs are mutated copies in the first species and its orthologs are
more strongly mutated copies in the second species; each gene draws its own exon structure and
CDS span (``shared_structure=False``). Motifs are conserved (written
back after mutation, as functional elements under purifying selection), so what the members of
a family share beyond chance is mostly their motifs. Every gene has one to several isoforms:
the full transcript plus exon-skipping (internal exons, lengths multiple of 3 so the frame is
kept) and alternative-3'-UTR variants; motifs sit in the constitutive first and last exons.

A label per gene depends on the family's motifs plus noise: ``y = sum of the motif effects
+ N(0, label_noise)``. A model that learned to recognise motifs from the contrastive signal
(isoforms and homologs as views) predicts it on held-out families better than a random one.

Outputs (``isoclr simulate --out DIR``): ``DIR/stores/{species}.h5`` (species stores,
:func:`isoclr.store.format.write_store`), ``DIR/homology/groups.tsv`` (gene -> family table) and
``DIR/homology/sets.h5`` (built by :func:`isoclr.homology.merge.build_sets`), ``DIR/splits/splits.tsv``
(by set = family, :func:`isoclr.splits.assign.make_splits`) and ``DIR/labels.tsv``: ``species gene_id transcript_id family set_id split
label`` (one row per gene, its full-length transcript).
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.core.files import atomic_path

log = logging.getLogger(__name__)

ATG = np.array([0, 3, 2], dtype=np.uint8)
TAA = np.array([3, 0, 0], dtype=np.uint8)


@dataclass
class SimConfig:
    """Knobs of the simulation (defaults: the learning check's transcriptome)."""

    seed: int = 0
    n_families: int = 240
    species: tuple[str, ...] = ("sim_a", "sim_b")
    n_motifs: int = 16  # motif bank size
    motifs_per_family: int = 3
    motif_length: int = 12
    motif_copies: int = 3  # copies of each of the family's motifs per gene
    paralogs_mean: float = 0.5  # extra paralogs per family in the first species (Poisson)
    max_paralogs: int = 3
    paralog_mutation: float = 0.15  # substitution rate of a paralog vs the family prototype
    ortholog_mutation: float = 0.3  # substitution rate of an ortholog vs its first-species gene
    ortholog_fraction: float = 0.9  # share of genes with an ortholog in each further species
    exons_min: int = 3
    exons_max: int = 7
    exon_length: tuple[int, int] = (45, 180)  # internal exons (rounded to a multiple of 3)
    first_exon: tuple[int, int] = (150, 300)
    last_exon: tuple[int, int] = (250, 500)
    utr5: tuple[int, int] = (30, 90)
    utr3_min: int = 60  # minimum 3'UTR length in the last exon
    isoform_rate: float = 0.5  # chance of each extra isoform (up to max_isoforms - 1 extra)
    max_isoforms: int = 4
    label_noise: float = 0.3
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)  # train/validation/test families
    # False: every gene draws its own exon structure and CDS span (indels over evolution), so
    # homologs share sequence (and motifs) but not identical exon/codon tracks, which would be a
    # shortcut for the contrastive task that says nothing about the motif-driven label.
    shared_structure: bool = False


@dataclass
class _Gene:
    species: int
    gene_id: str
    family: int
    codes: npt.NDArray[np.uint8]  # full-length transcript (all exons)
    exon_len: npt.NDArray[np.int64]
    cds: tuple[int, int]


def _mutate(rng: np.random.Generator, codes: npt.NDArray[np.uint8], rate: float) -> npt.NDArray[np.uint8]:
    out = codes.copy()
    hit = rng.random(len(codes)) < rate
    out[hit] = (out[hit] + rng.integers(1, 4, hit.sum(), dtype=np.uint8)) % 4
    return out


def _place_motifs(
    rng: np.random.Generator, codes: npt.NDArray[np.uint8], motifs: npt.NDArray[np.uint8], regions: list[tuple[int, int]], copies: int
) -> None:
    """Write ``copies`` of every motif at non-overlapping slots inside ``regions`` (in place)."""
    k = motifs.shape[1]
    slots = np.concatenate([np.arange(lo, hi - k + 1, k) for lo, hi in regions if hi - lo >= k])
    need = len(motifs) * copies
    if len(slots) < need:
        raise ValueError(f"simulation: {len(slots)} motif slots for {need} motifs; lengthen first/last exons")
    pos = rng.choice(slots, size=need, replace=False)
    idx = pos[:, None] + np.arange(k)[None, :]
    codes[idx] = np.repeat(motifs, copies, axis=0)


def simulate(cfg: SimConfig) -> dict[str, Any]:
    """Generate genes, isoforms, labels. Returns per-species tables and arrays (no files)."""
    rng = np.random.default_rng(cfg.seed)
    n_sp = len(cfg.species)
    if n_sp < 1:
        raise ValueError("simulation needs at least one species")
    bank = rng.integers(0, 4, (cfg.n_motifs, cfg.motif_length), dtype=np.uint8)
    effect = rng.normal(0, 1, cfg.n_motifs)
    fam_motifs = np.stack([rng.choice(cfg.n_motifs, cfg.motifs_per_family, replace=False) for _ in range(cfg.n_families)])
    fam_value = effect[fam_motifs].sum(axis=1)

    genes: list[_Gene] = []
    max_total = cfg.first_exon[1] + (cfg.exons_max - 2) * cfg.exon_length[1] + cfg.last_exon[1]

    def structure() -> tuple[npt.NDArray[np.int64], int, int]:
        """Exon lengths and CDS span of one gene (drawn per gene unless shared_structure)."""
        n_int = int(rng.integers(cfg.exons_min, cfg.exons_max + 1)) - 2
        internal = 3 * (rng.integers(cfg.exon_length[0], cfg.exon_length[1] + 1, n_int) // 3)
        first = int(rng.integers(*cfg.first_exon))
        last = int(rng.integers(*cfg.last_exon))
        exon_len = np.concatenate([[first], internal, [last]]).astype(np.int64)
        total = int(exon_len.sum())
        cds_start = int(rng.integers(*cfg.utr5))
        # CDS ends in the last exon, leaving >= utr3_min nt of 3'UTR; length multiple of 3.
        end = int(rng.integers(total - last + 3, total - cfg.utr3_min))
        return exon_len, cds_start, cds_start + 3 * ((end - cds_start) // 3)

    for fam in range(cfg.n_families):
        shared = structure()
        proto = rng.integers(0, 4, max_total, dtype=np.uint8)
        motifs = bank[fam_motifs[fam]]
        n_para = 1 + min(int(rng.poisson(cfg.paralogs_mean)), cfg.max_paralogs)
        for p in range(n_para):
            base = _mutate(rng, proto, cfg.paralog_mutation) if p else proto.copy()
            members = [(0, base)]
            for sp in range(1, n_sp):
                if rng.random() < cfg.ortholog_fraction:
                    members.append((sp, _mutate(rng, base, cfg.ortholog_mutation)))
            for sp, background in members:
                exon_len, cds_start, cds_end = shared if cfg.shared_structure else structure()
                total, first, last = int(exon_len.sum()), int(exon_len[0]), int(exon_len[-1])
                seq = background[:total].copy()
                # Motifs go into the constitutive parts: the first exon and the first 60% of the
                # last exon (alternative 3'UTRs keep at least that much).
                regions = [(0, first), (total - last, total - last + int(0.6 * last))]
                _place_motifs(rng, seq, motifs, regions, cfg.motif_copies)
                seq[cds_start : cds_start + 3] = ATG
                seq[cds_end - 3 : cds_end] = TAA
                gid = f"{cfg.species[sp].upper()}G{fam:05d}.{p}"
                genes.append(_Gene(sp, gid, fam, seq, exon_len, (cds_start, cds_end)))

    per_species: list[dict[str, Any]] = [
        {"rows": [], "codes": [], "exon_tx_end": [], "exon_start": [], "exon_end": [], "n_exons": []} for _ in range(n_sp)
    ]
    labels = []
    cursor = np.zeros(n_sp, dtype=np.int64)
    for g in genes:
        out = per_species[g.species]
        n_ex = len(g.exon_len)
        starts = np.concatenate([[0], np.cumsum(g.exon_len)[:-1]])
        introns = rng.integers(200, 2000, n_ex)
        gstart = cursor[g.species] + np.concatenate([[0], np.cumsum(g.exon_len[:-1] + introns[:-1])])
        cursor[g.species] = gstart[-1] + g.exon_len[-1] + 5000
        # Isoform 0: every exon, full 3'UTR; extras: skip internal exons and/or shorten the UTR.
        variants = [(np.ones(n_ex, dtype=bool), g.exon_len[-1])]
        for _ in range(cfg.max_isoforms - 1):
            if rng.random() >= cfg.isoform_rate:
                continue
            keep = np.ones(n_ex, dtype=bool)
            if n_ex > 2 and rng.random() < 0.6:
                keep[1:-1] = rng.random(n_ex - 2) >= 0.5
                if keep.all():
                    keep[int(rng.integers(1, n_ex - 1))] = False
            last_len = g.exon_len[-1]
            if keep.all() or rng.random() < 0.4:
                # Alternative polyadenylation: keep 60-95% of the last exon, never cutting the CDS.
                cds_in_last = g.cds[1] - starts[-1]
                lo = max(int(0.6 * last_len), cds_in_last + 10)
                last_len = int(rng.integers(lo, last_len)) if lo < last_len else last_len
            key = (tuple(keep), last_len)
            if any((tuple(k), ll) == key for k, ll in variants):
                continue
            variants.append((keep, last_len))
        for v, (keep, last_len) in enumerate(variants):
            lens = g.exon_len.copy()
            lens[-1] = last_len
            pieces = [g.codes[starts[e] : starts[e] + lens[e]] for e in np.flatnonzero(keep)]
            seq = np.concatenate(pieces)
            skipped_before_end = int(g.exon_len[~keep].sum())
            cds_start, cds_end = g.cds[0], g.cds[1] - skipped_before_end
            tid = f"{g.gene_id.replace('G', 'T', 1)}-{v}"
            out["rows"].append(
                {
                    "transcript_id": tid,
                    "gene_id": g.gene_id,
                    "gene_name": g.gene_id,
                    "chrom": "sim1",
                    "strand": "+",
                    "cds_start": cds_start,
                    "cds_end": cds_end,
                    "cds_phase": 0,
                    "biotype": "protein_coding",
                    "tags": "Ensembl_canonical,basic" if v == 0 else "basic",
                    "family": g.family,
                }
            )
            out["codes"].append(seq)
            out["exon_tx_end"].append(np.cumsum(lens[keep]))
            out["exon_start"].append(gstart[keep])
            out["exon_end"].append(gstart[keep] + lens[keep])
            out["n_exons"].append(int(keep.sum()))
            if v == 0:
                labels.append(
                    {
                        "species": cfg.species[g.species],
                        "gene_id": g.gene_id,
                        "transcript_id": tid,
                        "family": g.family,
                        "label": float(fam_value[g.family] + rng.normal(0, cfg.label_noise)),
                    }
                )
    return {"species": per_species, "labels": pd.DataFrame(labels), "fam_motifs": fam_motifs, "effect": effect}


def write_simulation(cfg: SimConfig, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Simulate and write stores, sets, splits and labels under ``out``; returns their paths."""
    from isoclr.homology.merge import Source, build_sets, write_sets
    from isoclr.splits.assign import make_splits, write_tsv
    from isoclr.store.format import write_store

    out = Path(out)
    sim = simulate(cfg)
    stores: dict[str, str] = {}
    for sp, data in zip(cfg.species, sim["species"]):
        table = pd.DataFrame(data["rows"])
        lengths = np.array([len(c) for c in data["codes"]], dtype=np.int64)
        seq_offset = np.concatenate([[0], np.cumsum(lengths)])
        exon_offset = np.concatenate([[0], np.cumsum(data["n_exons"])])
        path = out / "stores" / f"{sp}.h5"
        write_store(
            path,
            table.drop(columns="family"),
            np.concatenate(data["codes"]).astype(np.uint8),
            seq_offset,
            np.concatenate(data["exon_tx_end"]),
            exon_offset,
            {"species": sp, "taxid": 0, "annotation_format": "simulated", "annotation_version": f"isoclr simulate seed {cfg.seed}"},
            exon_start=np.concatenate(data["exon_start"]),
            exon_end=np.concatenate(data["exon_end"]),
        )
        stores[sp] = str(path)
        log.info("%s: %d transcripts of %d genes", path, len(table), table["gene_id"].nunique())

    # Homology: a gene -> family table, read by the homology stage's own set builder.
    labels = sim["labels"]
    groups = out / "homology" / "groups.tsv"
    groups.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(groups, suffix=".tsv") as tmp:
        labels[["gene_id", "family"]].assign(family=lambda d: "FAM" + d["family"].astype(str)).to_csv(
            tmp, sep="\t", header=False, index=False
        )
    sets = build_sets(stores, [Source("groups", str(groups), name="simulated_families")], join_symbols=False)
    sets_path = out / "homology" / "sets.h5"
    write_sets(sets, sets_path, out / "homology" / "sets.stats.tsv")

    # Splits by set (= family) with the splits stage's own function, counting sets.
    gene_key = pd.Series(np.arange(len(sets.gene_id)), index=pd.Index(sets.gene_id.astype(str)))
    labels["set_id"] = sets.gene_set[gene_key.loc[labels["gene_id"]].to_numpy()].astype(np.int64)
    if labels.groupby("family")["set_id"].nunique().max() != 1:
        raise RuntimeError("simulation: a family spans several sets")  # pragma: no cover
    fractions = dict(zip(("train", "validation", "test"), np.asarray(cfg.fractions) / sum(cfg.fractions)))
    set_split, genes_split, _summary = make_splits(sets_path, fractions, cfg.seed, weight="sets")
    splits_path = out / "splits" / "splits.tsv"
    write_tsv(set_split, splits_path)
    write_tsv(genes_split, out / "splits" / "genes.tsv")
    labels["split"] = set_split["split"].to_numpy()[labels["set_id"].to_numpy()]
    labels_path = out / "labels.tsv"
    with atomic_path(labels_path, suffix=".tsv") as tmp:
        labels[["species", "gene_id", "transcript_id", "family", "set_id", "split", "label"]].to_csv(tmp, sep="\t", index=False)
    return {"stores_dir": out / "stores", "sets": sets_path, "splits": splits_path, "labels": labels_path, **{f"store_{k}": Path(v) for k, v in stores.items()}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (stores/, homology/, splits/, labels.tsv)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--families", type=int, default=SimConfig.n_families, help="number of gene families")
    parser.add_argument("--species", nargs="+", default=list(SimConfig.species), help="species names (first = reference)")
    parser.add_argument("--motifs", type=int, default=SimConfig.n_motifs, help="motif bank size")
    parser.add_argument("--ortholog-mutation", type=float, default=SimConfig.ortholog_mutation)
    parser.add_argument("--paralog-mutation", type=float, default=SimConfig.paralog_mutation)
    parser.add_argument("--label-noise", type=float, default=SimConfig.label_noise)


def run(args: argparse.Namespace) -> int:
    cfg = SimConfig(
        seed=args.seed,
        n_families=args.families,
        species=tuple(args.species),
        n_motifs=args.motifs,
        ortholog_mutation=args.ortholog_mutation,
        paralog_mutation=args.paralog_mutation,
        label_noise=args.label_noise,
    )
    paths = write_simulation(cfg, args.out)
    for key, value in paths.items():
        print(f"{key}\t{value}")
    return 0
