"""Checks of names that point at nothing (run on the schema-filled config): a task's species,
the evaluated tasks and the pre-trained models the encoders need; each error names the config
key at fault. Unknown keys and wrong types are the schema's (:func:`isoclr.config.load.fill`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isoclr.config.base import ConfigError, section
from isoclr.config.settings.homology import HomologySettings
from isoclr.config.study import eval_models, eval_tasks, pretrain_model_of


def check_references(config: Mapping[str, Any]) -> None:
    """Refuse names that point at nothing (a task's species, homology sources' species,
    evaluation tasks and encoders), each error naming the config key at fault."""
    species = section(config, "species")
    for task, spec in section(section(config, "tasks"), "datasets").items():
        if (spec or {}).get("kind") != "mrl_arrays" and (spec or {}).get("species") not in species:
            raise ConfigError(
                f"config tasks.datasets.{task}.species is {spec.get('species')!r}, which is not a "
                f"`species` entry (have: {', '.join(species) or 'none'})"
            )
    HomologySettings.from_config(config)
    tasks = eval_tasks(config)
    models = {m for t in tasks for m in eval_models(config, t)}
    for encoder, needs in (("isoclr", ("isoclr-linear", "isoclr-finetune", "supervised", "random-linear")),
                           ("mlm", ("mlm-linear",))):
        if models & set(needs):
            pretrain_model_of(config, encoder)
