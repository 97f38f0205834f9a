"""Figures from a small synthetic metrics table: every figure writes a non-empty PDF and PNG,
also with models or whole tables missing."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from isoclr import figures as F
from isoclr import tasks as T

FRACTIONS = [1.0, 0.3, 0.1, 0.01, 0.005]


def synthetic_metrics(models_hl: tuple[str, ...] = ("isoclr-linear", "supervised", "random-linear", "isoclr-finetune", "saluki", "mlm-linear", "external-rnafm-linear")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for model in models_hl:
        base = {"isoclr-linear": 0.6, "supervised": 0.5, "random-linear": 0.2, "isoclr-finetune": 0.7, "saluki": 0.75}.get(model, 0.4)
        for f in FRACTIONS:
            for fold in range(3):
                r = base * (1 + 0.1 * np.log10(f)) + rng.normal(0, 0.02)
                rows.append(("halflife_human", "human", model, f, fold, "pearson", r, int(3000 * f)))
                rows.append(("halflife_human", "human", model, f, fold, "mse", 2 - r, int(3000 * f)))
    for model in ("isoclr-linear", "supervised"):
        for f in FRACTIONS:
            for fold in range(3):
                for m in ("auroc_macro", "auprc_macro"):
                    rows.append(("go_mf_human", "human", model, f, fold, m, 0.7 + rng.normal(0, 0.02), int(500 * f)))
    old = ["task", "species", "model", "fraction", "fold", "metric", "value", "n_train"]
    df = pd.DataFrame(rows, columns=old).assign(run=lambda d: d["fold"], split="test", min_train_applied=False)
    return df[F.METRICS_COLUMNS]


def _check(paths: tuple[Path, Path]) -> None:
    pdf, png = paths
    assert pdf.suffix == ".pdf" and png.suffix == ".png"
    assert pdf.stat().st_size > 1000 and png.stat().st_size > 1000
    assert pdf.read_bytes()[:4] == b"%PDF" and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name", [n for n in F.FIGURES if n != "fig4_tsne_go_cellular_component"])
def test_metric_figures(name: str, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.tsv"
    synthetic_metrics().to_csv(metrics, sep="\t", index=False)
    _check(F.draw(name, tmp_path / f"{name}.pdf", metrics, dpi=80))


@pytest.mark.parametrize("name", [n for n in F.FIGURES if n != "fig4_tsne_go_cellular_component"])
def test_metric_figures_missing_data(name: str, tmp_path: Path) -> None:
    # only one model, and an empty table: drawn with a note, never an exception
    _check(F.draw(name, tmp_path / "partial.pdf", synthetic_metrics(("isoclr-linear",)), dpi=60))
    _check(F.draw(name, tmp_path / "empty.pdf", tmp_path / "absent.tsv", dpi=60))


def test_mrl_and_mouse_figures_on_their_tasks(tmp_path: Path) -> None:
    d = synthetic_metrics()
    mrl = d.loc[d.task == "halflife_human"].assign(task="mrl_human")
    _check(F.draw("fig_mrl_linear_probe_comparison", tmp_path / "mrl.pdf", mrl, task="mrl_human", dpi=60))
    mouse = d.loc[d.task == "halflife_human"].assign(task="halflife_mouse", min_train_applied=lambda x: x.fraction < 0.05)
    _check(F.draw("fig_halflife_mouse", tmp_path / "mouse.pdf", mouse, task="halflife_mouse", dpi=60))
    s = F.summarise(mouse, "halflife_mouse", "pearson")
    assert s.loc[s.fraction < 0.05, "min_train_applied"].all() and not s.loc[s.fraction > 0.05, "min_train_applied"].any()
    assert (s["n_train"] > 0).all()


def test_summarise_mean_sd() -> None:
    s = F.summarise(synthetic_metrics(), "halflife_human", "pearson")
    assert set(s["n"]) == {3}
    d = synthetic_metrics()
    v = d.loc[(d.model == "saluki") & (d.metric == "pearson") & (d.fraction == 0.1), "value"]
    row = s.loc[(s.model == "saluki") & (s.fraction == 0.1)].iloc[0]
    assert row["mean"] == pytest.approx(v.mean()) and row["std"] == pytest.approx(v.std(ddof=1))


def test_balanced_classes() -> None:
    y = np.array([[1, 0, 0]] * 10 + [[1, 1, 0]] * 4 + [[0, 0, 1]] * 3 + [[1, 0, 1]] * 2 + [[0, 0, 0]] * 2)
    rows, cls = F.balanced_classes(y, seed=1)
    # class sizes after rarest-term assignment: 0 -> 10, 1 -> 4, 2 -> 5; balanced to 4 each
    assert np.bincount(cls).tolist() == [4, 4, 4]
    assert all(y[r, c] for r, c in zip(rows, cls))
    assert np.array_equal(rows, F.balanced_classes(y, seed=1)[0])


def test_fig4_tsne(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 45
    y = np.zeros((n, 3), dtype=np.uint8)
    y[np.arange(n), np.arange(n) % 3] = 1
    y[:5, 0] = 1
    task = T.write_task(
        tmp_path / "go_cc_human.h5", task="go_cc_human", species="human", kind="multilabel",
        label_names=["GO:0043226 organelle", "GO:0016020 membrane", "GO:0031224 intrinsic component of membrane"],
        store="s.h5", transcript=np.arange(n), transcript_id=[f"t{i}" for i in range(n)], gene_id=[f"g{i}" for i in range(n)],
        y=y, group=np.arange(n), n_folds=3, fractions=[1.0], seed=0, min_train=1, report=T.JoinReport("cc"),
    )
    h = rng.normal(size=(n, 16)).astype(np.float32) + 3 * y.argmax(1)[:, None]
    emb = tmp_path / "emb.h5"
    with h5py.File(emb, "w") as f:
        f["h"] = h
    _check(F.draw("fig4_tsne_go_cellular_component", tmp_path / "fig4.pdf", None, embeddings=emb, task_file=task.path, dpi=80))
    _check(F.draw("fig4_tsne_go_cellular_component", tmp_path / "fig4_missing.pdf", None, embeddings=tmp_path / "no.h5", task_file=task.path, dpi=60))


def test_pretrain_curves(tmp_path: Path) -> None:
    csv = tmp_path / "isoclr_demo" / "metrics.csv"
    csv.parent.mkdir()
    pd.DataFrame({"step": np.arange(20), "loss": np.linspace(5, 1, 20), "lr": np.linspace(0, 1e-3, 20)}).to_csv(csv, index=False)
    _check(F.draw("fig_pretrain_curves", tmp_path / "curves.pdf", pretrain_metrics=csv, dpi=60))


def _capture(monkeypatch: pytest.MonkeyPatch) -> list:
    """Keep the figure objects that F._save writes (and still write them)."""
    figs: list = []
    real = F._save

    def keep(fig, out, dpi=200):  # type: ignore[no-untyped-def]
        fig.canvas.draw()
        figs.append(fig)
        return real(fig, out, dpi)

    monkeypatch.setattr(F, "_save", keep)
    return figs


def test_pretrain_curves_are_three_labelled_panels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "isoclr_demo"
    run.mkdir()
    steps = np.arange(1, 61)
    df = pd.DataFrame({"step": steps, "epoch": steps // 8, "lr": 3e-3 * np.minimum(1, steps / 6), "loss": np.linspace(5, 2, 60),
                       "grad_norm": 1.0, "sets_per_s": 100.0, "padding": 0.3, "elapsed_s": steps * 0.5,
                       "val_loss": np.where(steps % 20 == 0, 4.0, np.nan), "val_alignment": np.where(steps % 20 == 0, 0.5, np.nan),
                       "val_uniformity": np.where(steps % 20 == 0, -2.0, np.nan)})
    df.to_csv(run / "metrics.csv", index=False)
    (run / "config.yaml").write_text("objective: dcl\nsize: tiny\n")
    figs = _capture(monkeypatch)
    _check(F.draw("fig_pretrain_curves", tmp_path / "curves.pdf", pretrain_metrics=run / "metrics.csv", dpi=60))
    fig = figs[0]
    main = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(main) == 3 and all(ax.get_xlabel() == "Optimiser step" for ax in main)
    ylabels = [ax.get_ylabel() for ax in fig.axes]
    assert "Contrastive loss (nats)" in ylabels and "Learning rate (AdamW)" in ylabels
    assert any(y.startswith("Alignment") for y in ylabels) and any(y.startswith("Uniformity") for y in ylabels)
    # not a dump of every column: no epoch, elapsed time, throughput or padding panels
    assert not [y for y in ylabels if y in ("epoch", "elapsed_s", "sets_per_s", "padding", "grad_norm")]
    assert all(ax.get_yscale() == "linear" for ax in fig.axes)  # no "2x10^0" log ticks
    assert "dcl" in fig._suptitle.get_text()


@pytest.mark.parametrize("sign", [1, -1])
def test_comparison_labels_clear_of_error_bars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sign: int) -> None:
    rows = [("halflife_human", "human", m, 1.0, k, k, "test", "pearson", sign * (base + 0.02 * (k - 1)), 100, False)
            for m, base in (("isoclr-linear", 0.62), ("random-linear", 0.58), ("mlm-linear", 0.6)) for k in range(3)]
    figs = _capture(monkeypatch)
    F.draw("fig_linear_probe_comparison", tmp_path / "cmp.pdf", pd.DataFrame(rows, columns=F.METRICS_COLUMNS), dpi=100)
    fig = figs[0]
    ax = fig.axes[0]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    s = F.summarise(pd.DataFrame(rows, columns=F.METRICS_COLUMNS), "halflife_human", "pearson").sort_values("mean", ascending=False)
    labels = [t for t in ax.texts if t.get_text().replace(".", "").replace("-", "").isdigit()]
    assert len(labels) == 3
    for xi, (m, sd), label in zip(range(3), zip(s["mean"], s["std"]), labels):
        box = label.get_window_extent(renderer)
        top = ax.transData.transform((xi, m + sd))[1]
        bottom = ax.transData.transform((xi, m - sd))[1]
        if m >= 0:
            assert box.y0 >= top + 4, (label.get_text(), box.y0, top)  # clear of the upper cap
        else:
            assert box.y1 <= bottom - 4, (label.get_text(), box.y1, bottom)  # below the lower cap
        assert ax.bbox.y0 <= box.y0 and box.y1 <= ax.bbox.y1  # inside the axes
