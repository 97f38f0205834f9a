"""Tests for isoclr.download.fetch against a real HTTP server on 127.0.0.1 and file: URLs."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import random
import threading
import zlib
from collections import Counter
from pathlib import Path
from typing import ClassVar

import pytest

from isoclr import cli
from isoclr.download.fetch import DownloadError, fetch

_rng = random.Random(0)
PLAIN = b"".join(b">s%d\n" % i + bytes(_rng.choice(b"ACGTN") for _ in range(60)) + b"\n" for i in range(100))
GZ = gzip.compress(PLAIN, mtime=0)
# two gzip members, as in BGZF or `cat a.gz b.gz`
MULTI = gzip.compress(PLAIN[:1000], mtime=0) + gzip.compress(PLAIN[1000:], mtime=0)
CORRUPT = bytearray(GZ)
CORRUPT[len(CORRUPT) // 2] ^= 0xFF
CORRUPT = bytes(CORRUPT)


class Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[Counter] = Counter()

    def log_message(self, *args):  # keep test output quiet
        pass

    def _send(self, body: bytes, code: int = 200, length: int | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path
        Handler.hits[path] += 1
        n = Handler.hits[path]
        if path == "/plain.fa":
            self._send(PLAIN)
        elif path == "/file.fa.gz":
            self._send(GZ)
        elif path == "/multi.gz":
            self._send(MULTI)
        elif path == "/corrupt.gz":
            self._send(CORRUPT)
        elif path == "/empty":
            self._send(b"")
        elif path == "/flaky.gz":  # 500 twice, then the file
            if n <= 2:
                self._send(b"oops", code=500)
            else:
                self._send(GZ)
        elif path == "/always500":
            self._send(b"down", code=503)
        elif path == "/truncated-once.gz":  # Content-Length larger than the body, then fine
            if n == 1:
                self._send(GZ[:100], length=len(GZ))
                self.close_connection = True
            else:
                self._send(GZ)
        elif path == "/truncated.gz":
            self._send(GZ[:100], length=len(GZ))
            self.close_connection = True
        elif path == "/forbidden":
            self._send(b"no", code=403)
        else:
            self._send(b"not found", code=404)


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _reset_hits():
    Handler.hits.clear()


def kw(**extra):
    return {"retries": 3, "backoff": 0.0, "timeout": 5.0, "deadline": None, **extra}


def no_leftovers(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_gzip_kept_byte_for_byte(server, tmp_path):
    res = fetch(f"{server}/file.fa.gz", tmp_path / "g.fa.gz", sha256=hashlib.sha256(GZ).hexdigest(),
                size=len(GZ), **kw())
    assert (tmp_path / "g.fa.gz").read_bytes() == GZ
    assert res.sha256 == hashlib.sha256(GZ).hexdigest() and res.source_gzip and res.attempts == 1


def test_plain_is_gzipped_when_output_is_gz(server, tmp_path):
    res = fetch(f"{server}/plain.fa", tmp_path / "p.fa.gz", sha256=hashlib.sha256(PLAIN).hexdigest(), **kw())
    out = (tmp_path / "p.fa.gz").read_bytes()
    assert out[:2] == b"\x1f\x8b" and gzip.decompress(out) == PLAIN
    assert res.size == len(PLAIN) and not res.source_gzip


def test_gzip_decompressed_when_output_is_plain(server, tmp_path):
    fetch(f"{server}/file.fa.gz", tmp_path / "p.fa", **kw())
    assert (tmp_path / "p.fa").read_bytes() == PLAIN


def test_multi_member_gzip_is_valid(server, tmp_path):
    fetch(f"{server}/multi.gz", tmp_path / "m.gz", **kw())
    assert (tmp_path / "m.gz").read_bytes() == MULTI
    assert gzip.decompress(MULTI) == PLAIN


def test_404_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match=r"missing\.gz: HTTP 404"):
        fetch(f"{server}/missing.gz", tmp_path / "x.gz", **kw())
    assert Handler.hits["/missing.gz"] == 1
    assert not (tmp_path / "x.gz").exists()
    no_leftovers(tmp_path)


def test_403_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 403"):
        fetch(f"{server}/forbidden", tmp_path / "x.gz", **kw())
    assert Handler.hits["/forbidden"] == 1


def test_500_then_success_is_retried(server, tmp_path):
    res = fetch(f"{server}/flaky.gz", tmp_path / "f.gz", **kw())
    assert res.attempts == 3 and Handler.hits["/flaky.gz"] == 3
    assert (tmp_path / "f.gz").read_bytes() == GZ


def test_persistent_5xx_gives_up(server, tmp_path):
    with pytest.raises(DownloadError, match=r"HTTP 503.*gave up after 3 attempts"):
        fetch(f"{server}/always500", tmp_path / "x.gz", **kw(retries=2))
    assert Handler.hits["/always500"] == 3
    no_leftovers(tmp_path)


def test_truncated_transfer_is_retried(server, tmp_path):
    res = fetch(f"{server}/truncated-once.gz", tmp_path / "t.gz", **kw())
    assert res.attempts == 2 and (tmp_path / "t.gz").read_bytes() == GZ


def test_truncated_transfer_fails_after_retries(server, tmp_path):
    with pytest.raises(DownloadError, match="truncated"):
        fetch(f"{server}/truncated.gz", tmp_path / "t.gz", **kw(retries=1))
    assert Handler.hits["/truncated.gz"] == 2
    assert not (tmp_path / "t.gz").exists()
    no_leftovers(tmp_path)


def test_corrupt_gzip_rejected(server, tmp_path):
    with pytest.raises(DownloadError, match="corrupt gzip"):
        fetch(f"{server}/corrupt.gz", tmp_path / "c.gz", **kw())
    assert Handler.hits["/corrupt.gz"] == 1
    assert not (tmp_path / "c.gz").exists()
    no_leftovers(tmp_path)


def test_checksum_mismatch_names_both(server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(DownloadError) as err:
        fetch(f"{server}/file.fa.gz", tmp_path / "g.gz", sha256=wrong, **kw())
    msg = str(err.value)
    assert wrong in msg and hashlib.sha256(GZ).hexdigest() in msg and "file.fa.gz" in msg
    assert Handler.hits["/file.fa.gz"] == 1
    assert not (tmp_path / "g.gz").exists()


def test_size_mismatch(server, tmp_path):
    with pytest.raises(DownloadError, match="size mismatch"):
        fetch(f"{server}/file.fa.gz", tmp_path / "g.gz", size=len(GZ) + 1, **kw())


def test_empty_rejected(server, tmp_path):
    with pytest.raises(DownloadError, match="empty"):
        fetch(f"{server}/empty", tmp_path / "e.gz", **kw())


def test_existing_output_survives_failure(server, tmp_path):
    out = tmp_path / "keep.gz"
    out.write_bytes(GZ)
    with pytest.raises(DownloadError):
        fetch(f"{server}/corrupt.gz", out, **kw())
    assert out.read_bytes() == GZ


def test_file_urls_absolute_and_relative(tmp_path, monkeypatch):
    src = tmp_path / "src" / "a.fa.gz"
    src.parent.mkdir()
    src.write_bytes(MULTI)
    fetch(f"file://{src}", tmp_path / "abs.gz", sha256=hashlib.sha256(MULTI).hexdigest(), **kw())
    assert (tmp_path / "abs.gz").read_bytes() == MULTI
    monkeypatch.chdir(tmp_path)
    fetch("file:src/a.fa.gz", "rel.gz", **kw())
    assert (tmp_path / "rel.gz").read_bytes() == MULTI
    with pytest.raises(DownloadError, match="does not exist"):
        fetch("file:src/nope.gz", "x.gz", **kw())


def test_bgzf_like_file_is_valid(tmp_path):
    # BGZF: concatenated members with an extra field, plus the empty EOF member.
    members = []
    for part in (PLAIN[:500], PLAIN[500:], b""):
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = comp.compress(part) + comp.flush()
        bsize = 12 + 6 + len(data) + 8 + 6 - 1
        header = (b"\x1f\x8b\x08\x04" + b"\0\0\0\0" + b"\0\xff" + b"\x06\0" + b"BC\x02\0"
                  + bsize.to_bytes(2, "little"))
        trailer = zlib.crc32(part).to_bytes(4, "little") + len(part).to_bytes(4, "little")
        members.append(header + data + trailer)
    bgzf = b"".join(members)
    src = tmp_path / "b.gz"
    src.write_bytes(bgzf)
    fetch(f"file://{src}", tmp_path / "out.gz", **kw())
    assert (tmp_path / "out.gz").read_bytes() == bgzf


def test_cli(server, tmp_path, capsys):
    assert cli.main(["download", f"{server}/file.fa.gz", str(tmp_path / "c.gz"), "--backoff", "0"]) == 0
    assert (tmp_path / "c.gz").read_bytes() == GZ
    assert cli.main(["download", f"{server}/nope", str(tmp_path / "n.gz"), "--backoff", "0"]) == 1
    assert "HTTP 404" in capsys.readouterr().err
