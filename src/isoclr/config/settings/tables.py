"""Settings of the tables stage (rules/tables.smk)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isoclr.config.base import Settings
from isoclr.config.registry import PAPER_SIZES, PRETRAINED_PREFIX
from isoclr.config.study import eval_models, eval_tasks, evaluation


@dataclass(frozen=True)
class TablesSettings(Settings):
    """The study tables (isoclr.tables.summary): which of this study's models plays each model the paper
    reports on (``models``: role -> model name), which tasks are its half-life and MRL tasks."""

    study: str
    models: dict[str, str]
    tasks: dict[str, str]
    note: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TablesSettings:
        f = config["figures"]
        evaluated = set(eval_tasks(config))
        tasks = {role: str(f[key]) for role, key in (("halflife", "halflife_task"), ("mrl", "mrl_task"))
                 if f.get(key) in evaluated}
        names = {m for t in evaluated for m in eval_models(config, t)}
        ev = evaluation(config)
        models: dict[str, str] = {}
        notes = []
        entries = config["pretrain"]["models"]
        for m, entry in entries.items():
            name = "isoclr-linear" if m == ev["isoclr_model"] else f"{PRETRAINED_PREFIX}{m}-linear"
            if entry["objective"] != "mlm" and entry["size"] in PAPER_SIZES and name in names:
                models.setdefault(f"isoclr_{entry['size']}", name)
        if "isoclr_small" not in models and "isoclr-linear" in names:
            head = ev["isoclr_model"]
            models["isoclr_small"] = "isoclr-linear"
            notes.append(f"IsoCLR small is played by {head} (size {entries[head]['size']}), not the paper's model.")
        for role, name in (("saluki", "saluki"), ("isoclr_finetune", "isoclr-finetune"), ("random", "random-linear")):
            if name in names:
                models[role] = name
        for ext, spec in ev["external"].items():
            if str(spec["source"]).rstrip("/").endswith("rnafm") and f"external-{ext}-linear" in names:
                models.setdefault("rnafm", f"external-{ext}-linear")
        study = str(config.get("study", ""))
        if study == "demo":
            notes.append("Demo-sized data (a few dozen genes): not comparable with the paper.")
        return cls(study=study, models=models, tasks=tasks, note=" ".join(notes))
