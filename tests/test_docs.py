"""Every command in README.md and docs/*.md is executed, so none can go stale.

Each fenced ``bash`` or ``python`` block must be preceded by an HTML comment saying how it is
tested (a block without one fails :func:`test_every_block_is_marked`):

``<!-- test: run -->``       run as written (bash -euo pipefail) in a copy of the checkout with a
                             finished demo run (``demo_repo``), in document order
``<!-- test: dry-run -->``   the same, with ``-n`` after every ``snakemake``: the plan must work
                             (for commands whose real run is a cluster, conda or a long study)
``<!-- test: ci -->``        the fresh-machine commands: they must be exactly what ``.ci/run`` runs
``<!-- test: setup -->``     pip lines: each must be a command ``scripts/setup.sh`` runs (CI runs it)
``<!-- test: syntax -->``    a script file's text: ``bash -n`` must accept it
``<!-- test: python -->``    a Python block: run in the demo copy

Snakemake's conda support is exercised with a recording stand-in for ``conda`` on PATH (the
test machine has no conda): dry runs with ``--use-conda`` or the SLURM profile get through
Snakemake's conda checks, and ``--conda-create-envs-only`` asks for one environment per file.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MODES = ("run", "dry-run", "ci", "setup", "syntax", "python")
FENCE = re.compile(
    r"(?:<!--\s*test:\s*(?P<mode>[\w-]+)\s*-->[ \t]*\n)?^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$",
    re.S | re.M,
)
FAKE_CONDA = """#!/bin/sh
# test stand-in for conda (tests/test_docs.py): answers Snakemake's checks, records every call
echo "$@" >> "$(dirname "$0")/calls"
case "$1" in
  info) echo '{"conda_version": "25.1.1", "platform": "linux-64", "envs_dirs": [], "root_prefix": "/opt/conda", "conda_prefix": "/opt/conda", "active_prefix": null}' ;;
  --version) echo "conda 25.1.1" ;;
  config) echo '{"get": {"channel_priority": "strict"}, "rc_path": "", "success": true, "warnings": []}' ;;
  *) echo '{}' ;;
esac
"""


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    mode: str | None
    body: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for path in DOCS:
        text = path.read_text()
        for m in FENCE.finditer(text):
            lang = m["lang"].lower()
            if lang not in ("bash", "sh", "shell", "console", "python"):
                continue
            line = text.count("\n", 0, m.start("body"))
            found.append(Block(path, line, lang, m["mode"], m["body"]))
    return found


BLOCKS = blocks()


def test_every_block_is_marked() -> None:
    unmarked = [b.id for b in BLOCKS if b.mode not in MODES]
    assert not unmarked, f"fenced shell/python blocks without a <!-- test: MODE --> line ({MODES}): {unmarked}"
    assert len(BLOCKS) >= 10


def _dry(body: str) -> str:
    """``-n`` after every snakemake command word (not after ``pip install snakemake``)."""
    return re.sub(r"(^|\|\s*|&&\s*|;\s*|^\s*(?:\w+=\S+\s+)+)snakemake(?=\s|$)", r"\1snakemake -n", body, flags=re.M)


@pytest.fixture(scope="session")
def doc_env(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    fake = tmp_path_factory.mktemp("fakeconda")
    (fake / "conda").write_text(FAKE_CONDA)
    (fake / "conda").chmod(0o755)
    venv_bin = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=os.pathsep.join([venv_bin, str(fake), os.environ["PATH"]]), ISOCLR_FAKE_CONDA=str(fake))


def _run(script: str, cwd: Path, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _ci_commands() -> list[str]:
    text = (ROOT / ".ci" / "run").read_text()
    return re.findall(r"^\s*(bash scripts/\S+)\s*$", text, re.M)


def _setup_commands() -> str:
    return re.sub(r"\\\n\s*", "", (ROOT / "scripts" / "setup.sh").read_text())


def _commands(body: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", body)
    return [c for c in (line.split("#")[0].strip() for line in joined.splitlines()) if c]


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mode in ("ci", "setup", "syntax")], ids=lambda b: b.id)
def test_static_blocks(block: Block) -> None:
    if block.mode == "ci":
        assert _commands(block.body) == _ci_commands(), block.id
    elif block.mode == "setup":
        setup = _setup_commands()
        for cmd in _commands(block.body):
            words = shlex.split(cmd)
            assert words[:2] == ["pip", "install"], (block.id, cmd)
            reqs = [w for w in words[2:] if not w.startswith("-")]
            for req in reqs:  # the same requirement installed by scripts/setup.sh (which CI runs)
                assert req.strip("'\"") in setup.replace("'", "").replace('"', ""), (block.id, req)
    else:
        r = subprocess.run(["bash", "-n"], input=block.body, capture_output=True, text=True)
        assert r.returncode == 0, (block.id, r.stderr)


@pytest.mark.pipeline
@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mode in ("run", "dry-run", "python")], ids=lambda b: b.id)
def test_block_runs_on_the_demo(block: Block, demo_repo: Path, doc_env: dict[str, str]) -> None:
    if block.mode == "python":
        r = subprocess.run([sys.executable, "-c", block.body], cwd=demo_repo, env=doc_env, capture_output=True,
                           text=True, timeout=600)
    else:
        script = _dry(block.body) if block.mode == "dry-run" else block.body
        r = _run(script, demo_repo, doc_env)
    assert r.returncode == 0, f"{block.id} ({block.mode}) failed:\n{block.body}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
    if block.mode == "dry-run":
        assert "Traceback" not in r.stderr


def test_dry_rewrites_only_snakemake_commands() -> None:
    body = "snakemake --cores 8\nCONDA_OVERRIDE_CUDA=12.9 snakemake --use-conda\npip install snakemake\nls | snakemake --help\n"
    assert _dry(body) == ("snakemake -n --cores 8\nCONDA_OVERRIDE_CUDA=12.9 snakemake -n --use-conda\n"
                          "pip install snakemake\nls | snakemake -n --help\n")


def test_config_comments_cite_the_paper() -> None:
    """Users do not have the developers' reference notes: config comments cite the paper."""
    for path in sorted((ROOT / "config").glob("*.yaml")):
        bad = [i + 1 for i, line in enumerate(path.read_text().splitlines()) if "REFERENCE" in line]
        assert not bad, f"{path.name}: lines {bad} cite REFERENCE; cite Fradkin et al. 2023 (arXiv:2310.08738)"
