"""Settings of the tasks stage (rules/tasks.smk)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isoclr.config.base import ConfigError, Settings, lookup, resolve_seed, section


@dataclass(frozen=True)
class TaskStageSettings(Settings):
    """Folds, fractions and seed shared by every task (config ``tasks``), plus one task's spec."""

    name: str
    spec: dict[str, Any]
    n_folds: int
    fractions: tuple[float, ...]
    min_train: int
    seed: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any], task: str) -> TaskStageSettings:
        t = config["tasks"]
        spec = dict(lookup(config, "tasks.datasets", task))
        if spec["kind"] != "mrl_arrays" and spec.get("species") not in section(config, "species"):
            raise ConfigError(
                f"config tasks.datasets.{task}.species is {spec.get('species')!r}, which is not a "
                f"`species` entry (have: {', '.join(section(config, 'species'))})"
            )
        return cls(
            name=task, spec=spec, n_folds=int(t["n_folds"]), fractions=tuple(float(f) for f in t["fractions"]),
            min_train=int(t["min_train"]), seed=resolve_seed(config, t["seed"]),
        )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TaskStageSettings:
        """Back from :meth:`to_params` (the task rule's params)."""
        p = dict(params)
        return cls(name=str(p["name"]), spec=dict(p["spec"]), n_folds=int(p["n_folds"]),
                   fractions=tuple(float(f) for f in p["fractions"]), min_train=int(p["min_train"]),
                   seed=int(p["seed"]))
