"""The HTML report (``snakemake --report results/report.html``) of the demo, rendered in headless
Chromium: it loads without JavaScript errors, shows the workflow description, every figure once
(PNG; no PDF duplicates) with a non-empty caption, the pre-training curves under one category,
and the metrics table as a browsable (filterable, sortable) table. Screenshots go to
``$ISOCLR_REPORT_SCREENSHOTS`` when set (else the test's temporary folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chromium import Browser, find_chromium

pytestmark = [pytest.mark.pipeline, pytest.mark.slow]

#: the demo's figures (config/config.yaml figures.names): every one in the report
_DEMO = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
FIGURES = list(_DEMO["figures"]["names"])
#: the demo's variant tables (config variants.vcfs): each in the report's Variants category
VARIANTS = [f"{name}.tsv" for name in (_DEMO.get("variants") or {}).get("vcfs", {})]
#: the demo's attributed heads (config attribute.heads): their figures and 3'UTR reading, in Attributions
HEADS = [h.split("/") for h in (_DEMO.get("attribute") or {}).get("heads", [])]


def attribution_entries(demo_repo: Path) -> tuple[list[str], list[str]]:
    """(PNG names, table names) the report shows for the attributed heads of the demo run."""
    res = demo_repo / "results" / "attributions"
    pngs = [p.name for task, model in HEADS for p in sorted((res / task / f"{model}.figures").glob("*.png"))]
    return pngs, [f"{model}.elements.tsv" for _task, model in HEADS]
assert {"fig_model_sizes", "fig4_tsne_go_biological_process", "fig4_tsne_go_molecular_function"} <= set(FIGURES)
CURVES = ["pretrain_curves_isoclr_demo", "pretrain_curves_mlm_demo"]


@pytest.fixture(scope="module")
def report(demo_repo: Path) -> Path:
    out = demo_repo / "results" / "report.html"
    r = subprocess.run([sys.executable, "-m", "snakemake", "--report", str(out.relative_to(demo_repo))],
                       cwd=demo_repo, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert out.stat().st_size > 100_000
    return out


@pytest.fixture(scope="module")
def browser() -> Browser:
    exe = find_chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (scripts/setup.sh --tests installs it)")
        pytest.skip("chromium is not installed (scripts/setup.sh --tests installs it)")
    pytest.importorskip("websocket", reason="websocket-client is not installed (scripts/setup.sh --tests)")
    with Browser(exe) as b:
        yield b


def _shots(tmp_path: Path) -> Path:
    d = Path(os.environ.get("ISOCLR_REPORT_SCREENSHOTS") or tmp_path)
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_report_in_chromium(report: Path, browser: Browser, tmp_path: Path, demo_repo: Path) -> None:
    shots = _shots(tmp_path)
    att_pngs, att_tables = attribution_entries(demo_repo)
    assert len(att_pngs) == len(HEADS) * min(_DEMO["attribute"]["transcripts"], _DEMO["attribute"]["figures"])
    browser.open(report.as_uri(), settle=3)
    assert browser.errors == [], browser.errors
    text = browser.evaluate("document.body.innerText")
    assert "isoclr reproduces IsoCLR" in text and "arXiv:2310.08738" in text  # the workflow description
    browser.screenshot(shots / "report_start.png")

    entries = browser.evaluate("Object.values(results).map(r => [r.name, r.mime_type, r.caption.length])")
    names = [n for n, _, _ in entries]
    # every figure once, as PNG; the PDFs are not registered; the metrics table as HTML
    assert sorted(names) == sorted([f"{f}.png" for f in FIGURES + CURVES] + ["metrics.html", "paper_comparison.html"]
                                   + VARIANTS + att_pngs + att_tables), names
    assert all(length > 200 for _, _, length in entries), entries  # captions say what and how
    cats = browser.evaluate("Object.fromEntries(Object.entries(categories).map(([c, s]) => "
                            "[c, Object.values(s).flat().map(p => p.split('/').pop())]))")
    assert set(cats) == ({"Figures", "Metrics", "Pre-training"} | ({"Variants"} if VARIANTS else set())
                         | ({"Attributions"} if HEADS else set())), cats
    assert sorted(cats.get("Attributions", [])) == sorted(att_pngs + att_tables)
    assert sorted(cats["Pre-training"]) == sorted(f"{c}.png" for c in CURVES)
    assert not [n for n in cats["Figures"] if n.startswith("pretrain_curves")]

    # each figure shown as a user gets there (its category, then the result: caption in the side
    # bar, the image in the main panel); the image decodes, at a sensible size
    for name in FIGURES + CURVES:
        category = "Pre-training" if name.startswith("pretrain_curves") else "Figures"
        browser.evaluate(f"app.showCategory('{category}')")
        browser.pump(0.3)
        size = browser.evaluate(
            "(async () => { const [p, r] = Object.entries(results).find(([p, r]) => r.name === "
            f"'{name}.png'); app.showResultInfo(p); await new Promise(ok => setTimeout(ok, 200));"
            " app.setView({content: 'img', contentPath: r.data_uri, resultPath: p});"
            " await new Promise(ok => setTimeout(ok, 400)); const img = document.querySelector('#app img[src^=\"data:image/png\"]');"
            " return img && img.complete ? [img.naturalWidth, img.naturalHeight] : null; })()"
        )
        assert size and size[0] > 400 and size[1] > 200, (name, size)
        caption = browser.evaluate("document.body.innerText")
        assert "Vector version" in caption, (name, caption[:500])  # the caption is on screen
        if name in ("fig2c_halflife_linear_probe_pearson", "pretrain_curves_isoclr_demo", "fig_linear_probe_comparison"):
            browser.screenshot(shots / f"report_{name}.png")
    # the metrics table, as the report shows it (an iframe of the HTML page)
    browser.evaluate("app.showCategory('Metrics')")
    browser.pump(0.3)
    browser.evaluate("(async () => { const [p, r] = Object.entries(results).find(([p, r]) => r.name === 'metrics.html');"
                     " app.showResultInfo(p); await new Promise(ok => setTimeout(ok, 200));"
                     " app.setView({content: 'html', contentPath: r.data_uri, resultPath: p}); })()")
    browser.pump(2)
    assert browser.evaluate("document.querySelectorAll('#app iframe').length") == 1
    assert "Metrics table" in browser.evaluate("document.body.innerText")
    browser.screenshot(shots / "report_metrics.png")
    assert browser.errors == [], browser.errors


def test_metrics_table_filters_and_sorts(report: Path, browser: Browser, tmp_path: Path) -> None:
    """The table page itself (the HTML the report embeds): rows, filter box, sortable columns."""
    page = tmp_path / "metrics.html"
    page.write_bytes((report.parent / "metrics" / "metrics.html").read_bytes())
    browser.errors.clear()
    browser.open(page.as_uri(), settle=0.5)
    head = browser.evaluate("Array.from(document.querySelectorAll('thead th')).map(th => th.textContent)")
    assert head == ["task", "species", "metric", "model", "fraction", "mean", "sd", "folds", "n_train"]
    n = browser.evaluate("document.querySelectorAll('tbody tr').length")
    assert n > 50
    shown = browser.evaluate(
        "(() => { const f = document.getElementById('filter'); f.value = 'halflife_human pearson isoclr-linear';"
        " f.dispatchEvent(new Event('input')); return Array.from(document.querySelectorAll('tbody tr'))"
        ".filter(r => r.style.display !== 'none').map(r => r.textContent); })()"
    )
    assert 0 < len(shown) < n and all("pearson" in r and "isoclr-linear" in r for r in shown)
    means = browser.evaluate(
        "(() => { document.querySelectorAll('thead th')[5].click(); return Array.from(document.querySelectorAll('tbody tr'))"
        ".filter(r => r.style.display !== 'none').map(r => parseFloat(r.cells[5].textContent)); })()"
    )
    assert means == sorted(means)
    assert browser.errors == [], browser.errors


def test_report_data_is_embedded(report: Path, demo_repo: Path) -> None:
    """Self-contained: figures are embedded as data URIs (the file opens anywhere)."""
    html = report.read_text()
    att_pngs, _ = attribution_entries(demo_repo)
    assert html.count("data:image/png;") == len(FIGURES + CURVES + att_pngs)  # each figure once
    assert html.count("data:text/html;") == 2  # the metrics table and the paper comparison
    assert "data:application/pdf" not in html
