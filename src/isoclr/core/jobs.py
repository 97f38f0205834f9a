"""Pipeline jobs (the shims in ``workflow/scripts/``): log to the job's log file, and report a
failure as one line.

A job that fails writes the reason and the full traceback to its log file (the file Snakemake
points at: ``log: ... (check log file(s) for error details)``) and prints one line to stderr,
which Snakemake shows::

    isoclr download_genome: error: file:///...: sha256 mismatch: expected ..., got ... (log: logs/...)

With ``ISOCLR_DEBUG=1`` in the environment a short traceback (the innermost frames) follows
that line. Three ways to use it, all with the same effect:

* ``start(log_path, name)`` at the top of a script: sets up logging and reports any uncaught
  exception (``sys.excepthook``), so the script body stays flat;
* ``with job(log_path, name): ...``;
* ``run(log_path, fn, *args, name=..., **kwargs)``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: environment switch: a short traceback on stderr after the one-line reason
DEBUG_ENV = "ISOCLR_DEBUG"

T = TypeVar("T")


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def reason(exc: BaseException) -> str:
    """One line saying what went wrong: the message (lines joined), prefixed by the exception
    type unless it is one of ours or a plain data/OS error."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        text = f"missing key {exc.args[0]!r}"
    name = type(exc).__name__
    plain = type(exc) in (ValueError, OSError, RuntimeError) or type(exc).__module__.startswith("isoclr")
    if not text:
        return name
    return text if plain else f"{name}: {text}"


def setup_logging(log_path: str | os.PathLike[str] | None, level: int = logging.INFO) -> None:
    """Log records of every module to ``log_path`` (appending; None: to stderr)."""
    if log_path is None:
        logging.basicConfig(level=level, format=LOG_FORMAT, force=True)
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=str(log_path), level=level, force=True, format=LOG_FORMAT)


def report(exc: BaseException, log_path: str | os.PathLike[str] | None, name: str | None = None) -> None:
    """Write ``exc`` (reason + full traceback) to the log and one line (plus, with
    ``ISOCLR_DEBUG=1``, a short traceback) to stderr."""
    what = f"isoclr {name}" if name else "isoclr"
    line = reason(exc)
    with contextlib.suppress(Exception):  # a broken log file must not hide the reason
        log.error("%s failed: %s", name or "job", line, exc_info=(type(exc), exc, exc.__traceback__))
        for handler in logging.getLogger().handlers:
            handler.flush()
    where = f" (log: {log_path})" if log_path else ""
    print(f"{what}: error: {line}{where}", file=sys.stderr)
    if debug():
        short = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6, chain=False)
        print("".join(short).rstrip(), file=sys.stderr)
    sys.stderr.flush()


def start(log_path: str | os.PathLike[str] | None, name: str | None = None) -> None:
    """Set up logging to ``log_path`` and report any uncaught exception of this process as
    :func:`report` does (the exit status stays 1)."""
    setup_logging(log_path)

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        report(exc.with_traceback(tb), log_path, name)

    sys.excepthook = hook


@contextlib.contextmanager
def job(log_path: str | os.PathLike[str] | None, name: str | None = None) -> Iterator[None]:
    """Context manager form: logging to ``log_path``; a failure is reported and exits 1."""
    setup_logging(log_path)
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure is reported the same way
        report(exc, log_path, name)
        raise SystemExit(1) from None


def run(log_path: str | os.PathLike[str] | None, fn: Callable[..., T], *args: Any,
        name: str | None = None, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` as a job (see :func:`job`)."""
    with job(log_path, name or getattr(fn, "__name__", None)):
        return fn(*args, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover  (job exits on failure)
