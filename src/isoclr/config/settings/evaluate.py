"""Settings of the evaluation jobs (rules/evaluate.smk: evaluate_linear, evaluate_network)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isoclr.config.base import DropTracksParams, Settings, base_seed, derive_seed
from isoclr.config.registry import NETWORK_MODELS
from isoclr.config.settings.pretrain import encoder_architecture
from isoclr.config.study import drop_tracks, evaluation, pretrain_model_of


@dataclass(frozen=True)
class ProbeSettings(Settings):
    """The linear probes' grids (config ``evaluation.probe``)."""

    alphas: tuple[float, ...]
    Cs: tuple[float, ...]


@dataclass(frozen=True)
class FinetuneSettings(Settings):
    """The trainer of isoclr-finetune, supervised and saluki (config ``evaluation.finetune``,
    with ``finetune_by_model`` over it)."""

    max_epochs: int
    patience: int
    lr: float
    weight_decay: float
    batch_size: int
    grad_clip: float
    head_dropout: float
    amp: bool


@dataclass(frozen=True)
class SalukiSettings(Settings):
    """Saluki's widths (config ``evaluation.saluki``)."""

    channels: int
    width: int
    blocks: int
    gru: int
    hidden: int
    dropout: float


@dataclass(frozen=True)
class EvaluationSettings(DropTracksParams, Settings):
    """One evaluation job (task x model): exactly the settings that model uses.

    Linear probes: ``probe`` only. Networks: ``finetune`` (with ``finetune_by_model``), seed,
    device, and the architecture (supervised) or Saluki widths (saluki).
    """

    task: str
    model: str
    probe: ProbeSettings | None
    finetune: FinetuneSettings | None
    saluki: SalukiSettings | None
    model_cfg: dict[str, Any] | None
    seed: int
    device: str
    #: tracks zeroed in the network's input (config ``encoding.drop_tracks``; networks only)
    drop_tracks: tuple[str, ...]

    @classmethod
    def from_config(cls, config: Mapping[str, Any], task: str, model: str) -> EvaluationSettings:
        ev = evaluation(config)
        none: dict[str, Any] = {"probe": None, "finetune": None, "saluki": None, "model_cfg": None,
                                "drop_tracks": ()}
        if model not in NETWORK_MODELS:
            probe = ProbeSettings.from_mapping(ev["probe"], "evaluation.probe")
            # seed and device are not a probe's: fixed values, so the probe jobs' params stay put
            return cls(task=task, model=model, **{**none, "probe": probe}, seed=0, device="auto")
        tune = {**ev["finetune"], **(ev.get("finetune_by_model") or {}).get(model, {})}
        kw: dict[str, Any] = {
            **none,
            "finetune": FinetuneSettings.from_mapping(tune, f"evaluation.finetune ({model})"),
            "seed": derive_seed(base_seed(config), task, model),
            "device": str(ev["device"]),
            "drop_tracks": drop_tracks(config),
        }
        if model == "supervised":
            kw["model_cfg"] = encoder_architecture(config, pretrain_model_of(config, "isoclr"))
        elif model == "saluki":
            kw["saluki"] = SalukiSettings.from_mapping(ev["saluki"], "evaluation.saluki")
        return cls(task=task, model=model, **kw)

    def job_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`isoclr.evaluate.jobs.run_job` (plain types)."""
        p = self.to_params()
        keys = ("probe", "finetune", "saluki", "model_cfg", "seed", "device", "drop_tracks")
        return {k: p[k] for k in keys if p.get(k) is not None}
