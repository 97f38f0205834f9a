"""Settings of the splits stage (rules/splits.smk)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isoclr.config.base import Settings, resolve_seed


@dataclass(frozen=True)
class SplitsSettings(Settings):
    """Leakage-free splits: target fractions, what they count, and the seed (resolved)."""

    fractions: dict[str, float]
    weight: str
    seed: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SplitsSettings:
        s = config["splits"]
        return cls(fractions=dict(s["fractions"]), weight=str(s["weight"]), seed=resolve_seed(config, s["seed"]))
