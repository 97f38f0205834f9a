"""The store stage's entry points: ``isoclr build`` / ``isoclr store`` and :func:`build_store`.

``isoclr build --genome FA[.gz] --annotation FILE --species NAME --out STORE.h5``
``isoclr build --transcripts FA[.gz] --annotation FILE --species NAME --out STORE.h5``
``isoclr build --transcripts GENCODE_pc_transcripts.fa[.gz] --species NAME --out STORE.h5``

One builder (:func:`isoclr.store.assemble.build_from_source`) makes every store; the three
forms differ only in the sequence source: a genome and an annotation
(:class:`isoclr.store.genome_source.GenomeSource`), transcript sequences and an annotation
(:class:`isoclr.store.transcriptome.TranscriptSource`), or a GENCODE ``pc_transcripts.fa``
whose headers carry the ids and the UTR/CDS ranges (:class:`isoclr.store.gencode.GencodeSource`).
docs/store.md has the store layout and each source's checks.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isoclr.core.files import atomic_path
from isoclr.store.assemble import DEFAULT_MAX_LENGTH, build_from_source

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_MAX_LENGTH", "build_store", "read_aliases", "stats_table", "write_stats"]


def build_store(
    genome: str | os.PathLike[str],
    annotation: Any,
    species: str,
    out: str | os.PathLike[str],
    fmt: str = "auto",
    max_length: int | None = DEFAULT_MAX_LENGTH,
    chromosomes_include: Iterable[str] = (),
    chromosomes_exclude: Iterable[str] = (),
    biotypes: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    strict: bool = False,
) -> dict[str, dict[str, Any]]:
    """Build ``out`` (an HDF5 species store) from a genome and return its stats ``{section: {key: value}}``.

    ``strict``: a transcript with a structural flaw, and GFF3 exon/CDS rows whose Parent
    transcript row (or transcripts whose Parent gene row) is absent, are errors; by default
    they are repaired as gffread repairs them or dropped, counted in the stats' ``annotation``
    section (first ids and lines in ``annotation_examples``).

    ``annotation``: a path (read with :func:`isoclr.store.annotation.read_annotation`, format
    ``fmt``) or an already-read ``Annotation``. ``max_length``: mature transcripts longer than
    this are dropped (None or 0: no limit). ``chromosomes_include``/``_exclude``: regular
    expressions matched in full against FASTA contig names. ``biotypes``: keep only these
    transcript biotypes (empty: all). ``aliases``: extra contig-name aliases for
    :func:`isoclr.store.annotation.reconcile_chroms`. ``provenance``: store attributes (taxid,
    genome_url, annotation_url, annotation_version, sha256s); missing sha256s are computed.
    """
    # pandas, the annotation readers and h5py are imported before the worker threads start:
    # an import holds the GIL throughout, and with two threads busy beside it on two cores it
    # was descheduled while holding it, stalling all Python (measured: ~0.1 s wall and ~0.15 s
    # CPU more). The genome thread loses nothing by starting later: the read-ahead bound, not
    # its start, limits how much it decodes while the annotation is parsed.
    import pandas  # noqa: F401

    import isoclr.store.annotation
    import isoclr.store.format  # noqa: F401
    from isoclr.store.genome_source import GenomeSource

    source = GenomeSource(genome, annotation, fmt, aliases, strict)
    return build_from_source(source, species, out, max_length, chromosomes_include,
                             chromosomes_exclude, biotypes, provenance)


def stats_table(stats: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """``{section: {key: value}}`` -> long table with columns section, key, value."""
    import pandas as pd

    rows = [(sec, str(k), v) for sec, kv in stats.items() for k, v in kv.items()]
    return pd.DataFrame(rows, columns=["section", "key", "value"])


def write_stats(stats: Mapping[str, Mapping[str, Any]], path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        stats_table(stats).to_csv(tmp, sep="\t", index=False)


def read_aliases(path: str | os.PathLike[str]) -> dict[str, str]:
    """Two-column TSV ``annotation_name<TAB>fasta_name`` (``#`` comments allowed)."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for n, row in enumerate(fh, 1):
            row = row.rstrip("\n")
            if not row or row.startswith("#"):
                continue
            parts = row.split("\t")
            if len(parts) != 2:
                raise ValueError(f"{path} line {n}: expected 2 tab-separated columns (alias, FASTA name), got {len(parts)}")
            out[parts[0]] = parts[1]
    return out


def run_stage(settings: Mapping[str, Any], out: str | os.PathLike[str], stats: str | os.PathLike[str], *,
              genome: str | None = None, transcripts: str | None = None, annotation: str | None = None,
              gene_map: str | None = None) -> dict[str, dict[str, Any]]:
    """The store rule: one species store from the settings' params
    (:class:`isoclr.config.settings.StoreSettings`) and its inputs: a genome and an annotation,
    transcripts and an annotation (and a gene map), or transcripts alone (GENCODE headers)."""
    s = dict(settings)
    filters = {k: s[k] for k in ("max_length", "chromosomes_include", "chromosomes_exclude", "biotypes")}
    if transcripts and not annotation:
        from isoclr.store.gencode import build_store_from_gencode

        result = build_store_from_gencode(transcripts, s["species"], out, provenance=s["provenance"], **filters)
    elif transcripts:
        from isoclr.store.transcriptome import build_store_from_transcripts, read_gene_map

        gm = s["gene_map"] or {}
        result = build_store_from_transcripts(
            transcripts, annotation, s["species"], out, fmt=s["format"], provenance=s["provenance"],
            gene_map=read_gene_map(gene_map, gm.get("gene_column"), gm.get("name_column")) if gene_map else None,
            **filters)
    else:
        if genome is None or annotation is None:
            raise ValueError(f"store {s['species']}: needs a genome and an annotation, or transcripts")
        result = build_store(genome, annotation, s["species"], out, fmt=s["format"], aliases=s["aliases"],
                             provenance=s["provenance"], strict=s["strict"], **filters)
    write_stats(result, stats)
    return result


def store_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "store",
              wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The pipeline's ``store`` rule (plain values from ``workflow/scripts/store.py``):
    :func:`run_stage` with ``params.settings`` (:class:`isoclr.config.settings.StoreSettings`)."""
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "build the isoform store (HDF5, every mature transcript encoded) of one species",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    run_stage(params.settings, outputs.store, outputs.stats, genome=inputs.get("genome"),
              transcripts=inputs.get("transcripts"), annotation=inputs.get("annotation"),
              gene_map=inputs.get("gene_map"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--genome", help="genome FASTA, plain or gzip/bgzip")
    src.add_argument("--transcripts", help="transcript FASTA (mature sequences 5'->3', plain or gzip) "
                     "instead of a genome: with --annotation, the annotation gives their exons "
                     "(isoclr.store.transcriptome); without, it must be a GENCODE pc_transcripts.fa "
                     "whose headers give the ids and UTR/CDS ranges (isoclr.store.gencode)")
    parser.add_argument("--annotation", help="GTF, GFF3, genePred, refFlat or BED12 (plain or gzip); "
                        "required with --genome")
    parser.add_argument("--species", required=True, help="species name stored in the file")
    parser.add_argument("--out", required=True, help="output store (.h5), written atomically")
    parser.add_argument("--format", default="auto", help="annotation format (default: auto-detect)")
    parser.add_argument(
        "--max-length", type=int, default=DEFAULT_MAX_LENGTH,
        help=f"drop (never truncate) transcripts longer than this; 0: no limit (default {DEFAULT_MAX_LENGTH})",
    )
    parser.add_argument("--stats", help="write the stats table (TSV: section, key, value) here")
    parser.add_argument("--chromosomes-include", nargs="*", default=[], metavar="REGEX",
                        help="keep only contigs whose FASTA name fully matches one of these")
    parser.add_argument("--chromosomes-exclude", nargs="*", default=[], metavar="REGEX",
                        help="drop contigs whose FASTA name fully matches one of these")
    parser.add_argument("--biotypes", nargs="*", default=[], help="keep only these transcript biotypes")
    parser.add_argument("--aliases", help="TSV of contig aliases: annotation name<TAB>FASTA name")
    parser.add_argument("--strict", action="store_true",
                        help="a flawed transcript (overlapping exons, CDS outside exons...) and a "
                             "GFF3 row whose Parent row is absent are errors (default: repaired as "
                             "gffread does or dropped, counted in the stats)")
    parser.add_argument("--taxid", default="", help="NCBI taxonomy id (provenance)")
    parser.add_argument("--genome-url", default="", help="provenance")
    parser.add_argument("--annotation-url", default="", help="provenance")
    parser.add_argument("--annotation-version", default="", help="provenance")
    tr = parser.add_argument_group("with --transcripts")
    tr.add_argument("--gene-map", help="TSV with a header, column 1 transcript id: replaces the "
                    "annotation's gene ids (e.g. BED12, which has none)")
    tr.add_argument("--gene-column", help="gene id column of --gene-map (default: column 2)")
    tr.add_argument("--gene-name-column", help="gene name column of --gene-map (optional)")
    tr.add_argument("--length-mismatch", choices=("error", "drop"), default="error",
                    help="exon lengths (or a GENCODE header's length field) not adding up to the "
                    "sequence length: error (default) or drop and count (length_mismatch)")
    tr.add_argument("--missing", choices=("drop", "error"), default="drop",
                    help="an id in only one of the two files: drop and count (default: "
                    "missing_sequence / missing_annotation) or error")
    tr.add_argument("--transcripts-url", default="", help="provenance")


def _report(args: argparse.Namespace, stats: Mapping[str, Mapping[str, Any]]) -> int:
    if args.stats:
        write_stats(stats, args.stats)
    s = stats["summary"]
    print(f"{args.out}: {s['transcripts']} transcripts, {s['genes']} genes, {s['nucleotides']} nt")
    return 0


def run(args: argparse.Namespace) -> int:
    from isoclr.store.genome_source import tune_malloc

    tune_malloc()
    if args.transcripts:
        return _run_transcripts(args)
    given = [f"--{k.replace('_', '-')}" for k in ("gene_map", "gene_column", "gene_name_column", "transcripts_url")
             if getattr(args, k)]
    if given or args.length_mismatch != "error" or args.missing != "drop":
        raise ValueError(f"{', '.join(given) or '--length-mismatch/--missing'}: only with --transcripts (a transcriptome build)")
    if not args.annotation:
        raise ValueError("--genome needs --annotation (the transcripts' exons on the genome)")
    stats = build_store(
        args.genome,
        args.annotation,
        args.species,
        args.out,
        fmt=args.format,
        max_length=args.max_length or None,
        chromosomes_include=args.chromosomes_include,
        chromosomes_exclude=args.chromosomes_exclude,
        biotypes=args.biotypes,
        aliases=read_aliases(args.aliases) if args.aliases else None,
        provenance={
            "taxid": args.taxid,
            "genome_url": args.genome_url,
            "annotation_url": args.annotation_url,
            "annotation_version": args.annotation_version,
        },
        strict=args.strict,
    )
    return _report(args, stats)


def _run_transcripts(args: argparse.Namespace) -> int:
    if args.aliases:
        raise ValueError("--aliases needs --genome (a transcriptome build reads no contig names)")
    provenance = {"taxid": args.taxid, "transcripts_url": args.transcripts_url,
                  "annotation_url": args.annotation_url, "annotation_version": args.annotation_version}
    if not args.annotation:
        from isoclr.store.gencode import build_store_from_gencode

        given = [f"--{k.replace('_', '-')}" for k in ("gene_map", "gene_column", "gene_name_column",
                                                      "annotation_url", "annotation_version")
                 if getattr(args, k)] + (["--missing"] if args.missing != "drop" else [])
        if given:
            raise ValueError(f"{', '.join(given)}: only with --annotation (a GENCODE header FASTA "
                             "is its own annotation)")
        stats = build_store_from_gencode(
            args.transcripts, args.species, args.out, max_length=args.max_length,
            chromosomes_include=args.chromosomes_include, chromosomes_exclude=args.chromosomes_exclude,
            biotypes=args.biotypes, length_mismatch=args.length_mismatch, provenance=provenance)
        return _report(args, stats)
    from isoclr.store.transcriptome import build_store_from_transcripts, read_gene_map

    stats = build_store_from_transcripts(
        args.transcripts, args.annotation, args.species, args.out, fmt=args.format,
        max_length=args.max_length, chromosomes_include=args.chromosomes_include,
        chromosomes_exclude=args.chromosomes_exclude, biotypes=args.biotypes,
        gene_map=read_gene_map(args.gene_map, args.gene_column, args.gene_name_column) if args.gene_map else None,
        length_mismatch=args.length_mismatch, missing=args.missing, provenance=provenance,
    )
    return _report(args, stats)
