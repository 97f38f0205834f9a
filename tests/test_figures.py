"""Figures from a small synthetic metrics table: every figure writes a non-empty PDF and PNG,
also with models or whole tables missing."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from isoclr.config import graph
from isoclr.config.load import load_config
from isoclr.config.registry import FIGURES, TSNE_FIGURES
from isoclr.config.settings.figures import FigureSettings
from isoclr.config.settings.pretrain import PretrainSettings
from isoclr.figures import draw as F
from isoclr.pretrain.architecture import encoder_parameters
from isoclr.tasks import build as T

ROOT = Path(__file__).resolve().parents[1]

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


@pytest.mark.parametrize("name", [n for n in F.FIGURES if n not in TSNE_FIGURES])
def test_metric_figures(name: str, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.tsv"
    synthetic_metrics().to_csv(metrics, sep="\t", index=False)
    _check(F.draw(name, tmp_path / f"{name}.pdf", metrics, dpi=80))


@pytest.mark.parametrize("name", [n for n in F.FIGURES if n not in TSNE_FIGURES])
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


def _go_task(tmp_path: Path, n_terms: int = 3, n: int = 45) -> tuple[Path, Path]:
    """A GO task of n genes over n_terms terms (term k on every gene i with i % n_terms == k,
    term 0 on the first 5 too) and embeddings that separate the terms."""
    rng = np.random.default_rng(0)
    y = np.zeros((n, n_terms), dtype=np.uint8)
    y[np.arange(n), np.arange(n) % n_terms] = 1
    y[:5, 0] = 1
    names = ["GO:0043226 organelle", "GO:0016020 membrane", "GO:0031224 intrinsic component of membrane",
             "GO:0000004 four", "GO:0000005 five"][:n_terms]
    task = T.write_task(
        tmp_path / "go_task.h5", task="go_task", species="human", kind="multilabel", label_names=names,
        store="s.h5", transcript=np.arange(n), transcript_id=[f"t{i}" for i in range(n)], gene_id=[f"g{i}" for i in range(n)],
        y=y, group=np.arange(n), n_folds=3, fractions=[1.0], seed=0, min_train=1, report=T.JoinReport("cc"),
    )
    emb = tmp_path / "emb.h5"
    with h5py.File(emb, "w") as f:
        f["h"] = rng.normal(size=(n, 16)).astype(np.float32) + 3 * y.argmax(1)[:, None]
    return Path(task.path), emb


@pytest.mark.parametrize("name", list(TSNE_FIGURES))
def test_tsne_figures_colour_by_the_most_frequent_terms(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BP and MF t-SNE (5 terms here) show `classes` of the task's terms (greedy cover), titled by aspect."""
    task, emb = _go_task(tmp_path, n_terms=5, n=60)
    figs = _capture(monkeypatch)
    aspect = TSNE_FIGURES[name][1]
    _check(F.draw(name, tmp_path / f"{name}.pdf", None, embeddings=emb, task_file=task, classes=3, dpi=60, task="go_task"))
    ax = figs[0].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 3 and labels[0].startswith("GO:0043226")  # term 0: the most genes
    assert aspect in ax.get_title(loc="left") and "go_task" in ax.get_title(loc="left")
    # greedy cover: the commonest term (2), then the one adding most genes (0 adds one, 1 none)
    assert F.top_terms(np.array([[1, 0, 0], [1, 0, 1], [0, 1, 1], [0, 0, 1]]), 2).tolist() == [0, 2]
    nested = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1]])  # term 1 inside term 0
    assert F.top_terms(nested, 2).tolist() == [0, 2]


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


def _size_metrics(models: dict[str, float], tasks: list[str], n_train: int = 11000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = [(t, "human", m, 1.0, k, k, "test", "pearson", b + rng.normal(0, 0.02), n_train, False)
            for t in tasks for m, b in models.items() for k in range(3)]
    return pd.DataFrame(rows, columns=F.METRICS_COLUMNS)


def _paper() -> dict:
    return load_config([ROOT / "config" / "paper.yaml"])


def _demo() -> dict:
    return load_config([])


def test_model_sizes_one_point_per_pretrained_model_at_its_parameter_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paper config: small/medium/large + MLM as points at their encoders' parameter counts (from
    the architecture), random/naive/Saluki as reference lines, two panels (half-life, MRL)."""
    settings = FigureSettings.from_config(_paper(), "fig_model_sizes")
    enc = settings.encoders
    assert {e["size"] for e in enc.values()} == {"small", "medium", "large"}
    for e in enc.values():
        assert e["parameters"] == encoder_parameters(PretrainSettings.from_config(_paper(), e["model"]).arch_config())
    means = {"isoclr-linear": 0.65, "pretrained-isoclr_medium-linear": 0.665, "pretrained-isoclr_large-linear": 0.68,
             "mlm-linear": 0.5, "random-linear": 0.3, "naive-linear": 0.45, "saluki": 0.77}
    metrics = _size_metrics(means, ["halflife_human", "mrl_human"])
    figs = _capture(monkeypatch)
    _check(F.draw("fig_model_sizes", tmp_path / "sizes.pdf", metrics, **settings.options()))
    fig = figs[0]
    panels = [ax for ax in fig.axes if ax.get_xlabel().startswith("Encoder parameters")]
    assert len(panels) == 2
    want = sorted({e["parameters"] for e in enc.values()})
    s = F.summarise(metrics, "halflife_human", "pearson").set_index("model")
    for ax in panels:
        assert ax.get_xscale() == "log"
        assert sorted(ax.get_xticks()) == pytest.approx(want)
        points = {}
        for c in ax.containers:  # one error bar per pre-trained model
            x, y = (v[0] for v in c.lines[0].get_data())
            points[round(float(y), 6)] = float(x)
        assert len(points) == len(enc) == 4
        for model, e in enc.items():  # each at its parameter count (side by side when equal)
            if ax is panels[0]:
                x = points[round(float(s.loc[model, "mean"]), 6)]
                assert x == pytest.approx(e["parameters"], rel=0.05)
        flat = [ln.get_ydata()[0] for ln in ax.get_lines() if len(set(np.atleast_1d(ln.get_ydata()))) == 1 and len(ln.get_xdata()) == 2]
        if ax is panels[0]:
            for ref in ("random-linear", "naive-linear", "saluki"):
                assert any(abs(v - s.loc[ref, "mean"]) < 1e-9 for v in flat), ref
    assert not [t for t in fig.texts if "DEMO" in t.get_text()]  # the paper study at full size: no banner


def test_model_sizes_draws_on_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Demo: two encoders of one size, no MRL task: both points drawn side by side, the MRL
    panel says it has no results, and the figure says it is demo-sized."""
    settings = FigureSettings.from_config(_demo(), "fig_model_sizes")
    assert set(settings.encoders) == {"isoclr-linear", "mlm-linear"}
    assert len({e["parameters"] for e in settings.encoders.values()}) == 1
    jobs = graph.figure_jobs(_demo(), "fig_model_sizes")
    assert {m for _, m, _, _ in jobs} == {"isoclr-linear", "mlm-linear", "random-linear", "naive-linear", "saluki"}
    assert {f for _, _, f, _ in jobs} == {"1.0"} and {t for t, _, _, _ in jobs} == {"halflife_human"}
    metrics = _size_metrics({"isoclr-linear": 0.3, "mlm-linear": 0.2, "random-linear": 0.1, "saluki": 0.2}, ["halflife_human"], 40)
    figs = _capture(monkeypatch)
    _check(F.draw("fig_model_sizes", tmp_path / "sizes.pdf", metrics, **settings.options()))
    fig = figs[0]
    a, b = [ax for ax in fig.axes if ax.get_xlabel().startswith("Encoder parameters")]
    xs = sorted(float(c.lines[0].get_data()[0][0]) for c in a.containers)
    assert len(xs) == 2 and xs[0] < xs[1] < 1.1 * xs[0]
    assert any("no linear-probe" in t.get_text() for t in b.texts)
    assert [t for t in fig.texts if t.get_text().startswith("DEMO-SIZED DATA")]
    _check(F.draw("fig_model_sizes", tmp_path / "empty.pdf", tmp_path / "absent.tsv", **settings.options()))


def test_demo_note_rule() -> None:
    """Banner: the demo study always; another study when its largest training set is small."""
    assert F.demo_note("demo", 5000, 1000)  # the demo, whatever its size
    assert F.demo_note("demo") and "demo" in F.demo_note("demo")
    assert "46 training rows" in F.demo_note("human_mrna", 46, 1000)
    assert F.demo_note("paper", 2000, 1000) is None
    assert F.demo_note("paper", None, 1000) is None and F.demo_note("paper", 10, 0) is None


@pytest.mark.parametrize("name", [n for n in FIGURES if n not in TSNE_FIGURES])
def test_demo_sized_figures_say_so(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every metrics figure draws the banner for the demo study or small training sets, and not
    for a full-sized study; the settings carry the study (a param: the figure reruns)."""
    assert FigureSettings.from_config(_demo(), name).study == "demo"
    assert FigureSettings.from_config(_paper(), name).options()["study"] == "paper"
    d = synthetic_metrics()
    d = pd.concat([d, d.loc[d.task == "halflife_human"].assign(task="mrl_human"),
                   d.loc[d.task == "halflife_human"].assign(task="halflife_mouse")], ignore_index=True)
    figs = _capture(monkeypatch)

    def banner(**kw: object) -> list[str]:
        F.draw(name, tmp_path / f"{name}.pdf", d, dpi=50, **kw)
        return [t.get_text() for t in figs[-1].texts if t.get_gid() == "demo-note"]

    assert banner(study="demo", demo_below=1000)
    assert not banner(study="paper", demo_below=100)  # n_train up to 3,000 (GO: 500)
    small = banner(study="paper", demo_below=100_000)
    assert small and "paper" in small[0] and "training rows" in small[0]


def test_tsne_and_curves_say_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task, emb = _go_task(tmp_path)
    figs = _capture(monkeypatch)
    F.draw("fig4_tsne_go_biological_process", tmp_path / "t.pdf", None, embeddings=emb, task_file=task, study="paper", demo_below=1000, dpi=50)
    assert [t for t in figs[-1].texts if "45 genes" in t.get_text()]
    F.draw("fig4_tsne_go_biological_process", tmp_path / "t.pdf", None, embeddings=emb, task_file=task, study="paper", demo_below=10, dpi=50)
    assert not [t for t in figs[-1].texts if t.get_gid() == "demo-note"]
    csv = tmp_path / "m" / "metrics.csv"
    csv.parent.mkdir()
    pd.DataFrame({"step": [1, 2], "loss": [2.0, 1.0]}).to_csv(csv, index=False)
    F.draw("fig_pretrain_curves", tmp_path / "c.pdf", pretrain_metrics=csv, study="demo", dpi=50)
    assert [t for t in figs[-1].texts if t.get_gid() == "demo-note"]


def test_cli_takes_the_figure_settings_from_a_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`isoclr figures --config`: the size figure gets the config's encoders and study (banner)."""
    from isoclr.cli import main

    metrics = tmp_path / "metrics.tsv"
    _size_metrics({"isoclr-linear": 0.3, "mlm-linear": 0.2}, ["halflife_human"], 40).to_csv(metrics, sep="\t", index=False)
    figs = _capture(monkeypatch)
    assert main(["figures", "--figure", "fig_model_sizes", "--config", str(ROOT / "config" / "config.yaml"),
                 "--metrics", str(metrics), "--out", str(tmp_path / "s.pdf"), "--dpi", "50"]) == 0
    fig = figs[-1]
    assert [t for t in fig.texts if t.get_gid() == "demo-note"]
    assert len(fig.axes[0].containers) == 2  # isoclr_demo and mlm_demo


def test_a_long_note_is_wrapped_inside_the_saved_figure(tmp_path: Path) -> None:
    """The note under a figure stays inside the saved (tight) image, however long it is."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([0, 1], [0, 1])
    F._note(fig, ["63 genes, one transcript each, balanced classes", "perplexity 21",
                  "a gene with several terms counts for its rarest term", "colours: the three terms that cover the most genes"])
    note = next(t for t in fig.texts if t.get_gid() == "note")
    assert "\n" in note.get_text()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    tight = fig.get_tightbbox(renderer)  # inches: what bbox_inches="tight" saves
    extent = note.get_window_extent(renderer)
    assert extent.x1 / fig.dpi <= tight.x1 + 1e-6 and extent.x0 / fig.dpi >= tight.x0 - 1e-6
    assert extent.width / fig.dpi <= fig.get_figwidth() * 1.1  # about the figure's width, not one long line
    plt.close(fig)
