"""isoclr.config.settings: the per-stage settings objects agree with config/schema.yaml, the config
checks name the key at fault, and the source fingerprints follow the imports."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from isoclr.config import settings as S

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
DEFS = SCHEMA["$defs"]


def _schema_defaults(node: dict) -> dict:
    node = S._resolve_schema(node, SCHEMA)
    return {k: v.get("default", dataclasses.MISSING) for k, v in node["properties"].items()}


def _field_defaults(cls: type) -> dict:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            value = f.default_factory()  # type: ignore[misc]
        else:
            value = dataclasses.MISSING
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


# (dataclass, schema node, fields that are not config keys, config keys that are not fields)
PAIRS = [
    (S.DownloadSettings, DEFS["download"], {"url", "sha256", "size"}, {"files"}),
    (S.StoreSettings, DEFS["filters"], {"species", "format", "aliases", "provenance", "gene_map"}, set()),
    (S.HomologySettings, DEFS["homology"], {"species", "taxids", "within_species"}, set()),
    (S.SplitsSettings, DEFS["splits"], set(), set()),
    (S.PretrainSettings, DEFS["pretrain_model"], {"name", "architecture"}, set(S.ARCH_KEYS)),
    (S.TaskStageSettings, DEFS["tasks"], {"name", "spec"}, {"datasets", "selection_rule"}),
    (S.ProbeSettings, DEFS["evaluation"]["properties"]["probe"], set(), set()),
    (S.FinetuneSettings, DEFS["finetune"], set(), set()),
    (S.SalukiSettings, DEFS["evaluation"]["properties"]["saluki"], set(), set()),
]


@pytest.mark.parametrize("cls,node,only_fields,only_schema", PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_dataclass_and_schema_cannot_drift(cls, node, only_fields, only_schema) -> None:
    schema = _schema_defaults(node)
    fields = _field_defaults(cls)
    if cls is S.HomologySettings:
        schema.pop("sources")
        fields.pop("sources")
    assert set(fields) - only_fields == set(schema) - only_schema
    for key in set(schema) - only_schema:
        if schema[key] is not dataclasses.MISSING:
            assert fields[key] == schema[key], key


def test_figure_and_embed_defaults_match_the_schema() -> None:
    figures = _schema_defaults(DEFS["figures"])
    assert S.FigureSettings.DEFAULTS == figures
    assert list(S.FIGURES) == DEFS["figures"]["properties"]["names"]["items"]["enum"]
    ev = _schema_defaults(DEFS["evaluation"])
    embed = _field_defaults(S.EmbedSettings)
    assert (embed["batch_size"], embed["device"]) == (ev["embed_batch_size"], ev["device"])


def test_unknown_keys_are_refused_at_every_level_with_the_closest_name() -> None:
    bad = copy.deepcopy(DEMO)
    bad["pretrian"] = {}
    bad["pretrain"]["models"]["isoclr_demo"]["temprature"] = 0.2
    bad["evaluation"]["probe"]["alpha"] = [1.0]
    bad["species"]["human"]["genome"]["sha265"] = "x"
    problems = S.unknown_keys(bad, SCHEMA)
    assert "unknown key 'pretrian' at the top level; did you mean 'pretrain'?" in problems
    assert "unknown key 'temprature' at pretrain.models.isoclr_demo; did you mean 'temperature'?" in problems
    assert "unknown key 'alpha' at evaluation.probe; did you mean 'alphas'?" in problems
    assert "unknown key 'sha265' at species.human.genome; did you mean 'sha256'?" in problems
    assert S.unknown_keys(DEMO, SCHEMA) == []
    with pytest.raises(S.ConfigError, match="'pretrian' at the top level; did you mean 'pretrain'"):
        S.check_config(bad, SCHEMA)


def test_a_task_naming_a_missing_species_names_the_key() -> None:
    cfg = copy.deepcopy(DEMO)
    del cfg["species"]["mouse"]
    with pytest.raises(S.ConfigError, match=r"tasks\.datasets\.halflife_mouse\.species is 'mouse', which is not a `species` entry"):
        S.check_config(cfg, SCHEMA)
    with pytest.raises(S.ConfigError, match=r"tasks\.datasets\.halflife_mouse\.species"):
        S.TaskStageSettings.from_config(cfg, "halflife_mouse")
    with pytest.raises(S.ConfigError, match=r"config species has no entry 'mouse' \(have: fly, human\)"):
        S.StoreSettings.from_config(cfg, "mouse")


def test_evaluation_settings_hold_only_what_the_model_uses() -> None:
    cfg = copy.deepcopy(DEMO)
    before = {m: S.EvaluationSettings.from_config(cfg, "halflife_human", m).to_params()
              for m in ("supervised", "saluki", "isoclr-linear", "isoclr-finetune")}
    cfg["pretrain"]["models"]["isoclr_demo"]["temperature"] = 0.5  # a contrastive-only setting
    cfg["pretrain"]["models"]["isoclr_demo"]["lr"] = 0.5
    after = {m: S.EvaluationSettings.from_config(cfg, "halflife_human", m).to_params() for m in before}
    assert after == before
    cfg["pretrain"]["models"]["isoclr_demo"]["size"] = "small"  # the architecture: supervised uses it
    assert S.EvaluationSettings.from_config(cfg, "halflife_human", "supervised").to_params() != before["supervised"]
    assert S.EvaluationSettings.from_config(cfg, "halflife_human", "saluki").to_params() == before["saluki"]
    # a linear probe's settings are the probe grid only
    assert set(k for k, v in before["isoclr-linear"].items() if v is not None) == {"task", "model", "probe", "seed", "device"}


def test_seed_derivation_is_the_evaluation_modules() -> None:
    from isoclr.evaluate import jobs as evaluate

    assert evaluate.derive_seed is S.derive_seed
    assert S.derive_seed(1, "a", "b") == S.derive_seed(1, "a", "b") != S.derive_seed(1, "b", "a")


def test_pretrain_settings_round_trip_through_rule_params() -> None:
    s = S.PretrainSettings.from_config(DEMO, "isoclr_demo")
    back = S.PretrainSettings.from_params(s.job_params(), sets=s.sets, splits=s.splits, stores=None)
    assert back == s
    assert s.seed == DEMO["seed"] and s.lr == 3.0e-3 and s.steps == 60
    with pytest.raises(S.ConfigError, match="unknown key 'lrr'; did you mean 'lr'"):
        S.PretrainSettings.from_entry({"lrr": 1}, "m")


def test_study_files_are_bases_and_other_files_overrides(tmp_path: Path) -> None:
    over = tmp_path / "over.yaml"
    over.write_text("evaluation: {folds: [0]}\n")
    assert S.needs_default_config([]) is True
    assert S.needs_default_config([over]) is True
    assert S.needs_default_config([ROOT / "config" / "paper.yaml", over]) is False
    with pytest.raises(S.ConfigError, match="must come first"):
        S.needs_default_config([over, ROOT / "config" / "paper.yaml"])
    with pytest.raises(S.ConfigError, match="both declare a study"):
        S.needs_default_config([ROOT / "config" / "paper.yaml", ROOT / "config" / "config.yaml"])


def test_source_fingerprint_follows_the_imports() -> None:
    assert {"pretrain.loop", "pretrain.loader", "pretrain.losses", "pretrain.model"} <= set(
        S.stage_modules("pretrain"))
    assert "evaluate.probes" in S.stage_modules("evaluate")
    assert "evaluate.probes" not in S.stage_modules("pretrain")
    assert "figures.draw" not in S.stage_modules("download")
    assert len(S.source_fingerprint("pretrain")) == 64
