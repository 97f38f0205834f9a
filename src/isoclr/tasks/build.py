"""Downstream task datasets: RNA half-life, Gene Ontology, mean ribosome load.

Every task is one HDF5 file ``results/tasks/{task}.h5`` (layout in docs/interfaces.md, "Task
datasets") that names rows of a species store (or of the task's own store, for ready-made
arrays), their labels, their homology group and their cross-validation folds.

The stage is split by topic: :mod:`isoclr.tasks.labels` (ids, join report, principal isoform,
label tables), :mod:`isoclr.tasks.go` (Gene Ontology), :mod:`isoclr.tasks.folds` (folds and
training fractions) and :mod:`isoclr.tasks.file` (the task file format); this module builds a
task from them (``build_task``, ``isoclr tasks``) and re-exports their names.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from isoclr.config.settings.tasks import TaskStageSettings
from isoclr.tasks.file import SELECTION_RULE, TaskData, write_task  # noqa: F401
from isoclr.tasks.folds import (  # noqa: F401
    assign_folds,
    homology_groups,
    n_train_rows,
    read_gene_groups,
    train_ranks,
)
from isoclr.tasks.go import (  # noqa: F401
    GO_ROOTS,
    GoDag,
    gaf_to_genes,
    go_term_labels,
    read_gaf,
    read_gene_id_map,
    read_obo,
)
from isoclr.tasks.labels import (  # noqa: F401
    JoinReport,
    annotation_ids,
    join_labels,
    principal_isoforms,
    read_value_table,
    strip_version,
)

log = logging.getLogger(__name__)

TASK_KINDS = ("halflife", "go", "mrl_table", "mrl_arrays")


# ---------------------------------------------------------------------------------------------
# task builders
# ---------------------------------------------------------------------------------------------
def _store_table(store: str | os.PathLike[str]) -> tuple[pd.DataFrame, str]:
    from isoclr.store.format import IsoformStore

    s = IsoformStore(store)
    try:
        return s.table(), s.species
    finally:
        s.close()


def build_halflife(
    table: pd.DataFrame,
    labels: pd.DataFrame,
    report: JoinReport,
    annotation: tuple[set[str], set[str]] | None = None,
) -> pd.DataFrame:
    """Principal isoform per gene joined to per-gene labels (``id, value``): rows with ``y``."""
    principal = principal_isoforms(table)
    report.add("store", "transcripts", len(table))
    return join_labels(principal, labels, "gene_id", report, annotation[0] if annotation else None, what="gene")


def build_mrl_table(
    table: pd.DataFrame,
    labels: pd.DataFrame,
    report: JoinReport,
    annotation: tuple[set[str], set[str]] | None = None,
) -> pd.DataFrame:
    """Isoform-resolved labels (``id`` = transcript id, ``value``) joined to every store transcript."""
    rows = table.reset_index(drop=True).copy()
    rows.insert(0, "transcript", np.arange(len(rows), dtype=np.int64))
    return join_labels(rows, labels, "transcript_id", report, annotation[1] if annotation else None, what="transcript")


def build_go(
    table: pd.DataFrame,
    dag: GoDag,
    gaf: pd.DataFrame,
    id_map: pd.DataFrame | None,
    report: JoinReport,
    namespace: str,
    depth: int,
    n_terms: int,
    depth_mode: str,
    follow_part_of: bool,
    evidence_exclude: Sequence[str] = (),
    require_positive: bool = True,
    annotation: set[str] | None = None,
) -> tuple[pd.DataFrame, npt.NDArray[np.uint8], list[str], pd.DataFrame]:
    """Principal isoform per gene with GO labels. Returns rows, y (n, K), term ids, term ranking.
    The GO settings (namespace, depth, ...) come from :func:`build_task` (its defaults are the
    schema's ``tasks.*`` GO defaults).

    Genes are joined to the annotation by unversioned Ensembl id (through the id map) or, without
    a map, by gene name. With ``require_positive`` only genes annotated to >= 1 chosen term
    are rows (a gene with no annotation at all is not a known negative)."""
    aspect = {"molecular_function": "F", "cellular_component": "C", "biological_process": "P"}[namespace]
    principal = principal_isoforms(table)
    report.add("store", "genes", len(principal))
    n_not = int(gaf.attrs.get("not_dropped", 0))
    if n_not:
        report.add("annotation", "NOT_qualifier_dropped", n_not)
    if evidence_exclude:
        ex = gaf["evidence"].isin(list(evidence_exclude))
        report.add("annotation", "evidence_excluded", int(ex.sum()), note=",".join(evidence_exclude))
        gaf = gaf.loc[~ex]
    ann, keyed = gaf_to_genes(gaf, id_map)
    report.add("annotation", "gaf_genes", int(gaf["object_id"].nunique()))
    report.add("annotation", "annotated_keys", int(ann["gene"].nunique()), note=f"distinct {keyed} ids with annotations")
    key = strip_version(principal["gene_id"]) if keyed == "ensembl" else principal["gene_name"].astype(str)
    principal = principal.assign(key=key.to_numpy())
    if id_map is not None and keyed == "ensembl":
        mapped = set(strip_version(id_map.loc[id_map["ensembl_gene_id"] != "", "ensembl_gene_id"]))
        in_map = principal["key"].isin(mapped)
        report.add("store", "gene_in_id_map", int(in_map.sum()))
        report.add("store", "gene_not_in_id_map", principal.loc[~in_map, "gene_id"].tolist())
    has_any = principal["key"].isin(set(ann["gene"]))
    report.add("store", "gene_with_any_go_annotation", int(has_any.sum()))
    off = pd.Index(pd.unique(ann["gene"])).difference(pd.Index(principal["key"]))
    if annotation is not None and keyed == "ensembl":
        in_ann = off.isin(list(annotation))
        report.add("labels", "filtered_out_of_store", off[in_ann].tolist(), note="annotated gene in the species annotation, dropped by the store filters")
        report.add("labels", "not_in_annotation", off[~in_ann].tolist(), note="annotated gene absent from the species annotation")
    else:
        report.add("labels", "not_in_store", off.tolist(), note="annotated gene absent from the store")
    ns_ann = ann.loc[ann["aspect"] == aspect]
    has_ns = principal["key"].isin(set(ns_ann["gene"]))
    report.add("store", f"gene_with_{aspect}_annotation", int(has_ns.sum()))
    y, terms, ranking = go_term_labels(dag, ns_ann, principal["key"].tolist(), namespace, depth, n_terms, depth_mode, follow_part_of)
    keep = y.any(axis=1) if require_positive else np.ones(len(y), dtype=bool)
    report.add("store", "gene_without_chosen_term", principal.loc[has_ns.to_numpy() & ~keep, "gene_id"].tolist(), note="annotated, but to none of the chosen terms")
    report.add("labels", "matched", int(keep.sum()), note=f"genes with >= 1 of the {len(terms)} terms")
    for k, t in enumerate(terms):
        report.add("terms", t, int(y[keep, k].sum()), note=dag.name[t])
    return principal.loc[keep].drop(columns=["key"]).reset_index(drop=True), y[keep], terms, ranking


def arrays_to_store_parts(x: npt.NDArray[Any], chunk: int = 256) -> dict[str, npt.NDArray[Any]]:
    """Ready-made (N, L, 6) six-track arrays back to store parts, vectorised in row chunks.

    Nucleotides: argmax of tracks 0-3 (all-zero -> N). Length: last position with track 5 set
    (+1; the encoding marks the transcript's last nucleotide), else the last non-zero position.
    Exon ends: positions with track 5 set (+1). CDS: first track-4 mark to last mark + 3 (capped
    at the length), phase 0; no mark -> non-coding. Returns codes, seq_offset, exon_tx_end,
    exon_offset, cds_start, cds_end.
    """
    if x.ndim != 3 or x.shape[2] != 6:
        if x.ndim == 3 and x.shape[1] == 6:
            x = np.swapaxes(x, 1, 2)
        else:
            raise ValueError(f"ready-made arrays: X must be (N, L, 6), got shape {x.shape}")
    n, length_max = x.shape[0], x.shape[1]
    codes_parts, exon_parts, lengths, n_ex, cs, ce = [], [], [], [], [], []
    pos = np.arange(length_max)
    for a in range(0, n, chunk):
        b = np.asarray(x[a : a + chunk])
        nuc = b[:, :, :4]
        code = np.argmax(nuc, axis=2).astype(np.uint8)
        code[nuc.max(axis=2) <= 0] = 4
        splice = b[:, :, 5] > 0.5
        anyv = (b != 0).any(axis=2)
        last_splice = np.where(splice.any(1), length_max - 1 - np.argmax(splice[:, ::-1], axis=1), -1)
        last_any = np.where(anyv.any(1), length_max - 1 - np.argmax(anyv[:, ::-1], axis=1), -1)
        length = np.where(last_splice >= 0, last_splice, last_any) + 1
        if np.any(length <= 0):
            bad = a + int(np.flatnonzero(length <= 0)[0])
            raise ValueError(f"ready-made arrays: row {bad} is empty (all-zero tracks)")
        inside = pos[None, :] < length[:, None]
        codes_parts.append(code[inside])
        ends = splice & inside
        ends[np.arange(len(b)), length - 1] = True  # a transcript always ends an exon
        r, p = np.nonzero(ends)
        exon_parts.append(p + 1)
        n_ex.append(np.bincount(r, minlength=len(b)))
        codon = (b[:, :, 4] > 0.5) & inside
        has = codon.any(1)
        first = np.argmax(codon, axis=1)
        last = length_max - 1 - np.argmax(codon[:, ::-1], axis=1)
        cs.append(np.where(has, first, -1))
        ce.append(np.where(has, np.minimum(last + 3, length), -1))
        lengths.append(length)
    length = np.concatenate(lengths).astype(np.int64)
    seq_offset = np.concatenate([[0], np.cumsum(length)]).astype(np.int64)
    exon_offset = np.concatenate([[0], np.cumsum(np.concatenate(n_ex))]).astype(np.int64)
    return {
        "codes": np.concatenate(codes_parts).astype(np.uint8),
        "seq_offset": seq_offset,
        "exon_tx_end": np.concatenate(exon_parts).astype(np.int64),
        "exon_offset": exon_offset,
        "cds_start": np.concatenate(cs).astype(np.int64),
        "cds_end": np.concatenate(ce).astype(np.int64),
    }


def read_ready_made(path: str | os.PathLike[str]) -> dict[str, npt.NDArray[Any]]:
    """``.npz`` with ``X`` (N, L, 6), ``y`` (N,) or (N, 1), ``genes`` (N,); optional ``transcripts``."""
    from isoclr.core.files import load_npz

    out = load_npz(path)  # allow_pickle=False: object arrays (pickles) are refused
    missing = {"X", "y", "genes"} - set(out)
    if missing:
        raise ValueError(f"{path}: ready-made arrays need X, y and genes; missing {sorted(missing)} (has {sorted(out)})")
    n = len(out["X"])
    if out["y"].reshape(n, -1).shape[1] != 1 or len(out["genes"]) != n:
        raise ValueError(f"{path}: X has {n} rows but y has shape {out['y'].shape} and genes {out['genes'].shape}")
    out["y"] = out["y"].reshape(n).astype(np.float64)
    return out


def arrays_to_task_store(npz: str | os.PathLike[str], store_path: str | os.PathLike[str], species: str, task: str) -> pd.DataFrame:
    """Write a task-local store from ready-made arrays; returns its table plus ``y``."""
    from isoclr.store.format import write_store

    arr = read_ready_made(npz)
    parts = arrays_to_store_parts(arr["X"])
    n = len(arr["y"])
    genes = np.asarray([str(g.decode() if isinstance(g, bytes) else g) for g in arr["genes"]], dtype=object)
    if "transcripts" in arr:
        tids = np.asarray([str(t) for t in arr["transcripts"]], dtype=object)
    else:
        tids = np.asarray([f"{task}:{i}" for i in range(n)], dtype=object)
    table = pd.DataFrame(
        {
            "transcript_id": tids,
            "gene_id": genes,
            "cds_start": parts["cds_start"],
            "cds_end": parts["cds_end"],
            "cds_phase": 0,
            "biotype": np.where(parts["cds_start"] >= 0, "protein_coding", ""),
            "tags": "",
        }
    )
    write_store(
        store_path, table, parts["codes"], parts["seq_offset"], parts["exon_tx_end"], parts["exon_offset"],
        {"species": species, "annotation_url": Path(npz).name, "annotation_format": "ready-made arrays (X, y, genes)"},
    )
    table["transcript"] = np.arange(n, dtype=np.int64)
    table["y"] = arr["y"]
    table["length"] = np.diff(parts["seq_offset"])
    return table


# ---------------------------------------------------------------------------------------------
# one entry point for the CLI and the Snakemake shim
# ---------------------------------------------------------------------------------------------
def build_task(
    task: str,
    kind: str,
    out: str | os.PathLike[str],
    *,
    store: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    genes_tsv: str | os.PathLike[str] | None = None,
    species: str | None = None,
    annotation: str | os.PathLike[str] | None = None,
    id_column: str | None = None,
    value_column: str | None = None,
    obo: str | os.PathLike[str] | None = None,
    gaf: str | os.PathLike[str] | None = None,
    gene_ids: str | os.PathLike[str] | None = None,
    namespace: str = "molecular_function",
    depth: int = 3,
    n_terms: int = 10,
    depth_mode: str = "shortest",
    follow_part_of: bool = False,
    evidence_exclude: Sequence[str] = (),
    task_store: str | os.PathLike[str] | None = None,
    report_tsv: str | os.PathLike[str] | None = None,
    settings: TaskStageSettings,
) -> TaskData:
    """Build one task file (and its report TSV). ``kind``: halflife | go | mrl_table | mrl_arrays.
    ``settings``: the folds, fractions, seed and minimum training rows (config ``tasks``)."""
    report = JoinReport(task)
    out = Path(out)
    extra: dict[str, Any] = {}
    if kind in ("halflife", "mrl_table", "go"):
        if not store:
            raise ValueError(f"task {task}: kind {kind} needs --store")
        table, store_species = _store_table(store)
        species = species or store_species
        ann = annotation_ids(annotation)
        if kind == "go":
            if not (obo and gaf):
                raise ValueError(f"task {task}: kind go needs --obo and --gaf")
            dag = read_obo(obo)
            rows, y, terms, ranking = build_go(
                table, dag, read_gaf(gaf), read_gene_id_map(gene_ids) if gene_ids else None, report,
                namespace, depth, n_terms, depth_mode, follow_part_of, evidence_exclude,
                annotation=ann[0] if ann else None,
            )
            label_names = [f"{t} {dag.name[t]}" for t in terms]
            task_kind = "multilabel"
            extra = {"go_namespace": namespace, "go_depth": depth, "go_depth_mode": depth_mode, "go_follow_part_of": bool(follow_part_of),
                     "go_data_version": dag.data_version, "go_term_ranking": ranking.head(50).to_json(orient="records")}
        else:
            lab = read_value_table(labels, id_column, value_column) if labels else None
            if lab is None:
                raise ValueError(f"task {task}: kind {kind} needs --labels")
            builder = build_halflife if kind == "halflife" else build_mrl_table
            rows = builder(table, lab, report, ann)
            y = rows["y"].to_numpy(dtype=np.float32)
            label_names = [value_column or "y"]
            task_kind = "regression"
        store_ref = str(store)
    elif kind == "mrl_arrays":
        if not labels or not task_store:
            raise ValueError(f"task {task}: kind mrl_arrays needs --labels (the .npz) and --task-store")
        species = species or "human"
        rows = arrays_to_task_store(labels, task_store, species, task)
        report.add("labels", "in_label_table", len(rows), note="rows of the ready-made arrays")
        nan = ~np.isfinite(rows["y"].to_numpy())
        if nan.any():
            report.add("labels", "no_value", rows.loc[nan, "transcript_id"].tolist())
        rows = rows.loc[~nan].reset_index(drop=True)
        report.add("labels", "matched", len(rows), note="rows kept (task-local store)")
        y = rows["y"].to_numpy(dtype=np.float32)
        label_names = ["mrl"]
        task_kind = "regression"
        store_ref = str(task_store)
    else:
        raise ValueError(f"task {task}: unknown kind {kind!r} (one of {TASK_KINDS})")
    groups = homology_groups(rows["gene_id"].astype(str).tolist(), read_gene_groups(genes_tsv, species or ""), report)
    data = write_task(
        out, task=task, species=species or "", kind=task_kind, label_names=label_names, store=store_ref,
        transcript=rows["transcript"].to_numpy(), transcript_id=rows["transcript_id"].astype(str).tolist(),
        gene_id=rows["gene_id"].astype(str).tolist(), y=y, group=groups, n_folds=settings.n_folds,
        fractions=settings.fractions, seed=settings.seed, min_train=settings.min_train, report=report, extra_attrs=extra,
    )
    report.log()
    report.write_tsv(report_tsv or out.with_suffix(".report.tsv"))
    return data


def tasks_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "tasks",
              wildcards: Any = None, threads: int | None = None, resources: Any = None) -> TaskData:
    """The pipeline's ``task`` and ``task_arrays`` rules (plain values from
    ``workflow/scripts/tasks.py``): ``params.settings`` is
    :class:`isoclr.config.settings.tasks.TaskStageSettings` (folds, fractions, seed and the task's spec)."""
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "build one downstream task dataset with homology-aware folds",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    s = params.settings
    spec = dict(s["spec"])
    files = ("labels", "obo", "gaf", "gene_ids")  # config paths in the spec; the rule's inputs here
    return build_task(
        s["name"], spec.pop("kind"), outputs.task, report_tsv=outputs.report,
        store=inputs.get("store"), annotation=inputs.get("annotation"), genes_tsv=inputs.get("genes"),
        labels=inputs.get("labels"), obo=inputs.get("obo"), gaf=inputs.get("gaf"),
        gene_ids=inputs.get("gene_ids"), task_store=outputs.get("store"), species=spec.pop("species"),
        **{k: v for k, v in spec.items() if k not in files},
        settings=TaskStageSettings.from_params(s),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task name, e.g. halflife_human")
    parser.add_argument("--kind", required=True, choices=TASK_KINDS)
    parser.add_argument("--out", required=True, help="task file to write (results/tasks/{task}.h5)")
    parser.add_argument("--store", help="species store (results/stores/{species}.h5)")
    parser.add_argument("--species", help="species name (default: the store's)")
    parser.add_argument("--labels", help="label table (TSV: id, value) or ready-made .npz (mrl_arrays)")
    parser.add_argument("--id-column", help="label id column (default: first)")
    parser.add_argument("--value-column", help="label value column (default: last)")
    parser.add_argument("--annotation", help="species annotation, to tell 'not in annotation' from 'filtered out'")
    parser.add_argument("--genes", help="results/splits/genes.tsv (homology groups)")
    parser.add_argument("--obo", help="go-basic.obo(.gz)")
    parser.add_argument("--gaf", help="GAF annotations (.gz)")
    parser.add_argument("--gene-ids", help="Entrez <-> symbol <-> Ensembl table (human_gene_ids.tsv.gz)")
    parser.add_argument("--namespace", default="molecular_function", choices=sorted(GO_ROOTS))
    parser.add_argument("--depth", type=int, default=3, help="GO depth below the namespace root")
    parser.add_argument("--n-terms", type=int, default=10)
    parser.add_argument("--depth-mode", default="shortest", choices=["shortest", "longest"])
    parser.add_argument("--follow-part-of", action="store_true")
    parser.add_argument("--evidence-exclude", nargs="*", default=[])
    parser.add_argument("--task-store", help="task-local store for ready-made arrays")
    parser.add_argument("--report", help="join report TSV (default: OUT with .report.tsv)")
    # unset: the schema's defaults of config `tasks` (config/schema.yaml), as the pipeline's
    parser.add_argument("--n-folds", type=int, default=None, help="homology-aware folds")
    parser.add_argument("--fractions", type=float, nargs="+", default=None)
    parser.add_argument("--min-train", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    from isoclr.config.load import defaults

    d = defaults("tasks")
    given = {"n_folds": args.n_folds, "fractions": args.fractions, "min_train": args.min_train, "seed": args.seed}
    t = {**d, **{k: v for k, v in given.items() if v is not None}}
    settings = TaskStageSettings(name=args.task, spec={"kind": args.kind}, n_folds=int(t["n_folds"]),
                                 fractions=tuple(float(f) for f in t["fractions"]), min_train=int(t["min_train"]),
                                 seed=int(t["seed"] or 0))
    build_task(
        args.task, args.kind, args.out, store=args.store, labels=args.labels, genes_tsv=args.genes,
        species=args.species, annotation=args.annotation, id_column=args.id_column, value_column=args.value_column,
        obo=args.obo, gaf=args.gaf, gene_ids=args.gene_ids, namespace=args.namespace, depth=args.depth,
        n_terms=args.n_terms, depth_mode=args.depth_mode, follow_part_of=args.follow_part_of,
        evidence_exclude=args.evidence_exclude, task_store=args.task_store, report_tsv=args.report,
        settings=settings,
    )
    return 0

