"""Settings of the figures stage (rules/figures.smk)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isoclr.config.base import ConfigError, Settings, resolve_seed, suggest
from isoclr.config.registry import FIGURES, TSNE_FIGURES
from isoclr.config.settings.pretrain import PretrainSettings
from isoclr.config.study import eval_fractions, eval_models, eval_tasks, pretrained_linear_models
from isoclr.pretrain.architecture import encoder_parameters  # torch-free


def size_encoders(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """fig_model_sizes: each pre-trained model's linear probe evaluated on the half-life or MRL
    task -> its model, size, objective and encoder parameters (from the architecture)."""
    f = config["figures"]
    tasks = [t for t in (f["halflife_task"], f["mrl_task"]) if t in eval_tasks(config)]
    evaluated = {m for t in tasks for m in eval_models(config, t)}
    out: dict[str, dict[str, Any]] = {}
    for probe, model in pretrained_linear_models(config).items():
        if probe not in evaluated:
            continue
        s = PretrainSettings.from_config(config, model)
        out[probe] = {"model": model, "size": s.size, "objective": s.objective,
                      "parameters": encoder_parameters(s.arch_config())}
    return out


@dataclass(frozen=True)
class FigureSettings(Settings):
    """One figure: its options for :func:`isoclr.figures.draw.draw` (task, dpi, t-SNE settings, the
    size figure's encoders) and the study's scale (``study``, ``demo_below``: a figure of the
    demo study, or whose largest training set has fewer than ``demo_below`` rows, says on
    itself that it is demo-sized; both are params, so the figure reruns when they change).
    Fields a figure does not use are None."""

    name: str
    dpi: int
    task: str | None
    max_per_class: int | None
    seed: int | None
    #: t-SNE: the GO aspect of the title, and how many of the task's most frequent terms colour it
    aspect: str | None
    classes: int | None
    #: fig_model_sizes: its tasks (half-life, MRL), the fraction drawn, and per evaluated model
    #: its pre-trained model, size, objective and encoder parameters (isoclr.pretrain.architecture)
    tasks: tuple[str, ...] | None
    fraction: float | None
    encoders: dict[str, dict[str, Any]] | None
    study: str
    demo_below: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any], figure: str) -> FigureSettings:
        f = config["figures"]
        unused = dict.fromkeys(("task", "max_per_class", "seed", "aspect", "classes", "tasks", "fraction", "encoders"))
        scale = {"dpi": int(f["dpi"]), "study": str(config.get("study", "")), "demo_below": int(f["demo_below"])}
        if figure.startswith("pretrain_curves_"):
            return cls(name="fig_pretrain_curves", **unused, **scale)
        if figure not in FIGURES:
            raise ConfigError(f"unknown figure {figure!r}{suggest(figure, FIGURES)}")
        if figure in TSNE_FIGURES:
            key, aspect = TSNE_FIGURES[figure]
            return cls(name=figure, **{**unused, "task": str(f[key]), "max_per_class": int(f["tsne_max_per_class"]),
                                       "seed": resolve_seed(config, f["seed"]), "aspect": aspect,
                                       "classes": int(f["tsne_classes"])}, **scale)
        if figure == "fig_model_sizes":
            fractions = [float(x) for x in eval_fractions(config)]
            return cls(name=figure, **{**unused, "tasks": (str(f["halflife_task"]), str(f["mrl_task"])),
                                       "fraction": max(fractions), "encoders": size_encoders(config)}, **scale)
        key = {"fig2a_go_linear_probe": "go_task", "fig_mrl_linear_probe_comparison": "mrl_task",
               "fig_halflife_mouse": "mouse_halflife_task"}.get(figure, "halflife_task")
        return cls(name=figure, **{**unused, "task": str(f[key])}, **scale)

    def options(self) -> dict[str, Any]:
        """Keyword options of :func:`isoclr.figures.draw.draw`."""
        return {k: v for k, v in self.to_params().items() if k != "name" and v is not None}
