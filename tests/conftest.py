"""Suite-wide checks. Tests that compare with the real excerpts in ``../shared/data`` (beside the
checkout), with gffread/bedtools, or with multimolecule's encoders skip, saying why, when those
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
    missing += [tool for tool in ("gffread", "bedtools") if shutil.which(tool) is None]
    if importlib.util.find_spec("multimolecule") is None:
        missing.append("the multimolecule package (scripts/setup.sh installs it)")
    if importlib.util.find_spec("tensorboard") is None:
        missing.append("the tensorboard package (scripts/setup.sh installs it)")
    if missing:
        raise pytest.UsageError(
            "CI run without what the comparison tests need (they would skip): " + ", ".join(missing)
        )
