"""External encoders offline: a tiny randomly initialised SpliceBERT (multimolecule) saved to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from isoclr.core.encoding import encode_sequence

multimolecule = pytest.importorskip("multimolecule", reason="optional extra: pip install isoclr[external]")

from isoclr.evaluate.external import ExternalEncoder, codes_to_text


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from multimolecule import RnaTokenizer, SpliceBertConfig, SpliceBertModel

    path = tmp_path_factory.mktemp("splicebert_tiny")
    tok = RnaTokenizer()
    torch.manual_seed(0)
    cfg = SpliceBertConfig(
        vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=40,
    )
    SpliceBertModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_codes_to_text() -> None:
    codes = encode_sequence("ACGTNacgu")
    assert codes_to_text(codes) == "ACGUNACGU"
    assert codes_to_text(codes, "dna") == "ACGTNACGT"
    with pytest.raises(ValueError, match="alphabet"):
        codes_to_text(codes, "protein")


@pytest.mark.slow
def test_external_encoder_windows_and_mean_pooling(tiny_model: Path) -> None:
    enc = ExternalEncoder(tiny_model, device="cpu")
    assert enc.out_dim == 16
    assert enc.window == 40 - 2 - 2  # positions - special tokens - offset margin
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 5, size=n).astype(np.uint8) for n in (5, 36, 37, 100)]
    h = enc.embed(seqs, batch_size=3)
    assert h.shape == (4, 16) and h.dtype == np.float32 and np.isfinite(h).all()
    # Batch composition and padding do not change a transcript's embedding.
    np.testing.assert_allclose(enc.embed(seqs[3:], batch_size=1), h[3:], rtol=1e-4, atol=1e-5)
    # Mean over the true length: a 100-nt transcript is the length-weighted mean of its windows.
    parts = [seqs[3][i : i + enc.window] for i in range(0, 100, enc.window)]
    hp = enc.embed(parts, batch_size=1)
    weights = np.array([len(p) for p in parts], dtype=np.float64)
    np.testing.assert_allclose((hp * weights[:, None]).sum(0) / weights.sum(), h[3], rtol=1e-4, atol=1e-5)
    # And by hand for one window: hidden states of the nucleotide tokens, averaged.
    tokens = enc.tokenizer([codes_to_text(seqs[1])], return_tensors="pt")
    with torch.no_grad():
        hidden = enc.model(**tokens).last_hidden_state[0, 1:-1]
    np.testing.assert_allclose(hidden.mean(0).numpy(), h[1], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_external_embed_task_path(tiny_model: Path, tmp_path: Path) -> None:
    """evaluate.embed_task with an external-NAME encoder writes /h for every task row."""
    import h5py
    import pandas as pd

    from isoclr.evaluate import jobs as E
    from isoclr.store.format import write_store
    from isoclr.tasks.build import JoinReport, write_task

    rng = np.random.default_rng(1)
    lengths = rng.integers(10, 80, size=9)
    codes = np.concatenate([rng.integers(0, 4, size=n) for n in lengths]).astype(np.uint8)
    table = pd.DataFrame({"transcript_id": [f"T{i}" for i in range(9)], "gene_id": [f"G{i}" for i in range(9)]})
    write_store(tmp_path / "s.h5", table, codes, np.concatenate([[0], np.cumsum(lengths)]), lengths,
                np.arange(10), {"species": "toy"})
    write_task(tmp_path / "t.h5", task="t", species="toy", kind="regression", label_names=["y"],
               store=str(tmp_path / "s.h5"), transcript=np.arange(9), transcript_id=table["transcript_id"],
               gene_id=table["gene_id"], y=rng.normal(size=9), group=np.arange(9), n_folds=3,
               fractions=[1.0], seed=0, min_train=1, report=JoinReport("t"))
    out = tmp_path / "emb.h5"
    E.embed_task(tmp_path / "t.h5", "external-tiny", out, external={"source": str(tiny_model), "batch_size": 4}, device="cpu")
    with h5py.File(out) as f:
        assert f["h"].shape == (9, 16)
    tsv = tmp_path / "job.tsv"
    E.run_job(tmp_path / "t.h5", "external-tiny-linear", 1.0, 0, tsv, embeddings=out)
    assert len(pd.read_csv(tsv, sep="\t")) == 3


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot load"):
        ExternalEncoder(tmp_path / "nowhere", device="cpu")
