"""Dry runs of the whole workflow: the paper config plans every task x model x fraction x fold.

Each plan runs `snakemake -n --quiet rules` in a subprocess with the results folder pointed at
an empty temporary directory (so nothing counts as done) and compares the planned jobs per rule
with the counts worked out here from the config file alone.
"""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from isoclr.config import load

ROOT = Path(__file__).resolve().parents[1]
NETWORK = {"isoclr-finetune", "supervised", "saluki"}

pytestmark = pytest.mark.pipeline


def planned_jobs(configfile: str | list[str], results: Path) -> tuple[dict[str, int], float]:
    """Rule -> planned job count of a dry run, and its CPU time in seconds."""
    exe = shutil.which("snakemake")
    if exe is None:
        pytest.skip("snakemake is not installed")
    files = [configfile] if isinstance(configfile, str) else list(configfile)
    cmd = [exe, "-n", "--quiet", "rules", "--configfile", *files, "--config", f"results={results}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the dry run (user + system): the planning work, whatever else the machine
    # runs (its wall time on the shared 2-core test machine under load was up to 10x that)
    elapsed = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
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
    n_folds = len(folds) if folds is not None else ev.get("runs", 3)  # one test fold per run
    headline = {ev.get("isoclr_model"), ev.get("mlm_model")}
    others = [f"pretrained-{m}-linear" for m in config["pretrain"]["models"] if m not in headline]
    linear = network = kept = 0
    embeddings: set[tuple[str, str]] = set()
    for task, models in ev["tasks"].items():
        models = ev["models"] if models is None else models
        models = [x for m in models for x in (others if m == "pretrained-linear" else [m])]
        for model in models:
            if model in NETWORK:
                network += len(fractions) * n_folds
                # the fold-0 job at full data keeps its head: rule evaluate_network_head
                kept += int(1.0 in [float(f) for f in fractions] and 0 in (folds if folds is not None else [0]))
            else:
                linear += len(fractions) * n_folds
                embeddings.add((model.removesuffix("-linear"), task))
    fig = config.get("figures", {})
    tsne = {"fig4_tsne_go_cellular_component": "tsne_task", "fig4_tsne_go_molecular_function": "tsne_mf_task",
            "fig4_tsne_go_biological_process": "tsne_bp_task"}
    for name, key in tsne.items():
        if name in fig.get("names", []):
            embeddings.add((fig["tsne_encoder"], fig[key]))
    return {"evaluate_linear": linear, "evaluate_network": network - kept, "evaluate_network_head": kept,
            "embed_task": len(embeddings), "collect_metrics": 1}


def load_config(configfile: str) -> dict:
    """The config snakemake sees for a study file (it declares `study:`, so it is the whole base)."""
    from isoclr.config.load import load_config as load

    return load([ROOT / configfile])


def _check(configfile: str, tmp_path: Path) -> tuple[dict[str, int], float, dict[str, int]]:
    config = load_config(configfile)
    counts, elapsed = planned_jobs(configfile, tmp_path / "results")
    want = expected_counts(config)
    for rule, n in want.items():
        assert counts.get(rule, 0) == n, (rule, counts.get(rule, 0), n)
    # `isoclr plan` counts every rule's jobs exactly as the dry run plans them
    from isoclr.config import plan

    assert plan.job_counts(load.load_config([ROOT / configfile], ROOT / "config/config.yaml", ROOT / "config/schema.yaml")) == \
        {rule: n for rule, n in counts.items() if rule != "total"}
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
    # every pre-trained model is embedded and probed: small/mlm as isoclr/mlm, medium and large
    # as pretrained-NAME (one embedding per linear task, plus the t-SNE one of isoclr)
    paper = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    assert {"isoclr_small", "isoclr_medium", "isoclr_large"} <= set(paper["pretrain"]["models"])
    assert "pretrained-linear" in ev["models"]
    # every new figure and the BP t-SNE's task are planned
    assert counts["figures"] == len(paper["figures"]["names"]) + len(paper["pretrain"]["models"])
    assert {"fig_model_sizes", "fig4_tsne_go_biological_process", "fig4_tsne_go_molecular_function"} <= set(paper["figures"]["names"])
    assert counts["tasks"] + counts["task_arrays"] == 6  # the evaluated tasks + go_cc_human, go_bp_human (t-SNE)
    # the requirement: the paper study plans in under 30 s: about 4.5 CPU s (7 s wall on the
    # shared 2-core machine at light load); CPU time, so a loaded machine does not fail it
    assert elapsed < 30, f"planning took {elapsed:.1f} CPU s"
    print(f"paper plan: {counts['total']} jobs ({want}) in {elapsed:.1f} CPU s")


def test_demo_plan_counts(tmp_path: Path) -> None:
    counts, elapsed, want = _check("config/config.yaml", tmp_path)
    print(f"demo plan: {counts['total']} jobs ({want}) in {elapsed:.1f} s")


def test_human_mrna_plan(tmp_path: Path) -> None:
    """The 4,000-mRNA study plans from the transcriptome input: the store from transcripts (+ gene
    map) and its annotation, no genome; both encoders; every task x model x fraction x fold."""
    counts, elapsed, want = _check("config/human_mrna.yaml", tmp_path)
    config = load_config("config/human_mrna.yaml")
    from isoclr.config.study import downloads

    planned = downloads(config)  # what the one download rule fetches (path -> remote)
    assert counts["store"] == 1 and counts["download"] == len(planned)
    assert {"human/transcripts.fa.gz", "human/gene_map.tsv.gz"} <= set(planned)
    assert "human/genome.fa.gz" not in planned
    assert counts["pretrain"] == 2 == len(config["pretrain"]["models"])
    assert config["results"] == "results/human_mrna"
    assert set(config["evaluation"]["models"]) == {"isoclr-linear", "mlm-linear", "random-linear", "naive-linear",
                                                    "isoclr-finetune", "supervised", "saluki"}
    assert config["tasks"]["n_folds"] == 10 and config["evaluation"]["runs"] == 3
    print(f"human_mrna plan: {counts['total']} jobs ({want}) in {elapsed:.1f} s")


def test_human_mouse_mrna_plan(tmp_path: Path) -> None:
    """The two-species study: its model sets, diagnostics, kept heads and attributions are
    counted by `isoclr plan` as the dry run plans them (fractions_by_model included)."""
    from isoclr.config import plan

    counts, _ = planned_jobs("config/human_mouse_mrna.yaml", tmp_path / "results")
    got = plan.job_counts(load.load_config([ROOT / "config/human_mouse_mrna.yaml"], ROOT / "config/config.yaml",
                                           ROOT / "config/schema.yaml"))
    assert got == {rule: n for rule, n in counts.items() if rule != "total"}
    assert got["model_sets"] == 2 and got["homology_isoforms"] == 1 and got["diagnostics"] == 10
    assert got["evaluate_network_head"] == 8 and got["attribute"] == 2


def test_plan_layers_overrides_as_the_snakefile(tmp_path: Path) -> None:
    """An override without `study:` over the paper study: `isoclr plan` and the dry run agree
    (one run instead of three: a third of the evaluation jobs), and the CLI prints the table."""
    override = tmp_path / "one_run.yaml"
    override.write_text("evaluation:\n  runs: 1\nfigures:\n  names: [fig_model_sizes]\n")
    counts, _ = planned_jobs(["config/paper.yaml", str(override)], tmp_path / "results")
    from isoclr.cli import main
    from isoclr.config import plan

    config = load.load_config([ROOT / "config/paper.yaml", override], ROOT / "config/config.yaml", ROOT / "config/schema.yaml")
    assert config["evaluation"]["runs"] == 1 and config["study"] == "paper"  # deep-merged, study kept
    assert plan.job_counts(config) == {rule: n for rule, n in counts.items() if rule != "total"}
    full = plan.job_counts(load_config("config/paper.yaml"))
    assert 3 * counts["evaluate_linear"] == full["evaluate_linear"]
    out = tmp_path / "plan.md"
    assert main(["plan", "--configfile", str(ROOT / "config/paper.yaml"), str(override), "--out", str(out),
                 "--rules", str(ROOT / "rules"), "--default-config", str(ROOT / "config/config.yaml"),
                 "--schema", str(ROOT / "config/schema.yaml"), "--bench", str(ROOT / "benchmarks/results/bench_gpu_cpu.tsv"),
                 "--build-bench", str(ROOT / "benchmarks/results/build.tsv")]) == 0
    text = out.read_text()
    assert f"| evaluate_linear | {counts['evaluate_linear']:,} |" in text
    assert f"**{counts['total']:,}**" in text and "Device hours" in text and "Assumptions:" in text
    assert "| pretrain | 4 | 16 | 64,000 | 4,320 | 4 |" in text  # config pretrain: threads, mem, runtime, gpus


def test_plan_refuses_two_studies_and_unknown_keys(tmp_path: Path) -> None:
    from isoclr.config.base import ConfigError

    with pytest.raises(ConfigError, match="both declare a study"):
        load.load_config([ROOT / "config/paper.yaml", ROOT / "config/config.yaml"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("evaluation:\n  rnus: 1\n")
    with pytest.raises(ConfigError, match="rnus"):
        load.load_config([bad], ROOT / "config/config.yaml", ROOT / "config/schema.yaml")


def test_docs_quote_the_current_paper_plan() -> None:
    """README and docs/running.md quote `isoclr plan` for config/paper.yaml: the numbers follow
    the config (a changed config without updated docs fails here)."""
    from isoclr.config import plan

    config = load.load_config([ROOT / "config/paper.yaml"], ROOT / "config/config.yaml", ROOT / "config/schema.yaml")
    counts = plan.job_counts(config)
    total = sum(counts.values())
    readme = (ROOT / "README.md").read_text()
    assert f"config/paper.yaml` {total:,} jobs" in readme and f"({total:,} jobs)" in readme
    for rule in ("evaluate_linear", "evaluate_network"):
        assert f"{counts[rule]:,} " in readme, rule
    text = plan.report(config, [ROOT / "benchmarks/results/bench_gpu_cpu.tsv"], ROOT / "rules",
                       ROOT / "benchmarks/results/build.tsv")
    lines = text.splitlines()
    first = lines.index(next(line for line in lines if line.startswith("| rule |")))
    table = lines[first:first + len(counts) + 3]  # header, separator, one row per rule, total
    running = (ROOT / "docs/running.md").read_text()
    assert "\n".join(table) in running
    cpu_total = next(line for line in text.splitlines() if "**total**" in line and "CPU" in line).split("**")[-2]
    assert cpu_total in readme and cpu_total in running


def test_plan_gpu_memory_resources_and_disk_from_the_config(tmp_path: Path) -> None:
    """GPU memory: a GPU row's peak scaled to the batch per GPU (CPU rows are not GPU memory);
    resources: config over the rules' defaults; disk: checkpoints from the architecture."""
    from isoclr.config import plan
    from isoclr.pretrain import architecture

    config = load.load_config([ROOT / "config/paper.yaml"], ROOT / "config/config.yaml", ROOT / "config/schema.yaml")
    gpu = tmp_path / "bench_gpu_cuda.tsv"
    gpu.write_text("size\tprecision\tmode\tstatus\tnt_per_s\tdevice\tdevice_name\tpeak_mem_gib\tbatch_sets\n"
                   "small\tbf16\teager\tok\t1e6\tcuda\tGPU-X\t2.0\t64\n")
    mem = plan._gpu_memory(config, [gpu])
    assert "isoclr_small (small, 384 sets per GPU) 12.0 GiB on GPU-X" in mem  # 2 GiB x 384 / 64
    assert plan._gpu_memory(config, [ROOT / "benchmarks/results/bench_gpu_cpu.tsv"]) == []
    res = plan.resources(config, ROOT / "rules")
    assert res["evaluate_network"] == {"threads": 4, "mem_mb": 32000, "runtime": 480, "gpu": 1}  # config resources
    assert res["evaluate_linear"]["mem_mb"] == 4000 and res["store"]["mem_mb"] == 16000  # rules' defaults
    disk = {r["what"]: r["bytes"] for r in plan.disk(config, {"halflife_human": 10})}
    n = sum(architecture.encoder_parameters({"size": config["pretrain"]["models"][m]["size"]})
            + architecture.projector_parameters({"size": config["pretrain"]["models"][m]["size"]})
            for m in config["pretrain"]["models"])
    assert disk["pretrain/ (checkpoints)"] == n * 4 * 3 * 3  # fp32 weights + 2 moments, keep 2 + latest


def test_plan_costs_a_built_study_on_its_own_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built tasks count their matched labels (task report); local file: downloads their size."""
    from isoclr.config import plan

    monkeypatch.chdir(ROOT)  # the demo's file: URLs are relative to the repository
    config = load.load_config([ROOT / "config/config.yaml"])
    config["results"] = str(tmp_path)
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "halflife_human.report.tsv").write_text(
        "task\tsection\treason\tcount\texamples\tnote\nhalflife_human\tlabels\tin_label_table\t13921\t\t\n"
        "halflife_human\tlabels\tmatched\t63\t\t\n")
    assert plan.built_task_rows(config) == {"halflife_human": 63}
    text = plan.report(config, [], ROOT / "rules")
    assert "halflife_human 63" in text and "go_mf_human 20,728" in text
    downloads = next(r["bytes"] for r in plan.disk(config, {}) if r["what"] == "downloads/")
    assert 1e6 < downloads < 1e8  # the demo's resources (a few MB), not 3 assumed genomes


def test_plan_takes_the_pretraining_resources_from_the_schema() -> None:
    """A config that does not set pretrain threads/mem_mb/runtime asks for the schema's."""
    from isoclr.config import plan

    raw = load.layered([])
    for key in ("threads", "mem_mb", "runtime", "gpus"):
        raw["pretrain"].pop(key, None)
    res = plan.resources(load.complete(raw), ROOT / "rules")["pretrain"]
    schema = load.schema()["$defs"]["pretrain"]["properties"]
    assert res == {"threads": schema["threads"]["default"], "mem_mb": schema["mem_mb"]["default"],
                   "runtime": schema["runtime"]["default"], "gpu": schema["gpus"]["default"]}
    assert (res["threads"], res["mem_mb"], res["runtime"]) == (2, 8000, 60)
