"""The attribution stage (issue: attributions in the pipeline): the kept heads named by
TASK/MODEL, the job on a store and task (fold-0 test transcripts, figures, the 3'UTR reading,
the study's dropped tracks), and the k-mer windows against a plain per-window reference."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from isoclr.attribute.elements import element_table, kmer_table, utr3_windows
from isoclr.attribute.job import attribute_job, transcript_rows
from isoclr.attribute.methods import attribute, planted_motif_transcripts, read_attributions
from isoclr.config import study as S
from isoclr.config.base import ConfigError
from isoclr.config.load import defaults, load_config
from isoclr.config.settings.attribute import AttributeSettings, attribute_heads
from isoclr.config.settings.evaluate import FinetuneSettings
from isoclr.core.encoding import SPLICE_BIT
from isoclr.evaluate.finetune import EncoderWithHead, Sequences, Trainer
from isoclr.evaluate.heads import load_head, save_head, sequence_source
from isoclr.pretrain.model import build_encoder
from isoclr.store.format import IsoformStore
from isoclr.store.gencode import build_store_from_gencode
from isoclr.tasks.file import write_task
from isoclr.tasks.labels import JoinReport
from isoclr.variants.settings import VariantsSettings

ROOT = Path(__file__).resolve().parents[1]
DEMO = load_config([ROOT / "config" / "config.yaml"])


# --- which heads exist ------------------------------------------------------------------------
def test_the_demo_keeps_one_head_per_task_and_network_model() -> None:
    assert set(S.kept_heads(DEMO)) == {"halflife_human/isoclr-finetune", "halflife_human/supervised",
                                       "halflife_human/saluki", "go_mf_human/isoclr-finetune",
                                       "go_mf_human/supervised"}
    assert attribute_heads(DEMO) == [("halflife_human", "isoclr-finetune")]
    assert S.kept_head_path(DEMO, "halflife_human", "saluki") == "results/eval/halflife_human/saluki/frac1.0/fold0.head"


@pytest.mark.parametrize(("head", "message"), [
    ("halflife_human", "is not TASK/MODEL"),
    ("mrl_human/isoclr-finetune", "task 'mrl_human' is not evaluated"),
    ("halflife_human/isoclr-linear", "only the network models keep a head"),
    ("go_mf_human/saluki", "the study keeps no such head"),
])
def test_a_head_the_study_does_not_keep_is_refused_by_key(head: str, message: str) -> None:
    cfg = copy.deepcopy(DEMO)
    cfg["attribute"]["heads"] = [head]
    with pytest.raises(ConfigError, match=rf"config attribute\.heads: .*{re.escape(message)}"):
        attribute_heads(cfg)


def test_no_head_is_kept_without_fold_0_at_full_data() -> None:
    cfg = copy.deepcopy(DEMO)
    cfg["evaluation"]["folds"] = [1, 2]
    assert S.kept_heads(cfg) == []
    cfg["evaluation"]["folds"] = None
    cfg["evaluation"]["fractions_by_model"] = {"isoclr-finetune": [0.3]}
    assert "halflife_human/isoclr-finetune" not in S.kept_heads(cfg)
    with pytest.raises(ConfigError, match="keeps no such head"):
        attribute_heads(cfg)


def test_variants_read_kept_heads_by_name_and_folders_as_given() -> None:
    cfg = copy.deepcopy(DEMO)
    cfg["variants"]["heads"] = ["halflife_human/isoclr-finetune", "my/heads/brca1.head"]
    s = VariantsSettings.from_config(cfg, "demo_human")
    assert s.heads == ["results/eval/halflife_human/isoclr-finetune/frac1.0/fold0.head", "my/heads/brca1.head"]
    cfg["variants"]["heads"] = ["halflife_human/isoclr-linear"]
    with pytest.raises(ConfigError, match=r"config variants\.heads: .*only the network models"):
        VariantsSettings.from_config(cfg, "demo_human")


@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake is not installed")
def test_the_demo_plans_the_attribution_from_the_kept_head(tmp_path: Path) -> None:
    res = tmp_path / "results"
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--config", f"results={res}",
                          "--", str(res / "attributions" / "halflife_human" / "isoclr-finetune.h5")],
                         cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out.stdout, flags=re.MULTILINE))
    # the head comes from the fold-0 fine-tuning job at full data, which declares it
    assert counts.get("attribute") == "1" and counts.get("evaluate_network_head") == "1", out.stdout
    assert "evaluate_network" not in counts and "evaluate_linear" not in counts


# --- the job ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A GENCODE-header store of planted-motif transcripts, a half-life-like task over it and
    a tiny head trained on it (with the splice track zeroed, as a study that drops it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("attr_stage")
    seqs, cds, masks, y = planted_motif_transcripts(200, seed=4)
    with open(tmp / "pc_transcripts.fa", "w") as fh:
        fh.writelines(f">T{i}.1|G{i}.1|-|-|t{i}-201|g{i}|{len(s)}|UTR5:1-{a}|CDS:{a + 1}-{b}|UTR3:{b + 1}-{len(s)}|\n{s}\n" for i, (s, (a, b)) in enumerate(zip(seqs, cds)))
    build_store_from_gencode(tmp / "pc_transcripts.fa", "planted", tmp / "store.h5")
    store = IsoformStore(tmp / "store.h5")
    ids = store.table()["transcript_id"].astype(str).tolist()
    order = [ids.index(f"T{i}.1") for i in range(len(seqs))]
    write_task(tmp / "task.h5", task="planted", species="planted", kind="regression", label_names=["copies"],
               store=str(tmp / "store.h5"), transcript=order, transcript_id=[f"T{i}.1" for i in range(len(seqs))],
               gene_id=[f"G{i}.1" for i in range(len(seqs))], y=y, group=np.arange(len(seqs)), n_folds=5,
               fractions=[1.0], seed=0, min_train=8, report=JoinReport("planted"))
    src = sequence_source(seqs, cds)
    data = Sequences([src.codes(i) for i in range(len(src))], [src.marks(i) for i in range(len(src))])
    torch.manual_seed(1)
    net = EncoderWithHead(build_encoder({"size": "tiny", "dropout": 0.0}), 1, 0.0)
    cfg = FinetuneSettings.from_mapping({**defaults("finetune"), "max_epochs": 8, "patience": 50, "lr": 3e-3,
                                         "batch_size": 16, "amp": False}, "test")
    trainer = Trainer(net, "regression", cfg, seed=1, device="cpu").fit(data, y, np.arange(160), np.arange(160, 200))
    save_head(trainer.model, tmp / "fold0.head", task="planted", kind="regression", label_names=["copies"],
              y_mean=trainer.y_mean, y_std=trainer.y_std)
    yield {"tmp": tmp, "seqs": seqs, "masks": masks}
    torch.set_num_threads(threads)


def _settings(**kw: object) -> dict:
    s = AttributeSettings(task="planted", model="isoclr-finetune", transcripts=3, figures=2, ids=(), methods=("ism", "ig"),
                          ig_steps=8, batch_tokens=65536, output=None, drop_tracks=("splice",))
    return {**s.to_params(), **kw}


def test_the_job_writes_every_output(study: dict, tmp_path: Path) -> None:
    tmp = study["tmp"]
    out = SimpleNamespace(table=str(tmp_path / "a" / "isoclr-finetune.h5"), figures=str(tmp_path / "a" / "f.figures"),
                          elements=str(tmp_path / "a" / "e.tsv"), kmers=str(tmp_path / "a" / "k.tsv"))
    (tmp_path / "a").mkdir()
    attribute_job(SimpleNamespace(head=str(tmp / "fold0.head"), task=str(tmp / "task.h5"), store=str(tmp / "store.h5")),
                  out, SimpleNamespace(settings=_settings()), str(tmp_path / "job.log"), threads=1)
    att = read_attributions(out.table)
    from isoclr.evaluate.jobs import load_task

    task = load_task(tmp / "task.h5")
    test_ids = np.asarray(task.transcript_id).astype(str)[task.split(0, 1.0)[2]][:3].tolist()
    assert att.transcripts["transcript_id"].tolist() == test_ids  # fold 0's test rows, in task order
    assert set(att.table.columns) >= {"ism", "ig", "region", "nucleotide"} and att.attrs["tracks_zeroed"] == "splice"
    pngs = sorted(p.name for p in Path(out.figures).glob("*.png"))
    assert pngs == sorted(f"{t}.png" for t in test_ids[:2]) and len(list(Path(out.figures).glob("*.pdf"))) == 2
    elements = pd.read_csv(out.elements, sep="\t")
    assert set(elements["method"]) == {"ism", "ig"} and len(elements) == 4
    assert pd.read_csv(out.kmers, sep="\t").columns.tolist() == ["method", "kmer", "windows", "mean", "rank"]
    assert not list(tmp_path.glob("a/.*part*"))  # nothing half-written left beside the outputs


def test_explicit_ids_and_unknown_ids(study: dict) -> None:
    from isoclr.evaluate.jobs import load_task

    task = load_task(study["tmp"] / "task.h5")
    rows = transcript_rows(task, 3, ["T7.1", "T2.1"], "task.h5")
    ids = IsoformStore(study["tmp"] / "store.h5").table()["transcript_id"].astype(str).to_numpy()
    assert ids[rows].tolist() == ["T7.1", "T2.1"]
    with pytest.raises(ValueError, match=r"task\.h5: attribute\.ids names transcript\(s\) nope"):
        transcript_rows(task, 3, ["nope"], "task.h5")


def test_dropped_tracks_reach_the_head(study: dict) -> None:
    """With the splice track dropped the head sees a store's transcript with that track zero:
    the same prediction as the transcript with no splice marks at all."""
    store = IsoformStore(study["tmp"] / "store.h5")
    head = load_head(study["tmp"] / "fold0.head")

    class One:  # the store's transcript 0, its marks changed by `edit`
        def __init__(self, edit) -> None:  # type: ignore[no-untyped-def]
            self.edit = edit

        def __len__(self) -> int:
            return 1

        def codes(self, i: int) -> np.ndarray:
            return store.codes(0)

        def marks(self, i: int) -> np.ndarray:
            return self.edit(store.marks(0).copy())

        def lengths(self) -> np.ndarray:
            return np.array([len(store.codes(0))])

    def spliced(m: np.ndarray) -> np.ndarray:  # a splice mark every 50 nt
        m[::50] |= SPLICE_BIT
        return m

    plain = attribute(head, One(lambda m: m & ~SPLICE_BIT), None, ["ig"], n_steps=4)
    dropped = attribute(head, One(spliced), None, ["ig"], n_steps=4, drop_tracks=["splice"])
    kept = attribute(head, One(spliced), None, ["ig"], n_steps=4)
    p0, p1, p2 = (a.transcripts["prediction"].iloc[0] for a in (plain, dropped, kept))
    assert p1 == pytest.approx(p0, abs=1e-6) and abs(p2 - p0) > 1e-6


# --- the 3'UTR reading ------------------------------------------------------------------------
def _table(rng: np.random.Generator, n: int = 6) -> pd.DataFrame:
    rows = []
    for t in range(n):
        L = int(rng.integers(60, 140))
        cds_end = int(rng.integers(10, 40))
        seq = rng.choice(list("ACGT"), L)
        seq[rng.integers(cds_end, L - 5)] = "N"
        rows.append(pd.DataFrame({"transcript_id": f"t{t}", "position": np.arange(L), "nucleotide": seq,
                                  "region": np.where(np.arange(L) < cds_end, "cds", "3utr"),
                                  "ism": rng.normal(size=L)}))
    return pd.concat(rows, ignore_index=True)


def test_windows_equal_a_per_window_reference() -> None:
    table = _table(np.random.default_rng(0))
    got = utr3_windows(table, "ism", 5)
    want = []
    for tid, t in table[table["region"] == "3utr"].groupby("transcript_id", sort=False):
        seq, s, pos = "".join(t["nucleotide"]), t["ism"].to_numpy(), t["position"].to_numpy()
        for i in range(len(seq) - 4):
            if set(seq[i : i + 5]) <= set("ACGT"):
                want.append((tid, int(pos[i]), seq[i : i + 5], float(s[i : i + 5].mean())))
    assert list(zip(got["transcript_id"], got["start"], got["kmer"])) == [w[:3] for w in want]
    np.testing.assert_allclose(got["mean"].to_numpy(), [w[3] for w in want], rtol=1e-12)


def test_a_destabilising_element_is_read_as_one() -> None:
    rng = np.random.default_rng(1)
    table = _table(rng, 40)
    seq = table["nucleotide"].to_numpy().copy()
    score = table["ism"].to_numpy().copy()
    utr = np.flatnonzero(table["region"].to_numpy() == "3utr")
    for start in utr[::37][:-1]:  # plant ATTTA with strongly negative scores
        if table["transcript_id"].iloc[start] == table["transcript_id"].iloc[min(start + 4, len(table) - 1)]:
            seq[start : start + 5] = list("ATTTA")
            score[start : start + 5] = -5.0
    table = table.assign(nucleotide=seq, ism=score)
    el = element_table(table, ["ism"]).set_index("element")
    row = el.loc["ATTTA (AU-rich element)"]
    assert row["windows"] >= 20 and row["auroc_element_vs_other"] < 0.1 and row["best_rank"] == 1
    assert kmer_table(table, ["ism"]).iloc[0]["kmer"] == "ATTTA"


def test_the_demo_attributes_with_its_kept_head(demo_repo: Path) -> None:
    """The demo run (a target of `snakemake` alone) made the attributions of its half-life
    fine-tune head and scored its VCF with the same head."""
    res = demo_repo / "results"
    att = read_attributions(res / "attributions" / "halflife_human" / "isoclr-finetune.h5")
    assert len(att.transcripts) == DEMO["attribute"]["transcripts"]
    assert set(att.table["region"]) >= {"5utr", "cds", "3utr"} and {"ism", "ig"} <= set(att.table.columns)
    assert att.table[["ism", "ig"]].abs().sum().gt(0).all()
    figures = res / "attributions" / "halflife_human" / "isoclr-finetune.figures"
    assert len(list(figures.glob("*.png"))) == min(len(att.transcripts), DEMO["attribute"]["figures"])
    assert (res / "eval" / "halflife_human" / "isoclr-finetune" / "frac1.0" / "fold0.head" / "config.json").exists()
    variants = pd.read_csv(res / "variants" / "demo_human.tsv", sep="\t", keep_default_na=False)
    assert "delta_halflife_human.isoclr-finetune" in variants.columns  # a kept head by its task and model


def test_kept_heads_are_named_by_task_and_model() -> None:
    from isoclr.variants.score import head_name

    kept = {"task": "halflife_human", "model": "isoclr-finetune"}
    assert head_name("results/eval/halflife_human/isoclr-finetune/frac1.0/fold0.head", kept) == \
        "halflife_human.isoclr-finetune"
    assert head_name("heads/brca1_head", kept) == "brca1_head"  # a folder named by its user
    assert head_name("x/fold0.head", {}) == "fold0.head"
