"""Every pre-trained model is evaluated (issue 10, item 2): the grid is models x tasks x
fractions x runs for every pretrain.models entry, plus the baselines."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from isoclr.config import graph
from isoclr.config import study as S
from isoclr.config.base import ConfigError
from isoclr.config.load import load_config
from isoclr.config.settings.embed import EmbedSettings
from isoclr.config.settings.tables import TablesSettings
from isoclr.evaluate.jobs import parse_model

ROOT = Path(__file__).resolve().parents[1]
PAPER = load_config([ROOT / "config" / "paper.yaml"])


def _encoder_model(config: dict, model: str) -> str | None:
    """The pretrain.models entry behind a linear-probe model (None: not a pre-trained one)."""
    kind, enc = parse_model(model)
    if kind != "linear" or enc in ("random", "naive") or enc.startswith("external-"):
        return None
    return S.pretrain_model_of(config, enc)


def test_paper_grid_covers_every_pretrained_model_task_fraction_run() -> None:
    jobs = S.eval_jobs(PAPER)
    fractions, runs = set(S.eval_fractions(PAPER)), set(S.eval_folds(PAPER))
    assert runs == {0, 1, 2} and len(fractions) == 6
    linear_tasks = [t for t in S.eval_tasks(PAPER) if any(m.endswith("-linear") for m in S.eval_models(PAPER, t))]
    for model in PAPER["pretrain"]["models"]:  # small, medium, large and the MLM ablation
        for task in linear_tasks:
            cells = {(f, k) for t, m, f, k in jobs if t == task and _encoder_model(PAPER, m) == model}
            assert cells == {(f, k) for f in fractions for k in runs}, (model, task)
    names = {m for _, m, _, _ in jobs}
    assert {"pretrained-isoclr_medium-linear", "pretrained-isoclr_large-linear", "isoclr-linear",
            "mlm-linear", "random-linear", "naive-linear", "supervised", "saluki", "isoclr-finetune"} <= names
    assert "pretrained-isoclr_small-linear" not in names  # isoclr_small is isoclr-linear: not twice
    assert set(S.eval_encoders(PAPER)) >= {"pretrained-isoclr_medium", "pretrained-isoclr_large"}


def test_pretrained_token_follows_the_models_of_the_config() -> None:
    cfg = copy.deepcopy(PAPER)
    cfg["pretrain"]["models"]["isoclr_xl"] = {"objective": "dcl", "size": "large"}
    assert "pretrained-isoclr_xl-linear" in S.eval_models(cfg, "halflife_human")
    del cfg["pretrain"]["models"]["isoclr_large"]
    assert "pretrained-isoclr_large-linear" not in S.eval_models(cfg, "halflife_human")
    assert S.pretrain_model_of(cfg, "pretrained-isoclr_xl") == "isoclr_xl"
    with pytest.raises(ConfigError, match="pretrain.models"):
        EmbedSettings.from_config(cfg, "pretrained-isoclr_large")
    assert parse_model("pretrained-isoclr_xl-linear") == ("linear", "pretrained-isoclr_xl")


def test_new_figures_draw_every_encoder_and_saluki() -> None:
    mrl = {m for _, m, _, _ in graph.figure_jobs(PAPER, "fig_mrl_linear_probe_comparison")}
    assert {"saluki", "isoclr-linear", "naive-linear", "pretrained-isoclr_medium-linear",
            "pretrained-isoclr_large-linear"} <= mrl
    assert {t for t, _, _, _ in graph.figure_jobs(PAPER, "fig_mrl_linear_probe_comparison")} == {"mrl_human"}
    hl = {m for _, m, _, _ in graph.figure_jobs(PAPER, "fig_linear_probe_comparison")}
    assert "saluki" in hl and "supervised" not in hl
    mouse = graph.figure_jobs(PAPER, "fig_halflife_mouse")
    assert {t for t, _, _, _ in mouse} == {"halflife_mouse"}
    assert {m for _, m, _, _ in mouse} == {"isoclr-linear", "supervised", "random-linear", "isoclr-finetune", "saluki"}
    assert {f for _, _, f, _ in mouse} == set(S.eval_fractions(PAPER))


def test_paper_configures_external_encoders_by_public_id() -> None:
    ext = PAPER["evaluation"]["external"]
    assert {n: e["source"] for n, e in ext.items()} == {
        "rnafm": "multimolecule/rnafm", "splicebert": "multimolecule/splicebert", "utrlm": "multimolecule/utrlm-te_el"}
    for task in ("halflife_human", "mrl_human", "go_mf_human"):
        assert {f"external-{n}-linear" for n in ext} <= set(S.eval_models(PAPER, task))
    assert {f"external-{n}" for n in ext} <= set(S.eval_encoders(PAPER))
    assert TablesSettings.from_config(PAPER).models["rnafm"] == "external-rnafm-linear"


def test_fractions_by_model_limits_only_the_models_it_names() -> None:
    cfg = copy.deepcopy(PAPER)
    cfg["evaluation"]["fractions_by_model"] = {"saluki": [1.0], "supervised": [1.0, 0.1]}
    jobs = S.eval_jobs(cfg)
    assert {f for _, m, f, _ in jobs if m == "saluki"} == {"1.0"}
    assert {f for _, m, f, _ in jobs if m == "supervised"} == {"1.0", "0.1"}
    assert {f for _, m, f, _ in jobs if m == "isoclr-linear"} == set(S.eval_fractions(cfg))
    full = S.eval_jobs(PAPER)
    assert set(jobs) < set(full)  # the same jobs, fewer of them
    # figures draw only the cells that exist
    for fig in ("fig3_halflife_finetune", "fig_linear_probe_comparison"):
        for _, m, f, _ in graph.figure_jobs(cfg, fig):
            assert f in S.model_fractions(cfg, m)
    cfg["evaluation"]["fractions_by_model"] = {"saluki": [0.37]}
    with pytest.raises(ConfigError, match=r"fractions_by_model\.saluki names fraction\(s\) 0\.37"):
        S.eval_jobs(cfg)
