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
    #: species -> {file (a download.files name), entrez_column, gene_column} (taxon_groups sources)
    entrez_ids: dict[str, dict[str, str]]
    #: two species whose directly linked gene pairs are written (homology/orthologs.tsv)
    orthologs: tuple[str, ...]
    #: the sets with species kept apart (homology/sets.isoforms.h5): within-species sources only
    within_species: bool

    def to_params(self) -> dict[str, Any]:
        """The rule's params; the optional keys only when set (so configs without them keep
        their params, and their jobs are not rerun)."""
        p = super().to_params()
        for key in ("entrez_ids", "orthologs", "within_species"):
            if not p[key]:
                del p[key]
        return p

    @classmethod
    def from_config(cls, config: Mapping[str, Any], within_species: bool = False) -> HomologySettings:
        """The study's sets (``within_species``: the sets with species kept apart)."""
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
        entrez = {sp: dict(v) for sp, v in h["entrez_ids"].items()}
        orthologs = tuple(h.get("orthologs") or ())  # no default: absent = no ortholog table
        files = section(section(config, "download"), "files")
        for sp in [*entrez, *orthologs]:
            if sp not in species:
                raise ConfigError(f"config homology: species {sp!r} (entrez_ids / orthologs) is not a "
                                  f"`species` entry (have: {', '.join(species)})")
        for sp, spec in entrez.items():
            if spec.get("file") not in files:
                raise ConfigError(f"config homology.entrez_ids.{sp}.file is {spec.get('file')!r}, which "
                                  f"is not a download.files entry (have: {', '.join(files) or 'none'})")
        if within_species:
            sources = [src for src in sources if len(src.species) == 1]
        return cls(
            species=tuple(species), sources=tuple(sources),
            taxids={sp: int(c["taxid"]) for sp, c in species.items() if "taxid" in c},
            join_symbols=bool(h["join_symbols"]),
            max_genes_per_symbol=h["max_genes_per_symbol"],
            entrez_ids=entrez, orthologs=orthologs, within_species=within_species,
        )
