"""Hardening proofs (issue 12): untrusted files are never unpickled, full disks and killed jobs
leave nothing behind, hostile servers are cut off, odd inputs get errors naming the file."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo"


class Payload:
    """Unpickling this writes a marker file: proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.write_text, (pathlib.Path(self.marker), "code ran"))


# --- 1. no unpickling ------------------------------------------------------------------------
def test_pickled_npz_is_refused_and_not_run(tmp_path: Path) -> None:
    from isoclr.tasks import build as T

    marker = tmp_path / "pwned"
    npz = tmp_path / "arrays.npz"
    genes = np.empty(2, dtype=object)
    genes[:] = [Payload(marker), "ENSG2"]
    np.savez(npz, X=np.zeros((2, 5, 6), np.float32), y=np.zeros(2), genes=genes)
    with pytest.raises(ValueError, match=r"arrays.npz: array 'genes' is a pickled object array, refused"):
        T.read_ready_made(npz)
    assert not marker.exists()
    # also when gzip-compressed, as the download rule keeps it
    gz = tmp_path / "arrays.npz.gz"
    import gzip

    gz.write_bytes(gzip.compress(npz.read_bytes()))
    with pytest.raises(ValueError, match="pickled object array"):
        T.read_ready_made(gz)
    assert not marker.exists()
    # plain string arrays (dtype U) still read
    np.savez(npz, X=np.zeros((2, 5, 6), np.float32), y=np.zeros(2), genes=np.array(["A", "B"]))
    assert T.read_ready_made(npz)["genes"].tolist() == ["A", "B"]


def _tiny_checkpoint(path: Path, **extra) -> None:
    from isoclr.pretrain.model import build_encoder, save_checkpoint

    enc = build_encoder("tiny")
    save_checkpoint(path, enc, "dcl", None, **extra)


def test_crafted_checkpoint_is_refused_and_not_run(tmp_path: Path) -> None:
    from isoclr.pretrain.model import load_encoder

    good = tmp_path / "good.pt"
    _tiny_checkpoint(good, step=3)
    _enc, info = load_encoder(good)  # ours: plain types only
    assert info["step"] == 3
    marker = tmp_path / "pwned"
    ck = torch.load(good, weights_only=True)
    ck["extra"] = Payload(marker)
    bad = tmp_path / "bad.pt"
    torch.save(ck, bad)
    with pytest.raises(ValueError, match=r"bad.pt: refused: not a checkpoint that loads with only tensors"):
        load_encoder(bad)
    assert not marker.exists()


def test_checkpoints_hold_only_plain_types(tmp_path: Path) -> None:
    from isoclr.pretrain.model import build_encoder, save_checkpoint

    with pytest.raises(TypeError, match=r"numpy.ndarray cannot go into a checkpoint"):
        save_checkpoint(tmp_path / "x.pt", build_encoder("tiny"), "dcl", None, rng={"numpy": np.zeros(3)})
    assert not list(tmp_path.iterdir())


def test_rng_state_roundtrips_as_tensors() -> None:
    import random

    from isoclr.pretrain.state import rng_state, set_rng_state

    state = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
    from isoclr.pretrain.model import _check_plain

    _check_plain(state, "rng")  # tensors and plain numbers only


def test_resume_refuses_a_crafted_checkpoint(tmp_path: Path) -> None:
    import yaml

    from isoclr.simulate import SimConfig, write_simulation

    sim = write_simulation(SimConfig(seed=5, n_families=24, first_exon=(80, 120), last_exon=(120, 180),
                                     exon_length=(45, 90), exons_min=3, exons_max=4, utr5=(20, 40),
                                     utr3_min=30, motif_copies=1), tmp_path / "sim")
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    marker = tmp_path / "pwned"
    torch.save({"model_config": {}, "encoder": {}, "x": Payload(marker)}, out / "checkpoints" / "step_0000004.pt")
    cfg = {"objective": "dcl", "size": "tiny", "batch_size": 8, "steps": 2, "warmup_steps": 1, "num_workers": 0,
           "threads": 1, "seed": 1, "sets": str(sim["sets"]), "splits": str(sim["splits"])}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "isoclr.cli", "pretrain", "--config", str(tmp_path / "m.yaml"),
                        "--out", str(out), "--resume"], capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"), cwd=tmp_path, check=False)
    assert r.returncode != 0
    assert "step_0000004.pt: refused" in r.stderr
    assert not marker.exists()


# --- 2. full disk, read-only file system: a message naming the output, nothing left ----------
def _build_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "isoclr.cli", "build", "--genome", str(DEMO / "human" / "genome.fa.gz"),
            "--annotation", str(DEMO / "human" / "annotation.gtf.gz"), "--species", "human", "--out", str(out)]


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the full-disk test runs as root in CI containers)")
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (no CAP_SYS_ADMIN?): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_store_build_gives_a_message_and_no_partial_file(small_tmpfs: Path) -> None:
    out = small_tmpfs / "stores" / "human.h5"
    r = subprocess.run(_build_cmd(out), capture_output=True, text=True, check=False)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])  # not 139 (segmentation fault)
    last = r.stderr.strip().splitlines()[-1]
    assert f"{out}: cannot write: no space left on the device" in last
    assert "Traceback" not in r.stderr
    assert list(out.parent.iterdir()) == []  # no partial store, no hidden temp file
    # room again: the rerun succeeds
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_tmpfs)], check=True)
    r = subprocess.run(_build_cmd(out), capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [p.name for p in out.parent.iterdir()] == ["human.h5"]
    # a read-only file system: the same kind of message
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    r = subprocess.run(_build_cmd(small_tmpfs / "stores" / "again.h5"), capture_output=True, text=True, check=False)
    assert r.returncode == 1 and "again.h5: cannot write: read-only file system" in r.stderr


def test_full_disk_other_writers_name_the_output(small_tmpfs: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from isoclr.core.files import StorageError, atomic_path, h5_create
    from isoclr.pretrain.model import build_encoder, save_checkpoint

    big = np.random.default_rng(0).integers(0, 255, 1 << 19, dtype=np.uint8)
    with pytest.raises(StorageError, match=r"ck.pt: cannot write: no space left"):  # torch.save: RuntimeError before
        save_checkpoint(small_tmpfs / "ck.pt", build_encoder("small"), "dcl", None)
    with pytest.raises(StorageError, match=r"sets.h5: cannot write: no space left"), \
            atomic_path(small_tmpfs / "sets.h5", suffix=".h5") as tmp, h5_create(tmp) as f:
        f.create_dataset("x", data=big)
    with pytest.raises(StorageError, match=r"t.tsv: cannot write: no space left"), \
            atomic_path(small_tmpfs / "t.tsv") as tmp:
        pd.DataFrame({"a": np.arange(200000)}).to_csv(tmp, sep="\t")
    fig = plt.figure(figsize=(20, 20))
    plt.imshow(np.random.default_rng(0).random((800, 800)))
    with pytest.raises(StorageError, match=r"fig.png: cannot write: no space left"), \
            atomic_path(small_tmpfs / "fig.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    assert list(small_tmpfs.iterdir()) == []


def test_full_disk_download_names_the_output(small_tmpfs: Path, tmp_path: Path) -> None:
    from isoclr.download.fetch import fetch
    from isoclr.core.files import StorageError

    src = tmp_path / "big.bin"
    src.write_bytes(np.random.default_rng(0).integers(0, 255, 1 << 20, dtype=np.uint8).tobytes())
    with pytest.raises(StorageError, match=r"big.bin: cannot write: no space left"):
        fetch(f"file://{src}", small_tmpfs / "big.bin", retries=2, backoff=0, timeout=60, deadline=None)
    assert list(small_tmpfs.iterdir()) == []


def test_permission_denied_names_the_output(tmp_path: Path) -> None:
    import tempfile

    import pandas as pd

    from isoclr.core.files import StorageError
    from isoclr.splits.assign import write_tsv

    base = Path(tempfile.mkdtemp(prefix="isoclr-perm-", dir="/tmp"))  # searchable by others
    base.chmod(0o755)
    locked = base / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    root = os.geteuid() == 0
    if root:  # root ignores file modes: write as nobody (effective uid only, restored below)
        os.seteuid(65534)
    try:
        with pytest.raises(StorageError, match=r"locked/splits.tsv: cannot write: permission denied"):
            write_tsv(pd.DataFrame({"a": [1]}), locked / "splits.tsv")
    finally:
        if root:
            os.seteuid(0)
    try:
        assert list(locked.iterdir()) == []
    finally:
        shutil.rmtree(base)


# --- 2b. a killed job's temp files are removed by the rerun ---------------------------------
def test_kill_during_store_build_leaves_nothing_after_the_rerun(tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "stores" / "human.h5"
    proc = subprocess.Popen(_build_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if out.parent.is_dir() and list(out.parent.glob(".human.h5.*.part.h5")):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the build ended before its temp file could be caught"
    assert list(out.parent.glob(".human.h5.*.part*")) and not out.exists()
    # a temp file of an older isoclr (no writer tag), an hour old, goes too
    old = out.parent / ".human.h5.abcd1234.part.h5"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    r = subprocess.run(_build_cmd(out), capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [p.name for p in out.parent.iterdir()] == ["human.h5"]


def test_live_writers_temp_files_are_kept(tmp_path: Path) -> None:
    from isoclr.core.files import _HOST, atomic_path

    target = tmp_path / "x.tsv"
    mine = tmp_path / f".x.tsv.{_HOST}-{os.getpid()}.zzzz.part.tsv"  # this (live) process
    other_host = tmp_path / ".x.tsv.otherhost-1.zzzz.part.tsv"
    for p in (mine, other_host):
        p.write_text("in progress")
    with atomic_path(target) as tmp:
        tmp.write_text("done")
    assert mine.exists() and other_host.exists() and target.read_text() == "done"


# --- 3. downloads: an overall deadline; permanent failures are not retried ------------------
class _RawServer:
    """A TCP server on 127.0.0.1 that hands every connection to ``handle`` on its own thread
    and counts connections."""

    def __init__(self, handle) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.handle = handle
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn) -> None:
        try:
            self.handle(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def _trickle(conn, server) -> None:
    import time

    conn.recv(65536)  # the request
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: application/octet-stream\r\n\r\n")
    for _ in range(1000):
        if server.stop.is_set():
            return
        conn.sendall(b"A")
        time.sleep(0.5)


def test_trickling_server_is_cut_off_at_the_deadline(tmp_path: Path) -> None:
    import time

    from isoclr.download.fetch import DownloadError, fetch

    srv = _RawServer(_trickle)
    try:
        t0 = time.monotonic()
        with pytest.raises(DownloadError, match=r"too slow: \d+ bytes in 2\.\d s of 1000, over the deadline of 2 s"):
            fetch(f"http://127.0.0.1:{srv.port}/genome.fa", tmp_path / "genome.fa", retries=0, timeout=30,
                  backoff=0, deadline=2)
        assert time.monotonic() - t0 < 5  # the socket time-out (30 s) never fires: one byte every 0.5 s
        assert list(tmp_path.iterdir()) == []
    finally:
        srv.close()


def test_tls_verification_failure_is_not_retried(tmp_path: Path) -> None:
    import ssl

    from isoclr.download.fetch import DownloadError, fetch

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"openssl cannot make a self-signed certificate: {r.stderr[-300:]}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def tls(conn, server) -> None:
        with ctx.wrap_socket(conn, server_side=True) as s:
            s.recv(65536)
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    srv = _RawServer(tls)
    try:
        with pytest.raises(DownloadError, match=r"TLS certificate verification failed .*not retried"):
            fetch(f"https://127.0.0.1:{srv.port}/genome.fa", tmp_path / "out" / "genome.fa", retries=3,
                  backoff=0, timeout=10, deadline=None)
        assert srv.connections == 1
        assert not (tmp_path / "out" / "genome.fa").exists()
    finally:
        srv.close()


def test_checksum_mismatch_and_4xx_are_not_retried(tmp_path: Path) -> None:
    from isoclr.download.fetch import DownloadError, fetch

    def reply(code: int):
        def handle(conn, server) -> None:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok" % code)
        return handle

    for code, n in ((404, 1), (410, 1), (429, 3), (408, 3)):
        srv = _RawServer(reply(code))
        try:
            with pytest.raises(DownloadError):
                fetch(f"http://127.0.0.1:{srv.port}/x", tmp_path / "x", retries=2, backoff=0, timeout=5, deadline=None)
            assert srv.connections == n, code
        finally:
            srv.close()
    srv = _RawServer(reply(200))
    try:
        with pytest.raises(DownloadError, match="sha256 mismatch"):
            fetch(f"http://127.0.0.1:{srv.port}/x", tmp_path / "x", sha256="0" * 64, retries=2, backoff=0,
                  timeout=60, deadline=None)
        assert srv.connections == 1
    finally:
        srv.close()


# --- 4. compression from the bytes; FASTA/annotation errors name the file and the fault -----
def _fasta_cases(tmp_path: Path) -> dict[str, Path]:
    import bz2
    import gzip
    import lzma

    plain = gzip.decompress((DEMO / "human" / "genome.fa.gz").read_bytes())
    plain = plain[: plain.index(b">", 400_000)] + b">tiny\nACGT\n"  # 2 contigs are enough
    cases = {
        "plain": plain, "bzip2": bz2.compress(plain, 1), "xz": lzma.compress(plain, preset=0),
        "bom": b"\xef\xbb\xbf" + plain,
        "bom_gzip": gzip.compress(b"\xef\xbb\xbf" + plain, mtime=0),
        "zstd": b"\x28\xb5\x2f\xfd" + os.urandom(200), "junk": np.random.default_rng(1).bytes(5000),
        "empty": b"", "blank": b"\n \n", "empty_gzip": gzip.compress(b"", mtime=0),
        "truncated_gzip": (DEMO / "human" / "genome.fa.gz").read_bytes()[:300000],
        "bad_bzip2": b"BZh91AY&SY" + b"junk" * 10, "sequence_first": b"ACGT\n>chr1\nACGT\n",
        "header_not_utf8": b">\xff\xfechr1\nACGT\n", "duplicate": b">chr1\nACGT\n>chr1\nACGT\n",
    }
    out = {}
    for name, data in cases.items():
        p = tmp_path / f"{name}.fa"  # the name never says the compression
        p.write_bytes(data)
        out[name] = p
    return out


FASTA_ERRORS = {
    "zstd": r"zstd.fa: genome FASTA is zstd-compressed, which isoclr does not read",
    "junk": r"junk.fa: not a FASTA file: it starts with binary data",
    "empty": r"empty.fa: empty FASTA file \(0 bytes\)",
    "blank": r"blank.fa: the FASTA file holds no records",
    "empty_gzip": r"empty_gzip.fa: the FASTA file holds no records",
    "truncated_gzip": r"truncated_gzip.fa: corrupt or truncated gzip FASTA file",
    "bad_bzip2": r"bad_bzip2.fa: corrupt or truncated bzip2 FASTA file",
    "sequence_first": r"sequence_first.fa: not a FASTA file: it starts with text b'ACGT",
    "header_not_utf8": r"header_not_utf8.fa.*FASTA header .* is not UTF-8 text",
    "duplicate": r"duplicate.fa.*duplicate sequence name 'chr1'",
}


def test_fasta_compression_and_errors(tmp_path: Path) -> None:
    from isoclr.store.genome import FastaReader, scan_fasta
    from isoclr.store.builder import build_store

    cases = _fasta_cases(tmp_path)
    ref = [(c.name, c.codes.tobytes()) for c in FastaReader(cases["plain"])]
    assert len(ref) == 2
    for name in ("bzip2", "xz", "bom", "bom_gzip"):  # read, and read the same
        assert scan_fasta(cases[name])[0] == [n for n, _ in ref], name
        assert [(c.name, c.codes.tobytes()) for c in FastaReader(cases[name])] == ref, name
    for name, pattern in FASTA_ERRORS.items():
        with pytest.raises(ValueError, match=pattern):
            scan_fasta(cases[name])
        with pytest.raises(ValueError, match=pattern):
            list(FastaReader(cases[name]))
    # a whole build names the FASTA, not the annotation (it blamed the annotation before)
    for name in ("empty", "junk", "zstd", "duplicate"):
        with pytest.raises(ValueError, match=FASTA_ERRORS[name]):
            build_store(cases[name], DEMO / "human" / "annotation.gtf.gz", "human", tmp_path / "stores" / "h.h5")
    assert not (tmp_path / "stores").exists() or not list((tmp_path / "stores").iterdir())


def test_annotation_compression_and_errors(tmp_path: Path) -> None:
    import bz2
    import gzip

    from isoclr.store.annotation import read_annotation

    gtf = gzip.decompress((DEMO / "human" / "annotation.gtf.gz").read_bytes())
    ref = read_annotation(DEMO / "human" / "annotation.gtf.gz", "gtf")
    first_data = gtf.index(b"\nchr") + 1  # a BOM right before a data row, not a comment
    for name, data in {"ann_bzip2": bz2.compress(gtf), "ann_bom": b"\xef\xbb\xbf" + gtf[first_data:]}.items():
        p = tmp_path / f"{name}.gtf"
        p.write_bytes(data)
        ann = read_annotation(p, "gtf")
        assert len(ann.transcripts) == len(ref.transcripts), name
        assert set(ann.transcripts["chrom"]) == set(ref.transcripts["chrom"]), name
    for name, data, pattern in (
        ("zstd", b"\x28\xb5\x2f\xfd" + os.urandom(100), r"zstd.gtf: annotation is zstd-compressed"),
        ("junk", np.random.default_rng(1).bytes(5000), r"junk.gtf: not (a )?UTF-8 text"),
        ("bad_bzip2", b"BZh91AY&SY" + b"junk" * 10, r"bad_bzip2.gtf: corrupt or truncated bzip2 file"),
    ):
        p = tmp_path / f"{name}.gtf"
        p.write_bytes(data)
        with pytest.raises(ValueError, match=pattern):
            read_annotation(p, "gtf")


# --- 5. GFF3 rows whose Parent row is absent: implicit transcripts (as gffread), --strict ----
@pytest.mark.skipif(shutil.which("gffread") is None, reason="gffread not installed (the reference)")
def test_orphan_parent_gff3_builds_what_gffread_builds(tmp_path: Path) -> None:
    import gzip

    from isoclr.store.export import export_store
    from isoclr.store.builder import build_store

    sys.path.insert(0, str(ROOT / "tests"))
    from test_build import read_fasta

    genome = tmp_path / "genome.fa"
    genome.write_bytes(gzip.decompress((DEMO / "human" / "genome.fa.gz").read_bytes()))
    gtf = tmp_path / "annotation.gtf"
    gtf.write_bytes(gzip.decompress((DEMO / "human" / "annotation.gtf.gz").read_bytes()))
    full = tmp_path / "full.gff3"
    subprocess.run(["gffread", str(gtf), "--keep-genes", "-o", str(full)], check=True, capture_output=True)
    # a region excerpt's typical damage: every third transcript row and every seventh gene row gone
    kept, n_tx, n_gene = [], 0, 0
    for line in full.read_text().splitlines(keepends=True):
        f = line.split("\t")
        if len(f) == 9 and f[2] == "transcript":
            n_tx += 1
            if n_tx % 3 == 0:
                continue
        if len(f) == 9 and f[2] == "gene":
            n_gene += 1
            if n_gene % 7 == 0:
                continue
        kept.append(line)
    orphan = tmp_path / "excerpt.gff3"
    orphan.write_text("".join(kept))
    subprocess.run(["gffread", "-g", str(genome), "-w", str(tmp_path / "gw.fa"), str(orphan)], check=True,
                   capture_output=True)
    ref = read_fasta(tmp_path / "gw.fa")
    stats = build_store(DEMO / "human" / "genome.fa.gz", orphan, "human", tmp_path / "s.h5")
    export_store(tmp_path / "s.h5", fasta=tmp_path / "w.fa")
    ours = read_fasta(tmp_path / "w.fa")
    assert set(ours) == set(ref) and len(ours) == 935
    assert all(ours[k] == ref[k] for k in ours)
    assert stats["annotation"]["implicit_transcript_missing_parent"] == n_tx // 3
    assert stats["annotation"]["implicit_gene_missing_parent"] > 0
    # --strict keeps the error
    r = subprocess.run([sys.executable, "-m", "isoclr.cli", "build", "--strict", "--genome",
                        str(DEMO / "human" / "genome.fa.gz"), "--annotation", str(orphan), "--species", "human",
                        "--out", str(tmp_path / "strict.h5")], capture_output=True, text=True, check=False)
    assert r.returncode == 1
    assert "excerpt.gff3: line " in r.stderr and "Parent 'ENST" in r.stderr and "is not defined in the file" in r.stderr
    assert not (tmp_path / "strict.h5").exists()


def test_orphan_parent_rows_use_their_own_attributes(tmp_path: Path) -> None:
    from isoclr.store.annotation import read_annotation

    p = tmp_path / "x.gff3"
    p.write_text(
        "##gff-version 3\n"
        "chr1\tsrc\texon\t1\t10\t.\t+\t.\tParent=transcript:T1;gene_id=G1;gene_name=ABC;transcript_type=lncRNA\n"
        "chr1\tsrc\texon\t21\t30\t.\t+\t.\tParent=transcript:T1;gene_id=G1\n"
        "chr1\tsrc\tmRNA\t1\t50\t.\t-\t.\tID=T2;Parent=G2\n"
        "chr1\tsrc\texon\t41\t50\t.\t-\t.\tParent=T2\n"
    )
    ann = read_annotation(p, "gff3")
    t = ann.transcripts.set_index("transcript_id")
    assert t.loc["T1", "gene_id"] == "G1" and t.loc["T1", "gene_name"] == "ABC" and t.loc["T1", "biotype"] == "lncRNA"
    assert t.loc["T2", "gene_id"] == "G2"
    assert ann.counts["implicit_transcript_missing_parent"] == 1 and ann.counts["implicit_gene_missing_parent"] == 1
    with pytest.raises(ValueError, match=r"x.gff3: line 2: exon feature's Parent 'transcript:T1' is not defined"):
        read_annotation(p, "gff3", strict=True)


# --- 6. a failed job: the reason in its log, one line in Snakemake's output -----------------
def _wrong_checksum_run(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, Path]:
    import yaml

    exe = shutil.which("snakemake")
    if exe is None:
        pytest.skip("snakemake is not installed")
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["results"] = str(tmp_path / "results")
    cfg["species"]["human"]["genome"]["url"] = (DEMO / "human" / "genome.fa.gz").as_uri()
    cfg["species"]["human"]["genome"]["sha256"] = "0" * 64
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    target = tmp_path / "results" / "downloads" / "human" / "genome.fa.gz"
    r = subprocess.run([exe, "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--configfile",
                        str(tmp_path / "tiny.yaml"), "--cores", "1", str(target)],
                       capture_output=True, text=True, timeout=300, env={**os.environ, **env}, check=False)
    return r, tmp_path / "results" / "logs" / "download" / "human" / "genome.fa.gz.log"


@pytest.mark.pipeline
def test_failed_job_writes_its_reason_to_the_log_and_one_line(tmp_path: Path) -> None:
    r, log = _wrong_checksum_run(tmp_path / "a", ISOCLR_DEBUG="0")
    out = r.stdout + r.stderr
    assert r.returncode == 1
    assert "sha256 mismatch: expected " + "0" * 64 in log.read_text()  # the log was empty before
    lines = [line for line in out.splitlines() if "sha256 mismatch" in line]
    assert len(lines) == 1 and lines[0].startswith("isoclr download: error: file://")
    assert "Traceback (most recent call last)" not in out
    assert not (tmp_path / "a" / "results" / "downloads" / "human" / "genome.fa.gz").exists()
    # the debug switch adds a short traceback
    r, _ = _wrong_checksum_run(tmp_path / "b", ISOCLR_DEBUG="1")
    assert r.returncode == 1 and "Traceback (most recent call last)" in r.stdout + r.stderr


def test_jobs_helpers_report_one_line(tmp_path: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, {src!r})\n"
        "from isoclr.core import jobs\n"
        "def fail(x):\n"
        "    try:\n"
        "        {{}}['k']\n"
        "    except KeyError as e:\n"
        "        raise ValueError(f'{{x}}: line 3: bad value\\nsecond line') from e\n"
        "{how}\n"
    )
    src = str(ROOT / "src")
    for how in ("jobs.start({log!r}, 'demo'); fail('data.tsv')", "jobs.run({log!r}, fail, 'data.tsv', name='demo')",
                "with jobs.job({log!r}, 'demo'):\n    fail('data.tsv')"):
        log = tmp_path / "job.log"
        log.unlink(missing_ok=True)
        script = tmp_path / "s.py"
        script.write_text(code.format(src=src, how=how.format(log=str(log))))
        r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                           env={**os.environ, "ISOCLR_DEBUG": ""}, check=False)
        assert r.returncode == 1, how
        assert r.stderr.strip().splitlines() == [f"isoclr demo: error: data.tsv: line 3: bad value second line (log: {log})"], how
        text = log.read_text()
        assert "ERROR isoclr.core.jobs: demo failed: data.tsv: line 3: bad value" in text and "Traceback" in text
