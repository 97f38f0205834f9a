"""Dry runs of the whole workflow: the paper config plans every task x model x fraction x fold.

Each plan runs `snakemake -n --quiet rules` in a subprocess with the results folder pointed at
an empty temporary directory (so nothing counts as done) and compares the planned jobs per rule
with the counts worked out here from the config file alone.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NETWORK = {"isoclr-finetune", "supervised", "saluki"}

pytestmark = pytest.mark.pipeline


def planned_jobs(configfile: str, results: Path) -> tuple[dict[str, int], float]:
    """Rule -> planned job count of a dry run, and its wall time in seconds."""
    exe = shutil.which("snakemake")
    if exe is None:
        pytest.skip("snakemake is not installed")
    cmd = [exe, "-n", "--quiet", "rules", "--configfile", configfile, "--config", f"results={results}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", proc.stdout + proc.stderr, re.MULTILINE)}
    assert "total" in counts, proc.stdout[-2000:]
    return counts, elapsed


def expected_counts(config: dict) -> dict[str, int]:
    """Evaluation jobs implied by a config: tasks x models x fractions x folds, one embedding
    per (encoder, task) pair of the linear models plus the t-SNE figure's."""
    ev = config["evaluation"]
    fractions = ev.get("fractions") or config["tasks"]["fractions"]
    folds = ev.get("folds")
    n_folds = len(folds) if folds is not None else config["tasks"]["n_folds"]
    linear = network = 0
    embeddings: set[tuple[str, str]] = set()
    for task, models in ev["tasks"].items():
        models = ev["models"] if models is None else models
        for model in models:
            if model in NETWORK:
                network += len(fractions) * n_folds
            else:
                linear += len(fractions) * n_folds
                embeddings.add((model.removesuffix("-linear"), task))
    fig = config.get("figures", {})
    if fig.get("tsne_task") and fig.get("tsne_encoder"):
        embeddings.add((fig["tsne_encoder"], fig["tsne_task"]))
    return {"evaluate_linear": linear, "evaluate_network": network, "embed_task": len(embeddings), "collect_metrics": 1}


def load_config(configfile: str) -> dict:
    """The config snakemake sees for a study file (it declares `study:`, so it is the whole base)."""
    return yaml.safe_load((ROOT / configfile).read_text())


def _check(configfile: str, tmp_path: Path) -> tuple[dict[str, int], float, dict[str, int]]:
    config = load_config(configfile)
    counts, elapsed = planned_jobs(configfile, tmp_path / "results")
    want = expected_counts(config)
    for rule, n in want.items():
        assert counts.get(rule, 0) == n, (rule, counts.get(rule, 0), n)
    return counts, elapsed, want


@pytest.mark.slow
def test_paper_plan_every_task_model_fraction_fold(tmp_path: Path) -> None:
    counts, elapsed, want = _check("config/paper.yaml", tmp_path)
    ev = yaml.safe_load((ROOT / "config/paper.yaml").read_text())["evaluation"]
    # the paper study: every task, every fraction of the task stage, every fold
    assert ev.get("fractions") is None and ev.get("folds") is None
    assert set(ev["tasks"]) >= {"halflife_human", "go_mf_human"}
    assert counts["pretrain"] == len(yaml.safe_load((ROOT / "config/paper.yaml").read_text())["pretrain"]["models"])
    assert counts["pretrain"] >= 2  # at least the isoclr and mlm encoders, no demo models
    # The requirement is < 30 s on an idle machine (measured and reported); the shared CI/dev
    # machine can be several times slower, hence the looser bound here.
    assert elapsed < 120, f"planning took {elapsed:.1f} s"
    print(f"paper plan: {counts['total']} jobs ({want}) in {elapsed:.1f} s")


def test_demo_plan_counts(tmp_path: Path) -> None:
    counts, elapsed, want = _check("config/config.yaml", tmp_path)
    print(f"demo plan: {counts['total']} jobs ({want}) in {elapsed:.1f} s")


def test_human_mrna_plan(tmp_path: Path) -> None:
    """The 4,000-mRNA study plans from the transcriptome input: the store from transcripts (+ gene
    map) and its annotation, no genome; both encoders; every task x model x fraction x fold."""
    counts, elapsed, want = _check("config/human_mrna.yaml", tmp_path)
    config = load_config("config/human_mrna.yaml")
    from isoclr.settings import downloads

    planned = downloads(config)  # what the one download rule fetches (path -> remote)
    assert counts["store"] == 1 and counts["download"] == len(planned)
    assert {"human/transcripts.fa.gz", "human/gene_map.tsv.gz"} <= set(planned)
    assert "human/genome.fa.gz" not in planned
    assert counts["pretrain"] == 2 == len(config["pretrain"]["models"])
    assert config["results"] == "results/human_mrna"
    assert set(config["evaluation"]["models"]) == {"isoclr-linear", "mlm-linear", "random-linear",
                                                    "isoclr-finetune", "supervised", "saluki"}
    print(f"human_mrna plan: {counts['total']} jobs ({want}) in {elapsed:.1f} s")
