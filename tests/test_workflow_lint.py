"""The workflow as Snakemake and snakefmt see it: no lints, formatted, and both configurations
(the demo default and config/paper.yaml) resolve to a job graph (dry runs)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args), check=False, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def snakemake(*args: str) -> subprocess.CompletedProcess:
    return _run(sys.executable, "-m", "snakemake", *args)


def test_lint_is_clean():
    done = snakemake("--lint")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "Congratulations, your workflow is in a good condition!" in out, out[-4000:]


def test_snakefmt_check():
    exe = shutil.which("snakefmt") or str(Path(sys.executable).with_name("snakefmt"))
    if not Path(exe).exists():
        pytest.fail("snakefmt is not installed (pip install -e '.[dev]')")
    done = _run(exe, "--check", "--diff", ".")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


@pytest.mark.parametrize("configfile", [None, "config/paper.yaml"])
def test_dry_run(configfile):
    """Every job of the configuration can be scheduled (no missing rule, input or config)."""
    args = ["-n", "--quiet", "rules"]
    if configfile:
        args += ["--configfile", configfile]
    done = snakemake(*args)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
