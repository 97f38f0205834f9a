"""Settings of the store stage (rules/store.smk)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isoclr.config.base import Settings, lookup
from isoclr.config.study import annotation_format

#: the transcript filters (config ``filters``, overridden per species by ``species.NAME.filters``)
FILTERS = ("max_length", "chromosomes_include", "chromosomes_exclude", "biotypes", "strict")


@dataclass(frozen=True)
class StoreSettings(Settings):
    """One species store: its annotation format, transcript filters, aliases and provenance."""

    species: str
    format: str
    max_length: int
    chromosomes_include: tuple[str, ...]
    chromosomes_exclude: tuple[str, ...]
    biotypes: tuple[str, ...]
    strict: bool
    aliases: dict[str, str]
    provenance: dict[str, Any]
    #: transcript stores (``species.NAME.transcripts``): the gene map's columns, if one is given
    gene_map: dict[str, str | None] | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], species: str) -> StoreSettings:
        sp = lookup(config, "species", species)
        filters = {**config["filters"], **dict(sp.get("filters") or {})}
        provenance = {"taxid": sp.get("taxid", "")}
        if "genome" in sp:
            provenance["genome_url"] = sp["genome"]["url"]
        if "transcripts" in sp:
            provenance["transcripts_url"] = sp["transcripts"]["url"]
        if "annotation" in sp:
            provenance.update(annotation_url=sp["annotation"]["url"], annotation_version=sp["annotation"].get("version", ""))
        gm = sp.get("gene_map")
        return cls(
            species=species, format=annotation_format(config, species),
            **{k: tuple(v) if isinstance(v, list) else v for k, v in filters.items()},
            aliases=dict(sp.get("chrom_aliases") or {}), provenance=provenance,
            gene_map={"gene_column": gm.get("gene_column"), "name_column": gm.get("name_column")} if gm else None,
        )

    def filters(self) -> dict[str, Any]:
        """The transcript filters as keyword arguments of the store builders (not ``strict``)."""
        return {k: getattr(self, k) for k in FILTERS if k != "strict"}
