"""Asking for one figure builds only what that figure needs, asking again builds nothing, and
reruns follow settings and code (issue 9).

Runs the real demo pipeline once (a copy of the tracked files in a temporary folder) for
``results/figures/fig2c_halflife_linear_probe_pearson.pdf``: the half-life linear-probe figure
needs the IsoCLR pre-training, the human half-life task and its linear probes, but not the
MLM ablation, the GO tasks, the network models or any other figure. Then dry runs with one
setting changed (an override file layered over the demo with --configfile) or one library
module edited: each plans exactly the jobs that use it and their dependants, under the default
rerun triggers (every edit of the matrix in tests/test_reruns.py is checked there on the
fingerprints; here four of them on real outputs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURE = "results/figures/fig2c_halflife_linear_probe_pearson.pdf"


def _snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    # the copy's own library, as if it were the installed checkout (its edits are what is planned)
    env = {**os.environ, "PYTHONPATH": str(cwd / "src")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)


def _copy_repo(work: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file() and not src.is_symlink():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, work / name)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A copy of the repository where FIGURE was built for real (once for this module)."""
    work = tmp_path_factory.mktemp("demo") / "repo"
    _copy_repo(work)
    return work, _snakemake(work, FIGURE)


def _plan(work: Path, *args: str) -> dict[str, int]:
    """Rule -> planned jobs of `snakemake -n FIGURE` ({} when nothing is to be done)."""
    done = _snakemake(work, FIGURE, "-n", "--quiet", "rules", *args)  # (options take 1+ values)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    if "Nothing to be done" in out:
        return {}
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", out, re.MULTILINE)}
    counts.pop("total", None)
    assert counts, out[-3000:]
    return counts


# The jobs of FIGURE: rule -> count (the supervised job at full data on fold 0 keeps its head:
# rule evaluate_network_head)
ALL = {"download": 3 + 3 + 1 + 1, "store": 3, "homology": 1, "splits": 1, "pretrain": 1, "tasks": 1, "embed_task": 2,
       "evaluate_linear": 18, "evaluate_network": 8, "evaluate_network_head": 1, "figures": 1}
AFTER_SPLITS = {k: v for k, v in ALL.items() if k not in ("download", "store", "homology")}
EVALUATION = {"embed_task": 2, "evaluate_linear": 18, "evaluate_network": 8, "evaluate_network_head": 1, "figures": 1}

#: (override file, the rules (and job counts) it must plan)
CHANGES = {
    # a label file's expected size: its download, the task and what reads it (not the stores)
    "download.files.size": ("download: {files: {saluki_halflife_human: {size: 123}}}",
                            {"download": 1, "tasks": 1, **EVALUATION}),
    "filters.max_length": ("filters: {max_length: 12000}", {k: v for k, v in ALL.items() if k != "download"}),
    "homology.max_genes_per_symbol": ("homology: {max_genes_per_symbol: 50}",
                                      {k: v for k, v in ALL.items() if k not in ("download", "store")}),
    "splits.seed": ("splits: {seed: 1}", AFTER_SPLITS),
    # the contrastive temperature: IsoCLR pre-training and what reads its checkpoint, but not
    # the supervised baseline or the random encoder
    "pretrain.temperature": ("pretrain: {models: {isoclr_demo: {temperature: 0.2}}}",
                             {"pretrain": 1, "embed_task": 1, "evaluate_linear": 9, "figures": 1}),
    "tasks.min_train": ("tasks: {min_train: 9}", {"tasks": 1, **EVALUATION}),
    "evaluation.probe.alphas": ("evaluation: {probe: {alphas: [0.1, 1.0]}}", {"evaluate_linear": 18, "figures": 1}),
    "evaluation.finetune.lr": ("evaluation: {finetune: {lr: 2.0e-3}}", {"evaluate_network": 8, "evaluate_network_head": 1, "figures": 1}),
    "figures.dpi": ("figures: {dpi: 100}", {"figures": 1}),
    # settings these jobs do not use (or that do not change any output): nothing to do
    "download.timeout": ("download: {retries: 4, timeout: 60}", {}),
    "mlm_demo.lr": ("pretrain: {models: {mlm_demo: {lr: 1.0e-2}}}", {}),
    "evaluation.saluki.channels": ("evaluation: {saluki: {channels: 8}}", {}),
    "tasks.datasets.go_mf_human.n_terms": ("tasks: {datasets: {go_mf_human: {n_terms: 5}}}", {}),
}

#: (library function edited, the rules it must plan, rules it must not plan); the code a job
#: runs is what counts (isoclr.config.fingerprint), so the edit is inside a function a job calls
EDITS = {
    "pretrain/losses.py:dcl_loss": ({"pretrain", "embed_task", "evaluate_linear", "figures"}, {"store", "tasks", "evaluate_network"}),
    "evaluate/probes.py:ridge_probe": ({"evaluate_linear", "figures"}, {"pretrain", "tasks", "store", "embed_task"}),
    "figures/draw.py:fig2c_halflife_linear_probe_pearson": ({"figures"}, {"pretrain", "evaluate_linear", "evaluate_network"}),
    "homology/merge.py:build_sets": ({"homology", "splits", "pretrain", "figures"}, {"download", "store"}),
}


def _edited(source: bytes, function: str) -> bytes:
    """``source`` with a comment line inside ``function`` (before its last statement)."""
    import ast

    text = source.decode()
    node = next(n for n in ast.parse(text).body if getattr(n, "name", None) == function)
    last = node.body[-1]  # type: ignore[attr-defined]
    lines = text.splitlines(keepends=True)
    lines.insert(last.lineno - 1, " " * last.col_offset + "# an edit\n")
    return "".join(lines).encode()


@pytest.mark.slow
@pytest.mark.pipeline
def test_one_figure_builds_only_its_inputs_then_nothing(demo) -> None:
    work, first = demo
    assert first.returncode == 0, first.stderr[-3000:]
    results = work / "results"
    assert (results / "figures" / "fig2c_halflife_linear_probe_pearson.png").stat().st_size > 0
    assert sorted(p.name for p in (results / "figures").iterdir()) == [
        "fig2c_halflife_linear_probe_pearson.pdf",
        "fig2c_halflife_linear_probe_pearson.png",
    ]
    assert (results / "pretrain" / "isoclr_demo" / "checkpoint.pt").exists()
    assert not (results / "pretrain" / "mlm_demo").exists()  # the MLM ablation is not needed
    assert sorted(p.name for p in (results / "tasks").glob("*.h5")) == ["halflife_human.h5"]
    models = {p.name for p in (results / "eval" / "halflife_human").iterdir()}
    # the supervised CNN is drawn as the comparison; no fine-tuning, Saluki or MLM jobs
    assert models == {"isoclr-linear", "random-linear", "supervised"}, models

    again = _snakemake(work, "-n", FIGURE)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr
    assert (results / "logs" / "pretrain" / "isoclr_demo.log").exists()  # logs are the study's


@pytest.mark.slow
@pytest.mark.pipeline
@pytest.mark.parametrize("key", list(CHANGES))
def test_a_changed_setting_plans_exactly_its_jobs(demo, key: str) -> None:
    work, first = demo
    assert first.returncode == 0, first.stderr[-3000:]
    text, want = CHANGES[key]
    over = work.parent / f"{key}.yaml"
    over.write_text(text + "\n")
    assert _plan(work, "--configfile", str(over)) == (ALL if want is None else want)


@pytest.mark.slow
@pytest.mark.pipeline
@pytest.mark.parametrize("module", list(EDITS))
def test_an_edited_library_module_plans_its_jobs(demo, module: str) -> None:
    work, first = demo
    assert first.returncode == 0, first.stderr[-3000:]
    file, function = module.split(":")
    path = work / "src" / "isoclr" / file
    original = path.read_bytes()
    try:
        path.write_bytes(_edited(original, function))
        planned = set(_plan(work))
    finally:
        path.write_bytes(original)
    must, must_not = EDITS[module]
    assert must <= planned and not (must_not & planned), planned
    if file == "evaluate/probes.py":
        # users who do not want code changes to rerun anything: --rerun-triggers mtime
        path.write_bytes(_edited(original, function))
        try:
            assert _plan(work, "--rerun-triggers", "mtime") == {}
        finally:
            path.write_bytes(original)
    assert _plan(work) == {}  # reverted: nothing to do
