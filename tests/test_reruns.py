"""Reruns follow the code a job runs and nothing else: which stages' ``code`` fingerprint (a
rule's ``code`` param, isoclr.config.fingerprint) changes when one piece of the library is
edited. Each edit is made in a copy of the package; a stage not listed must keep its
fingerprint (its jobs are not replanned for code; what a changed output feeds downstream is
replanned by Snakemake through the files, as always)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from isoclr.config import fingerprint as F

PACKAGE = Path(F.__file__).resolve().parents[1]
ALL = set(F.stages())

#: (module file under src/isoclr, the function/class/constant edited or None for the whole
#: file's bytes, the stages whose code changes)
MATRIX = [
    # figures and the metrics page: the report only
    ("figures/draw.py", "fig2a_go_linear_probe", {"figures"}),
    ("figures/draw.py", "DRAW", {"figures"}),
    ("tables/html.py", "write_summary_html", {"collect", "tables"}),
    ("tables/html.py", "_PAGE", {"collect", "tables"}),  # the metrics page's template and CSS
    ("evaluate/collect.py", "collect_metrics", {"collect"}),
    ("tables/summary.py", "write_tables", {"tables"}),
    # a probe: the linear-probe (evaluation) jobs only
    ("evaluate/probes.py", "ridge_probe", {"evaluate"}),
    ("evaluate/probes.py", "linear_probe", {"evaluate"}),
    ("evaluate/metrics.py", "compute_metrics", {"evaluate"}),
    # fine-tuning: the network (evaluation) jobs; the embedding jobs only use its device resolver
    ("evaluate/finetune.py", "Trainer", {"evaluate"}),
    ("evaluate/embedder.py", "embed_store", {"embed", "variants", "diagnostics"}),
    # the loss and the loop: pre-training (its checkpoint then replans what reads it, by file)
    ("pretrain/losses.py", "dcl_loss", {"pretrain"}),
    ("pretrain/loop.py", "pretrain", {"pretrain"}),
    # the encoder: pre-training and the jobs that build or load one (embeddings, networks, variants,
    # attributions of kept heads)
    ("pretrain/model.py", "build_encoder", {"pretrain", "embed", "evaluate", "variants", "diagnostics", "attribute"}),
    ("diagnostics/measures.py", "effective_rank", {"diagnostics", "pretrain"}),  # logged while pre-training
    ("figures/diagnostics.py", "fig_diagnostics", {"diagnostics_figure"}),  # not the diagnostics tables
    # a stage's settings class: that stage only
    ("config/settings/pretrain.py", None, {"pretrain"}),
    ("config/settings/figures.py", None, {"figures"}),
    ("config/settings/evaluate.py", None, {"evaluate"}),
    ("config/settings/embed.py", None, {"embed"}),
    ("config/settings/tables.py", None, {"tables"}),
    ("config/settings/store.py", None, {"store"}),
    ("config/settings/diagnostics.py", None, {"diagnostics"}),
    # the annotation reader: the stores, the tasks (their join report reads the annotation) and
    # the variant scorer (it places variants on the annotation's transcripts)
    ("store/annotation.py", "read_annotation", {"store", "tasks", "variants"}),
    ("store/gtf.py", "read_gtf", {"store", "tasks", "variants"}),
    ("store/genome.py", "FastaReader", {"store", "variants"}),
    ("homology/merge.py", "build_sets", {"homology"}),
    ("splits/assign.py", "make_splits", {"splits"}),
    ("tasks/go.py", "read_obo", {"tasks"}),
    ("download/fetch.py", "fetch_once", {"download"}),
    # attributions: the attribution jobs only (the methods, the 3'UTR reading, the settings)
    ("attribute/methods.py", "ism", {"attribute"}),
    ("attribute/elements.py", "element_table", {"attribute"}),
    ("config/settings/attribute.py", None, {"attribute"}),
    # CLI-only code, planning code and library API no job calls: nothing
    ("evaluate/cli.py", None, set()),
    ("pretrain/loop.py", "add_arguments", set()),
    ("store/builder.py", "run", set()),
    ("figures/draw.py", "run", set()),
    ("evaluate/embedder.py", "Embedder", {"variants"}),  # the Python API: the variant scorer embeds with it
    ("config/graph.py", None, set()),
    ("config/study.py", None, set()),
    ("config/load.py", None, set()),
    ("config/plan.py", None, set()),
    ("cli.py", None, set()),
]


def _edit(path: Path, name: str | None) -> None:
    """Change the code of ``name`` (a comment inside it) or, for None, the file's bytes."""
    source = path.read_text(encoding="utf-8")
    if name is None:
        path.write_text(source + "\n# edited\n", encoding="utf-8")
        return
    tree = ast.parse(source)
    for node in tree.body:
        bound = {t.id for t in ast.walk(node) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
        if getattr(node, "name", None) == name or (isinstance(node, (ast.Assign, ast.AnnAssign)) and name in bound):
            break
    else:
        raise AssertionError(f"{path}: no top-level {name}")
    lines = source.splitlines(keepends=True)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        end = node.end_lineno  # a comment line inside a multi-line constant would change its value: edit the value
        lines[node.lineno - 1] = lines[node.lineno - 1].replace("=", "= (", 1)
        lines[end - 1] = lines[end - 1].rstrip("\n") + ")  # edited\n"
    else:
        last = node.body[-1]  # type: ignore[attr-defined]
        lines.insert(last.lineno - 1, " " * last.col_offset + "# edited\n")
    path.write_text("".join(lines), encoding="utf-8")
    ast.parse(path.read_text(encoding="utf-8"))  # still Python


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("pkg") / "isoclr"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root, F.fingerprints_of(root)


@pytest.mark.parametrize("module,name,stages", MATRIX, ids=[f"{m}:{n or 'file'}" for m, n, _ in MATRIX])
def test_an_edit_replans_exactly_these_stages(copy: tuple[Path, dict[str, str]], module: str, name: str | None,
                                              stages: set[str]) -> None:
    root, before = copy
    path = root / module
    original = path.read_bytes()
    try:
        _edit(path, name)
        after = F.fingerprints_of(root)
    finally:
        path.write_bytes(original)
    changed = {stage for stage in ALL if after[stage] != before[stage]}
    assert changed == stages


def test_the_copy_fingerprints_as_the_package(copy: tuple[Path, dict[str, str]]) -> None:
    _, before = copy
    assert before == {stage: F.source_fingerprint(stage) for stage in ALL}


def test_shared_core_code_counts_for_every_stage_that_calls_it(copy: tuple[Path, dict[str, str]]) -> None:
    root, before = copy
    path = root / "core" / "files.py"
    original = path.read_bytes()
    try:
        _edit(path, "atomic_path")
        after = F.fingerprints_of(root)
    finally:
        path.write_bytes(original)
    changed = {stage for stage in ALL if after[stage] != before[stage]}
    users = {stage for stage in ALL if ("core.files", "atomic_path") in F.stage_items(stage)}
    assert changed == users and {"store", "pretrain", "evaluate", "figures", "tables"} <= users


def test_every_entry_point_exists() -> None:
    for stage in ALL:
        assert F.stage_items(stage)  # raises if an entry point names nothing


def test_the_entry_points_are_what_the_scripts_import() -> None:
    """Read from the rules (script and code param) and the scripts: a new script, or a script
    calling another function, changes the fingerprint with no table to update."""
    assert ALL >= {"download", "store", "homology", "splits", "pretrain", "tasks", "embed", "evaluate",
                   "collect", "figures", "tables"}
    assert F.stage_entries("evaluate") == ["evaluate.jobs:evaluate_job"]
    assert "pretrain.loop:run" in F.stage_entries("pretrain")  # the multi-GPU job's torchrun launch
    assert not any(e.startswith(("config.", "core.logs:")) for s in ALL for e in F.stage_entries(s))
    assert F.stage_settings("collect") == () and F.stage_settings("pretrain") == ("config.settings.pretrain",)
