"""Study tables (issue 10, items 4 and 6): summary with mean, SD and 95% interval over runs, and
paper_comparison.{tsv,md} from a synthetic metrics table whose values are known."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from isoclr.config import settings as S
from isoclr.tables import summary as TB
from isoclr.evaluate.metrics_table import COLUMNS

ROOT = Path(__file__).resolve().parents[1]
PAPER = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def _metrics() -> pd.DataFrame:
    """Three runs; known values per (model, fraction) so every table cell can be checked."""
    rows = []
    cells = {
        ("isoclr-linear", 1.0, "pearson"): [0.60, 0.62, 0.64],
        ("pretrained-isoclr_medium-linear", 1.0, "pearson"): [0.70, 0.70, 0.70],
        ("random-linear", 1.0, "mse"): [1.4, 1.5, 1.6],
        ("saluki", 0.1, "mse"): [1.0, 2.0, 4.0],
        ("isoclr-finetune", 0.1, "mse"): [0.9, 1.0, 3.0],  # gains 10%, 50%, 25%
    }
    for (model, f, metric), values in cells.items():
        for run, v in enumerate(values):
            rows.append(("halflife_human", "human", model, f, run, run, "test", metric, v, 100 + run, f < 0.05))
    return pd.DataFrame(rows, columns=COLUMNS)


def test_interval_is_the_t_interval_of_the_mean() -> None:
    n, mean, sd, lo, hi = TB.interval([0.60, 0.62, 0.64])
    half = stats.t.ppf(0.975, 2) * 0.02 / math.sqrt(3)
    assert (n, mean, sd) == (3, pytest.approx(0.62), pytest.approx(0.02))
    assert (lo, hi) == (pytest.approx(0.62 - half), pytest.approx(0.62 + half))
    assert TB.interval([1.0])[0] == 1 and math.isnan(TB.interval([1.0])[2])
    assert TB.interval([np.nan])[0] == 0


def test_summary_has_mean_sd_interval_and_training_rows() -> None:
    s = TB.summarise(_metrics())
    assert list(s.columns) == TB.SUMMARY_COLUMNS and len(s) == 5
    row = s.loc[s["model"] == "isoclr-linear"].iloc[0]
    assert row["n_runs"] == 3 and row["mean"] == pytest.approx(0.62) and row["sd"] == pytest.approx(0.02)
    assert row["ci95_low"] < 0.62 < row["ci95_high"] and row["n_train"] == 101


def test_paper_comparison_columns_and_values(tmp_path: Path) -> None:
    models = {"isoclr_small": "isoclr-linear", "isoclr_medium": "pretrained-isoclr_medium-linear",
              "saluki": "saluki", "isoclr_finetune": "isoclr-finetune", "random": "random-linear"}
    t = TB.paper_comparison(_metrics(), models, {"halflife": "halflife_human"})
    assert list(t.columns) == TB.COMPARISON_COLUMNS and len(t) == len(TB.PAPER_VALUES)
    by = t.set_index("claim")
    small = by.loc["HL linear probe r, IsoCLR small (~0.9 M)"]
    assert small["paper"] == 0.65 and small["ours"] == pytest.approx(0.62)
    assert small["difference"] == pytest.approx(-0.03) and small["n_runs"] == 3
    assert by.loc["HL linear probe r, IsoCLR medium (~5 M)", "difference"] == pytest.approx(0.035)
    gain = by.loc["HL fine-tuned IsoCLR vs Saluki at 10%: % lower test MSE"]
    assert gain["ours"] == pytest.approx((10 + 50 + 25) / 3) and gain["paper"] == 9.2
    assert gain["ci95_low"] < gain["ours"] < gain["ci95_high"]
    assert by.loc["HL random-init linear probe test MSE", "ours"] == pytest.approx(1.5)
    # claims this study cannot answer keep their row, with a note
    assert "not evaluated" in by.loc["HL fine-tuned IsoCLR vs Saluki at 1%: % lower test MSE", "note"]
    assert math.isnan(by.loc["HL linear probe r, IsoCLR large (~10 M)", "ours"])
    assert "no mrl task" in by.loc["MRL r, Saluki (supervised)", "note"]
    metrics = tmp_path / "metrics.tsv"
    _metrics().to_csv(metrics, sep="\t", index=False)
    paths = TB.write_tables(metrics, tmp_path / "tables", models, {"halflife": "halflife_human"}, "toy", "a note")
    back = pd.read_csv(paths["paper_comparison.tsv"], sep="\t")
    assert list(back.columns) == TB.COMPARISON_COLUMNS
    page = paths["paper_comparison.html"].read_text()
    assert "<table" in page and page.count("<tr>") == len(TB.PAPER_VALUES) and "0.65" in page
    md = paths["paper_comparison.md"].read_text()
    assert "| HL linear probe r, IsoCLR small (~0.9 M) | halflife_human | isoclr-linear | 1 | 0.65 | 0.62 [" in md
    assert "arXiv:2310.08738" in md and "a note" in md
    assert len(pd.read_csv(paths["summary.tsv"], sep="\t")) == 5


def test_tables_settings_map_the_paper_models_per_study() -> None:
    paper = S.TablesSettings.from_config(PAPER)
    assert paper.models["isoclr_small"] == "isoclr-linear"
    assert paper.models["isoclr_medium"] == "pretrained-isoclr_medium-linear"
    assert paper.models["isoclr_large"] == "pretrained-isoclr_large-linear"
    assert paper.tasks == {"halflife": "halflife_human", "mrl": "mrl_human"} and paper.note == ""
    demo = S.TablesSettings.from_config(DEMO)
    assert demo.models["isoclr_small"] == "isoclr-linear" and "isoclr_medium" not in demo.models
    assert "tiny" in demo.note and "Demo" in demo.note and demo.tasks == {"halflife": "halflife_human"}
