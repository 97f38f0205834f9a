"""Small I/O helpers shared by every stage: atomic writes and transparent gzip reading."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | os.PathLike[str]) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def file_sha256(path: str | os.PathLike[str], block_bytes: int = 16 << 20) -> str:
    """sha256 of a file's bytes as stored (read into one reusable buffer; hashlib releases the
    GIL, so another thread can hash while this one works)."""
    sha = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(block_bytes)
        view = memoryview(buf)
        while k := fh.readinto(buf):
            sha.update(view[:k])
    return sha.hexdigest()


def open_text(path: str | os.PathLike[str]) -> IO[str]:
    """Open a plain or gzip-compressed text file (detected by magic bytes, not the name)."""
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A crash or an exception leaves no half-written ``path`` behind (the temp file is removed),
    and readers never see a partial file, because the rename is atomic on one file system.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    sfx = suffix if suffix is not None else "".join(target.suffixes[-2:]) or ".tmp"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{sfx}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp creates 0600; give the file the usual umask-based mode
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
