"""The species HDF5 store: round trip, table, lazy per-process opening, O(1) random access."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from isoclr.core.encoding import make_marks, tracks_numpy
from isoclr.store.format import TABLE_COLUMNS, IsoformStore, write_store


def random_store(path: Path, n: int = 50, seed: int = 0, max_len: int = 3000) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, max_len, n)
    n_ex = rng.integers(1, 6, n)
    n_ex = np.minimum(n_ex, lengths)
    ends, starts_g, ends_g = [], [], []
    for L, k in zip(lengths, n_ex):
        cuts = np.sort(rng.choice(np.arange(1, L), k - 1, replace=False)) if k > 1 else np.array([], int)
        e = np.r_[cuts, L]
        ends.append(e)
        pos = 1000
        for size in np.diff(np.r_[0, e]):
            starts_g.append(pos)
            ends_g.append(pos + size)
            pos += size + 100
    exon_offset = np.r_[0, np.cumsum(n_ex)]
    seq_offset = np.r_[0, np.cumsum(lengths)]
    codes = rng.integers(0, 5, int(seq_offset[-1])).astype(np.uint8)
    coding = rng.random(n) < 0.5
    cds_start = np.where(coding, lengths // 4, -1)
    cds_end = np.where(coding, lengths - lengths // 4, -1)
    table = pd.DataFrame({
        "transcript_id": [f"T{i}.1" for i in range(n)],
        "gene_id": [f"G{i // 3}" for i in range(n)][::-1],
        "gene_name": [f"N{i // 3}" for i in range(n)][::-1],
        "chrom": "chr1",
        "strand": np.where(rng.random(n) < 0.5, "+", "-"),
        "cds_start": cds_start, "cds_end": cds_end,
        "cds_phase": np.where(coding, rng.integers(0, 3, n), 0),
        "biotype": "protein_coding", "tags": "basic,MANE_Select",
    })
    write_store(path, table, codes, seq_offset, np.concatenate(ends), exon_offset,
                {"species": "testus", "taxid": 1}, exon_start=np.array(starts_g), exon_end=np.array(ends_g))
    return {"table": table, "codes": codes, "seq_offset": seq_offset, "ends": ends}


def test_round_trip(tmp_path: Path) -> None:
    ref = random_store(tmp_path / "s.h5")
    st = IsoformStore(tmp_path / "s.h5")
    table, codes, off = ref["table"], ref["codes"], ref["seq_offset"]
    assert len(st) == 50 and st.species == "testus"
    for i in (0, 7, 49, -1):
        j = i % 50
        assert np.array_equal(st.codes(i), codes[off[j]:off[j + 1]])
        marks = make_marks(off[j + 1] - off[j], ref["ends"][j], table.cds_start[j], table.cds_end[j], table.cds_phase[j])
        assert np.array_equal(st.marks(i), marks)
        assert np.array_equal(st.tracks(i), tracks_numpy(codes[off[j]:off[j + 1]], marks))
    t = st.table()
    assert list(t.columns) == list(TABLE_COLUMNS)
    assert t["transcript_id"].tolist() == table["transcript_id"].tolist()
    assert t["gene_id"].tolist() == table["gene_id"].tolist()
    assert t["gene_name"].tolist() == table["gene_name"].tolist()
    assert np.array_equal(t["length"], np.diff(off)) and np.array_equal(st.lengths(), np.diff(off))
    assert (t["start"] == 999 + 1).all() and (t["end"] > t["start"]).all()
    assert t["strand"].tolist() == table["strand"].tolist()
    assert t["tags"].iloc[0] == "basic,MANE_Select"
    # genes: first-appearance order, every transcript in exactly one gene
    assert st.n_genes == table["gene_id"].nunique()
    ids = st.gene_ids()
    assert ids[0] == table["gene_id"].iloc[0]
    members = np.concatenate([st.gene_transcripts(g) for g in range(st.n_genes)])
    assert sorted(members.tolist()) == list(range(50))
    for g in range(st.n_genes):
        assert (t["gene_id"].iloc[st.gene_transcripts(g)] == ids[g]).all()
    attrs = st.attrs
    for key in ("species", "taxid", "format_version", "isoclr_version", "genome_sha256", "created"):
        assert key in attrs
    with pytest.raises(IndexError):
        st.codes(50)
    with h5py.File(tmp_path / "s.h5") as f:
        assert f["seq"].chunks is not None and f["seq"].compression == "gzip"
        assert f["transcripts/strand"].dtype == np.dtype("S1")


def _child_read(store: IsoformStore) -> tuple[int, int]:
    return os.getpid(), int(store.codes(3).sum())


def test_pickles_and_reopens_per_process(tmp_path: Path) -> None:
    ref = random_store(tmp_path / "s.h5")
    st = IsoformStore(tmp_path / "s.h5")
    expected = int(st.codes(3).sum())  # opened in this process
    clone = pickle.loads(pickle.dumps(st))
    assert clone._h5 is None and int(clone.codes(3).sum()) == expected
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map(_child_read, [st, st])
    assert all(v == expected for _, v in results) and all(pid != os.getpid() for pid, _ in results)
    assert ref


def test_random_access_is_constant_time(tmp_path: Path) -> None:
    """Reading one transcript touches only its own chunk(s): the cost does not grow with the
    store's size or the transcript's position (loose bound: shared CI machines)."""
    random_store(tmp_path / "big.h5", n=4000, seed=1, max_len=4000)
    st = IsoformStore(tmp_path / "big.h5")
    st.codes(0)

    def per_read(rows: np.ndarray) -> float:
        t0 = time.perf_counter()
        for i in rows:
            st.codes(int(i))
        return (time.perf_counter() - t0) / len(rows)

    rng = np.random.default_rng(0)
    head = per_read(rng.integers(0, 100, 200))
    tail = per_read(rng.integers(3900, 4000, 200))
    rand = per_read(rng.integers(0, 4000, 400))
    assert rand < 0.005 and tail < 5 * head + 1e-3


def test_write_store_validates(tmp_path: Path) -> None:
    table = pd.DataFrame({"transcript_id": ["a", "b"], "gene_id": ["g", "g"]})
    codes = np.zeros(10, np.uint8)
    ok = dict(seq_offset=[0, 4, 10], exon_tx_end=[4, 6], exon_offset=[0, 1, 2], attrs={"species": "x"})
    write_store(tmp_path / "ok.h5", table, codes, **ok)
    st = IsoformStore(tmp_path / "ok.h5")
    assert st.table()["gene_name"].tolist() == ["g", "g"]  # defaults to the gene id
    assert st.table()["cds_start"].tolist() == [-1, -1]
    with pytest.raises(ValueError, match="last exon ends"):
        write_store(tmp_path / "bad.h5", table, codes, **{**ok, "exon_tx_end": [4, 5]})
    with pytest.raises(ValueError, match="duplicate transcript id a"):
        write_store(tmp_path / "bad.h5", table.assign(transcript_id=["a", "a"]), codes, **ok)
    with pytest.raises(ValueError, match="species"):
        write_store(tmp_path / "bad.h5", table, codes, **{**ok, "attrs": {}})
    assert not (tmp_path / "bad.h5").exists()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]
