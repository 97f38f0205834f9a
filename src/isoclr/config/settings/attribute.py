"""Settings of the attribution jobs (rules/attribute.smk: attribute), one per kept head named in
config ``attribute.heads`` (``TASK/MODEL``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isoclr.config.base import DropTracksParams, Settings, section
from isoclr.config.study import drop_tracks, kept_head_parts


def attribute_heads(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(task, model) of every head config ``attribute.heads`` names, each checked to be kept."""
    names = [str(h) for h in section(config, "attribute").get("heads") or []]
    return [kept_head_parts(config, h, "attribute.heads") for h in names]


@dataclass(frozen=True)
class AttributeSettings(DropTracksParams, Settings):
    """One head's attributions (:func:`isoclr.attribute.job.attribute_job`): the transcripts
    (the first ``transcripts`` test rows of fold 0, or ``ids``), how many are drawn
    (``figures``), the methods and their costs, and the tracks the study zeroes (the head never
    saw them)."""

    task: str
    model: str
    transcripts: int
    figures: int
    ids: tuple[str, ...]
    methods: tuple[str, ...]
    ig_steps: int
    batch_tokens: int
    output: str | None
    drop_tracks: tuple[str, ...]

    @classmethod
    def from_config(cls, config: Mapping[str, Any], task: str, model: str) -> AttributeSettings:
        a = section(config, "attribute")
        return cls(task=task, model=model, transcripts=int(a["transcripts"]), figures=int(a["figures"]), ids=tuple(str(i) for i in a["ids"]),
                   methods=tuple(str(m) for m in a["methods"]), ig_steps=int(a["ig_steps"]),
                   batch_tokens=int(a["batch_tokens"]), output=None if a["output"] is None else str(a["output"]),
                   drop_tracks=drop_tracks(config))
