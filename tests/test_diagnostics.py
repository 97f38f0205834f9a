"""Frozen-encoder diagnostics (effective rank, alignment/uniformity, ortholog retrieval), the
study-wide track setting (encoding.drop_tracks) and early stopping's record in the metrics table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from isoclr.core.encoding import SPLICE_BIT, drop_marks, kept_marks, tracks_torch, tracks_used
from isoclr.diagnostics import run as J
from isoclr.diagnostics import measures as D
from isoclr.simulate import SimConfig, write_simulation

TINY = {"size": "tiny", "widths": [8, 8, 8, 8], "stem_width": 8, "projector": [16, 16, 8]}


# --------------------------------------------------------------------------------------------
# the measures
# --------------------------------------------------------------------------------------------
def test_effective_rank_of_known_spectra() -> None:
    rng = np.random.default_rng(0)
    assert D.effective_rank(np.eye(16)) == pytest.approx(16.0)
    line = np.outer(rng.normal(size=50), rng.normal(size=8))  # rank 1: a collapsed embedding
    assert D.effective_rank(line) == pytest.approx(1.0, abs=1e-6)
    assert D.effective_rank(np.zeros((5, 4))) == 0.0
    # two equal singular values and six zeros: exp(log 2) = 2
    h = np.zeros((10, 8))
    h[0, 0], h[1, 1] = 3.0, 3.0
    assert D.effective_rank(h) == pytest.approx(2.0)
    iso = rng.normal(size=(2000, 32))
    assert 28 < D.effective_rank(iso) <= 32


def test_alignment_and_uniformity() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=(200, 16))
    assert D.alignment(z, 3 * z) == pytest.approx(0.0, abs=1e-12)  # scale-free: normalised first
    assert D.alignment(z, -z) == pytest.approx(4.0)
    assert D.uniformity(np.ones((50, 4))) == pytest.approx(0.0, abs=1e-12)  # collapsed: log 1
    spread = D.uniformity(rng.normal(size=(500, 64)))
    assert -4.0 <= spread < -3.5  # near the bound -4 of a high-dimensional sphere
    a, u = D.alignment_uniformity(z, z + 0.01 * rng.normal(size=z.shape))
    assert a < 0.01 and u < -3.0
    # the sampled uniformity is close to the exact one
    big = rng.normal(size=(3000, 8))
    assert D.uniformity(big, max_points=1000) == pytest.approx(D.uniformity(big, max_points=5000), abs=0.05)


def _planted(n: int = 60, d: int = 24, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """n human genes, each with one mouse ortholog; two mouse transcripts for the first 10 genes."""
    rows = []
    for g in range(n):
        rows.append((f"ENST{g}", f"ENSG{g}", f"ENSMUST{g}", f"ENSMUSG{g}"))
        if g < 10:
            rows.append((f"ENST{g}", f"ENSG{g}", f"ENSMUST{g}b", f"ENSMUSG{g}"))
    pairs = pd.DataFrame(rows, columns=list(D.ORTHOLOG_COLUMNS))
    rng = np.random.default_rng(seed)
    genes = rng.normal(size=(n, d))
    human = genes + 0.05 * rng.normal(size=genes.shape)
    mouse_ids = list(dict.fromkeys(pairs["mouse_transcript"]))
    mouse = np.stack([genes[int(t.removeprefix("ENSMUST").removesuffix("b"))] + 0.05 * rng.normal(size=d)
                      for t in mouse_ids])
    return pairs, human, mouse


def test_ortholog_retrieval_planted_example() -> None:
    pairs, human, mouse = _planted()
    hmap = {f"ENST{g}": g for g in range(len(human))}
    mmap = {t: i for i, t in enumerate(dict.fromkeys(pairs["mouse_transcript"]))}
    good = D.ortholog_retrieval(pairs, hmap, mmap, human, mouse)  # orthologs mapped together
    assert good.top1 == 1.0 and good.top10 == 1.0 and good.median_rank == 1.0
    assert good.n_queries == 60 and good.n_candidates == 70
    # a random encoder: unrelated embeddings of the same transcripts -> about chance
    tops = []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        r = D.ortholog_retrieval(pairs, hmap, mmap, rng.normal(size=human.shape), rng.normal(size=mouse.shape))
        tops.append(r.top1)
        assert r.median_rank > 10
    # chance: about 1.17 positives among 70 candidates -> ~0.017 top-1
    assert np.mean(tops) < 0.05
    # a collapsed encoder (every embedding equal) scores exactly the tie-broken chance, never 1
    flat = D.ortholog_retrieval(pairs, hmap, mmap, np.ones_like(human), np.ones_like(mouse))
    expected = np.mean([2 / 70 if g < 10 else 1 / 70 for g in range(60)])
    assert flat.top1 == pytest.approx(expected)


def test_retrieval_ties_and_bad_input() -> None:
    q = np.array([[1.0, 0.0]])
    c = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    r, acc = D.retrieval(q, c, [[0]], ks=(1, 2))
    assert r.ranks[0] == 1.5 and acc[1] == 0.5 and acc[2] == 1.0
    with pytest.raises(ValueError, match="no valid positive"):
        D.retrieval(q, c, [[5]])


def test_read_heldout_orthologs_errors(tmp_path) -> None:
    bad = tmp_path / "o.tsv"
    bad.write_text("human_transcript\thuman_gene\tmouse_transcript\nT\tG\tM\n")
    with pytest.raises(ValueError, match="mouse_gene"):
        D.read_heldout_orthologs(bad)
    bad.write_text("human_transcript\thuman_gene\tmouse_transcript\tmouse_gene\nT\tG\t\tMG\n")
    with pytest.raises(ValueError, match="line 2: empty mouse_transcript"):
        D.read_heldout_orthologs(bad)


def test_kmer_profiles_are_length_free() -> None:
    rng = np.random.default_rng(2)
    s = rng.integers(0, 4, size=300).astype(np.uint8)
    p = J.kmer_profiles([s, np.concatenate([s, s, s])], ks=(3,))
    assert p.shape == (2, 64)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.abs(p[0] - p[1]).max() < 0.01


# --------------------------------------------------------------------------------------------
# one encoder on a study's held-out data
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from isoclr.pretrain import loader as L
    from isoclr.store.format import IsoformStore

    out = tmp_path_factory.mktemp("diag")
    paths = write_simulation(SimConfig(seed=3, n_families=80), out)
    sets = L.TranscriptSets.load(paths["sets"])
    splits = L.read_splits(paths["splits"], sets.n_sets)
    stores = [IsoformStore(p) for p in sets.stores]
    rows = []  # the held-out ortholog pairs: species a x species b within each test set
    for s in np.flatnonzero(splits == "test"):
        m = np.arange(sets.offset[s], sets.offset[s + 1])
        a = [x for x in m if sets.member_species[x] == 0]
        b = [x for x in m if sets.member_species[x] == 1]
        if a and b:
            ta, tb = stores[0].table().iloc[sets.member_transcript[a[0]]], stores[1].table().iloc[sets.member_transcript[b[0]]]
            rows.append((ta["transcript_id"], ta["gene_id"], tb["transcript_id"], tb["gene_id"]))
    orth = out / "heldout_orthologs.tsv"
    pd.DataFrame(rows, columns=list(D.ORTHOLOG_COLUMNS)).to_csv(orth, sep="\t", index=False)
    return {**paths, "orthologs": orth, "n_pairs": len(rows), "out": out}


def test_diagnose_writes_one_table_per_encoder(sim: dict) -> None:
    assert sim["n_pairs"] >= 5
    naive = J.run_diagnostics("naive", sim["out"] / "naive.tsv", sim["sets"], sim["splits"], orthologs=sim["orthologs"])
    rand = J.run_diagnostics("random", sim["out"] / "random.tsv", sim["sets"], sim["splits"], orthologs=sim["orthologs"],
                             model_cfg=TINY, seed=1, device="cpu", drop_tracks=["splice"])
    for table in (naive, rand):
        assert list(table.columns) == D.COLUMNS
        v = dict(zip(table["metric"], table["value"]))
        assert {"effective_rank", "alignment", "uniformity", "retrieval_top1", "retrieval_top10",
                "retrieval_median_rank", "retrieval_chance_top1"} <= set(v)
        assert 1.0 <= v["effective_rank"] <= v["effective_rank_max"]
        assert 0.0 <= v["retrieval_top1"] <= v["retrieval_top10"] <= 1.0
        # candidates: every held-out transcript of the second species (the pairs' are among them)
        from isoclr.pretrain import loader as L

        sets = L.TranscriptSets.load(sim["sets"])
        test = J.heldout_members(sets, L.read_splits(sim["splits"], sets.n_sets), ("validation", "test"))
        assert v["retrieval_candidates"] == len(set(sets.member_transcript[test[sets.member_species[test] == 1]]))
    from isoclr.figures.diagnostics import read_tables

    back = read_tables([sim["out"] / "naive.tsv", sim["out"] / "random.tsv"])
    assert set(back["model"]) == {"naive", "random"}
    # the splits stage's own file (rows of homology/orthologs.tsv, A = queries, B = candidates) reads the same
    four = pd.read_csv(sim["orthologs"], sep="\t")
    stage = sim["out"] / "stage_orthologs.tsv"
    pd.DataFrame({"set_id": 0, "species_a": "sim_a", "gene_a": four["human_gene"], "symbol_a": "",
                  "transcript_a": four["human_transcript"], "transcript_row_a": 0, "species_b": "sim_b",
                  "gene_b": four["mouse_gene"], "symbol_b": "", "transcript_b": four["mouse_transcript"],
                  "transcript_row_b": 0, "sources": "x", "split": "test"}).to_csv(stage, sep="\t", index=False)
    assert list(D.read_heldout_orthologs(stage).columns) == [*D.ORTHOLOG_COLUMNS, "species_a", "species_b"]
    again = J.diagnose("naive", J.kmer_embedder, sim["sets"], sim["splits"], orthologs=stage)
    assert again.equals(J.diagnose("naive", J.kmer_embedder, sim["sets"], sim["splits"], orthologs=sim["orthologs"]))
    # without orthologs (one species): no retrieval rows
    solo = J.diagnose("naive", J.kmer_embedder, sim["sets"], sim["splits"])
    assert not solo["metric"].str.startswith("retrieval").any()
    # a transcript of the pairs file that no store holds is an error naming it
    bad = sim["out"] / "bad.tsv"
    bad.write_text("human_transcript\thuman_gene\tmouse_transcript\tmouse_gene\nNOPE\tG\tM\tMG\n")
    with pytest.raises(ValueError, match="NOPE"):
        J.diagnose("naive", J.kmer_embedder, sim["sets"], sim["splits"], orthologs=bad)


# --------------------------------------------------------------------------------------------
# encoding.drop_tracks: the splice track all zero for every species, everywhere
# --------------------------------------------------------------------------------------------
def test_drop_marks_and_names() -> None:
    marks = np.array([0, 1, 2, 3], dtype=np.uint8)
    assert drop_marks(marks, ["splice"]).tolist() == [0, 1, 0, 1]
    assert drop_marks(marks, ["codon"]).tolist() == [0, 0, 2, 2]
    assert drop_marks(marks, []) is marks
    assert kept_marks(["splice", "codon"]) == 0xFC
    assert tracks_used(["splice"]) == ["A", "C", "G", "T", "codon"]
    with pytest.raises(ValueError, match="unknown track"):
        kept_marks(["exon"])


def test_dropped_splice_track_is_zero_in_pretraining_batches(sim: dict) -> None:
    from isoclr.pretrain import loader as L

    sets = L.TranscriptSets.load(sim["sets"])
    lengths = L.member_lengths(sets)
    sampler = L.SetBatchSampler(np.arange(sets.n_sets), sets.offset, lengths, 16, seed=0)
    species_seen = set()
    for drop, expect_zero in (((), False), (("splice",), True)):
        ds = L.ViewPairDataset(sets, mask_prob=0.0, length_groups=2, drop_tracks=drop)
        splice = 0.0
        for spec in sampler.epoch_batches(0)[:3]:
            batch = ds[spec]
            members = np.concatenate([spec.view1, spec.view2])
            species_seen |= set(sets.member_species[members].tolist())
            for g in batch["groups"]:
                x = tracks_torch(g["codes"], g["marks"])
                assert x.shape[1] == 6  # the channel count is unchanged
                splice += float(x[:, 5].sum())
                assert float(x[:, 4].sum()) > 0  # the codon track is kept
        assert (splice == 0) == expect_zero
    assert species_seen == {0, 1}


class _Recorder(torch.nn.Module):
    """An 'encoder' that records its input tracks."""

    out_dim = 6

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return x.sum(-1)


def test_dropped_splice_track_is_zero_in_evaluation_inputs(sim: dict) -> None:
    from isoclr.evaluate.embedder import Embedder
    from isoclr.evaluate.finetune import Sequences
    from isoclr.pretrain import loader as L

    sets = L.TranscriptSets.load(sim["sets"])
    for path in sets.stores:  # every species
        rec = _Recorder()
        Embedder(rec, drop_tracks=["splice"], device="cpu").embed_store(path)
        assert all(float(x[:, 5].sum()) == 0 and float(x[:, 4].sum()) > 0 for x in rec.seen)
        rec_all = _Recorder()
        Embedder(rec_all, device="cpu").embed_store(path)
        assert sum(float(x[:, 5].sum()) for x in rec_all.seen) > 0  # present unless dropped
        from isoclr.store.format import IsoformStore

        seqs = Sequences.from_store(IsoformStore(path), np.arange(20), drop_tracks=["splice"])
        codes, marks, _ = seqs.batch(np.arange(20))
        assert float(tracks_torch(codes, marks)[:, 5].sum()) == 0
        assert not np.any(np.concatenate(seqs.marks) & SPLICE_BIT)


def test_embedder_follows_the_checkpoints_setting(tmp_path, sim: dict) -> None:
    from isoclr.evaluate.embedder import Embedder
    from isoclr.pretrain.model import build_encoder, save_checkpoint

    ckpt = tmp_path / "c.pt"
    save_checkpoint(ckpt, build_encoder(TINY), "dcl", config={"drop_tracks": ["splice"]})
    emb = Embedder.from_checkpoint(ckpt, device="cpu")
    assert emb.drop_tracks == ("splice",)
    frame = emb.embed_store(__import__("isoclr.pretrain.loader", fromlist=["x"]).TranscriptSets.load(sim["sets"]).stores[0])
    assert frame.attrs["drop_tracks"] == "splice"


def test_settings_carry_drop_tracks() -> None:
    from isoclr.config import load
    from isoclr.config.base import ConfigError
    from isoclr.config.settings.embed import EmbedSettings
    from isoclr.config.settings.evaluate import EvaluationSettings
    from isoclr.config.settings.pretrain import PretrainSettings

    config = load.config_option(None)  # the demo config, filled; one model "m", a dropped track
    config["encoding"] = {"drop_tracks": ["splice"]}
    config["pretrain"]["models"] = {"m": load.fill_model_entry({"steps": 2})}
    config["evaluation"]["isoclr_model"] = "m"
    p = PretrainSettings.from_config(config, "m")
    assert p.drop_tracks == ("splice",) and p.job_params()["drop_tracks"] == ["splice"]
    assert PretrainSettings.from_params(p.job_params()).drop_tracks == ("splice",)
    assert EmbedSettings.from_config(config, "random").to_params()["drop_tracks"] == ["splice"]
    assert EvaluationSettings.from_config(config, "t", "saluki").job_kwargs()["drop_tracks"] == ["splice"]
    none = PretrainSettings.from_config({**config, "encoding": {}}, "m")
    assert "drop_tracks" not in none.job_params()  # studies without it keep their params
    with pytest.raises(ConfigError, match="unknown track"):
        PretrainSettings.from_config({**config, "encoding": {"drop_tracks": ["exons"]}}, "m")


# --------------------------------------------------------------------------------------------
# early stopping: ends on a plateau, restores the best epoch, and says so in the table
# --------------------------------------------------------------------------------------------
def _toy_trainer(max_epochs: int, patience: int, lr: float):
    from isoclr.config.load import defaults
    from isoclr.config.settings.evaluate import FinetuneSettings
    from isoclr.evaluate.finetune import EncoderWithHead, Sequences, Trainer
    from isoclr.pretrain.model import build_encoder

    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 4, size=int(n)).astype(np.uint8) for n in rng.integers(30, 80, size=24)]
    seqs = Sequences(codes, [np.zeros(len(c), np.uint8) for c in codes])
    y = rng.normal(size=24)
    torch.manual_seed(0)
    net = EncoderWithHead(build_encoder(TINY), 1)
    cfg = FinetuneSettings.from_mapping({**defaults("finetune"), "max_epochs": max_epochs, "patience": patience,
                                         "lr": lr, "batch_size": 8}, "test")
    return Trainer(net, "regression", cfg, seed=0, device="cpu"), seqs, y


def test_early_stopping_ends_on_a_plateau_and_records_its_epochs() -> None:
    trainer, seqs, y = _toy_trainer(max_epochs=50, patience=3, lr=0.0)  # lr 0: the loss cannot improve
    trainer.fit(seqs, y, np.arange(16), np.arange(16, 24))
    assert trainer.epochs_run == 4 < 50  # the first epoch, then `patience` without improvement
    assert trainer.stopped_early and not trainer.hit_cap
    assert trainer.summary() == {"epochs": 4, "best_epoch": 1, "hit_cap": False}
    capped, seqs, y = _toy_trainer(max_epochs=2, patience=5, lr=1e-3)
    capped.fit(seqs, y, np.arange(16), np.arange(16, 24))
    assert capped.summary()["epochs"] == 2 and capped.hit_cap


def test_early_stopping_restores_the_best_epochs_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    trainer, seqs, y = _toy_trainer(max_epochs=10, patience=2, lr=1e-2)
    scripted = iter([1.0, 0.5, 0.7, 0.9, 0.8])  # best at epoch 2 (1-based), then two worse
    snapshots = []

    def fake_loss(*args, **kwargs):
        snapshots.append({k: v.clone() for k, v in trainer.model.state_dict().items()})
        return next(scripted)

    monkeypatch.setattr(trainer, "_epoch_loss", fake_loss)
    trainer.fit(seqs, y, np.arange(16), np.arange(16, 24))
    assert trainer.summary() == {"epochs": 4, "best_epoch": 2, "hit_cap": False}
    final = trainer.model.state_dict()
    assert all(torch.equal(final[k], snapshots[1][k]) for k in final)
    assert not all(torch.equal(final[k], snapshots[3][k]) for k in final)


def test_metrics_table_has_the_training_columns(tmp_path) -> None:
    from isoclr.evaluate import metrics_table as E

    net = E.tidy_metrics("t", "human", "saluki", 1.0, 0, {"pearson": 0.5}, 10,
                         training={"epochs": 7, "best_epoch": 2, "hit_cap": False})
    lin = E.tidy_metrics("t", "human", "naive-linear", 1.0, 0, {"pearson": 0.4}, 10)
    E.write_tsv(pd.concat([net, lin]), tmp_path / "m.tsv")
    back = E.read_tsv(tmp_path / "m.tsv")
    assert back.loc[0, "epochs"] == 7 and back.loc[0, "best_epoch"] == 2 and not back.loc[0, "hit_cap"]
    assert pd.isna(back.loc[1, "epochs"])
    old = tmp_path / "old.tsv"  # a table written before the columns existed still reads
    pd.concat([net, lin]).drop(columns=["epochs", "best_epoch", "hit_cap"]).to_csv(old, sep="\t", index=False)
    assert list(E.read_tsv(old).columns) == E.COLUMNS


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------
def test_fig_diagnostics_draws_every_measure(sim: dict, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from isoclr.figures import diagnostics as FD

    if not (sim["out"] / "naive.tsv").exists():
        test_diagnose_writes_one_table_per_encoder(sim)
    figs = []
    real = FD._save
    monkeypatch.setattr(FD, "_save", lambda fig, out, dpi=200: (figs.append(fig), real(fig, out, dpi))[1])
    pdf, png = FD.fig_diagnostics([sim["out"] / "random.tsv", sim["out"] / "naive.tsv"], tmp_path / "d.pdf", dpi=50)
    assert pdf.stat().st_size > 0 and png.stat().st_size > 0
    titles = [ax.get_title(loc="left") for ax in figs[0].axes]
    assert titles == [t for _, t, _ in FD.PANELS]
    ticks = [t.get_text() for t in figs[0].axes[0].get_xticklabels()]
    assert ticks == ["random encoder", "k-mer profile"]


def test_pretrain_curves_draw_the_effective_rank(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from isoclr.figures import draw as F

    run = tmp_path / "m"
    run.mkdir()
    steps = np.arange(1, 41)
    pd.DataFrame({"step": steps, "loss": np.linspace(5, 2, 40), "lr": 1e-3,
                  "val_loss": np.where(steps % 10 == 0, 4.0, np.nan),
                  "val_alignment": np.where(steps % 10 == 0, 0.5, np.nan),
                  "val_uniformity": np.where(steps % 10 == 0, -2.0, np.nan),
                  "val_effective_rank": np.where(steps % 10 == 0, steps / 4, np.nan)}).to_csv(run / "metrics.csv", index=False)
    figs = []
    real = F._save
    monkeypatch.setattr(F, "_save", lambda fig, out, dpi=200: (figs.append(fig), real(fig, out, dpi))[1])
    F.draw("fig_pretrain_curves", tmp_path / "c.pdf", pretrain_metrics=run / "metrics.csv", dpi=50)
    panel = [ax for ax in figs[0].axes if ax.get_title(loc="left").startswith("d  ")]
    assert len(panel) == 1 and list(panel[0].lines[0].get_ydata()) == [2.5, 5.0, 7.5, 10.0]


def test_pretraining_reads_the_setting(sim: dict) -> None:
    from isoclr.config.settings.pretrain import PretrainSettings
    from isoclr.pretrain import loop

    s = PretrainSettings.from_entry({"steps": 1, "batch_size": 8, "drop_tracks": ["splice"], "sets": str(sim["sets"]),
                                     "splits": str(sim["splits"])}, "m")
    assert loop.training_data(s, 1, 0)["dataset"].drop_tracks == ("splice",)
    assert loop.training_data(s.replace(drop_tracks=()), 1, 0)["dataset"].drop_tracks == ()


def test_pretraining_logs_the_effective_rank_and_records_its_tracks(sim: dict, tmp_path) -> None:
    import yaml

    from isoclr.config.settings.pretrain import PretrainSettings
    from isoclr.pretrain.loop import pretrain

    s = PretrainSettings.from_entry({
        "objective": "dcl", "size": "tiny", "batch_size": 8, "steps": 4, "warmup_steps": 1, "num_workers": 0,
        "log_every": 2, "val_every": 2, "val_batches": 2, "checkpoint_every": 4, "threads": 1,
        "drop_tracks": ["splice"], "sets": str(sim["sets"]), "splits": str(sim["splits"])}, "m", seed=3)
    pretrain(s, tmp_path / "m")
    rows = pd.read_csv(tmp_path / "m" / "metrics.csv").dropna(subset=["val_loss"])
    assert len(rows) == 2 and (rows["val_effective_rank"] >= 1).all()
    resolved = yaml.safe_load((tmp_path / "m" / "config.yaml").read_text())
    assert resolved["drop_tracks"] == ["splice"] and resolved["tracks"] == ["A", "C", "G", "T", "codon"]
    # the shareable model folder carries the setting, and an Embedder from it zeroes the track too
    from isoclr.evaluate.embedder import Embedder

    folder = json.loads((tmp_path / "m" / "model" / "config.json").read_text())
    assert folder["drop_tracks"] == ["splice"]
    assert Embedder.from_pretrained(tmp_path / "m" / "model").drop_tracks == ("splice",)
