"""Settings of the download stage (rules/download.smk)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isoclr.config.base import ConfigError, Settings
from isoclr.config.study import downloads


@dataclass(frozen=True)
class DownloadSettings(Settings):
    """How one URL is fetched: what (url, sha256, size: the rule's params) and how (config
    ``download``: retries, timeout, backoff). The how does not change the file, so it is not
    in the params: raising ``download.timeout`` reruns nothing."""

    url: str
    sha256: str | None
    size: int | None
    retries: int
    timeout: float
    deadline: float
    backoff: float

    TRANSPORT = ("retries", "timeout", "deadline", "backoff")

    @classmethod
    def from_config(cls, config: Mapping[str, Any], path: str) -> DownloadSettings:
        """``path``: the download's path under ``{results}/downloads/`` (see
        :func:`isoclr.config.study.downloads`)."""
        table = downloads(config)
        if path not in table:
            raise ConfigError(f"no configured download is written to downloads/{path}")
        remote = table[path]
        how = {k: config["download"][k] for k in cls.TRANSPORT}
        return cls(**how, url=remote["url"], sha256=remote.get("sha256"), size=remote.get("size"))

    def job_params(self) -> dict[str, Any]:
        """What is fetched (the download rule's params)."""
        return {k: v for k, v in self.to_params().items() if k not in self.TRANSPORT}

    def transport(self) -> dict[str, Any]:
        """How it is fetched: keyword arguments of :func:`isoclr.download.fetch.fetch`."""
        return {k: getattr(self, k) for k in self.TRANSPORT}
