"""The human_mrna study's store stage (transcriptome input) run by snakemake on a subset.

config/human_mrna.yaml with its three species inputs cut to the first 300 mRNAs of
resources/human_mrna/ (plus 2 FASTA records without an annotation row): the pipeline's store
must equal the one ``isoclr build --transcripts`` makes, and its stats must count the drops.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from isoclr.store.format import IsoformStore
from isoclr.store.transcriptome import build_store_from_transcripts, read_gene_map

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "resources" / "human_mrna"
N = 300

pytestmark = pytest.mark.pipeline


def subset(tmp: Path) -> dict[str, Path]:
    bed = gzip.open(DATA / "structure.bed12.gz", "rt").read().splitlines()[:N]
    ids = {line.split("\t")[3] for line in bed}
    (tmp / "s.bed12").write_text("\n".join(bed) + "\n")
    out, keep = [], False
    for line in gzip.open(DATA / "transcripts.fa.gz", "rt"):
        if line.startswith(">"):
            keep = line[1:].split()[0] in ids
        if keep:
            out.append(line)
    out += [">EXTRA_1\n", "ACGU" * 30 + "\n", ">EXTRA_2\n", "acgt" * 30 + "\n"]
    with gzip.open(tmp / "s.fa.gz", "wt") as fh:
        fh.writelines(out)
    genes = gzip.open(DATA / "gene_map.tsv.gz", "rt").read().splitlines()
    (tmp / "s.genes.tsv").write_text("\n".join(g for g in genes if g.split("\t")[0] in ids | {"transcript_id"}) + "\n")
    return {"transcripts": tmp / "s.fa.gz", "annotation": tmp / "s.bed12", "gene_map": tmp / "s.genes.tsv"}


def test_store_stage_on_a_subset(tmp_path: Path) -> None:
    if shutil.which("snakemake") is None:
        pytest.skip("snakemake is not installed")
    files = subset(tmp_path)
    cfg = yaml.safe_load((ROOT / "config" / "human_mrna.yaml").read_text())
    sp = cfg["species"]["human"]
    for key, path in files.items():
        sp[key]["url"] = f"file://{path}"
        sp[key]["sha256"] = None
    cfg["results"] = str(tmp_path / "results")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    store = tmp_path / "results" / "stores" / "human.h5"
    proc = subprocess.run([sys.executable, "-m", "snakemake", str(store), "--cores", "2", "--configfile",
                           str(tmp_path / "config.yaml")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stats = {(r[0], r[1]): r[2] for r in (ln.split("\t") for ln in
             (tmp_path / "results" / "stores" / "human.stats.tsv").read_text().splitlines()[1:])}
    assert stats[("dropped", "missing_annotation")] == "2"
    assert stats[("dropped", "missing_sequence")] == "0"
    ref = build_store_from_transcripts(files["transcripts"], files["annotation"], "human", tmp_path / "ref.h5",
                                       gene_map=read_gene_map(files["gene_map"], "gene_id", "gene_name"))
    a, b = IsoformStore(store), IsoformStore(tmp_path / "ref.h5")
    ta, tb = a.table(), b.table()
    assert ta.equals(tb) and len(ta) == N - ref["dropped"]["too_long"]
    assert np.array_equal(a.all_codes(), b.all_codes())
    assert ta["gene_id"].str.startswith("ENSG").mean() > 0.95  # Ensembl genes for the half-life join
    assert a.attrs["source"] == "transcripts" and a.attrs["transcripts_url"].startswith("file://")
    assert a.attrs["genome_url"] == ""
