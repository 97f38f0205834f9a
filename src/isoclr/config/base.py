"""What every settings module shares: the config error, the settings base class, seeds and
small readers of the (schema-filled) config.

Imports nothing heavy and nothing of the library: the Snakefile imports it.
"""

from __future__ import annotations

import dataclasses
import difflib
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

#: Species, model, task, download-file and homology-source names (they become file names and
#: wildcard values): letters, digits, ``_``, ``-`` and ``.``, not starting with ``.``.
NAME_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"


class ConfigError(ValueError):
    """A config value is wrong or points at something that does not exist; names the key."""


def derive_seed(base: int, *parts: object) -> int:
    """A job's seed from the base seed and names (CRC32 of ``base|part|...``, 31 bits)."""
    text = "|".join(str(p) for p in (base, *parts))
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def section(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``config[key]`` as a dict (empty when absent or null)."""
    return dict(config.get(key) or {})


def suggest(key: str, valid: Sequence[str]) -> str:
    """``; did you mean 'X'?`` (the closest valid name), or the valid names when none is close."""
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else f" (valid: {', '.join(sorted(valid))})"


def lookup(config: Mapping[str, Any], path: str, name: str) -> Any:
    """``config[path][name]`` where ``path`` is dotted; a missing name is a :class:`ConfigError`
    naming the key and the names that exist."""
    node: Any = config
    for part in path.split("."):
        node = (node or {}).get(part) or {}
    if name not in node:
        have = ", ".join(sorted(node)) or "none"
        raise ConfigError(f"config {path} has no entry {name!r} (have: {have})")
    return node[name]


def plain(value: Any) -> Any:
    """Tuples -> lists, dataclasses -> dicts, recursively (YAML/JSON-safe params)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class Settings:
    """Shared by the stage dataclasses."""

    def to_params(self) -> dict[str, Any]:
        """Plain types (dicts, lists, numbers, strings) for a rule's params or a YAML file."""
        return plain(self)  # type: ignore[no-any-return]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str) -> Any:
        """Build from a mapping of every field (a section of the filled config), refusing
        unknown keys (named, with the closest valid one) and naming missing ones."""
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        for key in values:
            if key not in names:
                raise ConfigError(f"config {where}: unknown key {key!r}{suggest(key, names)}")
        missing = [n for n in names if n not in values]
        if missing:
            raise ConfigError(f"config {where}: missing {', '.join(missing)} (a section of the schema-filled config)")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**kwargs)


class DropTracksParams:
    """``drop_tracks`` appears in the params only when a track is dropped, so studies that drop
    none keep the params (and fingerprints) they have without the setting."""

    def to_params(self) -> dict[str, Any]:
        params = plain(self)
        if not params.get("drop_tracks"):
            params.pop("drop_tracks", None)
        return params  # type: ignore[no-any-return]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str) -> Any:
        """Back from :meth:`to_params`: no ``drop_tracks`` there means none is dropped."""
        return super().from_mapping({"drop_tracks": (), **values}, where)  # type: ignore[misc]


def base_seed(config: Mapping[str, Any]) -> int:
    return int(config.get("seed", 0))


def resolve_seed(config: Mapping[str, Any], value: int | None) -> int:
    """A section's seed: ``value``, or the top-level seed when null."""
    return base_seed(config) if value is None else int(value)
