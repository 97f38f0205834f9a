"""The ``isoclr`` command line: one sub-command per pipeline stage.

Each sub-command lives in the module of its stage, which defines two functions:
``add_arguments(parser: argparse.ArgumentParser) -> None`` and ``run(args) -> int | None``.
Modules are imported only when their command is used, so ``isoclr --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from isoclr import __version__
from isoclr.core.jobs import LOG_FORMAT

# command name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "download": ("isoclr.download.fetch", "fetch a URL (http/https/ftp/file) with verification and retries"),
    "build": ("isoclr.store.builder", "build a species isoform store (HDF5) from a genome and an annotation"),
    "store": ("isoclr.store.builder", "the store stage (rules/store.smk): the same as `isoclr build`"),
    "export": ("isoclr.store.export", "write a store's transcripts as FASTA / CDS FASTA / BED12"),
    "homology": ("isoclr.homology.merge", "merge isoform groups and homology tables into transcript sets"),
    "splits": ("isoclr.splits.assign", "leakage-free train/validation/test splits by connected component"),
    "simulate": ("isoclr.simulate", "write a simulated transcriptome (gene families, isoforms, homologs)"),
    "pretrain": ("isoclr.pretrain.loop", "contrastive (or masked-nucleotide) pre-training of the encoder"),
    "embed": ("isoclr.evaluate.embedder", "embed transcripts with a pre-trained encoder"),
    "export-model": ("isoclr.pretrain.model_folder", "a shareable model folder (safetensors, config.json, model card) from a checkpoint"),
    "attribute": ("isoclr.attribute.methods", "per-nucleotide contributions of a fine-tuned head (in-silico mutagenesis, gradients)"),
    "variants": ("isoclr.variants.score", "score VCF variants on transcripts: consequence, embedding distance, head deltas"),
    "tasks": ("isoclr.tasks.build", "build a downstream task dataset (half-life, GO, ribosome load)"),
    "evaluate": ("isoclr.evaluate.cli", "train/evaluate one model on one task, fraction and fold"),
    "diagnostics": ("isoclr.diagnostics.run", "effective rank, alignment/uniformity and ortholog retrieval of a frozen encoder"),
    "figures": ("isoclr.figures.draw", "draw the paper's figures from the metrics table"),
    "tables": ("isoclr.tables.summary", "summary over runs and the table against the paper, from the metrics table"),
    "cost": ("isoclr.config.cost", "wall time and device hours of a config's pre-training and evaluation grid"),
    "plan": ("isoclr.config.plan", "a study before it runs: jobs per rule, resources, GPU hours, disk and peak memory"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="isoclr",
        description="IsoCLR: contrastive representations of mature RNA. Every pipeline stage "
        "is a sub-command; run `isoclr COMMAND --help` for its options.",
    )
    parser.add_argument("--version", action="version", version=f"isoclr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = build_parser()
    # Parse only up to the command name; the command's own parser reads the rest.
    idx = next((i for i, a in enumerate(argv) if a in COMMANDS), None)
    if idx is None:
        top.parse_args(argv)  # handles --help / --version / errors
        top.print_help()
        return 2
    top_args = top.parse_args(argv[:idx])
    name = argv[idx]
    module_name, help_text = COMMANDS[name]
    logging.basicConfig(
        level=logging.DEBUG if top_args.verbose else logging.INFO,
        format=LOG_FORMAT,
    )
    from isoclr.core.logs import quiet_third_party

    quiet_third_party()  # no fontTools/matplotlib INFO chatter
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"isoclr {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(argv[idx + 1 :])
    try:
        rc = module.run(args)
    except (ValueError, FileNotFoundError, OSError, RuntimeError) as exc:
        # Errors raised at the data boundary carry a message a user can act on.
        if top_args.verbose:
            raise
        print(f"isoclr {name}: error: {exc}", file=sys.stderr)
        return 1
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
