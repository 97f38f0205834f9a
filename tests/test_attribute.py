"""Attributions of a kept head: exact in-silico mutagenesis, integrated gradients, the planted
motif found by both, every file format, the command and its figure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from isoclr.attribute.methods import (
    attribute,
    ism,
    planted_motif_transcripts,
    read_attributions,
    write_attributions,
)
from isoclr.cli import main as cli_main
from isoclr.config.load import defaults
from isoclr.config.settings.evaluate import FinetuneSettings
from isoclr.evaluate.finetune import EncoderWithHead, Sequences, Trainer
from isoclr.evaluate.heads import load_head, save_head, sequence_source
from isoclr.pretrain.model import build_encoder


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A tiny encoder + linear head trained on planted-motif transcripts, kept as a head folder."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic on every machine (and a fair share of a busy one)
    tmp = tmp_path_factory.mktemp("attr")
    seqs, cds, masks, y = planted_motif_transcripts(320, seed=0)  # TATTTAT copies in the 3'UTR
    src = sequence_source(seqs, cds)
    data = Sequences([src.codes(i) for i in range(len(src))], [src.marks(i) for i in range(len(src))])
    torch.manual_seed(1)
    net = EncoderWithHead(build_encoder({"size": "tiny", "dropout": 0.0}), 1, 0.0)
    cfg = FinetuneSettings.from_mapping({**defaults("finetune"), "max_epochs": 12, "patience": 50, "lr": 3e-3, "batch_size": 16, "amp": False}, "test")
    trainer = Trainer(net, "regression", cfg, seed=1, device="cpu").fit(data, y, np.arange(260), np.arange(260, 320))
    save_head(trainer.model, tmp / "head", task="planted", kind="regression", label_names=["copies"],
              y_mean=trainer.y_mean, y_std=trainer.y_std)
    yield {"tmp": tmp, "head": load_head(tmp / "head"), "seqs": seqs, "cds": cds, "masks": masks, "y": y}
    torch.set_num_threads(threads)


def test_the_planted_motif_is_found_by_both_methods(planted: dict) -> None:
    head = planted["head"]
    held = np.arange(260, 320)
    r = np.corrcoef(head.predict_sequences([planted["seqs"][i] for i in held],
                                           [planted["cds"][i] for i in held]), planted["y"][held])[0, 1]
    assert r > 0.8  # the head learned the label
    test = [int(i) for i in held if planted["masks"][i].any()][:12]
    src = sequence_source([planted["seqs"][i] for i in test], [planted["cds"][i] for i in test])
    att = attribute(head, src, methods=["ism", "ig"])
    motif = np.concatenate([planted["masks"][i] for i in test])
    for method in ("ism", "ig"):
        auroc = roc_auc_score(motif, att.table[method].to_numpy())
        assert auroc >= 0.9, (method, auroc)


def test_ism_is_exact(planted: dict) -> None:
    head = planted["head"]
    seq, cds = planted["seqs"][270], planted["cds"][270]
    src = sequence_source([seq], [cds])
    ref, delta = ism(head, src.codes(0), src.marks(0), max_tokens=5000)  # several batches
    rng = np.random.default_rng(3)
    picks = [(int(p), b) for p, b in zip(rng.integers(0, len(seq), 6), rng.integers(0, 4, 6))]
    mutants = [seq[:p] + "ACGT"[b] + seq[p + 1 :] for p, b in picks]
    pred = head.predict_sequences([seq, *mutants], [cds] * (len(mutants) + 1))
    assert ref == pytest.approx(pred[0], abs=1e-5)
    for (p, b), m in zip(picks, pred[1:]):
        assert delta[p, b] == pytest.approx(m - pred[0], abs=1e-5)
        if "ACGT"[b] == seq[p]:
            assert delta[p, b] == 0


@pytest.mark.parametrize("ext", ["h5", "npz", "parquet", "tsv"])
def test_formats_round_trip(planted: dict, tmp_path: Path, ext: str) -> None:
    src = sequence_source(planted["seqs"][:2], [None, planted["cds"][1]], ids=["nc", "coding"])
    att = attribute(planted["head"], src, methods=["ism", "gxi"])
    assert set(att.table.loc[att.table["transcript_id"] == "nc", "region"]) == {"noncoding"}
    assert list(att.table.loc[att.table["transcript_id"] == "coding", "region"].drop_duplicates()) == [
        "5utr", "cds", "3utr"]
    back = read_attributions(write_attributions(tmp_path / f"a.{ext}", att))
    pd.testing.assert_frame_equal(back.table, att.table, check_dtype=False, rtol=1e-7)
    assert back.attrs["methods"] == "ism,gxi" and list(back.transcripts["transcript_id"]) == ["nc", "coding"]


def test_the_command_on_a_fasta(planted: dict, tmp_path: Path) -> None:
    fa = tmp_path / "tx.fa"
    fa.write_text("".join(f">T{i} gene=G{i} CDS=31-120\n{planted['seqs'][i]}\n" for i in (280, 281)))
    out = tmp_path / "att.parquet"
    rc = cli_main(["attribute", "--head", str(planted["tmp"] / "head"), "--transcripts", str(fa), "--ids", "T281",
                   "--methods", "ism,ig", "--ig-steps", "8", "--out", str(out), "--figures", str(tmp_path / "fig")])
    assert rc == 0
    att = read_attributions(out)
    assert list(att.transcripts["transcript_id"]) == ["T281"] and len(att.table) == len(planted["seqs"][281])
    assert (tmp_path / "fig" / "T281.png").stat().st_size > 10_000
    assert cli_main(["attribute", "--head", str(planted["tmp"] / "head"), "--transcripts", str(fa), "--ids", "nope",
                     "--out", str(tmp_path / "x.tsv")]) == 1
