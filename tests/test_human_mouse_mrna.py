"""The human_mouse_mrna study's data stage run by snakemake, and its whole plan.

config/human_mouse_mrna.yaml builds the mouse store from the GENCODE pc_transcripts copy in
resources/human_mouse_mrna/ (no annotation) and must equal `isoclr build --transcripts`'s; the
homology, splits and model_sets jobs then run for real (seconds): every model's training sets
must leave out the held-out ortholog pairs' genes. `snakemake -n` plans every arm, task and
figure of the study.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from isoclr.homology.merge import read_sets
from isoclr.store.format import IsoformStore
from isoclr.store.gencode import build_store_from_gencode

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "human_mouse_mrna.yaml"
MODELS = ("isoclr_joint", "isoclr_joint_s2", "isoclr_joint_s3", "isoclr_apart", "isoclr_apart_s2",
          "isoclr_apart_s3", "isoclr_human", "mlm_joint")

pytestmark = pytest.mark.pipeline


def snakemake(tmp: Path, *args: str) -> str:
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["results"] = str(tmp / "results")
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args, "--cores", "2", "--configfile",
                           str(tmp / "config.yaml")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def data_stage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("snakemake") is None:
        pytest.skip("snakemake is not installed")
    tmp = tmp_path_factory.mktemp("human_mouse")
    res = tmp / "results"
    snakemake(tmp, str(res / "splits" / "heldout_orthologs.tsv"),
              str(res / "splits" / "models" / "human+mouse.isoforms" / "splits.tsv"),
              str(res / "splits" / "models" / "human.isoforms" / "splits.tsv"))
    return res


def test_mouse_store_from_the_gencode_headers(data_stage: Path, tmp_path: Path) -> None:
    store = data_stage / "stores" / "mouse.h5"
    ref = tmp_path / "ref.h5"
    build_store_from_gencode(ROOT / "resources" / "human_mouse_mrna" / "mouse_transcripts.fa.gz", "mouse", ref)
    a, b = IsoformStore(store), IsoformStore(ref)
    assert a.table().equals(b.table()) and len(a) == 4860
    assert np.array_equal(a.all_codes(), b.all_codes())
    assert a.attrs["splice_track"] == "empty" and a.attrs["taxid"] == 10090
    stats = pd.read_csv(data_stage / "stores" / "mouse.stats.tsv", sep="\t", dtype=str)
    summary = dict(zip(stats.loc[stats["section"] == "summary", "key"], stats.loc[stats["section"] == "summary", "value"]))
    assert summary["exon_structure"] == "none" and summary["genes"] == "4158"


def test_every_model_leaves_the_heldout_orthologs_out(data_stage: Path) -> None:
    held = pd.read_csv(data_stage / "splits" / "heldout_orthologs.tsv", sep="\t", dtype=str)
    assert len(held) >= 50 and set(held["split"]) <= {"validation", "test"}
    assert not held["gene_a"].duplicated().any() and not held["gene_b"].duplicated().any()
    assert (held["species_a"] == "human").all() and (held["species_b"] == "mouse").all()
    heldout = set(zip(held["species_a"], held["gene_a"])) | set(zip(held["species_b"], held["gene_b"]))
    variants = [(data_stage / "homology" / "sets.h5", data_stage / "splits" / "splits.tsv")]
    variants += [(d / "sets.h5", d / "splits.tsv") for d in sorted((data_stage / "splits" / "models").iterdir())]
    assert len(variants) == 3
    for sets_path, splits_path in variants:
        sets = read_sets(sets_path)
        split = pd.read_csv(splits_path, sep="\t").set_index("set_id")["split"]
        train = {(sets.species[sp], g) for sp, g, s in zip(sets.gene_species, sets.gene_id, sets.gene_set)
                 if split[s] == "train"}
        assert not train & heldout, sets_path
    stats = pd.read_csv(data_stage / "homology" / "sets.stats.tsv", sep="\t", dtype=str)
    kv = dict(zip(stats["section"] + ":" + stats["key"], stats["value"]))
    assert int(kv["totals:multi_species_sets"]) > 550
    assert int(kv["source:homologene:human:genes_matched"]) > 3400
    assert int(kv["source:homologene:mouse:genes_matched"]) > 3400
    apart = pd.read_csv(data_stage / "homology" / "sets.isoforms.stats.tsv", sep="\t", dtype=str)
    assert dict(zip(apart["section"] + ":" + apart["key"], apart["value"]))["totals:multi_species_sets"] == "0"


def test_the_study_plans_every_arm_task_and_figure(tmp_path: Path) -> None:
    if shutil.which("snakemake") is None:
        pytest.skip("snakemake is not installed")
    out = snakemake(tmp_path, "-n")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert counts["store"] == "2" and counts["homology_isoforms"] == "1" and counts["model_sets"] == "2"
    assert counts["pretrain"] == str(len(MODELS)) and counts["tasks"] == "3"
    for model in MODELS:
        assert f"pretrain/{model}/checkpoint.pt" in out, model
        assert f"pretrained-{model}-linear" in out or model in ("isoclr_joint", "mlm_joint"), model
    for text in ("tasks/halflife_mouse.h5", "eval/halflife_mouse/", "eval/go_mf_human/", "random-linear",
                 "naive-linear", "figures/fig2c_halflife_linear_probe_pearson.pdf", "splits/heldout_orthologs.tsv",
                 "diagnostics/pretrained-isoclr_apart_s3.tsv", "figures/fig_diagnostics.pdf",
                 "figures/fig_halflife_mouse.pdf"):
        assert text in out, text
    assert "saluki/frac1.0/" in out and "saluki/frac0.1/" not in out  # evaluation.fractions_by_model
