"""The layout reads as the pipeline: each stage's rules file, main rule, shim, CLI sub-command and
library package carry the stage's name (issue: one package per stage)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from isoclr.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "isoclr"
#: packages every stage shares (not stages themselves)
SHARED = {"core", "config"}
STAGES = sorted(p.stem for p in (ROOT / "rules").glob("*.smk") if p.stem != "common")


def _rules(stage: str) -> dict[str, str | None]:
    """rule name -> its script's file name (None: no script) in rules/STAGE.smk."""
    text = (ROOT / "rules" / f"{stage}.smk").read_text()
    out: dict[str, str | None] = {}
    for block in re.split(r"^(?=rule \w+:)", text, flags=re.M)[1:]:
        name = re.match(r"rule (\w+):", block).group(1)  # type: ignore[union-attr]
        script = re.search(r"workflow/scripts/(\w+)\.py", block)
        out[name] = script.group(1) if script else None
    return out


def test_the_stages_are_the_rules_files() -> None:
    assert STAGES == sorted(["attribute", "diagnostics", "download", "evaluate", "figures", "homology", "pretrain",
                             "splits", "store", "tables", "tasks", "variants"])


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_has_one_name_everywhere(stage: str) -> None:
    assert (PACKAGE / stage / "__init__.py").exists(), f"no package isoclr.{stage}"
    assert stage in COMMANDS, f"no `isoclr {stage}` sub-command"
    assert COMMANDS[stage][0].startswith(f"isoclr.{stage}."), COMMANDS[stage]
    assert (ROOT / "workflow" / "scripts" / f"{stage}.py").exists(), f"no shim workflow/scripts/{stage}.py"
    rules = _rules(stage)
    assert any(r == stage or r.startswith(f"{stage}_") for r in rules), f"rules/{stage}.smk: {sorted(rules)}"
    assert stage in rules.values(), f"no rule of rules/{stage}.smk runs workflow/scripts/{stage}.py"
    for rule, script in rules.items():  # each shim is named after its stage or its own rule
        assert script in (stage, rule), f"rule {rule} runs workflow/scripts/{script}.py"


def test_every_package_is_a_stage_or_shared() -> None:
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages - SHARED == set(STAGES)


def test_every_shim_belongs_to_one_rule_file() -> None:
    used = {s for stage in STAGES for s in _rules(stage).values() if s}
    shims = {p.stem for p in (ROOT / "workflow" / "scripts").glob("*.py")}
    assert shims == used


def test_the_store_stage_keeps_build_as_its_alias() -> None:
    assert COMMANDS["build"][0] == COMMANDS["store"][0]
