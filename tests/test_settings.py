"""isoclr.config: one loader fills every default from config/schema.yaml (as Snakemake's
validate does), the settings classes carry no defaults of their own, the config checks name
the key at fault, and the CLI resolves the same settings as the pipeline."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from isoclr.config import load
from isoclr.config.base import ConfigError, derive_seed
from isoclr.config.settings.download import DownloadSettings
from isoclr.config.settings.embed import EmbedSettings
from isoclr.config.settings.evaluate import (
    EvaluationSettings,
    FinetuneSettings,
    ProbeSettings,
    SalukiSettings,
)
from isoclr.config.settings.figures import FigureSettings
from isoclr.config.settings.homology import HomologySettings, HomologySource
from isoclr.config.settings.pretrain import PretrainSettings
from isoclr.config.settings.splits import SplitsSettings
from isoclr.config.settings.store import StoreSettings
from isoclr.config.settings.tables import TablesSettings
from isoclr.config.settings.tasks import TaskStageSettings

ROOT = Path(__file__).resolve().parents[1]
DEMO_RAW = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
DEMO = load.load_config([])
CLASSES = [DownloadSettings, StoreSettings, HomologySource, HomologySettings, SplitsSettings, PretrainSettings,
           TaskStageSettings, ProbeSettings, FinetuneSettings, SalukiSettings, EmbedSettings,
           EvaluationSettings, FigureSettings, TablesSettings]


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_settings_classes_carry_no_defaults(cls) -> None:
    """Every default lives in the schema: no field of a settings class has one."""
    with_default = [f.name for f in dataclasses.fields(cls)
                    if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]  # type: ignore[misc]
    assert with_default == []


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/paper.yaml", "config/human_mrna.yaml"])
def test_the_loader_fills_as_snakemake_validates(configfile: str) -> None:
    """The filled config equals what Snakemake's validate(set_default=True) makes of it."""
    from snakemake.utils import validate

    raw = load.layered([ROOT / configfile])
    theirs = copy.deepcopy(raw)
    validate(theirs, str(ROOT / "config" / "schema.yaml"))
    assert load.fill(copy.deepcopy(raw)) == theirs
    assert theirs != raw  # defaults were filled in


def test_defaults_come_from_the_schema() -> None:
    schema = load.schema()["$defs"]
    assert load.defaults("download")["timeout"] == schema["download"]["properties"]["timeout"]["default"] == 120
    assert load.defaults("download")["backoff"] == 5
    assert load.defaults("finetune") == {k: v["default"] for k, v in schema["finetune"]["properties"].items()}
    entry = load.fill_model_entry({"lr": 0.5})
    assert entry["lr"] == 0.5 and entry["batch_size"] == schema["pretrain_model"]["properties"]["batch_size"]["default"]


def test_unknown_keys_are_refused_at_every_level_with_the_closest_name() -> None:
    bad = copy.deepcopy(DEMO_RAW)
    bad["pretrian"] = {}
    bad["pretrain"]["models"]["isoclr_demo"]["temprature"] = 0.2
    bad["evaluation"]["probe"] = {"alpha": [1.0]}
    bad["species"]["human"]["genome"]["sha265"] = "x"
    with pytest.raises(ConfigError) as err:
        load.fill(bad)
    text = str(err.value)
    assert "unknown key 'pretrian' at the top level; did you mean 'pretrain'?" in text
    assert "unknown key 'temprature' at pretrain.models.isoclr_demo; did you mean 'temperature'?" in text
    assert "unknown key 'alpha' at evaluation.probe; did you mean 'alphas'?" in text
    assert "unknown key 'sha265' at species.human.genome; did you mean 'sha256'?" in text


def test_a_wrong_value_names_the_key() -> None:
    bad = copy.deepcopy(DEMO_RAW)
    bad["pretrain"]["models"]["isoclr_demo"]["batch_size"] = 0
    with pytest.raises(ConfigError, match=r"pretrain\.models\.isoclr_demo\.batch_size: 0 is less than the minimum"):
        load.fill(bad)


def test_a_task_naming_a_missing_species_names_the_key() -> None:
    cfg = copy.deepcopy(DEMO_RAW)
    del cfg["species"]["mouse"]
    cfg["homology"]["sources"] = {}
    with pytest.raises(ConfigError, match=r"tasks\.datasets\.halflife_mouse\.species is 'mouse', which is not a `species` entry"):
        load.complete(cfg)
    filled = load.fill(copy.deepcopy(cfg))
    with pytest.raises(ConfigError, match=r"tasks\.datasets\.halflife_mouse\.species"):
        TaskStageSettings.from_config(filled, "halflife_mouse")
    with pytest.raises(ConfigError, match=r"config species has no entry 'mouse' \(have: fly, human\)"):
        StoreSettings.from_config(filled, "mouse")


def test_evaluation_settings_hold_only_what_the_model_uses() -> None:
    cfg = copy.deepcopy(DEMO)
    before = {m: EvaluationSettings.from_config(cfg, "halflife_human", m).to_params()
              for m in ("supervised", "saluki", "isoclr-linear", "isoclr-finetune")}
    cfg["pretrain"]["models"]["isoclr_demo"]["temperature"] = 0.5  # a contrastive-only setting
    cfg["pretrain"]["models"]["isoclr_demo"]["lr"] = 0.5
    after = {m: EvaluationSettings.from_config(cfg, "halflife_human", m).to_params() for m in before}
    assert after == before
    cfg["pretrain"]["models"]["isoclr_demo"]["size"] = "small"  # the architecture: supervised uses it
    assert EvaluationSettings.from_config(cfg, "halflife_human", "supervised").to_params() != before["supervised"]
    assert EvaluationSettings.from_config(cfg, "halflife_human", "saluki").to_params() == before["saluki"]
    # a linear probe's settings are the probe grid only
    assert set(k for k, v in before["isoclr-linear"].items() if v is not None) == {"task", "model", "probe", "seed", "device"}


def test_seed_derivation_is_the_evaluation_modules() -> None:
    from isoclr.evaluate import jobs as evaluate

    assert evaluate.derive_seed is derive_seed
    assert derive_seed(1, "a", "b") == derive_seed(1, "a", "b") != derive_seed(1, "b", "a")


def test_pretrain_settings_round_trip_through_rule_params() -> None:
    s = PretrainSettings.from_config(DEMO, "isoclr_demo")
    back = PretrainSettings.from_params(s.job_params(), sets=s.sets, splits=s.splits, stores=None, threads=None)
    assert back == s
    assert s.seed == DEMO["seed"] and s.lr == 3.0e-3 and s.steps == 60
    with pytest.raises(ConfigError, match="unknown key 'lrr'; did you mean 'lr'"):
        PretrainSettings.from_entry({"lrr": 1}, "m")


def test_study_files_are_bases_and_other_files_overrides(tmp_path: Path) -> None:
    over = tmp_path / "over.yaml"
    over.write_text("evaluation: {folds: [0]}\n")
    assert load.needs_default_config([]) is True
    assert load.needs_default_config([over]) is True
    assert load.needs_default_config([ROOT / "config" / "paper.yaml", over]) is False
    with pytest.raises(ConfigError, match="must come first"):
        load.needs_default_config([over, ROOT / "config" / "paper.yaml"])
    with pytest.raises(ConfigError, match="both declare a study"):
        load.needs_default_config([ROOT / "config" / "paper.yaml", ROOT / "config" / "config.yaml"])
    assert load.load_config([over])["evaluation"]["folds"] == [0]  # over the demo
    assert load.load_config([over])["species"] == DEMO["species"]


# --- the CLI and the pipeline resolve the same settings ------------------------------------------
def _pipeline_config(configfile: str | None, tmp_path: Path) -> dict:
    """The config the rules read their params from: the Snakefile, with a line appended that
    writes the config as it stands after rules/common.smk, planned by `snakemake -n`."""
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(
        (ROOT / "Snakefile").read_text().replace('include: "rules/', f'include: "{ROOT}/rules/')
        .replace('configfile: "config/config.yaml"', f'configfile: "{ROOT}/config/config.yaml"')
        .replace('report: "docs/report/workflow.rst"', "")
        + "\nimport json as _json\n"
        f"with open({str(tmp_path / 'config.json')!r}, 'w') as _fh:\n"
        "    _json.dump(config, _fh, sort_keys=True)\n"
    )
    args = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-n", "--quiet", "rules", "-d", str(ROOT)]
    if configfile:
        args += ["--configfile", str(ROOT / configfile)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return json.loads((tmp_path / "config.json").read_text())


@pytest.mark.parametrize("configfile", [None, "config/paper.yaml"])
def test_cli_and_pipeline_resolve_the_same_settings(configfile: str | None, tmp_path: Path) -> None:
    """The config the Snakefile ends with (after rules/common.smk) is the config every CLI
    --config option loads, so every settings object (the rules' params) is the same."""
    pipeline = _pipeline_config(configfile, tmp_path)
    cli = load.config_option(ROOT / configfile if configfile else None)
    assert json.loads(json.dumps(cli, sort_keys=True)) == pipeline
    for model in cli["pretrain"]["models"]:
        assert PretrainSettings.from_config(pipeline, model) == PretrainSettings.from_config(cli, model)
    task = next(iter(cli["evaluation"]["tasks"]))
    for model in ("isoclr-linear", "supervised", "saluki", "isoclr-finetune"):
        assert (EvaluationSettings.from_config(pipeline, task, model).to_params()
                == EvaluationSettings.from_config(cli, task, model).to_params())
    assert TablesSettings.from_config(pipeline) == TablesSettings.from_config(cli)
    assert FigureSettings.from_config(pipeline, "fig_model_sizes") == FigureSettings.from_config(cli, "fig_model_sizes")


# --- options without a config take the schema's defaults -----------------------------------------
def test_download_cli_retries_as_the_pipeline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from isoclr.cli import main
    from isoclr.download import fetch

    seen: dict = {}
    monkeypatch.setattr(fetch, "fetch", lambda url, out, **kw: seen.update(kw))
    assert main(["download", "file:x.gz", str(tmp_path / "x.gz")]) == 0
    from isoclr.config.study import downloads

    how = DownloadSettings.from_config(DEMO, next(iter(downloads(DEMO))))  # what the pipeline's jobs use
    assert {k: seen[k] for k in DownloadSettings.TRANSPORT} == how.transport()
    assert seen["timeout"] == 120 and seen["backoff"] == 5
    assert main(["download", "file:x.gz", str(tmp_path / "x.gz"), "--timeout", "7"]) == 0 and seen["timeout"] == 7


def test_tasks_cli_folds_as_the_schema(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from isoclr.cli import main
    from isoclr.tasks import build

    seen: dict = {}
    monkeypatch.setattr(build, "build_task", lambda *a, **kw: seen.update(kw))
    assert main(["tasks", "--task", "t", "--kind", "halflife", "--out", str(tmp_path / "t.h5")]) == 0
    s = seen["settings"]
    tasks = load.defaults("tasks")
    assert (s.n_folds, list(s.fractions), s.min_train) == (tasks["n_folds"], tasks["fractions"], tasks["min_train"])
