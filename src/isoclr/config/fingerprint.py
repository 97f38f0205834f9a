"""Code fingerprints: which library code a stage's jobs run, and a sha256 over it (a rule's
``code`` param, so Snakemake reruns a job when the code it runs changes, and only then).

A stage's code is found from its **entry points** (:func:`stage_entries`: the library
functions and classes its rules' scripts import, read from ``rules/*.smk`` (each rule's
``script:`` and ``code=code("STAGE")``) and the scripts themselves, plus
:data:`EXTRA_ENTRIES`) by following names, not whole modules: each
function or class reached contributes its own source, and what it refers to is followed in
turn (imports at the top of a module or inside a function alike, ``module.attr`` through a
module alias). A module-level constant counts when it is referred to (a figure registry, a
page template), each statement binding it; a class reached counts whole (its methods are
called through instances); a module reached also counts its top-level statements that bind
no name (they run on import). Imports and docstrings do not count by themselves. So

* a function no job calls (a CLI's ``add_arguments``/``run``, an HTML page another stage
  writes, a reader only another stage uses) is in no stage's fingerprint, even in a module
  a job imports; the log line every script writes (``isoclr.core.logs``) does not count;
* shared code (``isoclr.core`` and any helper) counts for every stage that calls it;
* :mod:`isoclr.config` is planning code, not job code: it is not followed. Each stage's own
  settings module (``isoclr.config.settings.STAGE``, where there is one) counts, whole, for
  that stage only.

Only this library's code counts (not third-party packages, not the rule's script shim).
``benchmarks/stage_fingerprints.py`` prints each stage's fingerprinted code.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]

#: the repository (rules/ and workflow/scripts/ say which scripts each stage's jobs run)
ROOT = PACKAGE_DIR.parents[1]
#: code a stage's jobs run besides what their scripts import: the multi-GPU pre-training job
#: runs ``isoclr pretrain`` under torchrun
EXTRA_ENTRIES: dict[str, tuple[str, ...]] = {"pretrain": ("pretrain.loop:run",)}
#: modules never followed: planning code (each stage's settings module counts via
#: stage_settings), and the job's log line (a log is not an output)
NOT_FOLLOWED = ("config", "cli", "core.logs")
#: a module's own top-level code (its constants and tables), as an item name
MODULE = ""


@dataclass
class _Module:
    tree: ast.Module
    source: str
    defs: dict[str, list[ast.stmt]]  # top-level functions, classes and the statements binding a name
    body: list[ast.stmt]  # top-level statements binding no name (no imports, docstring, __main__ block)
    imports: dict[str, tuple[str, str]]  # local name -> (isoclr module, attribute or "" for the module)


def _path(package_dir: Path, module: str) -> Path | None:
    base = package_dir / module.replace(".", "/") if module else package_dir
    for path in (base.with_suffix(".py") if module else None, base / "__init__.py"):
        if path is not None and path.exists():
            return path
    return None


def _is_main_block(node: ast.stmt) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


@functools.cache
def _parse(package_dir: Path, module: str) -> _Module | None:
    path = _path(package_dir, module)
    if path is None:
        return None
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    defs: dict[str, list[ast.stmt]] = {}
    body: list[ast.stmt] = []
    for i, node in enumerate(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs.setdefault(node.name, []).append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) or _is_main_block(node):
            continue
        elif i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        else:
            bound = {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)}
            for name in bound:
                defs.setdefault(name, []).append(node)
            if not bound:
                body.append(node)
    imports: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and (
                node.module == "isoclr" or node.module.startswith("isoclr.")):
            package = node.module.removeprefix("isoclr").lstrip(".")
            for alias in node.names:
                sub = f"{package}.{alias.name}" if package else alias.name
                target = (sub, "") if _path(package_dir, sub) is not None else (package, alias.name)
                imports[alias.asname or alias.name] = target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("isoclr.") and alias.asname:
                    imports[alias.asname] = (alias.name.removeprefix("isoclr."), "")
    return _Module(tree, source, defs, body, imports)


@functools.cache
def stage_scripts(root: Path = ROOT) -> dict[str, tuple[Path, ...]]:
    """Stage -> the scripts of the rules whose ``code`` param is ``code("STAGE")`` (rules/*.smk)."""
    out: dict[str, list[Path]] = {}
    for rules in sorted((root / "rules").glob("*.smk")):
        for block in re.split(r"^rule \w+:", rules.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
            stage = re.search(r"""code=code\(["'](\w+)["']\)""", block)
            script = re.search(r"""script:\s*["']([^"']+)["']""", block)
            if stage and script:
                out.setdefault(stage.group(1), []).append((rules.parent / script.group(1)).resolve())
    if not out:
        raise FileNotFoundError(f"no rule with a code param under {root / 'rules'} (the fingerprints need the repository)")
    return {stage: tuple(dict.fromkeys(paths)) for stage, paths in out.items()}


def stages(root: Path = ROOT) -> list[str]:
    return list(stage_scripts(root))


def stage_entries(stage: str, root: Path = ROOT) -> list[str]:
    """``module:name`` of every library function or class a stage's scripts import (and
    :data:`EXTRA_ENTRIES`); config and log modules are not entries."""
    entries = set(EXTRA_ENTRIES.get(stage, ()))
    for script in stage_scripts(root)[stage]:
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("isoclr."):
                module = node.module.removeprefix("isoclr.")
                if _followed(module):
                    entries.update(f"{module}:{alias.name}" for alias in node.names)
    return sorted(entries)


def stage_settings(stage: str, package_dir: Path = PACKAGE_DIR) -> tuple[str, ...]:
    """The stage's settings module, hashed whole (none for a stage without settings)."""
    module = f"config.settings.{stage}"
    return (module,) if _path(package_dir, module) is not None else ()


def _followed(module: str) -> bool:
    return not any(module == m or module.startswith(m + ".") for m in NOT_FOLLOWED)


def _item(package_dir: Path, module: str, name: str) -> tuple[str, str] | None:
    """The item ``module.name`` refers to: a function, class or constant, or the module's own code."""
    if not _followed(module):
        return None
    mod = _parse(package_dir, module)
    if mod is None:
        return None
    if name in mod.defs:
        return (module, name)
    if name in mod.imports:  # re-exported: follow it to where it is defined
        target, attr = mod.imports[name]
        return _item(package_dir, target, attr) if attr else (target, MODULE) if _followed(target) else None
    return (module, MODULE)


def _references(package_dir: Path, module: str, nodes: list[ast.stmt]) -> set[tuple[str, str]]:
    """The items the code in ``nodes`` (of ``module``) refers to."""
    mod = _parse(package_dir, module)
    assert mod is not None
    found: set[tuple[str, str] | None] = {(module, MODULE)} if mod.body else set()
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                target = mod.imports.get(node.value.id)
                if target and not target[1]:  # module alias .attr
                    sub = f"{target[0]}.{node.attr}" if target[0] else node.attr
                    if _path(package_dir, sub) is not None:
                        found.add((sub, MODULE) if _followed(sub) else None)
                    else:
                        found.add(_item(package_dir, target[0], node.attr))
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in mod.defs:
                    found.add((module, node.id))
                elif node.id in mod.imports:
                    target, attr = mod.imports[node.id]
                    found.add(_item(package_dir, target, attr) if attr else None)
    return {f for f in found if f is not None}


def _nodes(package_dir: Path, item: tuple[str, str]) -> list[ast.stmt]:
    mod = _parse(package_dir, item[0])
    assert mod is not None
    return mod.body if item[1] == MODULE else mod.defs[item[1]]


def stage_items(stage: str, package_dir: Path = PACKAGE_DIR) -> list[tuple[str, str]]:
    """Every (module, function, class or constant) a stage's jobs can run; ``""`` for a
    module's top-level statements that bind no name."""
    todo: list[tuple[str, str]] = []
    for entry in stage_entries(stage):
        module, name = entry.split(":")
        item = _item(package_dir, module, name)
        if item is None or item[1] != name:
            raise ValueError(f"stage {stage}: entry point {entry} is not defined in the library")
        todo.append(item)
    seen: set[tuple[str, str]] = set()
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        todo.extend(_references(package_dir, item[0], _nodes(package_dir, item)) - seen)
    return sorted(seen)


def stage_modules(stage: str, package_dir: Path = PACKAGE_DIR) -> list[str]:
    """The modules whose code a stage's jobs run (from :func:`stage_items`), and its settings module."""
    return sorted({m for m, _ in stage_items(stage, package_dir)} | set(stage_settings(stage, package_dir)))


def _segment(mod: _Module, node: ast.stmt) -> str:
    lines = mod.source.splitlines(keepends=True)
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "".join(lines[start - 1:node.end_lineno])


def _digest(stage: str, package_dir: Path) -> str:
    digest = hashlib.sha256()
    for module, name in stage_items(stage, package_dir):
        mod = _parse(package_dir, module)
        assert mod is not None
        text = "".join(_segment(mod, n) for n in _nodes(package_dir, (module, name)))
        digest.update(f"{module}:{name}".encode() + b"\0" + text.encode() + b"\0")
    for module in stage_settings(stage, package_dir):
        path = _path(package_dir, module)
        assert path is not None, module
        digest.update(module.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def source_fingerprint(stage: str) -> str:
    """sha256 over the code a stage's jobs run (:func:`stage_items`, each function's or
    class's source, and its settings module), e.g. for a rule's ``code`` param: editing that
    code changes it, so Snakemake reruns the stage's jobs; editing other code does not."""
    return _digest(stage, PACKAGE_DIR)


def fingerprints_of(package_dir: Path) -> dict[str, str]:
    """Every stage's :func:`source_fingerprint` for a copy of the package at ``package_dir``
    (read afresh: for tests that edit the copy)."""
    _parse.cache_clear()
    try:
        return {stage: _digest(stage, Path(package_dir)) for stage in stages()}
    finally:
        _parse.cache_clear()
