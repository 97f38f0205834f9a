"""`snakemake -n` refuses a bad config before planning, naming the key at fault, and studies
are separate: --configfile layering, disjoint output folders (issues 9 and 12)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def snakemake(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _write(path: Path, data: dict | str) -> str:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return str(path)


def _study(tmp_path: Path, edit) -> str:
    """A complete study config: the demo with `edit` applied, its results in tmp_path."""
    cfg = copy.deepcopy(DEMO)
    cfg.update(study="check", results=str(tmp_path / "results"))
    edit(cfg)
    return _write(tmp_path / "study.yaml", cfg)


def _fails(*args: str, target: str | None = None) -> str:
    done = snakemake(*([target] if target else []), "-n", "--quiet", "rules", *args)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    return out


# --- (a) unknown keys at every level ---------------------------------------------------------
def test_unknown_top_level_key_is_refused_with_the_closest_name(tmp_path: Path) -> None:
    out = _fails("--configfile", _write(tmp_path / "typo.yaml", "pretrian: {gpus: 0}\n"))
    assert "unknown key 'pretrian' at the top level; did you mean 'pretrain'?" in out


def test_unknown_nested_key_is_refused_with_the_closest_name(tmp_path: Path) -> None:
    text = "pretrain: {models: {isoclr_demo: {temprature: 0.2}}}\nevaluation: {probe: {alpha: [1.0]}}\n"
    out = _fails("--configfile", _write(tmp_path / "typo.yaml", text))
    assert "unknown key 'temprature' at pretrain.models.isoclr_demo; did you mean 'temperature'?" in out
    assert "unknown key 'alpha' at evaluation.probe; did you mean 'alphas'?" in out


# --- (b) names: a pattern checked by the schema, escaped wildcard constraints -----------------
@pytest.mark.parametrize("name", ["../../outside", "a/b", "hu(man", ".hidden"])
def test_bad_species_names_are_refused(tmp_path: Path, name: str) -> None:
    def rename(cfg: dict) -> None:
        cfg["species"][name] = cfg["species"].pop("fly")

    out = _fails("--configfile", _study(tmp_path, rename))
    assert "does not match" in out and name in out
    assert not (tmp_path / "outside").exists()


@pytest.mark.parametrize("section", ["pretrain.models", "tasks.datasets"])
def test_bad_model_and_task_names_are_refused(tmp_path: Path, section: str) -> None:
    def rename(cfg: dict) -> None:
        node = cfg
        for part in section.split("."):
            node = node[part]
        first = next(iter(node))
        node["x/../y"] = node.pop(first)

    out = _fails("--configfile", _study(tmp_path, rename))
    assert "does not match" in out and "x/../y" in out


def test_wildcard_constraints_escape_the_names(tmp_path: Path) -> None:
    """A species named h.sapiens: its store is planned; hXsapiens (the `.` read as a regex
    wildcard) matches no rule."""

    def rename(cfg: dict) -> None:
        cfg["species"]["h.sapiens"] = cfg["species"].pop("fly")

    config = _study(tmp_path, rename)
    ok = snakemake(str(tmp_path / "results" / "stores" / "h.sapiens.h5"), "-n", "--quiet", "rules", "--configfile", config)
    assert ok.returncode == 0, (ok.stdout + ok.stderr)[-3000:]
    out = _fails("--configfile", config, target=str(tmp_path / "results" / "stores" / "hXsapiens.h5"))
    assert "MissingRuleException" in out or "No rule to produce" in out


# --- (c) planning errors name the config key ---------------------------------------------------
def test_a_task_naming_a_removed_species_names_the_key(tmp_path: Path) -> None:
    def drop_mouse(cfg: dict) -> None:
        del cfg["species"]["mouse"]
        cfg["homology"]["sources"] = {}

    out = _fails("--configfile", _study(tmp_path, drop_mouse))
    assert "tasks.datasets.halflife_mouse.species is 'mouse', which is not a `species` entry" in out
    assert "KeyError" not in out


def test_evaluation_naming_a_missing_pretrain_model_names_the_key(tmp_path: Path) -> None:
    out = _fails("--configfile", _write(tmp_path / "o.yaml", "evaluation: {isoclr_model: nosuch}\n"))
    assert "evaluation.isoclr_model is 'nosuch', which is not a pretrain.models entry" in out


# --- studies -----------------------------------------------------------------------------------
def _outputs(*configfiles: str) -> set[str]:
    """Every output, log and benchmark path a dry run of the whole study plans."""
    # --forceall: plan every job even where outputs exist (CI runs the demo in this checkout first)
    args = ["-n", "--forceall"] + (["--configfile", *configfiles] if configfiles else [])
    done = snakemake(*args)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    paths: set[str] = set()
    for m in re.finditer(r"^\s+(output|log|benchmark): (.+)$", out, re.MULTILINE):
        paths.update(p.strip() for p in m.group(2).split(","))
    assert paths
    return paths


@pytest.mark.slow
def test_demo_and_paper_plan_disjoint_paths() -> None:
    demo, paper = _outputs(), _outputs("config/paper.yaml")
    assert not demo & paper
    assert all(p.startswith("results/paper/") for p in paper)
    assert not any(p.startswith("results/paper/") for p in demo)
    assert any(p.startswith("results/logs/") for p in demo)


def _counts(*args: str) -> dict[str, int]:
    done = snakemake("-n", "--quiet", "rules", *args)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", out, re.MULTILINE)}


@pytest.mark.slow
def test_an_override_file_layers_over_the_paper_study(tmp_path: Path) -> None:
    """`--configfile config/paper.yaml over.yaml` with two keys: the paper's jobs, one fold
    instead of three and one figure fewer; no demo model is planned."""
    over = _write(tmp_path / "over.yaml", "evaluation: {folds: [0]}\nfigures: {names: [fig2a_go_linear_probe]}\n")
    paper = _counts("--configfile", "config/paper.yaml")
    layered = _counts("--configfile", "config/paper.yaml", over)
    assert layered["evaluate_linear"] * 3 == paper["evaluate_linear"]
    # network jobs: fold 0 at full data runs as evaluate_network_head (it keeps the head) in both
    network = {k: v.get("evaluate_network", 0) + v.get("evaluate_network_head", 0) for k, v in
               (("paper", paper), ("layered", layered))}
    assert network["layered"] * 3 == network["paper"]
    assert layered["evaluate_network_head"] == paper["evaluate_network_head"]
    assert layered["pretrain"] == paper["pretrain"] and layered["store"] == paper["store"] == 10
    names = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())["figures"]["names"]
    assert layered["figures"] == paper["figures"] - (len(names) - 1)


def test_an_override_file_layers_over_the_demo(tmp_path: Path) -> None:
    """Two keys in a file given with --configfile change the demo (they do not replace it)."""
    over = _write(tmp_path / "over.yaml", f"results: {tmp_path / 'r'}\nevaluation: {{folds: [0]}}\n")
    counts = _counts("--configfile", over)
    assert counts["store"] == 3 and counts["evaluate_linear"] == 24  # 72 with the 3 runs' folds
