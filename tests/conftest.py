"""Suite-wide checks. Tests that compare with the real excerpts in ``../shared/data`` (beside the
checkout), with gffread/bedtools/bcftools/bgzip, or with multimolecule's encoders skip, saying why, when those
are missing on a developer's machine; in CI (``CI`` set) a missing one is an error instead, so
no comparison is ever skipped silently there."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    missing = [str(SHARED_DATA)] if not SHARED_DATA.is_dir() else []
    missing += [tool for tool in ("gffread", "bedtools", "bcftools", "bgzip") if shutil.which(tool) is None]
    if importlib.util.find_spec("multimolecule") is None:
        missing.append("the multimolecule package (scripts/setup.sh installs it)")
    if importlib.util.find_spec("tensorboard") is None:
        missing.append("the tensorboard package (scripts/setup.sh installs it)")
    if missing:
        raise pytest.UsageError(
            "CI run without what the comparison tests need (they would skip): " + ", ".join(missing)
        )


ROOT = Path(__file__).resolve().parents[1]
# What a finished demo run leaves (the report needs the figures and the metrics table).
DEMO_DONE = ("results/metrics/metrics.html", "results/figures/fig2c_halflife_linear_probe_pearson.png",
             "results/figures/pretrain_curves_isoclr_demo.png")


def copy_checkout(dest: Path) -> Path:
    """The repository's files (tracked, and untracked ones git does not ignore) copied to ``dest``."""
    import subprocess

    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file() and not src.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
        elif src.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(src), dest / name)
    return dest


@pytest.fixture(scope="session")
def demo_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout with a finished demo run in it. CI runs the demo first in the
    checkout (``bash .ci/run``): its results/, logs/ and .snakemake/ metadata are copied (mtimes
    kept), so the suite does not run the demo twice; elsewhere the demo runs in the copy
    (``snakemake --cores 2``, minutes)."""
    import subprocess
    import sys

    work = copy_checkout(tmp_path_factory.mktemp("demo") / "repo")
    if all((ROOT / p).exists() for p in DEMO_DONE) and (ROOT / ".snakemake" / "metadata").is_dir():
        for name in ("results", "logs"):
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, work / name, symlinks=True)
        shutil.copytree(ROOT / ".snakemake" / "metadata", work / ".snakemake" / "metadata")
    else:
        run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=work, capture_output=True,
                             text=True, timeout=3600)
        assert run.returncode == 0, run.stderr[-4000:]
    missing = [p for p in DEMO_DONE if not (work / p).exists()]
    assert not missing, f"demo run incomplete: {missing}"
    return work
