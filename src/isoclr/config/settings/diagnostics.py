"""Settings of the diagnostics jobs (rules/diagnostics.smk: diagnostics)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isoclr.config.base import ConfigError, DropTracksParams, Settings, base_seed, section
from isoclr.config.settings.embed import EmbedSettings
from isoclr.config.study import evaluation


@dataclass(frozen=True)
class DiagnosticsSettings(DropTracksParams, Settings):
    """One diagnostics job (an encoder on the study's held-out data,
    :func:`isoclr.diagnostics.run.run_diagnostics`): the encoder as the embedding jobs build
    it, the tracks it reads, and the sample sizes. ``sample_seed`` (the study's seed) picks the
    same held-out transcripts and pairs for every encoder."""

    encoder: str
    model_cfg: dict[str, Any] | None
    seed: int
    sample_seed: int
    batch_size: int
    device: str
    drop_tracks: tuple[str, ...]
    max_transcripts: int
    max_pairs: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any], encoder: str) -> DiagnosticsSettings:
        d = section(config, "diagnostics")
        ev = evaluation(config)
        kw: dict[str, Any] = {"max_transcripts": int(d["max_transcripts"]), "max_pairs": int(d["max_pairs"]),
                              "sample_seed": base_seed(config), "batch_size": int(ev["embed_batch_size"]),
                              "device": str(ev["device"]), "model_cfg": None, "seed": 0, "drop_tracks": ()}
        if encoder.startswith("external-"):
            raise ConfigError(f"config diagnostics.encoders: {encoder!r}: external encoders are not diagnosed")
        if encoder != "naive":
            e = EmbedSettings.from_config(config, encoder)
            kw.update(model_cfg=e.model_cfg, seed=e.seed, drop_tracks=e.drop_tracks)
        return cls(encoder=encoder, **kw)
