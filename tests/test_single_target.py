"""Asking for one figure builds only what that figure needs, and asking again builds nothing.

Runs the real demo pipeline (a copy of the tracked files in a temporary folder) for
``results/figures/fig2c_halflife_linear_probe_pearson.pdf``: the half-life linear-probe figure
needs the IsoCLR pre-training, the human half-life task and its linear probes, but not the
MLM ablation, the GO tasks, the network models or any other figure.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURE = "results/figures/fig2c_halflife_linear_probe_pearson.pdf"


def _snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
@pytest.mark.pipeline
def test_one_figure_builds_only_its_inputs_then_nothing(tmp_path: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    work = tmp_path / "repo"
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file() and not src.is_symlink():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, work / name)

    first = _snakemake(work, FIGURE)
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
