"""Fast genome FASTA reading, one contig at a time, straight into nucleotide codes.

The reader parses big blocks (16 MiB) of plain or gzip-compressed (also BGZF / multi-member)
FASTA text with C-speed bytes operations: headers are found with ``bytes.find`` (memchr), and
one ``bytes.translate`` per block both maps letters to codes and deletes the line breaks. There is no per-line or per-nucleotide Python loop, so a 3 Gb genome reads at
the speed of decompression. Peak memory is about twice the largest contig.

Codes (see :mod:`isoclr.core.encoding`): A=0 C=1 G=2 T=3 (U read as T), N=4, and, only inside this
module, ``AMBIGUOUS`` = 6 for the other IUPAC letters (R, Y, S, ...) and ``-``/``*`` so callers can
count them before mapping them to 4. Soft-masked (lower-case) bases are read as upper case.
Any other character is an error naming the file and line.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import logging
import lzma
import os
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from isoclr.core.files import UTF8_BOM, CheckedStream, check_readable, compression, file_sha256

log = logging.getLogger(__name__)

AMBIGUOUS = 6
INVALID = 255
BLOCK_BYTES = 16 * 1024 * 1024
#: decompressed bytes per block when a gzip FASTA is scanned for its names (small: the scan
#: keeps nothing, and it runs next to the genome reader's and the annotation's memory peak)
SCAN_BLOCK_BYTES = 1 << 20

GENOME_CODES = np.full(256, INVALID, dtype=np.uint8)
for _ch in "RYSWKMBDHVryswkmbdhv-*":
    GENOME_CODES[ord(_ch)] = AMBIGUOUS
for _ch, _code in (("A", 0), ("C", 1), ("G", 2), ("T", 3), ("U", 3), ("N", 4)):
    GENOME_CODES[ord(_ch)] = _code
    GENOME_CODES[ord(_ch.lower())] = _code
_WHITESPACE = b"\n\r\t \x0b\x0c"

try:  # ISA-L's gzip is 2-3x faster than zlib's for decompression; optional.
    from isal import igzip as _igzip  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    _igzip = None


@dataclass
class Contig:
    """One FASTA record as codes (0-4, and 6 for ambiguous IUPAC letters)."""

    name: str
    codes: npt.NDArray[np.uint8]
    offset: int  # byte offset of its header in the (decompressed) file
    n_bases: int = field(init=False)
    n_count: int = 0  # bases read as N (code 4)
    header: str = ""  # the whole header line after '>' (name and description)

    def __post_init__(self) -> None:
        self.n_bases = int(self.codes.size)


class _HashingReader(io.RawIOBase):
    """Wraps a binary file; feeds every byte read into a sha256 (hash of the file as stored)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self.raw.readinto(b)  # type: ignore[attr-defined]
        if n:
            self.sha256.update(memoryview(b)[:n])
        return n or 0

    def close(self) -> None:
        self.raw.close()
        super().close()


class _PlainReader(_HashingReader):
    """Same interface, no hashing."""

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        return self.raw.readinto(b) or 0  # type: ignore[attr-defined]


def _open_binary(path: Path, checksum: bool = True) -> tuple[IO[bytes], _HashingReader]:
    kind = check_readable(path, "genome FASTA")  # zstd, zip...: refused by name
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    hasher = _HashingReader(raw) if checksum else _PlainReader(raw)
    buffered = io.BufferedReader(hasher, buffer_size=1 << 20)
    if kind == "plain":
        return buffered, hasher
    if kind in ("gzip", "bgzip"):
        inner: IO[bytes] = (_igzip.IGzipFile(fileobj=buffered, mode="rb") if _igzip is not None
                            else gzip.GzipFile(fileobj=buffered, mode="rb"))
    else:
        inner = bz2.BZ2File(buffered, "rb") if kind == "bzip2" else lzma.LZMAFile(buffered, "rb")  # noqa: SIM115
    # corrupt or truncated data: a ValueError naming the file, not a bare EOFError
    checked = CheckedStream(inner, f"{path}: corrupt or truncated {kind} FASTA file")
    return checked, hasher  # type: ignore[return-value]


def check_fasta(path: str | os.PathLike[str]) -> None:
    """Raise a ValueError naming ``path`` and what is wrong when it cannot be a FASTA file:
    an unreadable compression (zstd...), an empty file or one holding only blanks, or data that
    does not start with a ``>`` header (binary junk, a wrong file); a UTF-8 byte-order mark
    before the first ``>`` is accepted."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty FASTA file (0 bytes)")
    fh, _ = _open_binary(path, checksum=False)
    with fh:
        head = fh.read(1 << 16)
    head = head.removeprefix(UTF8_BOM).lstrip()
    if not head:
        raise ValueError(f"{path}: the FASTA file holds no records (only blank space)")
    if not head.startswith(b">"):
        text = head[:24]
        looks = "binary data" if any(b < 9 or 13 < b < 32 or b > 126 for b in text) else "text"
        raise ValueError(
            f"{path}: not a FASTA file: it starts with {looks} {text!r}, not a '>' header line "
            f"(read as {compression(path)})"
        )


def _name(header: bytes, path: Path) -> str:
    try:
        return header.split(maxsplit=1)[0].decode() if header.strip() else ""
    except UnicodeDecodeError:
        raise ValueError(f"{path}: FASTA header {header[:40]!r} is not UTF-8 text") from None


def _line_blocks(fh: IO[bytes], block_bytes: int) -> Iterator[bytes]:
    """Yield blocks of complete lines of the (decompressed) file ``fh``; closes it."""
    with fh:
        pending: list[bytes] = []
        while True:
            chunk = fh.read(block_bytes)
            if not chunk:
                if pending:
                    yield b"".join(pending)
                return
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                pending.append(chunk)
                continue
            block = b"".join([*pending, chunk[:cut]]) if pending else chunk[:cut]
            pending = [chunk[cut:]] if cut < len(chunk) else []
            yield block


def read_fai(path: str | os.PathLike[str]) -> list[tuple[str, int]] | None:
    """(name, length) of every contig from ``PATH.fai`` if it exists (samtools/pyfaidx index)."""
    fai = Path(str(path) + ".fai")
    if not fai.exists():
        return None
    out = []
    with open(fai, encoding="utf-8") as fh:
        for n, row in enumerate(fh, 1):
            parts = row.rstrip("\n").split("\t")
            if len(parts) < 2 or not parts[1].isdigit():
                raise ValueError(f"{fai} line {n}: not a FASTA index line (name<TAB>length...)")
            out.append((parts[0], int(parts[1])))
    return out


def fasta_names(path: str | os.PathLike[str], block_bytes: int = BLOCK_BYTES) -> list[str]:
    """Contig names in file order: from the ``.fai`` index if present, else by scanning headers.

    Only header lines are parsed, so a scan reads at I/O (or gzip) speed.
    """
    return scan_fasta(path, block_bytes)[0]


def scan_fasta(path: str | os.PathLike[str], block_bytes: int = BLOCK_BYTES,
               checksum: bool = False) -> tuple[list[str], str | None]:
    """(contig names in file order, sha256 of the file as stored or None without ``checksum``).

    Names come from the ``.fai`` index if present, else from one pass over the file that
    also feeds the hash, so a build reads the file once for both (and the genome reader,
    which decodes, does not hash).
    """
    path = Path(path)
    check_fasta(path)
    fai = read_fai(path)
    if fai is not None:
        return _unique([name for name, _ in fai], path), file_sha256(path, BLOCK_BYTES) if checksum else None
    sha = hashlib.sha256() if checksum else None
    if compression(path) == "plain":
        names = _unique(_scan_names(path, block_bytes, sha), path)
        return names, sha.hexdigest() if sha is not None else None
    fh, hasher = _open_binary(path, checksum)
    names = []
    first = True
    for block in _line_blocks(fh, min(block_bytes, SCAN_BLOCK_BYTES)):
        if first:
            block = block.removeprefix(UTF8_BOM)
            first = False
        names.extend(_name(h, path) for _, _, h in _headers(block))
    return _unique(names, path), hasher.sha256.hexdigest() if checksum else None


def _unique(names: list[str], path: Path) -> list[str]:
    """``names``, or a ValueError naming the FASTA and the first repeated name."""
    if len(set(names)) != len(names):
        seen: dict[str, int] = {}
        for i, name in enumerate(names, 1):
            if name in seen and name:  # empty headers: the reader's "empty FASTA header" error
                raise ValueError(f"{path}: duplicate sequence name {name!r} (records {seen[name]} and {i})")
            seen[name] = i
    return names


def _scan_names(path: Path, block_bytes: int = BLOCK_BYTES, sha: Any = None) -> list[str]:
    """Header names of a plain FASTA: ``bytearray.find(b">")`` (memchr) over blocks read into
    one reusable buffer, a header being a ``>`` at a line start; no sequence is copied.
    ``sha``: a hashlib object fed every block."""
    names: list[str] = []

    def add(h: bytes) -> None:
        names.append(_name(h.rstrip(b"\r\n"), path))

    buf = bytearray(block_bytes)
    view = memoryview(buf)
    prev = 10  # the byte before the block: the file start counts as a line start
    partial: bytearray | None = None  # a header running past the block end
    bom = -1  # position of the '>' after a UTF-8 byte-order mark at the file start
    first = True
    with open(path, "rb", buffering=0) as fh:
        while k := fh.readinto(buf):
            if sha is not None:
                sha.update(view[:k])
            pos = 0
            if first and buf.startswith(UTF8_BOM):  # the '>' after it starts a line
                pos = bom = len(UTF8_BOM)
            elif not first:
                bom = -1
            first = False
            if partial is not None:
                e = buf.find(b"\n", 0, k)
                if e < 0:
                    partial += buf[:k]
                    prev = buf[k - 1]
                    continue
                partial += buf[:e]
                add(bytes(partial))
                partial, pos = None, e
            while (p := buf.find(b">", pos, k)) >= 0:
                if (buf[p - 1] if p else prev) != 10 and p != bom:
                    # not at a line start: left to the reader
                    pos = p + 1
                    continue
                e = buf.find(b"\n", p, k)
                if e < 0:
                    partial = bytearray(buf[p + 1 : k])
                    break
                add(bytes(buf[p + 1 : e]))
                pos = e
            prev = buf[k - 1]
    if partial is not None:
        add(bytes(partial))
    return names


_TABLE_BYTES = GENOME_CODES.tobytes()
_INVALID_BYTE = bytes([INVALID])


def line_at(path: str | os.PathLike[str], offset: int) -> int:
    """1-based line number of byte ``offset`` of the (decompressed) file; for error messages."""
    fh, _ = _open_binary(Path(path))
    line, done = 1, 0
    with fh:
        while done < offset:
            chunk = fh.read(min(BLOCK_BYTES, offset - done))
            if not chunk:
                break
            line += chunk.count(b"\n")
            done += len(chunk)
    return line


def _encode_segment(seg: bytes, path: Path, seg_offset: int) -> tuple[npt.NDArray[np.uint8], int, int]:
    """Sequence lines -> codes; returns (codes, number of ambiguous IUPAC letters, number of N).

    One ``bytes.translate`` maps letters to codes and deletes line breaks in a single C pass;
    other whitespace (rare) takes a second pass; anything else is an error with its line.
    """
    clean = seg.translate(_TABLE_BYTES, b"\n\r")
    if _INVALID_BYTE in clean:
        clean = seg.translate(_TABLE_BYTES, _WHITESPACE)
        if _INVALID_BYTE in clean:
            raw = np.frombuffer(seg, dtype=np.uint8)
            bad_mask = GENOME_CODES[raw] == INVALID
            bad_mask &= ~np.isin(raw, np.frombuffer(_WHITESPACE, dtype=np.uint8))
            pos = int(np.flatnonzero(bad_mask)[0])
            line = line_at(path, seg_offset + pos)
            raise ValueError(
                f"{path} line {line}: invalid character {chr(raw[pos])!r} in sequence (not an IUPAC nucleotide code)"
            )
    codes = np.frombuffer(clean, dtype=np.uint8)
    return codes, int(np.count_nonzero(codes == AMBIGUOUS)), int(np.count_nonzero(codes == 4))


def _headers(data: bytes, line_start: bool = True) -> Iterator[tuple[int, int, bytes]]:
    """(start, end after the newline, header text) of every line starting with '>' in ``data``.

    ``data`` ends with a complete header line, if any (``line_start``: it also starts a line).
    Uses ``bytes.find`` of one byte (memchr speed); a '>' that does not start a line is left in
    the sequence, where it is reported as invalid.
    """
    pos = 0
    while True:
        p = data.find(b">", pos)
        if p < 0:
            return
        if data[p - 1] != 10 if p else not line_start:  # not at a line start: invalid in a sequence
            pos = p + 1
            continue
        e = data.find(b"\n", p)
        e = len(data) if e < 0 else e + 1
        yield p, e, data[p + 1 : e].rstrip(b"\r\n")
        pos = e


class FastaReader:
    """Iterate over a FASTA file's records as :class:`Contig` (codes), one at a time.

    After iteration, ``sha256`` is the hex digest of the file's bytes as stored (compressed
    for .gz), so provenance costs no extra pass; ``checksum=False`` skips it (``sha256`` stays
    None), e.g. when another thread hashes the file.
    """

    def __init__(self, path: str | os.PathLike[str], block_bytes: int = BLOCK_BYTES,
                 checksum: bool = True) -> None:
        self.path = Path(path)
        self.block_bytes = block_bytes
        self.checksum = checksum
        self.sha256: str | None = None
        self.ambiguous: dict[str, int] = {}

    def __iter__(self) -> Iterator[Contig]:
        check_fasta(self.path)
        fh, hasher = _open_binary(self.path, self.checksum)
        name: str | None = None
        header = ""
        header_offset = 0
        parts: list[npt.NDArray[np.uint8]] = []
        n_amb = n_n = 0
        seen: dict[str, int] = {}

        def finish() -> Contig:
            codes = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, np.uint8)
            parts.clear()
            assert name is not None
            self.ambiguous[name] = n_amb
            return Contig(name, codes, header_offset, n_n, header)

        with fh:
            # Chunks are decoded as read, cut anywhere (a sequence line may continue in the next
            # chunk: line breaks are deleted anyway), so the text is not copied into line-aligned
            # blocks; only a header line at the end of a chunk, maybe incomplete, moves on to
            # the next one.
            carry = b""
            line_start = True  # ``data`` starts a line
            offset = 0  # bytes of the decompressed stream before ``data``
            chunk = fh.read(self.block_bytes)
            if chunk.startswith(UTF8_BOM):  # a byte-order mark before the first '>': skipped
                chunk, offset = chunk[len(UTF8_BOM):], len(UTF8_BOM)
            pending: bytes | None = chunk
            while True:
                chunk = pending if pending is not None else fh.read(self.block_bytes)
                pending = None
                if not chunk and not carry:
                    break
                data = carry + chunk if carry else chunk
                carry = b""
                if chunk:
                    last = data.rfind(b"\n") + 1  # start of the last line
                    if last < len(data) and data[last] == 62 and (last or line_start):  # '>'
                        data, carry = data[:last], data[last:]
                    if not data:
                        continue
                pos = 0
                for h_start, h_end, h_text in _headers(data, line_start):
                    if h_start > pos:
                        seg = data[pos:h_start]
                        if name is None:
                            if seg.strip():
                                raise ValueError(f"{self.path} line {line_at(self.path, offset)}: sequence before the first '>' header")
                        else:
                            codes, amb, nn = _encode_segment(seg, self.path, offset + pos)
                            parts.append(codes)
                            n_amb += amb
                            n_n += nn
                    if name is not None:
                        yield finish()
                    header_offset = offset + h_start
                    fields = h_text.split(maxsplit=1)
                    if not fields:
                        raise ValueError(f"{self.path} line {line_at(self.path, header_offset)}: empty FASTA header")
                    try:
                        name = fields[0].decode()
                    except UnicodeDecodeError:
                        raise ValueError(f"{self.path} line {line_at(self.path, header_offset)}: FASTA header "
                                         f"{h_text[:40]!r} is not UTF-8 text") from None
                    header = h_text.decode(errors="replace")
                    if name in seen:
                        raise ValueError(
                            f"{self.path} line {line_at(self.path, header_offset)}: duplicate sequence name "
                            f"{name!r} (first at line {line_at(self.path, seen[name])})"
                        )
                    seen[name] = header_offset
                    n_amb = n_n = 0
                    pos = h_end
                if pos < len(data):
                    seg = data[pos:]
                    if name is None:
                        if seg.strip():
                            raise ValueError(f"{self.path} line {line_at(self.path, offset)}: sequence before the first '>' header")
                    else:
                        codes, amb, nn = _encode_segment(seg, self.path, offset + pos)
                        parts.append(codes)
                        n_amb += amb
                        n_n += nn
                offset += len(data)
                line_start = data.endswith(b"\n")
            if name is not None:
                yield finish()
            elif not seen:
                raise ValueError(f"{self.path}: no FASTA records found")
        self.sha256 = hasher.sha256.hexdigest() if self.checksum else None


class ReadAhead:
    """Iterate over a :class:`FastaReader` whose contigs are read (and hashed, if the reader
    does) and decoded ahead by a worker thread, so the caller can do other work (parse the
    annotation) meanwhile.

    File reads, sha256 and NumPy release the GIL (``bytes.translate`` does not), so on a
    machine with two cores the genome decodes at little cost to the caller. At most ``max_bytes`` of decoded contigs wait
    (at least one contig, however large), which bounds memory. An error of the reader is
    raised by the iteration at the point the reader raised it, after the contigs before it.
    Call :meth:`close` when done (it stops the thread early if the caller gives up).
    """

    def __init__(self, reader: FastaReader, max_bytes: int) -> None:
        self.reader = reader
        self.max_bytes = max_bytes
        self._cond = threading.Condition()
        self._ready: deque[Contig | BaseException] = deque()
        self._held = 0  # bytes of decoded contigs waiting in ``_ready``
        self._done = False
        self._stop = False
        self._thread = threading.Thread(target=self._work, name="genome-read-ahead", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        contigs = iter(self.reader)
        try:
            for contig in contigs:
                with self._cond:
                    while self._held and self._held + contig.codes.nbytes > self.max_bytes and not self._stop:
                        self._cond.wait()
                    if self._stop:
                        return
                    self._ready.append(contig)
                    self._held += contig.codes.nbytes
                    self._cond.notify_all()
                del contig
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised in order
            with self._cond:
                self._ready.append(exc)
        finally:
            close = getattr(contigs, "close", None)
            if close is not None:
                close()
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def __iter__(self) -> Iterator[Contig]:
        while True:
            with self._cond:
                while not self._ready and not self._done:
                    self._cond.wait()
                if not self._ready:
                    return
                item = self._ready.popleft()
                if isinstance(item, Contig):
                    self._held -= item.codes.nbytes
                    self._cond.notify_all()
            if isinstance(item, BaseException):
                raise item
            yield item
            del item

    def close(self) -> None:
        """Stop the worker (after the contig it is decoding) and wait for it."""
        with self._cond:
            self._stop = True
            self._ready.clear()
            self._cond.notify_all()
        self._thread.join()
