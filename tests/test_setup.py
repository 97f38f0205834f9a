"""scripts/setup.sh does what its command says: the plain setup (the demo's) installs only what the
pipeline needs, with no system packages; ``--tests`` adds the test-only system tools and extras.

The script runs for real with stand-ins: a fake ``python`` in the virtual environment records
every pip call, a fake ``apt-get`` records what it would install, ``id -u`` says root, and PATH
holds no gffread/bedtools/chromium/dot, so they count as missing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAKE_PYTHON = """#!/bin/sh
echo "python $*" >> "$ISOCLR_TEST_CALLS"
"""
FAKE_APT = """#!/bin/sh
echo "apt-get $*" >> "$ISOCLR_TEST_CALLS"
"""
FAKE_ID = """#!/bin/sh
echo 0
"""


def _setup(tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    venv, bin_ = tmp_path / "venv", tmp_path / "bin"
    (venv / "bin").mkdir(parents=True)
    bin_.mkdir()
    for path, text in ((venv / "bin" / "python", FAKE_PYTHON), (bin_ / "apt-get", FAKE_APT), (bin_ / "id", FAKE_ID)):
        path.write_text(text)
        path.chmod(0o755)
    for tool in ("dirname", "cat", "sh"):  # what the script itself needs besides bash builtins
        src = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        (bin_ / tool).symlink_to(src)
    calls = tmp_path / "calls"
    env = {"PATH": str(bin_), "ISOCLR_VENV": str(venv), "ISOCLR_TEST_CALLS": str(calls), "HOME": str(tmp_path)}
    r = subprocess.run(["/bin/bash", str(ROOT / "scripts" / "setup.sh"), *args], env=env, capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    return r.returncode, (calls.read_text().splitlines() if calls.exists() else []) + [r.stderr]


def test_plain_setup_installs_the_pipeline_only(tmp_path: Path) -> None:
    rc, calls = _setup(tmp_path)
    assert rc == 0, calls
    assert not [c for c in calls if c.startswith("apt-get")], calls  # no system packages for the demo
    pips = [c for c in calls if c.startswith("python -m pip install")]
    assert any("torch==2.13.0" in c for c in pips)
    assert any("-e .[pipeline,tensorboard]" in c for c in pips), pips
    assert not [c for c in pips if "dev" in c or "multimolecule" in c or "transformers" in c], pips


def test_test_setup_adds_test_tools_and_extras(tmp_path: Path) -> None:
    rc, calls = _setup(tmp_path, "--tests")
    assert rc == 0, calls
    apt = " ".join(c for c in calls if c.startswith("apt-get install"))
    for pkg in ("gffread", "bedtools", "chromium", "graphviz"):
        assert pkg in apt, calls
    pips = [c for c in calls if c.startswith("python -m pip install")]
    assert any("-e .[pipeline,tensorboard,dev]" in c for c in pips), pips
    assert any("multimolecule" in c for c in pips) and any("transformers" in c for c in pips), pips


def test_unknown_option_is_refused(tmp_path: Path) -> None:
    rc, calls = _setup(tmp_path, "--test")
    assert rc == 2 and "usage: bash scripts/setup.sh [--tests]" in calls[-1]
    assert os.path.exists(ROOT / "scripts" / "test.sh")
    assert "bash scripts/setup.sh --tests" in (ROOT / "scripts" / "test.sh").read_text()
    assert "bash scripts/setup.sh\n" in (ROOT / "scripts" / "demo.sh").read_text()
