"""Logs that inform: a job log starts with what the job does and its settings, carries no
third-party INFO noise (fontTools writes ~150 lines per PDF at INFO), and pre-training logs a
progress line (step, loss, nt/s, ETA) every ``progress_every`` steps in one process and under
torchrun (two CPU processes, gloo), with no progress bar in the log."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from isoclr.figures import draw as F
from isoclr.core.logs import job_log
from isoclr.simulate import SimConfig, write_simulation

SRC = Path(__file__).resolve().parents[1] / "src"
SHORT = dict(first_exon=(80, 120), last_exon=(120, 180), exon_length=(45, 90), exons_min=3, exons_max=4,
             utr5=(20, 40), utr3_min=30, motif_copies=1)
PROGRESS = re.compile(
    r"progress (\w+): step (\d+)/(\d+) \(\d+%\) \| loss [-\d.]+ \| lr [-+.\de]+ \| ([\d,]+) nt/s \| "
    r"[\d.]+ steps/s \| elapsed \d+:\d\d:\d\d \| ETA \d+:\d\d:\d\d"
)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return write_simulation(SimConfig(seed=5, n_families=48, **SHORT), tmp_path_factory.mktemp("sim"))


def _config(sim: dict, path: Path) -> Path:
    cfg = {
        "objective": "dcl", "size": "tiny", "batch_size": 8, "steps": 7, "warmup_steps": 2, "lr": 3e-3,
        "num_workers": 0, "log_every": 2, "val_every": 7, "val_batches": 1, "checkpoint_every": 7,
        "progress_every": 3, "threads": 1, "seed": 11, "device": "cpu",
        "sets": str(sim["sets"]), "splits": str(sim["splits"]),
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def _progress(text: str) -> list[tuple[int, int, int]]:
    """(step, total, nt/s) of every progress line."""
    return [(int(m[2]), int(m[3]), int(m[4].replace(",", ""))) for m in PROGRESS.finditer(text)]


def test_progress_lines_one_process(sim: dict, tmp_path: Path) -> None:
    cfg = _config(sim, tmp_path / "cfg.yaml")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "isoclr.cli", "pretrain", "--config", str(cfg), "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = _progress(r.stderr)
    assert [(s, t) for s, t, _ in lines] == [(3, 7), (6, 7), (7, 7)], r.stderr[-3000:]
    assert all(rate > 0 for _, _, rate in lines)
    assert "\r" not in r.stderr and "it/s" not in r.stderr and "step/s]" not in r.stderr  # no tqdm bar in a log
    assert "progress every 3 steps" in r.stderr  # the start line names the settings


@pytest.mark.slow
def test_progress_lines_under_torchrun_on_cpu(sim: dict, tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    if not Path(torchrun).exists():
        pytest.skip("torchrun is not installed")
    cfg = _config(sim, tmp_path / "cfg.yaml")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
               ISOCLR_PROGRESS_BAR="0")
    log = tmp_path / "pretrain.log"
    with open(log, "w") as fh:  # as the pipeline's shim launches it: all output into the job log
        r = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "isoclr.cli", "pretrain",
                            "--config", str(cfg), "--out", str(tmp_path / "run")],
                           stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=600)
    text = log.read_text()
    assert r.returncode == 0, text[-3000:]
    lines = _progress(text)
    # once per due step (rank 0 logs), not once per process
    assert [(s, t) for s, t, _ in lines] == [(3, 7), (6, 7), (7, 7)], text[-3000:]
    assert "2 processes" in text
    assert "\r" not in text


def test_job_log_header_and_no_fonttools_noise(tmp_path: Path) -> None:
    log = tmp_path / "figure.log"
    hook = sys.excepthook
    try:
        job_log(str(log), "figure", "draw one figure (PDF and PNG)", wildcards={"figure": "fig2c"}, threads=1,
                resources={"mem_mb": 1000, "runtime": 10, "tmpdir": "/tmp"},
                params={"name": "fig2c_halflife_linear_probe_pearson", "options": {"dpi": 60}})
        metrics = pd.DataFrame(
            [("halflife_human", "human", m, f, k, k, "test", "pearson", 0.1 * k, 10, False)
             for m in ("isoclr-linear", "supervised") for f in (1.0, 0.1) for k in range(3)],
            columns=F.METRICS_COLUMNS,
        )
        F.draw("fig2c_halflife_linear_probe_pearson", tmp_path / "fig.pdf", metrics, dpi=60)  # PDF: fonts subset
        logging.getLogger("isoclr.figures.draw").info("done")
    finally:
        sys.excepthook = hook  # job_log installs the one-line failure report (isoclr.core.jobs.start)
        logging.basicConfig(level=logging.WARNING, force=True)
    lines = log.read_text().splitlines()
    assert re.search(r"INFO isoclr\.job: rule figure: draw one figure \(PDF and PNG\) \| figure=fig2c, threads=1, "
                     r"mem_mb=1000, runtime=10, name=fig2c_halflife_linear_probe_pearson, options=\{'dpi': 60\}$", lines[0]), lines[0]
    assert not [line for line in lines if "fontTools" in line or "matplotlib" in line], lines[:5]
    assert lines[-1].endswith("isoclr.figures.draw: done")


def test_a_conda_environment_of_another_checkout_is_refused(tmp_path: Path) -> None:
    """Checkouts sharing a --conda-prefix share environments, whose isoclr is the checkout that
    built them (envs/install-isoclr.sh records it): a job of another checkout stops, saying so."""
    from isoclr.core.logs import check_checkout

    prefix = tmp_path / "env"
    (prefix / "etc").mkdir(parents=True)
    (prefix / "etc" / "isoclr-checkout").write_text(f"{tmp_path / 'a'}\n")
    check_checkout({"ISOCLR_ROOT": str(tmp_path / "a"), "CONDA_PREFIX": str(prefix)})
    check_checkout({"ISOCLR_ROOT": str(tmp_path / "b")})  # not in a conda environment
    check_checkout({"ISOCLR_ROOT": str(tmp_path / "b"), "CONDA_PREFIX": str(tmp_path)})  # not one of ours
    with pytest.raises(RuntimeError, match=r"runs isoclr from .*/a, but this workflow is .*/b"):
        check_checkout({"ISOCLR_ROOT": str(tmp_path / "b"), "CONDA_PREFIX": str(prefix)})
