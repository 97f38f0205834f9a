"""Download stage: fetch one URL to a local file, verified, retried and written atomically.

Supported URLs: ``http://``, ``https://``, ``ftp://`` (through :mod:`urllib`), ``file:///abs/path``
and ``file:relative/path`` (resolved against the current directory, so the demo config can say
``file:resources/demo/human/genome.fa.gz``).

Output compression follows the *output* name, not the source:

* output ends in ``.gz`` and the source is gzip: the bytes are kept exactly as downloaded
  (multi-member gzip and BGZF stay as they are);
* output ends in ``.gz`` and the source is plain: it is gzip-compressed while being written
  (``mtime=0``, so the bytes are reproducible);
* output does not end in ``.gz`` and the source is gzip: it is decompressed;
* otherwise the bytes are kept.

Checks, in order: the transfer is complete (``Content-Length`` when the server sends one), the
download is not empty, its size equals ``size`` and its sha256 equals ``sha256`` when given
(both are about the bytes *as downloaded*, before any (de)compression), and a gzip source
decompresses to the end (every member) without error and to at least one byte.

Transient failures (connection errors, time-outs, HTTP 5xx / 408 / 429, a truncated transfer,
an attempt over its ``deadline``) are retried with exponential back-off (``backoff * 2**attempt``
seconds). Permanent failures (HTTP 4xx such as 404/403, a TLS certificate that does not verify,
a missing local file, a checksum or size mismatch, corrupt gzip data) raise at once with a
message naming the URL.

Two clocks bound an attempt: ``timeout`` for each socket operation (a silent server), and
``deadline`` for the whole attempt (a server that trickles a byte now and then never trips
the first).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import logging
import os
import shutil
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from isoclr import __version__
from isoclr.core.files import GZIP_MAGIC, atomic_path

log = logging.getLogger(__name__)

CHUNK = 1 << 20
USER_AGENT = f"isoclr/{__version__} (+https://github.com/; research pipeline)"


class DownloadError(RuntimeError):
    """A download failed for good (after retries, or at once for a permanent failure)."""


class TransientError(DownloadError):
    """A failure worth retrying (network, server error, truncated transfer)."""


@dataclass(frozen=True)
class DownloadResult:
    """What was fetched: the output path, the sha256 and size of the bytes as downloaded,
    whether the source was gzip, and how many attempts it took."""

    path: Path
    sha256: str
    size: int
    source_gzip: bool
    attempts: int


def local_path(url: str) -> Path | None:
    """The file a ``file:`` URL names (``file:///abs`` or ``file:rel/path``), else None."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "file":
        return None
    if parsed.netloc not in ("", "localhost"):
        raise ValueError(f"{url}: file URLs with a host ({parsed.netloc!r}) are not supported")
    return Path(urllib.request.url2pathname(urllib.parse.unquote(parsed.path)))


def _is_transient_http(code: int) -> bool:
    return code >= 500 or code in (408, 429)


def _open(url: str, timeout: float) -> tuple[IO[bytes], int | None]:
    """Open a URL for reading; returns the stream and the announced length (or None)."""
    path = local_path(url)
    if path is not None:
        if not path.is_file():
            raise DownloadError(f"{url}: local file {path.resolve()} does not exist")
        return open(path, "rb"), path.stat().st_size
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https", "ftp"):
        raise ValueError(f"{url}: unsupported URL scheme {scheme!r} (use http, https, ftp or file)")
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        reason = " ".join(str(exc.reason).split())
        if 300 <= exc.code < 400:  # urllib gave up following redirects (a loop, or too many)
            raise DownloadError(f"{url}: HTTP {exc.code}: redirect loop or too many redirects "
                                f"({' '.join(str(exc.msg).split())}) (not retried)") from exc
        if _is_transient_http(exc.code):
            raise TransientError(f"{url}: HTTP {exc.code} {reason}") from exc
        raise DownloadError(f"{url}: HTTP {exc.code} {reason} (not retried)") from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, FileNotFoundError) or "550" in str(reason):
            raise DownloadError(f"{url}: not found ({reason})") from exc
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise DownloadError(
                f"{url}: TLS certificate verification failed ({reason.verify_message or reason}); not "
                "retried (a wrong or self-signed certificate, or a proxy intercepting TLS)"
            ) from exc
        raise TransientError(f"{url}: {reason}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise DownloadError(f"{url}: TLS certificate verification failed ({exc}); not retried") from exc
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise TransientError(f"{url}: {exc!r}") from exc
    length = resp.headers.get("Content-Length") if resp.headers is not None else None
    try:
        announced = int(length) if length not in (None, "") else None
    except ValueError:
        announced = None
    return resp, announced


def _fetch_raw(url: str, dest: Path, timeout: float, deadline: float | None = None) -> tuple[str, int, bool]:
    """Copy the URL's bytes to ``dest``; returns (sha256, size, whether the length was announced).
    Raises on a short transfer, and when the attempt takes more than ``deadline`` seconds."""
    start = time.monotonic()
    stream, announced = _open(url, timeout)
    digest = hashlib.sha256()
    size = 0
    # read1: at most one socket read per call, so the deadline is checked however slowly the
    # bytes come (read(n) would wait for all n bytes of a trickle)
    read = getattr(stream, "read1", stream.read)
    try:
        with stream, open(dest, "wb") as out, tqdm(
            total=announced, unit="B", unit_scale=True, desc=Path(url).name, disable=None, leave=False
        ) as bar:
            while True:
                if deadline is not None and time.monotonic() - start > deadline:
                    raise TransientError(
                        f"{url}: too slow: {size} bytes in {time.monotonic() - start:.1f} s"
                        f"{f' of {announced}' if announced is not None else ''}, over the deadline of "
                        f"{deadline:g} s per attempt (download.deadline)"
                    )
                try:
                    chunk = read(CHUNK)
                except http.client.IncompleteRead as exc:
                    raise TransientError(
                        f"{url}: truncated transfer ({size + len(exc.partial)} bytes received, "
                        f"{announced} announced)"
                    ) from exc
                except (TimeoutError, ConnectionError, OSError) as exc:
                    raise TransientError(f"{url}: read failed after {size} bytes: {exc!r}") from exc
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
                bar.update(len(chunk))
    finally:
        stream.close()
    if announced is not None and size != announced:
        raise TransientError(f"{url}: truncated transfer ({size} bytes received, {announced} announced)")
    if size == 0:
        raise DownloadError(f"{url}: the download is empty (0 bytes)")
    return digest.hexdigest(), size, announced is not None


def _check_gzip(url: str, path: Path, size_known: bool) -> int:
    """Read a gzip file to its end (every member); returns the decompressed size."""
    total = 0
    try:
        with gzip.open(path, "rb") as fh:
            while True:
                chunk = fh.read(CHUNK)
                if not chunk:
                    break
                total += len(chunk)
    except EOFError as exc:
        # A gzip stream cut short: a truncated transfer when the server gave no length.
        msg = f"{url}: gzip stream ends early after {total} decompressed bytes ({exc})"
        raise (DownloadError(msg) if size_known else TransientError(msg)) from exc
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise DownloadError(f"{url}: corrupt gzip data after {total} decompressed bytes ({exc})") from exc
    if total == 0:
        raise DownloadError(f"{url}: the gzip file decompresses to 0 bytes")
    return total


def fetch_once(url: str, out: Path, sha256: str | None, size: int | None, timeout: float,
               deadline: float | None = None) -> tuple[str, int, bool]:
    """One attempt: download, verify and write ``out`` atomically. Returns (sha256, size, gzip)."""
    out = Path(out)
    want_gz = out.name.endswith(".gz")
    with atomic_path(out, suffix=".raw") as raw:
        got_sha, got_size, announced = _fetch_raw(url, raw, timeout, deadline)
        if size is not None and got_size != size:
            raise DownloadError(f"{url}: size mismatch: expected {size} bytes, got {got_size}")
        if sha256 is not None and got_sha != sha256.lower():
            raise DownloadError(f"{url}: sha256 mismatch: expected {sha256.lower()}, got {got_sha}")
        with open(raw, "rb") as fh:
            src_gz = fh.read(2) == GZIP_MAGIC
        if src_gz:
            _check_gzip(url, raw, size_known=announced or size is not None or sha256 is not None)
        if src_gz == want_gz:
            # Keep the bytes as downloaded: rename the raw file onto the output.
            final = raw
        else:
            final = raw.with_name(raw.name + ".conv")
            try:
                if want_gz:
                    with open(raw, "rb") as src, open(final, "wb") as dst_raw, gzip.GzipFile(
                        filename="", mode="wb", fileobj=dst_raw, compresslevel=6, mtime=0
                    ) as dst:
                        shutil.copyfileobj(src, dst, CHUNK)
                else:
                    with gzip.open(raw, "rb") as src, open(final, "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)
                os.replace(final, raw)
            except BaseException:
                final.unlink(missing_ok=True)
                raise
    return got_sha, got_size, src_gz


def fetch(
    url: str,
    out: str | os.PathLike[str],
    sha256: str | None = None,
    size: int | None = None,
    *,
    retries: int,
    timeout: float,
    backoff: float,
    deadline: float | None,
) -> DownloadResult:
    """Download ``url`` to ``out`` with verification, retries and an atomic write.

    ``retries`` is the number of extra attempts after the first for transient failures; the
    wait before retry ``k`` (0-based) is ``backoff * 2**k`` seconds. ``timeout``: seconds per
    socket operation; ``deadline``: seconds per attempt in all (None or 0: none). See the module
    docstring for the checks and the compression rule. The four have no defaults here: the
    pipeline and ``isoclr download`` pass config ``download`` (defaults: config/schema.yaml).
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if deadline is not None and deadline < 0:
        raise ValueError(f"deadline must be >= 0 seconds, got {deadline}")
    deadline = deadline or None
    if sha256 is not None and (len(sha256) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha256)):
        raise ValueError(f"{url}: sha256 must be 64 hex digits, got {sha256!r}")
    out = Path(out)
    attempt = 0
    while True:
        try:
            got_sha, got_size, src_gz = fetch_once(url, out, sha256, size, timeout, deadline)
        except TransientError as exc:
            if attempt >= retries:
                raise DownloadError(f"{exc} (gave up after {attempt + 1} attempts)") from exc
            wait = backoff * (2**attempt)
            log.warning("%s; retry %d/%d in %.1f s", exc, attempt + 1, retries, wait)
            if wait > 0:
                time.sleep(wait)
            attempt += 1
            continue
        log.info("%s -> %s: %d bytes, sha256 %s%s", url, out, got_size, got_sha,
                 "" if sha256 else " (not pinned in config)")
        return DownloadResult(out, got_sha, got_size, src_gz, attempt + 1)


def download_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "download",
                 wildcards: Any = None, threads: int | None = None, resources: Any = None, *,
                 config: Mapping[str, Any]) -> DownloadResult:
    """The pipeline's ``download`` rule (plain values from ``workflow/scripts/download.py``).

    What is fetched (url, sha256, size) is ``params.settings``; how (retries, timeout, deadline,
    backoff) comes from ``config`` (:class:`isoclr.config.settings.DownloadSettings`): it does not
    change the file, so it is not a param and changing it reruns nothing.
    """
    from isoclr.config.settings.download import DownloadSettings
    from isoclr.core.logs import job_log

    job_log(log_path, rule, "download one input file (verified, retried, atomic)",
            wildcards=wildcards, threads=threads, resources=resources, params=params)
    s = params.settings
    how = DownloadSettings.from_config(config, wildcards.path)
    return fetch(s["url"], outputs[0], sha256=s["sha256"], size=s["size"], retries=how.retries,
                 timeout=how.timeout, backoff=how.backoff, deadline=how.deadline)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="http(s)://, ftp://, file:///abs/path or file:relative/path")
    parser.add_argument("out", help="output file; a name ending in .gz is stored gzip-compressed")
    parser.add_argument("--sha256", default=None, help="expected sha256 of the bytes as downloaded")
    parser.add_argument("--size", type=int, default=None, help="expected size in bytes as downloaded")
    # unset: config `download` of the schema (config/schema.yaml), as the pipeline's downloads
    parser.add_argument("--retries", type=int, default=None, help="extra attempts on transient failures")
    parser.add_argument("--timeout", type=float, default=None, help="socket time-out in seconds")
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds one attempt may take in all (0: no limit)")
    parser.add_argument("--backoff", type=float, default=None,
                        help="seconds before the first retry, doubled on each further retry")


def run(args: argparse.Namespace) -> int:
    from isoclr.config.load import defaults

    how = defaults("download")
    given = {"retries": args.retries, "timeout": args.timeout, "backoff": args.backoff, "deadline": args.deadline}
    how.update({k: v for k, v in given.items() if v is not None})
    fetch(args.url, args.out, sha256=args.sha256, size=args.size, retries=int(how["retries"]),
          timeout=float(how["timeout"]), backoff=float(how["backoff"]), deadline=float(how["deadline"]))
    return 0
