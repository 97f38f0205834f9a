"""Settings of the pre-training stage (rules/pretrain.smk)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isoclr.config.base import ConfigError, Settings, base_seed, lookup, plain, section, suggest
from isoclr.config.study import drop_tracks
from isoclr.core.encoding import check_drop_tracks  # numpy only
from isoclr.pretrain.architecture import ARCH_KEYS as _ALL_ARCH_KEYS  # torch-free

#: architecture keys of a model entry (isoclr.pretrain.architecture.ARCH_KEYS less in_channels)
ARCH_KEYS = tuple(k for k in _ALL_ARCH_KEYS if k != "in_channels")


@dataclass(frozen=True)
class PretrainSettings(Settings):
    """One pre-training run (config ``pretrain.models.NAME``, filled from config/schema.yaml).

    ``architecture`` holds the keys given for the encoder (``size`` preset plus overrides);
    :func:`isoclr.pretrain.model.resolve_config` turns them into the full architecture.
    """

    name: str
    objective: str
    size: str
    architecture: dict[str, Any]
    seed: int
    batch_size: int
    accumulate: int
    #: optimiser steps; None: ``epochs`` x steps per epoch of the training sets actually built
    #: (the job's training split), or DEFAULT_STEPS when neither is given. Given, it wins.
    steps: int | None
    epochs: float | None
    lr: float
    weight_decay: float
    betas: tuple[float, float]
    schedule: str
    warmup_steps: int | None
    warmup_epochs: float | None
    decay_fraction: float
    min_lr_ratio: float
    temperature: float
    weight_c: float
    mask_prob: float
    grad_clip: float
    amp: str | bool
    compile: bool
    device: str
    num_workers: int
    bucket: bool
    chunk_batches: int
    length_groups: int
    log_every: int
    progress_every: int  # a progress line in the log (steps, loss, nt/s, ETA) every this many steps
    val_every: int
    val_batches: int
    checkpoint_every: int
    keep_checkpoints: int
    mlm_hidden: int
    threads: int | None
    #: the species whose transcripts the model trains on (empty: every species)
    species: tuple[str, ...]
    #: its sets: ``orthology`` (species joined by the homology sources) or ``isoforms``
    #: (species kept apart); both on the study's one split (isoclr.splits.assign.subset_sets)
    homology: str
    #: tracks zeroed in every input (config ``encoding.drop_tracks``, one setting for the study)
    drop_tracks: tuple[str, ...]
    #: data paths (the rule passes its inputs; the CLI its options); not part of the params
    sets: str | None
    splits: str | None
    stores: dict[str, str] | None

    #: what a null ``steps`` / ``warmup_steps`` means without epochs (config/schema.yaml says so)
    DEFAULT_STEPS = 200
    DEFAULT_WARMUP_STEPS = 20
    OBJECTIVES = ("dcl", "ntxent", "mlm")
    SCHEDULES = ("sqrt", "cosine", "constant")
    #: fields that are where the data lie or how fast it runs, not what is trained; left out of
    #: the rule's params (paths are its inputs) and of the resume fingerprint
    NOT_TRAINING = ("sets", "splits", "stores", "threads", "keep_checkpoints", "name", "species", "homology")
    HOMOLOGY = ("orthology", "isoforms")

    def __post_init__(self) -> None:
        where = f"pretrain.models.{self.name}"
        if self.objective not in self.OBJECTIVES:
            raise ConfigError(f"config {where}.objective must be one of {self.OBJECTIVES}, got {self.objective!r}")
        if self.homology not in self.HOMOLOGY:
            raise ConfigError(f"config {where}.homology must be one of {self.HOMOLOGY}, got {self.homology!r}")
        if self.schedule not in self.SCHEDULES:
            raise ConfigError(f"config {where}.schedule must be one of {self.SCHEDULES}, got {self.schedule!r}")
        for key in ("batch_size", "accumulate", "steps"):
            if getattr(self, key) is not None and int(getattr(self, key)) < 1:
                raise ConfigError(f"config {where}.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("epochs", "warmup_epochs"):
            if getattr(self, key) is not None and float(getattr(self, key)) < 0:
                raise ConfigError(f"config {where}.{key} must be >= 0, got {getattr(self, key)}")

    def schedule_steps(self, steps_per_epoch: int) -> tuple[int, int]:
        """(total steps, warm-up steps) for ``steps_per_epoch`` optimiser steps per epoch (the
        job's training sets / batch): an explicit ``steps`` / ``warmup_steps`` wins, else
        ``epochs`` / ``warmup_epochs`` x steps per epoch (rounded up, at least 1), else the
        defaults (200, 20)."""
        spe = max(1, int(steps_per_epoch))
        if self.steps is not None:
            total = int(self.steps)
        elif self.epochs is not None:
            total = max(1, math.ceil(float(self.epochs) * spe))
        else:
            total = self.DEFAULT_STEPS
        if self.warmup_steps is not None:
            warmup = int(self.warmup_steps)
        elif self.warmup_epochs is not None:
            warmup = math.ceil(float(self.warmup_epochs) * spe)
        else:
            warmup = self.DEFAULT_WARMUP_STEPS
        return total, min(warmup, total)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], name: str, seed: int = 0, results: str = "results") -> PretrainSettings:
        """A model entry (as in ``pretrain.models.NAME``) -> settings, seed and paths resolved.

        Keys the entry lacks are filled from the schema (``$defs/pretrain_model``); an entry
        of the filled config, or a rule's params, has them all already."""
        entry = dict(entry or {})
        drop = check_drop_tracks(entry.pop("drop_tracks", None) or ())  # the study's, not the entry's
        names = [f.name for f in dataclasses.fields(cls) if f.name != "drop_tracks"]
        for key in entry:
            if key not in names and key not in ARCH_KEYS and key not in ("model", "architecture"):
                raise ConfigError(
                    f"config pretrain.models.{name}: unknown key {key!r}{suggest(key, names + list(ARCH_KEYS))}"
                )
        if any(f not in entry for f in names if f not in ("name", "architecture")):
            from isoclr.config.load import fill_model_entry  # the schema's defaults

            entry = fill_model_entry(entry)
        arch = dict(entry.pop("architecture", None) or entry.pop("model", None) or {})
        arch.pop("size", None)
        arch.pop("in_channels", None)
        for key in ARCH_KEYS:
            if key in entry:
                arch[key] = entry.pop(key)
        entry["name"] = name
        entry["seed"] = seed if entry.get("seed") is None else int(entry["seed"])
        entry["sets"] = entry.get("sets") or str(Path(results) / "homology" / "sets.h5")
        entry["splits"] = entry.get("splits") or str(Path(results) / "splits" / "splits.tsv")
        entry["betas"] = tuple(float(b) for b in entry["betas"])
        entry["species"] = tuple(entry["species"])
        return cls(**entry, drop_tracks=drop, architecture={k: plain(v) for k, v in arch.items() if v is not None})

    @classmethod
    def from_config(cls, config: Mapping[str, Any], model: str | None = None) -> PretrainSettings:
        models = section(section(config, "pretrain"), "models")
        if not models:
            raise ConfigError("config pretrain.models is empty (no model to pre-train)")
        if model is None:
            if len(models) > 1:
                raise ConfigError(f"config pretrain.models has several models ({', '.join(models)}); pick one with --model")
            model = next(iter(models))
        entry = lookup(config, "pretrain.models", model)
        if "results" in config:
            results = config["results"]
        else:  # a config not filled by the loader: the schema's default
            from isoclr.config.load import schema

            results = schema()["properties"]["results"]["default"]
        s = cls.from_entry(entry, model, base_seed(config), str(results))
        return s.replace(drop_tracks=drop_tracks(config))

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **extra: Any) -> PretrainSettings:
        """Back from :meth:`job_params` (a rule's params), with the data paths added."""
        d = {**dict(params), **extra}
        name = str(d.pop("name", "model"))
        return cls.from_entry(d, name, seed=int(d.get("seed") or 0))

    def job_params(self) -> dict[str, Any]:
        """Every setting of the job but its data paths and threads (the rule's inputs and
        threads): the pretrain rule's params."""
        from isoclr.config.load import fill_model_entry

        p = {k: v for k, v in self.to_params().items() if k not in ("sets", "splits", "stores", "threads")}
        default = fill_model_entry({})
        for key in ("species", "homology"):  # data: in the params only when not the schema's default
            if p[key] == default[key]:
                del p[key]
        if not p["drop_tracks"]:  # in the params only when a track is dropped
            del p["drop_tracks"]
        return p

    def arch_config(self) -> dict[str, Any]:
        """The architecture keys for :func:`isoclr.pretrain.model.resolve_config`."""
        return {"size": self.size, **self.architecture}

    def training(self) -> dict[str, Any]:
        """Every setting that shapes the trained weights (rule params, resume fingerprint)."""
        out = {k: v for k, v in self.to_params().items() if k not in self.NOT_TRAINING}
        if not out["drop_tracks"]:  # runs that drop no track keep the fingerprint they had
            del out["drop_tracks"]
        return out

    def replace(self, **changes: Any) -> PretrainSettings:
        return dataclasses.replace(self, **changes)


def encoder_architecture(config: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The architecture keys (size + overrides) of ``pretrain.models.MODEL``: only these, so
    a supervised or random job does not depend on the pre-training's learning rate."""
    return PretrainSettings.from_config(config, model).arch_config()
