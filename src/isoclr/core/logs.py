"""Logging set-up shared by the CLI and the pipeline's script shims.

* :func:`quiet_third_party` keeps other libraries' INFO chatter (``fontTools.subset`` writes
  ~150 INFO lines per PDF, matplotlib's font cache, PIL, ...) out of our logs: they log at
  WARNING and above only.
* :func:`job_log` is what every pipeline job runs first (the function a shim in
  ``workflow/scripts/`` calls, e.g. :func:`isoclr.splits.assign.splits_job`): it sends logging to
  the job's log file, reports a failure as one line (:mod:`isoclr.core.jobs`), and starts the log
  with one line saying what the job does and its main settings (rule, wildcards, threads,
  resources, parameters), so a log reads on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

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


def check_checkout(environ: Mapping[str, str] | None = None) -> None:
    """Refuse to run a job of one checkout in a conda environment built for another.

    ``snakemake --use-conda`` keys an environment by its file and the conda prefix, not by the
    checkout, and each environment has the isoclr of the checkout that built it (its
    post-deploy script, ``envs/install-isoclr.sh``, records which in
    ``$CONDA_PREFIX/etc/isoclr-checkout``). The Snakefile sets ``ISOCLR_ROOT``.
    """
    import os
    from pathlib import Path

    env = os.environ if environ is None else environ
    root, prefix = env.get("ISOCLR_ROOT"), env.get("CONDA_PREFIX")
    marker = Path(prefix, "etc", "isoclr-checkout") if prefix else None
    if not root or marker is None or not marker.is_file():
        return
    built = marker.read_text().strip()
    if Path(built).resolve() != Path(root).resolve():
        raise RuntimeError(
            f"the conda environment {prefix} runs isoclr from {built}, but this workflow is {root}: "
            "checkouts that share a --conda-prefix share environments; give this checkout its own "
            "(snakemake --conda-prefix DIR, docs/install.md)")


def job_log(log_path: str | None, rule: str | None, what: str, *, wildcards: Any = None,
            threads: int | None = None, resources: Any = None, params: Any = None,
            **extra: Any) -> logging.Logger:
    """Start a pipeline job: log to ``log_path``, report a failure as one line
    (:func:`isoclr.core.jobs.start`), and write the job's first line: rule, what it does, main
    settings (wildcards, threads, resources, parameters; ``extra`` adds more).

    Every argument is a plain value a script shim takes from its ``snakemake`` object
    (``snakemake.log[0]``, ``snakemake.rule``, ``snakemake.wildcards``, ...): the library never
    sees Snakemake itself.
    """
    from isoclr.core.jobs import start

    start(log_path, rule)
    check_checkout()
    quiet_third_party()
    settings: dict[str, Any] = {}
    settings.update(_items(wildcards))
    settings["threads"] = threads
    settings.update({k: v for k, v in _items(resources).items() if k in ("gpu", "mem_mb", "runtime")})
    settings.update(_items(params))
    settings.update(extra)
    log.info("%s", describe(f"rule {rule or 'job'}: {what}", settings))
    return log
