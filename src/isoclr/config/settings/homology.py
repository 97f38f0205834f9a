"""Settings of the homology stage (rules/homology.smk)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isoclr.config.base import ConfigError, Settings, section


@dataclass(frozen=True)
class HomologySource(Settings):
    name: str
    format: str
    species: tuple[str, ...]


@dataclass(frozen=True)
class HomologySettings(Settings):
    """Transcript sets: the species (store order), homology tables and symbol joining."""

    species: tuple[str, ...]
    sources: tuple[HomologySource, ...]
    taxids: dict[str, int]
    join_symbols: bool
    max_genes_per_symbol: int | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HomologySettings:
        h = config["homology"]
        species = section(config, "species")
        sources = []
        for name, src in h["sources"].items():
            for sp in src["species"]:
                if sp not in species:
                    raise ConfigError(
                        f"config homology.sources.{name}.species names {sp!r}, which is not a "
                        f"`species` entry (have: {', '.join(species)})"
                    )
            sources.append(HomologySource(name, src["format"], tuple(src["species"])))
        return cls(
            species=tuple(species), sources=tuple(sources),
            taxids={sp: int(c["taxid"]) for sp, c in species.items() if "taxid" in c},
            join_symbols=bool(h["join_symbols"]),
            max_genes_per_symbol=h["max_genes_per_symbol"],
        )
