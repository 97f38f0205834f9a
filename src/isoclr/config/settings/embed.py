"""Settings of the embedding jobs (rules/evaluate.smk: embed_task)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isoclr.config.base import ConfigError, DropTracksParams, Settings, base_seed, derive_seed, lookup
from isoclr.config.registry import BUILTIN_ENCODERS, PRETRAINED_PREFIX
from isoclr.config.settings.pretrain import encoder_architecture
from isoclr.config.study import drop_tracks, eval_encoders, evaluation, pretrain_model_of


@dataclass(frozen=True)
class EmbedSettings(DropTracksParams, Settings):
    """One embedding job (encoder x task): batch size, device, and for the random encoder its
    architecture and seed, for an external encoder its settings."""

    encoder: str
    batch_size: int
    device: str
    model_cfg: dict[str, Any] | None
    seed: int
    external: dict[str, Any] | None
    #: tracks zeroed in the encoder's input (config ``encoding.drop_tracks``; torch encoders only)
    drop_tracks: tuple[str, ...]

    @classmethod
    def from_config(cls, config: Mapping[str, Any], encoder: str) -> EmbedSettings:
        ev = evaluation(config)
        kw: dict[str, Any] = {"batch_size": int(ev["embed_batch_size"]), "device": str(ev["device"]),
                              "model_cfg": None, "seed": 0, "external": None, "drop_tracks": ()}
        if encoder == "random":
            kw["model_cfg"] = encoder_architecture(config, pretrain_model_of(config, "random"))
            kw["seed"] = derive_seed(base_seed(config), "random-encoder")
        elif encoder.startswith("external-"):
            name = encoder.removeprefix("external-")
            kw["external"] = dict(lookup(config, "evaluation.external", name))
            kw["seed"] = base_seed(config)
        elif encoder.startswith(PRETRAINED_PREFIX):
            pretrain_model_of(config, encoder)  # names a pretrain.models entry (its checkpoint is the input)
        elif encoder not in BUILTIN_ENCODERS:
            raise ConfigError(f"unknown encoder {encoder!r} (expected one of {eval_encoders(config)})")
        if encoder != "naive" and not encoder.startswith("external-"):  # torch encoders read the tracks
            kw["drop_tracks"] = drop_tracks(config)
        return cls(encoder=encoder, **kw)

    def job_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`isoclr.evaluate.jobs.embed_task` besides the encoder."""
        return {k: v for k, v in self.to_params().items() if k != "encoder"}
