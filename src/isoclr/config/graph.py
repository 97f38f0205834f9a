"""The study's job graph beyond the evaluation grid (:mod:`isoclr.config.study`): which
evaluation tables each figure draws, the embeddings the study builds (linear models and t-SNE
figures) and the tasks it builds. The rules' input and target lists, ``isoclr plan`` and
``isoclr cost`` all count jobs with these functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isoclr.config.registry import FIGURE_MODELS, NETWORK_MODELS, SIZE_REFERENCES, TSNE_FIGURES
from isoclr.config.settings.figures import FigureSettings
from isoclr.config.study import eval_folds, eval_fractions, eval_models, eval_tasks, model_fractions, task_names


def figure_jobs(config: Mapping[str, Any], figure: str) -> list[tuple[str, str, str, int]]:
    """The evaluation jobs (task, model, fraction, fold) whose tables a metrics figure draws."""
    s = FigureSettings.from_config(config, figure)
    if figure == "fig_model_sizes":
        wanted = set(s.encoders or {}) | set(SIZE_REFERENCES)
        return [(t, m, x, k) for t in (s.tasks or ()) if t in eval_tasks(config)
                for m in eval_models(config, t) if m in wanted
                for x in model_fractions(config, m) if float(x) == s.fraction for k in eval_folds(config)]
    if s.task is None or s.task not in eval_tasks(config) or figure in TSNE_FIGURES:
        return []
    wanted = FIGURE_MODELS[figure]
    models = [m for m in eval_models(config, s.task)
              if ((m.endswith("-linear") or m == "saluki") if wanted is None else m in wanted)]
    fractions = eval_fractions(config)
    if wanted is None and "1.0" in fractions:
        fractions = ["1.0"]  # the comparison figure shows the full training set only
    return [(s.task, m, f, k) for m in models for f in fractions if f in model_fractions(config, m)
            for k in eval_folds(config)]


def tsne_jobs(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(encoder, task) of the embeddings the configured t-SNE figures (figures.names) read."""
    f = config["figures"]
    out = []
    for name in f["names"]:
        if name in TSNE_FIGURES and (str(f["tsne_encoder"]), str(f[TSNE_FIGURES[name][0]])) not in out:
            out.append((str(f["tsne_encoder"]), str(f[TSNE_FIGURES[name][0]])))
    return out


def embedding_jobs(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every embedding the study builds, (encoder, task): one per linear model of each
    evaluated task, plus those of the configured t-SNE figures."""
    out = []
    for task in eval_tasks(config):
        for model in eval_models(config, task):
            if model not in NETWORK_MODELS and (model.removesuffix("-linear"), task) not in out:
                out.append((model.removesuffix("-linear"), task))
    return out + [job for job in tsne_jobs(config) if job not in out]


def built_tasks(config: Mapping[str, Any]) -> list[str]:
    """The tasks the study builds: the evaluated ones and the t-SNE figures' (in config order)."""
    used = set(eval_tasks(config)) | {task for _, task in embedding_jobs(config)}
    return [t for t in task_names(config) if t in used]
