"""Logging set-up shared by the CLI and the pipeline's script shims.

* :func:`quiet_third_party` keeps other libraries' INFO chatter (``fontTools.subset`` writes
  ~150 INFO lines per PDF, matplotlib's font cache, PIL, ...) out of our logs: they log at
  WARNING and above only.
* :func:`job_log` is what every shim in ``workflow/scripts/`` calls first: it sends logging to
  the job's log file, reports a failure as one line (:mod:`isoclr.core.jobs`), and starts the log
  with one line saying what the job does and its main settings (rule, wildcards, threads,
  resources, parameters), so a log reads on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Loggers of third-party libraries that log at INFO (or DEBUG) what a user never needs.
NOISY = ("fontTools", "matplotlib", "PIL", "h5py", "numba", "urllib3", "filelock", "fsspec", "asyncio")

#: Parameters left out of the first line (source fingerprints say nothing to a reader).
SKIP = frozenset({"code"})

log = logging.getLogger("isoclr.job")


def quiet_third_party(level: int = logging.WARNING) -> None:
    """Raise the level of the :data:`NOISY` loggers to ``level`` (WARNING)."""
    for name in NOISY:
        logging.getLogger(name).setLevel(level)


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _items(obj: Any) -> dict[str, Any]:
    """Named entries of a Snakemake Namedlist (params, wildcards, resources) or a mapping."""
    if obj is None:
        return {}
    if hasattr(obj, "items") and not isinstance(obj, Mapping):
        return {str(k): v for k, v in obj.items()}
    if isinstance(obj, Mapping):
        return {str(k): v for k, v in obj.items()}
    return {}


def describe(what: str, settings: Mapping[str, Any]) -> str:
    """``WHAT | key=value, ...`` with long values shortened."""
    parts = [f"{k}={_short(v)}" for k, v in settings.items() if not str(k).startswith("_") and k not in SKIP]
    return what + (" | " + ", ".join(parts) if parts else "")


def job_log(smk: Any, what: str, **extra: Any) -> logging.Logger:
    """Start a pipeline job: log to ``smk.log[0]``, report a failure as one line
    (:func:`isoclr.core.jobs.start`), and write the job's first line: rule, what it does, main
    settings.

    ``smk`` is the ``snakemake`` object of a script shim; ``extra`` adds settings to the line.
    """
    from isoclr.core.jobs import start

    start(smk.log[0], getattr(smk, "rule", None))
    quiet_third_party()
    settings: dict[str, Any] = {}
    settings.update(_items(getattr(smk, "wildcards", None)))
    settings["threads"] = getattr(smk, "threads", None)
    resources = {k: v for k, v in _items(getattr(smk, "resources", None)).items()
                 if k in ("gpu", "mem_mb", "runtime")}
    settings.update(resources)
    settings.update(_items(getattr(smk, "params", None)))
    settings.update(extra)
    rule = getattr(smk, "rule", None) or "job"
    log.info("%s", describe(f"rule {rule}: {what}", settings))
    return log
