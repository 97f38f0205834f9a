"""Small I/O helpers shared by every stage: atomic writes (with clear out-of-space /
permission errors and removal of a crashed job's stale temp files), HDF5 files written without
exposing HDF5 to disk errors, compression detected from the bytes, and ``.npz`` reading that
never unpickles."""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import hashlib
import io
import logging
import lzma
import os
import socket
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"

#: magic bytes -> compression name (bgzip is gzip with a ``BC`` extra field)
MAGIC = {
    GZIP_MAGIC: "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
    b"7z\xbc\xaf\x27\x1c": "7z",
}
#: compressions that are read (zstd, zip and 7z are refused by name)
READABLE = ("plain", "gzip", "bgzip", "bzip2", "xz")
_UNPACK = {"zstd": "zstd -dc", "zip": "unzip -p", "7z": "7z x -so"}


def compression(path: str | os.PathLike[str]) -> str:
    """``plain``, ``gzip``, ``bgzip``, ``bzip2``, ``xz``, ``zstd``, ``zip`` or ``7z``, from the
    file's first bytes (never its name)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    for magic, name in MAGIC.items():
        if head.startswith(magic):
            if name == "gzip" and len(head) >= 16 and head[3] & 4 and head[12:14] == b"BC":
                return "bgzip"
            return name
    return "plain"


def check_readable(path: str | os.PathLike[str], what: str = "file") -> str:
    """The file's compression; a ValueError naming the file for one that is not read."""
    kind = compression(path)
    if kind not in READABLE:
        raise ValueError(
            f"{path}: {what} is {kind}-compressed, which isoclr does not read; decompress it or "
            f"recompress it with gzip or bgzip (e.g. `{_UNPACK[kind]} {Path(path).name} | bgzip > "
            f"{Path(path).stem}.gz`)"
        )
    return kind


def open_decompressed(path: str | os.PathLike[str], what: str = "file") -> IO[bytes]:
    """A binary stream of the file's decompressed bytes (plain, gzip/bgzip, bzip2 or xz,
    detected from the bytes); corrupt or truncated compressed data raises a ValueError naming
    the file."""
    kind = check_readable(path, what)
    if kind == "plain":
        return open(path, "rb")
    opener = {"gzip": gzip.open, "bgzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[kind]
    return io.BufferedReader(CheckedRaw(opener(path, "rb"), f"{path}: corrupt or truncated {kind} file"),
                             buffer_size=1 << 20)


#: decompression errors (truncated or corrupt data) of every readable compression
DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (EOFError, gzip.BadGzipFile, lzma.LZMAError, zlib.error)


def _checked(call: Any, message: str, *args: Any) -> Any:
    """``call(*args)``; a decompression error becomes a ValueError with ``message``."""
    try:
        return call(*args)
    except DECOMPRESSION_ERRORS as exc:
        raise ValueError(f"{message} ({exc})") from None
    except OSError as exc:  # bz2 says "Invalid data stream" with an OSError without errno
        if getattr(exc, "errno", None) is None:
            raise ValueError(f"{message} ({exc})") from None
        raise


class CheckedRaw(io.RawIOBase):
    """A decompressing stream whose data errors become a ValueError with ``message`` (a raw
    stream, for ``io.BufferedReader`` and text wrappers)."""

    def __init__(self, inner: IO[bytes], message: str) -> None:
        self.inner = inner
        self.message = message

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        return int(_checked(self.inner.readinto, self.message, b))  # type: ignore[attr-defined]

    def close(self) -> None:
        self.inner.close()
        super().close()


class CheckedStream:
    """The same as a thin proxy (``read``/``readinto``/``close``, a context manager): no
    extra buffer layer, so big block reads cost nothing more."""

    def __init__(self, inner: IO[bytes], message: str) -> None:
        self.inner = inner
        self.message = message

    def read(self, size: int = -1) -> bytes:
        return bytes(_checked(self.inner.read, self.message, size))

    def readinto(self, b: Any) -> int:
        return int(_checked(self.inner.readinto, self.message, b))  # type: ignore[attr-defined]

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> CheckedStream:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NamedText(io.TextIOWrapper):
    """A text stream whose decoding errors name the file (and say it is not UTF-8 text)."""

    def __init__(self, buffer: IO[bytes], path: str) -> None:
        super().__init__(buffer, encoding="utf-8-sig", newline="")  # type: ignore[arg-type]
        self._path = path

    def _named(self, exc: UnicodeDecodeError) -> ValueError:
        return ValueError(
            f"{self._path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} cannot be decoded); "
            "is it a binary or differently compressed file?"
        )

    def __next__(self) -> str:
        try:
            return super().__next__()
        except UnicodeDecodeError as exc:
            raise self._named(exc) from None

    def read(self, size: int | None = -1) -> str:
        try:
            return super().read(size)
        except UnicodeDecodeError as exc:
            raise self._named(exc) from None

    def readline(self, size: int = -1) -> str:  # type: ignore[override]
        try:
            return super().readline(size)
        except UnicodeDecodeError as exc:
            raise self._named(exc) from None


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


def open_text(path: str | os.PathLike[str], what: str = "file") -> IO[str]:
    """Open a plain, gzip/bgzip, bzip2 or xz text file (detected by its bytes, not the name) as
    UTF-8 (a leading BOM is dropped); zstd/zip files and non-UTF-8 bytes give a ValueError
    naming the file."""
    return _NamedText(open_decompressed(path, what), str(path))


def load_npz(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Every array of an ``.npz`` (or a gzip-compressed one), read with ``allow_pickle=False``:
    an archive holding object arrays (pickles, which could run code) is refused, naming the
    file and the array."""
    import numpy as np

    path = Path(path)
    src: Any = path
    if compression(path) in ("gzip", "bgzip"):  # downloads are kept gzip-compressed
        with gzip.open(path, "rb") as fh:
            try:
                src = io.BytesIO(fh.read())
            except DECOMPRESSION_ERRORS as exc:
                raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    try:
        z = np.load(src, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a NumPy .npz archive ({exc})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, not an .npz archive of named arrays")  # noqa: TRY004
    out: dict[str, Any] = {}
    with z:
        for key in z.files:
            try:
                out[key] = z[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc):
                    raise ValueError(
                        f"{path}: array {key!r} is a pickled object array, refused (loading it could "
                        "run code); store strings as fixed-width unicode (numpy dtype 'U') instead"
                    ) from None
                raise ValueError(f"{path}: array {key!r} cannot be read ({exc})") from None
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: errno values of a write that the user must fix (space, quota, permissions, a bad disk)
STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error (failing disk or network file system?)",
    errno.EFBIG: "file too large for the file system (or a ulimit)",
}


class StorageError(OSError):
    """Writing an output failed for a reason outside isoclr (full disk, quota, permissions,
    I/O error). The message names the output; nothing half-written is left behind."""

    def __str__(self) -> str:
        return str(self.strerror)


def storage_error(target: str | os.PathLike[str], exc: BaseException) -> StorageError | None:
    """A :class:`StorageError` for ``exc`` when it is a storage problem (also when h5py reports
    one, with the errno only in its text), else None."""
    code = getattr(exc, "errno", None)
    if code not in STORAGE_ERRNOS:
        text = str(exc)
        code = next((c for c in STORAGE_ERRNOS if f"errno = {c}," in text), None)
        if code is None:
            return None
    if isinstance(exc, StorageError):
        return exc
    # the path the OS names, when it is another one than the output or its temp file (a
    # parent folder that cannot be created, say)
    where = str(getattr(exc, "filename", None) or "")
    own = Path(where).name in (Path(target).name, "") or Path(where).name.startswith(f".{Path(target).name}.")
    detail = "" if own else f" ({where})"
    err = StorageError(
        code, f"{target}: cannot write: {STORAGE_ERRNOS[code]}{detail}; no partial file was left "
        "behind, fix this and run again"
    )
    err.filename = str(target)
    return err


#: temp files are named ``.NAME.HOST-PID.RANDOM.partSUFFIX``: the writer's host and process
_HOST = socket.gethostname().split(".")[0].replace("-", "_") or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_parts(target: str | os.PathLike[str]) -> list[Path]:
    """Remove temp files of ``target`` left by a writer that crashed or was killed: those of a
    process on this host that no longer runs, and ones that name no process over an hour
    old. Temp files of live writers and of other hosts (shared file systems) are kept."""
    target = Path(target)
    removed = []
    try:
        candidates = list(target.parent.glob(f".{glob_escape(target.name)}.*.part*"))
    except OSError:
        return removed
    for p in candidates:
        tag = p.name[len(target.name) + 2 :].split(".", 1)[0]
        host, _, pid = tag.rpartition("-")
        try:
            if host and pid.isdigit():
                stale = host == _HOST and not _alive(int(pid))
            else:
                stale = time.time() - p.stat().st_mtime > 3600
            if stale:
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    if removed:
        log.info("%s: removed %d stale temp file(s) of an earlier crashed job: %s", target, len(removed),
                 ", ".join(q.name for q in removed))
    return removed


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A crash or an exception leaves no half-written ``path`` behind (the temp file is removed;
    one left by a killed process is removed by the next writer of ``path``), and readers never
    see a partial file, because the rename is atomic on one file system. Out-of-space,
    quota, permission and I/O errors become a :class:`StorageError` naming ``path``.
    """
    target = Path(path)
    sfx = suffix if suffix is not None else "".join(target.suffixes[-2:]) or ".tmp"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(target)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{_HOST}-{os.getpid()}.", suffix=f".part{sfx}",
                                        dir=target.parent)
    except OSError as exc:
        raise (storage_error(target, exc) or exc) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp creates 0600; give the file the usual umask-based mode
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        for extra in tmp.parent.glob(glob_escape(tmp.name) + "*"):  # helpers' files (tmp.conv...)
            with contextlib.suppress(OSError):
                extra.unlink()
        err = storage_error(target, exc) if isinstance(exc, Exception) else None
        if err is not None and err is not exc:
            raise err from exc
        raise


@contextlib.contextmanager
def h5_create(path: str | os.PathLike[str]) -> Iterator[Any]:
    """A new HDF5 file built in memory and written to ``path`` (a temp path from
    :func:`atomic_path`) in one plain write when the block ends.

    HDF5 never touches the disk itself: an out-of-space or I/O error inside the HDF5 library
    (its sec2 driver) leaves the file in a state where closing it crashes the process
    (segmentation fault, h5py 3.16 / HDF5 1.14, on any thread); here the only disk write is
    Python's, which raises an ordinary ``OSError``. Memory: the file's size.
    """
    import h5py

    image = io.BytesIO()
    f = h5py.File(image, "w")  # h5py's "fileobj" driver: HDF5 reads and writes the BytesIO
    try:
        yield f
    finally:
        f.close()
    with open(path, "wb") as out:
        out.write(image.getbuffer())
        out.flush()
        os.fsync(out.fileno())
