"""The pipeline's ``variants`` section (rules/variants.smk; defaults in config/schema.yaml).

``variants.vcfs`` names VCF files, each on one ``species`` (its genome and annotation); every
entry is one target, ``results/<study>/variants/<name>.tsv``, scored with the checkpoint of
``variants.model`` (a ``pretrain.models`` name; null: the one ``evaluation.isoclr_model`` names)
and the fine-tuned heads listed in ``variants.heads``. Standard library only (the Snakefile
imports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from isoclr.config.base import ConfigError
from isoclr.config.study import eval_tasks, kept_head_parts, kept_head_path, pretrain_model_of, pretrain_models


def section(config: Mapping[str, Any]) -> dict[str, Any]:
    return dict(config.get("variants") or {})


def vcf_names(config: Mapping[str, Any]) -> list[str]:
    """The ``variants.vcfs`` entries, in config order."""
    return list(section(config).get("vcfs") or {})


def variant_species(config: Mapping[str, Any]) -> list[str]:
    """Species with at least one VCF (each needs a random-access copy of its genome)."""
    vcfs = section(config).get("vcfs") or {}
    return list(dict.fromkeys(str(v["species"]) for v in vcfs.values()))


def model_of(config: Mapping[str, Any]) -> str:
    """The ``pretrain.models`` entry whose encoder embeds the transcripts."""
    name = section(config).get("model")
    if name is None:
        return pretrain_model_of(config, "isoclr")
    if name not in pretrain_models(config):
        raise ConfigError(f"config variants.model is {name!r}, which is not a `pretrain.models` entry "
                          f"(have: {', '.join(pretrain_models(config)) or 'none'})")
    return str(name)


def head_folder(config: Mapping[str, Any], head: str) -> str:
    """A ``variants.heads`` entry as a folder: ``TASK/MODEL`` (TASK an evaluated task) is the
    head the study keeps for that task and network model; anything else is a folder path."""
    task, sep, rest = head.partition("/")
    if sep and "/" not in rest and task in eval_tasks(config):
        return kept_head_path(config, *kept_head_parts(config, head, "variants.heads"))
    return head


@dataclass
class VariantsSettings:
    """One VCF's job: what it reads and how it scores."""

    name: str
    vcf: str
    species: str
    model: str
    heads: list[str] = field(default_factory=list)
    max_indel: int = 50
    batch_size: int = 64

    @classmethod
    def from_config(cls, config: Mapping[str, Any], name: str) -> VariantsSettings:
        s = section(config)
        vcfs = s.get("vcfs") or {}
        if name not in vcfs:
            raise ConfigError(f"config variants.vcfs has no entry {name!r} (have: {', '.join(vcfs) or 'none'})")
        spec = vcfs[name]
        species = config.get("species") or {}
        if spec["species"] not in species:
            raise ConfigError(f"config variants.vcfs.{name}.species is {spec['species']!r}, which is not a "
                              f"`species` entry (have: {', '.join(species) or 'none'})")
        if "genome" not in species[spec["species"]]:
            raise ConfigError(f"config variants.vcfs.{name}: species {spec['species']!r} has no genome (a "
                              "transcript FASTA cannot place variants)")
        return cls(name=name, vcf=str(spec["path"]), species=str(spec["species"]), model=model_of(config),
                   heads=[head_folder(config, str(h)) for h in s.get("heads") or []], max_indel=int(s.get("max_indel", 50)),
                   batch_size=int(s.get("batch_size", 64)))

    def to_params(self) -> dict[str, Any]:
        return asdict(self)


def check(config: Mapping[str, Any]) -> None:
    """Every ``variants`` reference resolves (ConfigError naming the key otherwise)."""
    for name in vcf_names(config):
        VariantsSettings.from_config(config, name)
