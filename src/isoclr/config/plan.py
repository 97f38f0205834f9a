"""What a study costs before it runs: jobs per rule, GPU hours, disk and peak memory.

``isoclr plan --configfile config/paper.yaml [OVERRIDES.yaml ...]`` reads the config as the
Snakefile does (:func:`isoclr.config.load.load_config`: a file declaring ``study:`` is the base, every other file
an override deep-merged over it in order; without a study file the demo ``config/config.yaml``
is the base) and prints

* **jobs per rule**, counted from the job graph (:mod:`isoclr.config.study`, :mod:`isoclr.config.graph`: the same functions the
  rules' target lists use): downloads, one store per species, homology and splits, one
  pre-training per ``pretrain.models`` entry, the tasks the study builds, one embedding per
  (encoder, task) pair of the linear models and t-SNE figures, one evaluation job per task x
  model x fraction x run, the metrics, tables and every figure; ``tests/test_plan.py`` checks
  each count against ``snakemake -n`` for the demo, paper and human-mRNA configs;
* **resources per rule**: threads, memory, runtime and GPUs a job asks for (config
  ``resources`` / ``pretrain``, else the rule's default read from ``rules/*.smk``), so the
  study's peak memory is the largest per-job request (what a node must offer);
* **GPU hours** from :mod:`isoclr.config.cost` and the measured throughput tables
  (``benchmarks/results/bench_gpu_*.tsv``): pre-training per model and the evaluation grid;
* **disk**: downloads (the config's ``size`` where given, else :data:`DOWNLOAD_BYTES`),
  stores (measured bytes per nucleotide x :data:`TRANSCRIPTOME_NT` per species), checkpoints
  (parameters from the architecture, weights + two AdamW moments, ``keep_checkpoints`` + 1
  copies), embeddings (rows x width x 4 bytes) and tasks;

with every assumption listed under the tables.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from isoclr.config import cost as C
from isoclr.config import graph, load, registry, study
from isoclr.config.load import DEFAULT_CONFIG, SCHEMA_PATH
from isoclr.config.settings.attribute import attribute_heads
from isoclr.config.settings.pretrain import PretrainSettings
from isoclr.config.settings.tasks import TaskStageSettings
from isoclr.pretrain import architecture
from isoclr.variants import settings as VS

#: Compressed size assumed for a download whose config gives no ``size`` (bytes), by kind: a
#: vertebrate genome FASTA.gz (GRCh38 primary assembly: ~0.9 GB), an annotation (GENCODE v41
#: GTF.gz: ~50 MB), a homology table, a label / GO file.
DOWNLOAD_BYTES = {"genome": 9e8, "transcripts": 1e8, "gene_map": 5e6, "annotation": 5e7, "homology": 1e8, "files": 5e7}
#: Mature-transcript nucleotides assumed per species store (GENCODE human comprehensive: about
#: 250,000 transcripts of ~2.4 kb on average, ~6e8 nt); the demo's stores are measured instead
#: from its resources when they exist (not here: an assumption for every study).
TRANSCRIPTOME_NT = 6e8
#: Store bytes per nucleotide, measured (benchmarks/results/build.tsv, `isoclr build`).
STORE_BYTES_PER_NT_DEFAULT = 0.448
#: Width of an external encoder's embedding when unknown (RNA-FM, SpliceBERT: 640 / 512).
EXTERNAL_WIDTH = 640


# ---------------------------------------------------------------------------------------------
# jobs and resources
# ---------------------------------------------------------------------------------------------
def needed_downloads(config: Mapping[str, Any]) -> dict[str, str]:
    """The downloads the study fetches (path under downloads/ -> kind): every species' sequence
    and annotation, the homology tables, and the label/GO files of the tasks it builds."""
    out: dict[str, str] = {}
    for sp, spec in (config.get("species") or {}).items():
        if "genome" in spec:
            out[study.genome_download(sp)] = "genome"
        for key in registry.SPECIES_INPUTS.values():
            if key in spec:
                out[study.species_input_download(sp, key)] = key
        if "annotation" in spec:  # none for a GENCODE header FASTA
            out[study.annotation_download(config, sp)] = "annotation"
    for name in ((config.get("homology") or {}).get("sources") or {}):
        out[study.homology_download(name)] = "homology"
    files = set((config.get("download") or {}).get("files") or {})
    for task in graph.built_tasks(config):
        spec = TaskStageSettings.from_config(config, task).spec
        for key in ("labels", "obo", "gaf", "gene_ids"):
            if spec.get(key) in files:
                out[study.file_download(str(spec[key]))] = "files"
    return out


def job_counts(config: Mapping[str, Any]) -> dict[str, int]:
    """Jobs per rule of the whole study (what ``snakemake -n`` plans on an empty results folder)."""
    tasks = graph.built_tasks(config)
    jobs = study.eval_jobs(config)
    evaluated = bool(study.eval_tasks(config))
    figures = list(config["figures"]["names"]) + [f"pretrain_curves_{m}" for m in study.pretrain_models(config)]
    kept = study.kept_heads(config)  # network jobs that also keep their head (rule evaluate_network_head)
    variants = {v for m in study.pretrain_models(config) if (v := study.pretrain_data(config, m)) is not None}
    diagnosed = study.diagnostics_encoders(config)
    counts = {
        "download": len(needed_downloads(config)),
        "store": len(config.get("species") or {}),
        "homology": 1,
        "homology_isoforms": int(any(v.endswith(".isoforms") for v in variants)),
        "splits": 1,
        "model_sets": len(variants),
        "pretrain": len(study.pretrain_models(config)),
        "tasks": sum(study.task_kind(config, t) != "mrl_arrays" for t in tasks),
        "task_arrays": sum(study.task_kind(config, t) == "mrl_arrays" for t in tasks),
        "embed_task": len(graph.embedding_jobs(config)),
        "evaluate_linear": sum(m not in registry.NETWORK_MODELS for _, m, _, _ in jobs),
        "evaluate_network": sum(m in registry.NETWORK_MODELS for _, m, _, _ in jobs) - len(kept),
        "evaluate_network_head": len(kept),
        "collect_metrics": int(evaluated),
        "tables": int(evaluated),
        "figures": len(figures),
        "variants_genome": len(VS.variant_species(config)),
        "variants": len(VS.vcf_names(config)),
        "attribute": len(attribute_heads(config)),
        "diagnostics": len(diagnosed),
        "diagnostics_figure": int(bool(diagnosed)),
        "all": 1,
    }
    return {rule: n for rule, n in counts.items() if n}


#: rules whose jobs take another rule's resources (config `resources`, rules-file defaults)
RESOURCE_RULE = {"evaluate_network_head": "evaluate_network"}
#: `rule_resources("RULE", "KEY", DEFAULT)` in a rules file, DEFAULT a number
_RESOURCE = re.compile(r"""rule_resources\(\s*["'](\w+)["']\s*,\s*["'](\w+)["']\s*,\s*([0-9.]+)\s*\)""")


def rule_defaults(rules_dir: str | Path = "rules") -> dict[str, dict[str, float]]:
    """Each rule's default resources as its rules file states them (numbers only)."""
    out: dict[str, dict[str, float]] = {}
    for path in sorted(Path(rules_dir).glob("*.smk")):
        for rule, key, value in _RESOURCE.findall(path.read_text(encoding="utf-8")):
            out.setdefault(rule, {})[key] = float(value)
    return out


def resources(config: Mapping[str, Any], rules_dir: str | Path = "rules") -> dict[str, dict[str, float]]:
    """Per rule: threads, mem_mb, runtime (minutes) and gpu a job asks for (config over defaults)."""
    defaults = rule_defaults(rules_dir)
    pre = config["pretrain"]
    out = {}
    for rule in job_counts(config):
        key = RESOURCE_RULE.get(rule, rule)
        r = {"threads": 1.0, "mem_mb": 0.0, "runtime": 0.0, "gpu": 0.0, **defaults.get(key, {})}
        if rule == "pretrain":
            # the pretrain rule's resources come from config `pretrain` (schema defaults filled)
            r.update(threads=float(pre["threads"]), gpu=float(pre["gpus"]),
                     mem_mb=float(pre["mem_mb"]), runtime=float(pre["runtime"]))
        r.update({k: float(v) for k, v in ((config.get("resources") or {}).get(key) or {}).items()
                  if isinstance(v, (int, float))})
        out[rule] = r
    return out


# ---------------------------------------------------------------------------------------------
# disk
# ---------------------------------------------------------------------------------------------
def store_bytes_per_nt(build_tsv: str | Path | None) -> tuple[float, str]:
    if build_tsv and Path(build_tsv).exists():
        with open(build_tsv, newline="") as fh:
            for r in csv.DictReader(fh, delimiter="\t"):
                if r.get("tool", "").startswith("isoclr build") and r.get("output_bytes_per_nt"):
                    return float(r["output_bytes_per_nt"]), f"measured ({build_tsv})"
    return STORE_BYTES_PER_NT_DEFAULT, "default"


def disk(config: Mapping[str, Any], task_rows: Mapping[str, int], build_tsv: str | Path | None = None) -> list[dict[str, Any]]:
    """Estimated bytes per output kind (see the module docstring for the assumptions)."""
    rows = []
    remote = study.downloads(config)
    dl = 0.0
    for path, kind in needed_downloads(config).items():
        spec = remote.get(path, {})
        local = Path(str(spec.get("url", "")).removeprefix("file://").removeprefix("file:"))
        if spec.get("size"):
            dl += float(spec["size"])
        elif str(spec.get("url", "")).startswith("file:") and local.is_file():
            dl += local.stat().st_size  # a local file (the demo's resources): its size
        else:
            dl += DOWNLOAD_BYTES[kind]
    rows.append({"what": "downloads/", "bytes": dl})
    per_nt, _ = store_bytes_per_nt(build_tsv)
    rows.append({"what": "stores/", "bytes": len(config.get("species") or {}) * TRANSCRIPTOME_NT * per_nt})
    ck = 0.0
    for m in study.pretrain_models(config):
        s = PretrainSettings.from_config(config, m)
        n = architecture.encoder_parameters(s.arch_config()) + architecture.projector_parameters(s.arch_config())
        ck += n * 4 * 3 * (s.keep_checkpoints + 1)  # weights + 2 AdamW moments, float32
    rows.append({"what": "pretrain/ (checkpoints)", "bytes": ck})
    emb = 0.0
    for encoder, task in graph.embedding_jobs(config):
        emb += task_rows.get(task, 0) * 4 * _width(config, encoder)
    rows.append({"what": "embeddings/", "bytes": emb})
    rows.append({"what": "tasks/, eval/, metrics/, figures/ (small)",
                 "bytes": sum(task_rows.get(t, 0) for t in graph.built_tasks(config)) * 200.0 + 2e4 * len(study.eval_jobs(config))})
    return rows


def _width(config: Mapping[str, Any], encoder: str) -> int:
    if encoder == "naive":
        return sum(4**k for k in range(3, 7)) + 5
    if encoder.startswith("external-"):
        return EXTERNAL_WIDTH
    model = study.pretrain_model_of(config, encoder)
    return int(architecture.resolve_config(PretrainSettings.from_config(config, model).arch_config())["h_dim"])


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
def _bytes(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:.0f} B"


def _hours(v: float) -> str:
    return "n/a" if math.isnan(v) else (f"{v:,.0f}" if v >= 100 else f"{v:,.1f}" if v >= 1 else f"{v:.2f}")


def built_task_rows(config: Mapping[str, Any]) -> dict[str, int]:
    """Labelled rows of the study's tasks already built (``{results}/tasks/TASK.report.tsv``,
    its ``labels matched`` row), so a built study is costed on its own sizes."""
    out = {}
    for task in graph.built_tasks(config):
        path = Path(str(config.get("results", "results")), "tasks", f"{task}.report.tsv")
        if not path.exists():
            continue
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh, delimiter="\t"):
                if r.get("section") == "labels" and r.get("reason") == "matched" and str(r.get("count", "")).isdigit():
                    out[task] = int(r["count"])
    return out


def bench_tables(bench: Sequence[str | Path] | None, root: str | Path = ".") -> list[Path]:
    """The throughput tables: given, else every benchmarks/results/bench_gpu_*.tsv (GPU first)."""
    if bench:
        return [Path(b) for b in bench]
    found = sorted(Path(root, "benchmarks", "results").glob("bench_gpu_*.tsv"))
    return sorted(found, key=lambda p: "cpu" in p.name)


def report(config: Mapping[str, Any], bench: Sequence[str | Path], rules_dir: str | Path = "rules",
           build_tsv: str | Path | None = None, task_rows: Mapping[str, int] | None = None,
           train_sets: int | None = None, configfiles: Sequence[str] = ()) -> str:
    """The plan as markdown: jobs and resources per rule, GPU hours, disk, memory, assumptions."""
    built = built_task_rows(config)
    rows_by_task = {**C.TASK_ROWS, **built, **(task_rows or {})}
    counts = job_counts(config)
    res = resources(config, rules_dir)
    study = config.get("study", "?")
    lines = [f"# Plan of study `{study}`" + (f" ({' + '.join(configfiles)})" if configfiles else ""), "",
             f"{sum(counts.values()):,} jobs; results in `{config.get('results', 'results')}/`.", "",
             "| rule | jobs | threads | mem_mb per job | runtime (min) per job | GPUs per job |", "|---|---:|---:|---:|---:|---:|"]
    for rule, n in counts.items():
        r = res[rule]
        mem = f"{r['mem_mb']:,.0f}" if r["mem_mb"] else "-"  # no request: Snakemake's default
        runtime = f"{r['runtime']:,.0f}" if r["runtime"] else "-"
        lines.append(f"| {rule} | {n:,} | {r['threads']:g} | {mem} | {runtime} | {r['gpu']:g} |")
    lines.append(f"| **total** | **{sum(counts.values()):,}** | | | | |")
    peak = max(res.values(), key=lambda r: r["mem_mb"])
    peak_rule = next(k for k, r in res.items() if r is peak)
    requested_gpu_h = sum(counts[k] * r["gpu"] * r["runtime"] / 60 for k, r in res.items())
    lines += ["", (f"Peak memory: {peak['mem_mb']:,.0f} MB per job ({peak_rule}; the largest request, what one node must offer). "
              f"GPU hours requested (jobs x GPUs x runtime limit, an upper bound): {requested_gpu_h:,.0f}."), ""]
    paths = [p for p in bench if Path(p).exists()]
    if paths:
        rates = C.read_bench(paths)
        n_sets, source = C.train_sets(config, fallback=train_sets or C.PAPER_TRAIN_SETS_ESTIMATE)
        cost_rows = C.plan(config, rates, n_sets, epochs=None, task_rows=rows_by_task)
        lines += [f"## Device hours (measured throughput: {', '.join(str(p) for p in paths)})", "",
                  "| device | job | size | jobs | devices per job | wall h | device h |", "|---|---|---|---:|---:|---:|---:|"]
        for r in cost_rows:
            lines.append(f"| {str(r['device_name']).split(';')[0]} | {r['job']} | {r['size']} | {r['jobs']} | "
                         f"{r['devices_per_job']} | {_hours(r['wall_h'])} | {_hours(r['device_h'])} |")
        for dev in sorted({r["device_name"] for r in cost_rows}):
            total = sum(r["device_h"] for r in cost_rows if r["device_name"] == dev and r["device_h"] == r["device_h"])
            lines.append(f"| {str(dev).split(';')[0]} | **total** | | | | | **{_hours(total)}** |")
        peak_gpu = _gpu_memory(config, paths)
        lines += ["", ("GPU memory per process (measured peak at the benchmark's batch, scaled linearly to the "
                       "config's batch per GPU): " + "; ".join(peak_gpu) + ".") if peak_gpu else
                  "GPU memory: no GPU row in the throughput tables yet (docs/gpu.md has the measuring command)."]
        lines += ["", f"Training sets: {n_sets:,} ({source})."]
    else:
        lines += ["No throughput table (benchmarks/results/bench_gpu_*.tsv): no device hours."]
    lines += ["", "## Disk (estimate)", "", "| output | bytes |", "|---|---:|"]
    d = disk(config, rows_by_task, build_tsv)
    lines += [f"| {r['what']} | {_bytes(r['bytes'])} |" for r in d]
    lines += [f"| **total** | **{_bytes(sum(r['bytes'] for r in d))}** |", ""]
    per_nt, per_nt_src = store_bytes_per_nt(build_tsv)
    lines += ["Assumptions:",
              "- job counts: the settings' fan-out on an empty results folder (what `snakemake -n` plans); done jobs are not subtracted;",
              "- resources: config `resources`/`pretrain` over each rule's default (rules/*.smk); runtime is the job's limit, not a measurement;",
              ("- pre-training: nucleotides = epochs x training sets x 2 views x 2,980 nt (mean human mRNA length); "
              "rate = best measured nt/s of the model's size (bf16 preferred); multi-GPU scaling 0.9 (not measured);"),
              ("- evaluation: fine-tune/supervised/Saluki jobs at most `finetune.max_epochs` epochs over fraction x (n_folds - 2)/n_folds "
              "of each task's labelled rows (early stopping makes it fewer), Saluki and external encoders at the small encoder's rate; "
              "embeddings at 3x the training rate (inference); naive features on CPU, not counted;"),
              "- labelled rows per task: " + ", ".join(f"{t} {rows_by_task[t]:,}" for t in graph.built_tasks(config) if t in rows_by_task)
              + (f" (built: {', '.join(sorted(built))} from their task reports; the others" if built else " (")
              + ("" if built else "the") + " label files' gene counts, estimates; `--task-rows TASK=N` to change);",
              (f"- disk: downloads as the config's `size` (local `file:` URLs: their size), else {', '.join(f'{k} {_bytes(v)}' for k, v in DOWNLOAD_BYTES.items())}; "
              f"stores {TRANSCRIPTOME_NT:.1e} nt per species x {per_nt} bytes/nt ({per_nt_src}); checkpoints: float32 weights + 2 AdamW "
              f"moments x (keep_checkpoints + 1); embeddings: rows x width x 4 bytes (external encoders {EXTERNAL_WIDTH} wide).")]
    return "\n".join(lines) + "\n"


def _gpu_memory(config: Mapping[str, Any], bench: Sequence[str | Path]) -> list[str]:
    """Measured peak device memory per size, scaled to each model's batch per GPU."""
    peaks: dict[tuple[str, str], tuple[float, float]] = {}
    for path in bench:
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh, delimiter="\t"):
                try:
                    mem, batch = float(r.get("peak_mem_gib") or "nan"), float(r.get("batch_sets") or "nan")
                except ValueError:
                    continue
                # GPU rows only: a CPU row's peak is the process's RSS (interpreter included)
                if r.get("status") == "ok" and r.get("device") != "cpu" and math.isfinite(mem) and math.isfinite(batch):
                    key = (str(r.get("device_name", "?")).split(";")[0], r["size"])
                    peaks[key] = max(peaks.get(key, (0.0, batch)), (mem, batch))
    gpus = max(1, int((config.get("pretrain") or {}).get("gpus") or 1))
    out = []
    for m in study.pretrain_models(config):
        s = PretrainSettings.from_config(config, m)
        per_gpu = s.batch_size / gpus
        for (dev, size), (mem, batch) in sorted(peaks.items()):
            if size == s.size:
                out.append(f"{m} ({size}, {per_gpu:g} sets per GPU) {mem * per_gpu / batch:,.1f} GiB on {dev}")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configfile", nargs="+", required=True,
                        help="config file(s), as for snakemake: a file with `study:` is the base, others override it")
    parser.add_argument("--bench", nargs="+", default=None,
                        help="bench_gpu TSV(s) (default: every benchmarks/results/bench_gpu_*.tsv)")
    parser.add_argument("--build-bench", default="benchmarks/results/build.tsv", help="store build benchmark (bytes per nt)")
    parser.add_argument("--rules", default="rules", help="the workflow's rules folder (rule default resources)")
    parser.add_argument("--default-config", default=str(DEFAULT_CONFIG), help="the base when no file declares a study")
    parser.add_argument("--schema", default=str(SCHEMA_PATH))
    parser.add_argument("--train-sets", type=int, default=None, help="training sets (default: the paper config's estimate)")
    parser.add_argument("--task-rows", action="append", default=[], metavar="TASK=N", help="labelled rows of a task")
    parser.add_argument("--out", default=None, help="also write the plan (markdown) here")


def run(args: argparse.Namespace) -> int:
    config = load.load_config(args.configfile, args.default_config, args.schema)
    from isoclr.config.cost import parse_task_rows

    task_rows = parse_task_rows(args.task_rows)
    text = report(config, bench_tables(args.bench), args.rules, args.build_bench, task_rows, args.train_sets,
                  list(args.configfile))
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 0
