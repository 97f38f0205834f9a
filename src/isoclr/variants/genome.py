"""Random access to a genome FASTA (pyfaidx), and the bgzip copy the pipeline makes once per
species (:func:`bgzip_fasta`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PathLike = str | os.PathLike[str]


class Genome:
    """An indexed FASTA read by random access (pyfaidx): plain or bgzip-compressed; the
    ``.fai`` (and ``.gzi``) index is written beside it when absent. A plain-gzip FASTA cannot be
    read by random access and is refused by name (recompress it with ``bgzip``)."""

    def __init__(self, path: PathLike) -> None:
        import pyfaidx

        self.path = Path(path)
        if not self.path.exists():
            raise ValueError(f"{path}: genome FASTA not found")
        from isoclr.core.files import compression

        kind = compression(self.path)
        if kind == "gzip":
            raise ValueError(f"{path}: gzip but not bgzip; random access needs a plain or bgzip FASTA "
                             f"(gzip -dc {path} | bgzip > genome.fa.gz)")
        if kind not in ("plain", "bgzip"):
            raise ValueError(f"{path}: {kind}-compressed; random access needs a plain or bgzip FASTA")
        if kind == "bgzip":
            try:  # pyfaidx reads BGZF through Biopython
                import Bio.bgzf  # noqa: F401
            except ImportError:
                raise ValueError(f"{path}: a bgzip FASTA needs Biopython (pip install biopython), "
                                 "or decompress it") from None
        try:
            self._fa = pyfaidx.Fasta(str(self.path), as_raw=True, sequence_always_upper=True)
        except pyfaidx.UnsupportedCompressionFormat:
            raise ValueError(f"{path}: gzip but not bgzip; random access needs a plain or bgzip FASTA "
                             f"(gzip -dc {path} | bgzip > genome.fa.gz)") from None
        except (pyfaidx.FastaIndexingError, ValueError) as exc:
            raise ValueError(f"{path}: cannot index the FASTA ({exc})") from None
        self.lengths = {name: len(rec) for name, rec in self._fa.items()}

    @property
    def names(self) -> list[str]:
        return list(self.lengths)

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Upper-case sequence of ``chrom`` [start, end) (0-based half-open)."""
        return str(self._fa[chrom][max(start, 0):end])

    def close(self) -> None:
        self._fa.close()


def contig_name(chrom: str, names: set[str]) -> str | None:
    """``chrom`` as the FASTA names it (itself, or with ``chr`` added or removed)."""
    for c in (chrom, chrom[3:] if chrom.startswith("chr") else "chr" + chrom):
        if c in names:
            return c
    return None


def bgzip_fasta(src: PathLike, dest: PathLike, block_bytes: int = 1 << 22) -> Path:
    """A random-access copy of a (plain or gzip) FASTA: BGZF-compressed at ``dest`` (written to
    a temporary path, then renamed), its ``.fai`` index made beside it. Streams: memory stays
    flat whatever the genome's size."""
    from Bio import bgzf

    from isoclr.core.files import atomic_path, open_decompressed

    out = Path(dest)
    with atomic_path(out) as tmp, open_decompressed(src, "genome FASTA") as fi:
        writer = bgzf.BgzfWriter(str(tmp), "wb")
        try:
            while block := fi.read(block_bytes):
                writer.write(block)
        finally:
            writer.close()
    for stale in (Path(f"{out}.fai"), Path(f"{out}.gzi")):
        stale.unlink(missing_ok=True)
    Genome(out).close()  # writes the .fai
    return out


def variants_genome_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "variants_genome",
                        wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The pipeline's ``variants_genome`` rule (plain values from
    ``workflow/scripts/variants_genome.py``): the species' genome as bgzip + ``.fai``."""
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "a random-access (bgzip + .fai) copy of a genome, for variant scoring",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    bgzip_fasta(inputs.genome, outputs.genome)
