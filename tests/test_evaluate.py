"""Evaluation jobs on a tiny synthetic task: every model kind, tidy output, identical splits."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from isoclr.evaluate import jobs as E
from isoclr.evaluate.collect import collect_metrics
from isoclr.evaluate.metrics_table import COLUMNS
from isoclr.evaluate.baselines import Saluki, random_encoder
from isoclr.evaluate.finetune import Sequences, TrainConfig, length_batches
from isoclr.evaluate.metrics import MULTILABEL_METRICS, REGRESSION_METRICS
from isoclr.pretrain.model import build_encoder, save_checkpoint
from isoclr.store.format import write_store
from isoclr.tasks.build import JoinReport, write_task

try:  # C2's embed_store; a stand-in with the contract's signature until it lands
    from isoclr.evaluate.embedder import embed_store  # noqa: F401
except ImportError:  # pragma: no cover
    import types

    def _embed_store(encoder, store, indices, batch_size=16, device=None):
        from isoclr.core.encoding import tracks_torch

        seqs = Sequences.from_store(store, indices)
        out = np.zeros((len(seqs), encoder.out_dim), np.float32)
        with torch.no_grad():
            for b in length_batches(seqs.lengths, np.arange(len(seqs)), batch_size):
                codes, marks, lens = seqs.batch(b)
                out[b] = encoder(tracks_torch(codes, marks), lens).numpy()
        return out

    sys.modules["isoclr.evaluate.embedder"] = types.SimpleNamespace(embed_store=_embed_store)

TINY = {"size": "tiny", "widths": [8, 8, 8, 8], "stem_width": 8, "projector": [16, 16, 8]}
FINETUNE = {"max_epochs": 3, "patience": 2, "batch_size": 8, "lr": 3e-3}
SALUKI = {"channels": 8, "blocks": 3, "gru": 8, "hidden": 8}
N = 45


def _synthetic_store(path: Path, rng: np.random.Generator) -> tuple[Path, np.ndarray]:
    lengths = rng.integers(40, 260, size=N)
    codes = [rng.integers(0, 4, size=n).astype(np.uint8) for n in lengths]
    gc = np.array([np.isin(c, (1, 2)).mean() for c in codes])
    exon_tx_end, exon_offset = [], [0]
    for n in lengths:  # two exons each
        exon_tx_end += [int(n // 2), int(n)]
        exon_offset.append(exon_offset[-1] + 2)
    table = pd.DataFrame(
        {
            "transcript_id": [f"T{i}" for i in range(N)],
            "gene_id": [f"G{i}" for i in range(N)],
            "cds_start": [3] * N,
            "cds_end": [int(n - n % 3) for n in lengths],
        }
    )
    write_store(
        path, table, np.concatenate(codes), np.concatenate([[0], np.cumsum(lengths)]),
        np.asarray(exon_tx_end), np.asarray(exon_offset), {"species": "toy"},
    )
    return path, gc


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("evaluate")
    rng = np.random.default_rng(0)
    store, gc = _synthetic_store(tmp / "toy.h5", rng)
    common = {
        "species": "toy", "store": str(store), "transcript": np.arange(N),
        "transcript_id": [f"T{i}" for i in range(N)], "gene_id": [f"G{i}" for i in range(N)],
        "group": np.arange(N) // 2, "n_folds": 3, "fractions": [1.0, 0.3], "seed": 1, "min_train": 5,
    }
    y_reg = (gc - gc.mean()) / gc.std() + 0.1 * rng.normal(size=N)
    write_task(tmp / "reg.h5", task="reg", kind="regression", label_names=["y"], y=y_reg, report=JoinReport("reg"), **common)
    y_ml = np.stack([gc > np.median(gc), rng.random(N) < 0.3, np.zeros(N, bool)], axis=1).astype(np.uint8)
    y_ml[:2, 2] = 1  # a rare label: single class in most test folds
    write_task(tmp / "ml.h5", task="ml", kind="multilabel", label_names=["a", "b", "c"], y=y_ml, report=JoinReport("ml"), **common)
    torch.manual_seed(0)
    ckpt = tmp / "ckpt.pt"
    save_checkpoint(ckpt, build_encoder(TINY), "dcl")
    return {"tmp": tmp, "reg": tmp / "reg.h5", "ml": tmp / "ml.h5", "ckpt": ckpt}


def _embed(setup: dict[str, Path], task: str, encoder: str) -> Path:
    out = setup["tmp"] / "emb" / encoder / f"{task}.h5"
    if not out.exists():
        E.embed_task(setup[task], encoder, out, checkpoint=setup["ckpt"], model_cfg=TINY, seed=7, batch_size=8, device="cpu")
    return out


@pytest.mark.parametrize("task", ["reg", "ml"])
@pytest.mark.parametrize("model", ["isoclr-linear", "random-linear", "mlm-linear", "naive-linear"])
def test_linear_jobs_write_tidy_tables(setup: dict[str, Path], task: str, model: str) -> None:
    encoder = E.parse_model(model)[1]
    emb = _embed(setup, task, encoder)
    out = setup["tmp"] / "eval" / task / model / "frac0.3" / "fold1.tsv"
    table = E.run_job(setup[task], model, 0.3, 1, out, embeddings=emb)
    back = pd.read_csv(out, sep="\t")
    assert list(back.columns) == COLUMNS
    assert set(back["metric"]) == set(REGRESSION_METRICS if task == "reg" else MULTILABEL_METRICS)
    assert (back["task"] == task).all() and (back["model"] == model).all()
    assert (back["fraction"] == 0.3).all() and (back["fold"] == 1).all() and (back["species"] == "toy").all()
    from isoclr.tasks.build import TaskData

    data = TaskData.load(setup[task])
    assert (back["n_train"] == len(data.split(1, 0.3)[0])).all()
    assert (back["run"] == 1).all() and (back["split"] == "test").all()
    assert (back["min_train_applied"] == data.train_info(1, 0.3)["min_train_applied"]).all()
    assert np.isfinite(table["value"]).all()


@pytest.mark.parametrize("task", ["reg", "ml"])
@pytest.mark.parametrize("model", ["isoclr-finetune", "supervised", "saluki"])
def test_network_jobs_write_tidy_tables(setup: dict[str, Path], task: str, model: str) -> None:
    out = setup["tmp"] / "eval" / task / model / "frac1.0" / "fold0.tsv"
    t0 = time.perf_counter()
    table = E.run_job(
        setup[task], model, 1.0, 0, out, checkpoint=setup["ckpt"], model_cfg=TINY,
        finetune=FINETUNE, saluki=SALUKI, seed=3, device="cpu", threads=1,
    )
    assert time.perf_counter() - t0 < 20
    back = pd.read_csv(out, sep="\t")
    assert list(back.columns) == COLUMNS and len(back) == len(table)
    assert set(back["metric"]) == set(REGRESSION_METRICS if task == "reg" else MULTILABEL_METRICS)
    assert back.loc[back["metric"].isin(["mse", "auroc_micro"]), "value"].notna().all()


def test_identical_splits_across_models(setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every model kind asks the task file for its split, and gets the same rows."""
    seen: dict[str, tuple] = {}
    from isoclr.evaluate import finetune
    from isoclr.evaluate import probes

    def fake_probe(kind, h, y, train, val, test, **kw):
        seen[current] = (tuple(train), tuple(val), tuple(test))
        return probes.ProbeResult(np.zeros(len(test)))

    def fake_train(model, kind, seqs, y, split, cfg, seed, device):
        seen[current] = tuple(tuple(seqs_ids[i] for i in s) for s in split)
        trainer = finetune.Trainer(model, kind, cfg, seed, "cpu")
        trainer.best_epoch = 0
        return np.zeros(len(split[2])), trainer

    monkeypatch.setattr(probes, "linear_probe", fake_probe)
    monkeypatch.setattr(finetune, "train_and_predict", fake_train)
    real_from_store = finetune.Sequences.from_store

    def from_store(store, rows):
        nonlocal seqs_ids
        seqs_ids = [int(r) for r in rows]  # store row == task row in this task
        return real_from_store(store, rows)

    seqs_ids: list[int] = []
    monkeypatch.setattr(finetune.Sequences, "from_store", staticmethod(from_store))
    for current in ["isoclr-linear", "random-linear", "isoclr-finetune", "supervised", "saluki"]:
        kind, enc = E.parse_model(current)
        emb = _embed(setup, "reg", enc) if kind == "linear" else None
        E.run_job(
            setup["reg"], current, 0.3, 2, setup["tmp"] / "split" / f"{current}.tsv", embeddings=emb,
            checkpoint=setup["ckpt"], model_cfg=TINY, finetune={"max_epochs": 1}, saluki=SALUKI, device="cpu",
        )
    assert len(set(seen.values())) == 1, seen
    train, val, test = next(iter(seen.values()))
    assert not set(train) & set(test) and not set(val) & set(test) and not set(train) & set(val)


def test_random_encoder_is_deterministic(setup: dict[str, Path]) -> None:
    a, b = random_encoder(TINY, 11), random_encoder(TINY, 11)
    for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), ka
    c = random_encoder(TINY, 12)
    assert any(not torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))
    first = _embed(setup, "reg", "random")
    again = setup["tmp"] / "random_again.h5"
    E.embed_task(setup["reg"], "random", again, model_cfg=TINY, seed=7, batch_size=5, device="cpu")
    with h5py.File(first) as f1, h5py.File(again) as f2:
        np.testing.assert_allclose(f1["h"][:], f2["h"][:], rtol=1e-5, atol=1e-6)
    from isoclr.config.settings import EmbedSettings

    conf = {"seed": 5, "evaluation": {"isoclr_model": "m"}, "pretrain": {"models": {"m": {"size": "tiny"}}}}
    s1 = EmbedSettings.from_config(conf, "random")
    assert s1.seed == E.derive_seed(5, "random-encoder")  # one random encoder for every task
    assert s1.model_cfg == {"size": "tiny"}


def test_collect_metrics(setup: dict[str, Path]) -> None:
    tables = sorted((setup["tmp"] / "eval").rglob("*.tsv"))
    assert tables
    out = setup["tmp"] / "metrics.tsv"
    table = collect_metrics(tables, out)
    back = pd.read_csv(out, sep="\t")
    assert list(back.columns) == COLUMNS and len(back) == len(table) == sum(len(pd.read_csv(t, sep="\t")) for t in tables)


def test_saluki_padding_invariant_and_shapes() -> None:
    torch.manual_seed(0)
    net = Saluki(2, SALUKI).eval()
    x = torch.rand(1, 6, 100)
    padded = torch.nn.functional.pad(x, (0, 60))
    lengths = torch.tensor([100])
    torch.testing.assert_close(net(x, lengths), net(padded, lengths))
    assert net(torch.rand(3, 6, 5), torch.tensor([5, 3, 1])).shape == (3, 2)  # shorter than 2**blocks
    with pytest.raises(ValueError, match="unknown key"):
        Saluki(1, {"filters": 3})


def test_length_batches_and_sequences() -> None:
    lengths = np.array([5, 1, 9, 3, 7, 2, 8])
    b = length_batches(lengths, np.arange(7), 3)
    assert [list(lengths[x]) for x in b] == [[1, 2, 3], [5, 7, 8, 9]]  # no batch of one
    rng = np.random.default_rng(0)
    shuffled = length_batches(lengths, np.arange(7), 3, rng)
    assert sorted(np.concatenate(shuffled)) == list(range(7))
    seqs = Sequences([np.array([0, 1, 2], np.uint8), np.array([3], np.uint8)], [np.array([1, 0, 2], np.uint8), np.array([2], np.uint8)])
    codes, marks, lens = seqs.batch([1, 0])
    assert codes.tolist() == [[3, 5, 5], [0, 1, 2]] and marks.tolist() == [[2, 0, 0], [1, 0, 2]] and lens.tolist() == [1, 3]
    with pytest.raises(ValueError, match="unknown key"):
        TrainConfig.from_dict({"epochs": 3})


def test_bad_names_and_stale_embeddings(setup: dict[str, Path]) -> None:
    for bad in ["isoclr", "foo-linear", "external--linear", "finetune"]:
        with pytest.raises(ValueError, match="unknown model"):
            E.parse_model(bad)
    assert E.parse_model("external-splicebert-linear") == ("linear", "external-splicebert")
    wrong = setup["tmp"] / "wrong.h5"
    with h5py.File(wrong, "w") as f:
        f["h"] = np.zeros((N - 1, 4), np.float32)
    with pytest.raises(ValueError, match="rows"):
        E.evaluate_linear(setup["reg"], wrong, "isoclr-linear", 1.0, 0)


def test_linear_job_does_not_import_torch(setup: dict[str, Path]) -> None:
    emb = _embed(setup, "reg", "isoclr")
    out = setup["tmp"] / "notorch.tsv"
    code = (
        "import sys; from isoclr.evaluate import jobs as E; "
        f"E.run_job({str(setup['reg'])!r}, 'isoclr-linear', 1.0, 0, {str(out)!r}, embeddings={str(emb)!r}); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert out.exists()


def test_the_metrics_page_is_not_a_job_module() -> None:
    """Editing the metrics page (its HTML or CSS) or the collection replans ``collect`` only:
    neither is among the modules the embedding and evaluation jobs run (their code fingerprint)."""
    from isoclr.config.settings import stage_modules

    for stage in ("embed", "evaluate"):
        modules = set(stage_modules(stage))
        assert "evaluate.jobs" in modules and "evaluate.metrics_table" in modules
        assert not modules & {"tables.html", "evaluate.collect", "evaluate.cli"}, stage
    assert {"evaluate.collect", "evaluate.metrics_table", "tables.html"} <= set(stage_modules("collect"))
    assert "evaluate.jobs" not in stage_modules("collect")


def test_cli_job_and_collect(setup: dict[str, Path]) -> None:
    from isoclr import cli

    emb = _embed(setup, "ml", "isoclr")
    out = setup["tmp"] / "cli.tsv"
    assert cli.main(["evaluate", "job", "--task", str(setup["ml"]), "--model", "isoclr-linear", "--fraction", "1.0",
                     "--fold", "2", "--out", str(out), "--embeddings", str(emb)]) == 0
    assert cli.main(["evaluate", "collect", "--out", str(setup["tmp"] / "m.tsv"), str(out)]) == 0
    assert len(pd.read_csv(setup["tmp"] / "m.tsv", sep="\t")) == 4
