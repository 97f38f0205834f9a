"""`isoclr embed` and the `Embedder` API: every input kind, one layout, every output format."""

from __future__ import annotations

import gzip
import os
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from isoclr import Embedder
from isoclr.cli import main as cli_main
from isoclr.evaluate.embedder import FastaSequences, parse_header
from isoclr.evaluate.embeddings import COLUMNS, Embeddings, read_embeddings, write_embeddings
from isoclr.core.encoding import SPLICE_BIT, decode_sequence, tracks_torch
from isoclr.store.builder import build_store
from isoclr.pretrain.model import build_encoder, load_encoder, save_checkpoint
from isoclr.store.format import IsoformStore

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo" / "human"
TINY = {"size": "tiny", "widths": [8, 8, 8, 8], "stem_width": 8, "projector": [16, 16, 8]}
N_TX = 40  # transcripts of the demo genome set used here


def write_fasta(path: Path, records: dict[str, str]) -> Path:
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n")
            fh.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("embed")
    torch.manual_seed(0)
    save_checkpoint(tmp / "ckpt.pt", build_encoder(TINY), "dcl")
    build_store(DEMO / "genome.fa.gz", DEMO / "annotation.gtf.gz", "human", tmp / "full.h5", max_length=0)
    full = IsoformStore(tmp / "full.h5")
    t = full.table()
    keep = t.index[:N_TX]
    # a small annotation + genome pair: the GTF rows of the first N_TX transcripts
    ids = set(t.loc[keep, "transcript_id"])
    with gzip.open(DEMO / "annotation.gtf.gz", "rt") as fi, open(tmp / "small.gtf", "w") as fo:
        fo.writelines(line for line in fi if (m := re.search(r'transcript_id "([^"]+)"', line)) and m.group(1) in ids)
    build_store(DEMO / "genome.fa.gz", tmp / "small.gtf", "human", tmp / "store.h5", max_length=0)
    st = IsoformStore(tmp / "store.h5")
    recs = {tid: decode_sequence(st.codes(i)) for i, tid in enumerate(st.table()["transcript_id"])}
    write_fasta(tmp / "tx.fa", recs)
    return {"tmp": tmp, "ckpt": tmp / "ckpt.pt", "store": tmp / "store.h5", "gtf": tmp / "small.gtf",
            "fasta": tmp / "tx.fa"}


def direct(ckpt: Path, codes: list[np.ndarray], marks: list[np.ndarray]) -> np.ndarray:
    """The encoder run on one sequence at a time (no batching), as the reference."""
    enc, _ = load_encoder(ckpt)
    out = []
    with torch.no_grad():
        for c, m in zip(codes, marks, strict=True):
            x = tracks_torch(torch.from_numpy(c)[None], torch.from_numpy(m)[None])
            out.append(enc(x, torch.tensor([len(c)])).numpy()[0])
    return np.stack(out)


def test_every_input_gives_the_same_embeddings(setup: dict[str, Path]) -> None:
    """Store, genome + annotation, transcripts + annotation: same rows, same h (CLI, each format)."""
    tmp, ck = setup["tmp"], str(setup["ckpt"])
    assert cli_main(["embed", "--checkpoint", ck, "--store", str(setup["store"]), "--out", str(tmp / "a.h5")]) == 0
    assert cli_main(["embed", "--checkpoint", ck, "--genome", str(DEMO / "genome.fa.gz"), "--annotation",
                     str(setup["gtf"]), "--species", "human", "--out", str(tmp / "b.parquet")]) == 0
    assert cli_main(["embed", "--checkpoint", ck, "--transcripts", str(setup["fasta"]), "--annotation",
                     str(setup["gtf"]), "--species", "human", "--out", str(tmp / "c.npz")]) == 0
    a, b, c = (read_embeddings(tmp / n) for n in ("a.h5", "b.parquet", "c.npz"))
    for e in (b, c):
        pd.testing.assert_frame_equal(a.table, e.table)
        np.testing.assert_allclose(a.h, e.h, rtol=1e-5, atol=1e-6)
    assert len(a) == N_TX and (a.table["tracks"] == "annotation").all()
    assert (a.table["species"] == "human").all()
    st = IsoformStore(setup["store"])
    assert np.array_equal(a.table["length"], st.lengths())
    ref = direct(setup["ckpt"], [st.codes(i) for i in range(5)], [st.marks(i) for i in range(5)])
    np.testing.assert_allclose(a.h[:5], ref, rtol=1e-4, atol=1e-5)
    assert a.attrs["checkpoint"] == ck and a.attrs["objective"] == "dcl"


def test_fasta_alone(setup: dict[str, Path]) -> None:
    """A FASTA alone: CDS from GENCODE-style header fields where present, splice track empty;
    ``tracks`` records which; h equals the encoder run on exactly those tracks."""
    st = IsoformStore(setup["store"])
    t = st.table()
    recs, marks, expect = {}, [], []
    rows = [*t.index[t["cds_start"] >= 0][:5], *t.index[t["cds_start"] < 0][:6]]
    assert len(rows) == 11
    for k, i in enumerate(rows):
        r = t.loc[i]
        seq = decode_sequence(st.codes(i))
        m = st.marks(i) & ~SPLICE_BIT  # no exons known from a FASTA
        if r["cds_start"] >= 0 and k % 3:
            name = f"{r['transcript_id']}|{r['gene_id']}|x|UTR5:1-{r['cds_start']}|CDS:{r['cds_start'] + 1}-{r['cds_end']}|"
            expect.append("header_cds")
        else:
            name = r["transcript_id"]
            m = np.zeros_like(m)
            expect.append("none")
        recs[name] = seq.lower() if k % 2 else seq
        marks.append(m)
    fa = write_fasta(setup["tmp"] / "alone.fa", recs)
    out = setup["tmp"] / "alone.tsv"
    assert cli_main(["embed", "--checkpoint", str(setup["ckpt"]), "--transcripts", str(fa), "--out", str(out)]) == 0
    e = read_embeddings(out)
    assert e.table["transcript_id"].tolist() == t.loc[rows, "transcript_id"].tolist()
    assert e.table["tracks"].tolist() == expect and "header_cds" in expect and "none" in expect
    gene = [t.loc[i, "gene_id"] if x == "header_cds" else t.loc[i, "transcript_id"] for i, x in zip(rows, expect, strict=True)]
    assert e.table["gene_id"].tolist() == gene
    assert (e.table["species"] == "unknown").all()
    ref = direct(setup["ckpt"], [st.codes(i) for i in rows], marks)
    np.testing.assert_allclose(e.h, ref, rtol=1e-4, atol=1e-5)


def test_parse_header() -> None:
    g = parse_header("ENST00000641515.2|ENSG00000186092.7|OTTHUMG1|OTTHUMT1|OR4F5-201|OR4F5|2618|UTR5:1-60|CDS:61-1041|UTR3:1042-2618|")
    assert g == {"transcript_id": "ENST00000641515.2", "gene_id": "ENSG00000186092.7", "cds_start": 60, "cds_end": 1041}
    f = parse_header("rna-NM_1.2 gene=ABC CDS=5-10")
    assert f == {"transcript_id": "rna-NM_1.2", "gene_id": "ABC", "cds_start": 4, "cds_end": 10}
    assert parse_header("novel_1 some text")["cds_start"] == -1
    with pytest.raises(ValueError, match="outside the sequence"):
        FastaSequences(["a"], ["a"], [np.zeros(5, np.uint8)], [2], [9], source="x.fa")


@pytest.mark.parametrize("ext", [".h5", ".npz", ".parquet", ".tsv"])
def test_formats_round_trip(ext: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"transcript_id": ["T1", "T2.3", "x|y"], "gene_id": ["G1", "G1", "G#2"],
                          "species": "human", "length": [10, 2000, 7], "tracks": ["annotation", "header_cds", "none"]})
    emb = Embeddings(table, rng.normal(size=(3, 5)).astype(np.float32) * 1e3, {"checkpoint": "c.pt", "seed": 3})
    path = write_embeddings(tmp_path / f"e{ext}", emb)
    back = read_embeddings(path)
    pd.testing.assert_frame_equal(back.table, emb.table)
    assert back.h.dtype == np.float32 and np.array_equal(back.h, emb.h)  # exact, text included
    assert back.attrs == emb.attrs
    assert list(back.frame().columns) == [*COLUMNS, "h_0", "h_1", "h_2", "h_3", "h_4"]
    assert not [p for p in os.listdir(tmp_path) if ".part" in p]


def test_unknown_extension_is_an_error(setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=r"unknown embeddings format '\.csv'"):
        write_embeddings(tmp_path / "e.csv", Embeddings(pd.DataFrame({c: [] for c in COLUMNS}), np.zeros((0, 2))))
    rc = cli_main(["embed", "--checkpoint", str(setup["ckpt"]), "--store", str(setup["store"]), "--out", str(tmp_path / "e.csv")])
    assert rc == 1 and "unknown embeddings format" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_pipeline_embeddings_use_the_layout(setup: dict[str, Path], tmp_path: Path) -> None:
    """results/embeddings/{encoder}/{task}.h5 (evaluate.embed_task) is the same layout."""
    from isoclr.evaluate import jobs as E
    from isoclr.tasks.build import JoinReport, write_task

    st = IsoformStore(setup["store"])
    t = st.table()
    n = len(t)
    write_task(tmp_path / "task.h5", task="t", kind="regression", label_names=["y"], y=np.arange(n, dtype=float),
               report=JoinReport("t"), species="human", store=str(setup["store"]), transcript=np.arange(n)[::-1],
               transcript_id=t["transcript_id"][::-1].tolist(), gene_id=t["gene_id"][::-1].tolist(),
               group=np.arange(n), n_folds=3, fractions=[1.0], seed=0, min_train=2)
    E.embed_task(tmp_path / "task.h5", "isoclr", tmp_path / "emb.h5", checkpoint=setup["ckpt"], device="cpu")
    e = read_embeddings(tmp_path / "emb.h5")
    assert e.table["transcript_id"].tolist() == t["transcript_id"][::-1].tolist()
    assert e.table["gene_id"].tolist() == t["gene_id"][::-1].tolist()
    assert np.array_equal(e.table["length"], st.lengths()[::-1])
    assert e.attrs["encoder"] == "isoclr"
    ours = Embedder.from_checkpoint(setup["ckpt"], device="cpu").embed_store(setup["store"])
    np.testing.assert_allclose(e.h, ours.filter(regex=r"^h_").to_numpy()[::-1], rtol=1e-4, atol=1e-5)
    with h5py.File(tmp_path / "emb.h5") as f:  # what the probe jobs read
        assert f["h"].shape == (n, 8)


def test_readme_api_example_runs(setup: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Python example, run as written in a folder holding the paths it names."""
    text = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "Embedder.from_checkpoint" in b]
    assert blocks, "README has no Embedder example"
    code = blocks[0]
    for path in re.findall(r'"([^"]+\.(?:pt|fa|fa\.gz|h5))"', code):
        dst = tmp_path / path
        dst.parent.mkdir(parents=True, exist_ok=True)
        if path.endswith(".pt"):
            shutil.copy(setup["ckpt"], dst)
        elif path.endswith(".h5"):
            shutil.copy(setup["store"], dst)
        else:
            with open(setup["fasta"], "rb") as fi, (gzip.open(dst, "wb") if path.endswith(".gz") else open(dst, "wb")) as fo:
                shutil.copyfileobj(fi, fo)
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the documented example
    df, X = scope["df"], scope["X"]
    assert isinstance(df, pd.DataFrame) and len(df) == N_TX
    assert X.shape == (N_TX, 8) and X.dtype == np.float32
    assert {"transcript_id", "gene_id", "species", "length", "tracks"} <= set(df.columns)
