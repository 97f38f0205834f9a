"""The conda environments in envs/: each parses, pins every package, and lists exactly the
third-party packages its rules import (checked statically: no conda on the test machines).

How the requirement is derived, for each rule with `conda:` and `script:`:
- the shim (workflow/scripts/NAME.py) and the isoclr modules it imports are parsed with `ast`;
  isoclr itself is installed into every environment by its post-deploy script (editable, with
  no dependencies: test_every_env_installs_isoclr_alone), so an environment lists only
  third-party packages;
- imports at module level, followed through isoclr modules, are HARD: they run when the shim
  starts, so the environment must have them;
- imports inside functions are LAZY: needed only on some code paths. An environment may list
  one (it must be imported somewhere on its rules' paths), and may leave one out only where
  LAZY_NOT_IN_ENV below says why.
Nothing else may be listed, apart from python and the CUDA meta-packages (ENV_META).
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "envs"
SRC = REPO / "src"

# import name -> conda package name
CONDA_NAME = {
    "sklearn": "scikit-learn",
    "torch": "pytorch",
    "yaml": "pyyaml",
    "PIL": "pillow",
    "isal": "python-isal",
    "Bio": "biopython",
}
# allowed without being imported: the interpreter, and what makes the torch build a CUDA one
ENV_META = {
    "torch.yaml": {"python", "pytorch-gpu", "cuda-version"},
}
ISAL_WHY = "ISA-L only speeds up writing stores and reading gzip genomes (data stage); these rules only read"
# lazy (function-level) imports an environment deliberately leaves out, with the reason
LAZY_NOT_IN_ENV = {
    "evaluate.yaml": {
        "python-isal": ISAL_WHY,
        "pytorch": "linear probes and metrics read precomputed embeddings; torch is imported "
        "only on the network-training paths, which run in envs/torch.yaml (evaluate_network)",
    },
    "figures.yaml": {
        "scipy": "figures summarise runs without intervals (isoclr.evaluate.metrics.summarise(ci=False)); "
        "only the interval (Student t) needs SciPy",
    },
    "attribute.yaml": {
        "python-isal": ISAL_WHY,
        "pyarrow": "only for .parquet attributions (isoclr attribute --out X.parquet); the pipeline writes .h5",
    },
    "torch.yaml": {
        "python-isal": ISAL_WHY,
        "transformers": "external encoders are optional: pip install 'isoclr[external]'",
        "multimolecule": "external encoders are optional: pip install 'isoclr[external]'",
        "pyarrow": "only for .parquet embeddings (isoclr embed / Embedder); the pipeline's embed_task writes .h5",
    },
}
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
# our own code and the Snakemake object the shims receive
OURS = {"isoclr", "snakemake"}


@dataclass
class Imports:
    hard: set[str] = field(default_factory=set)  # run when the shim starts
    lazy: set[str] = field(default_factory=set)  # inside functions the shim can reach


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != "isoclr":
        return None
    path = SRC.joinpath(*parts)
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _packages(names: set[str]) -> set[str]:
    out = set()
    for name in names:
        root = name.split(".")[0]
        if root in STDLIB or root in OURS:
            continue
        out.add(CONDA_NAME.get(root, root).lower())
        if name.startswith("torch.utils.tensorboard"):
            out.add("tensorboard")
    return out


@dataclass
class _Module:
    """One parsed file: top-level definitions, import bindings, and module-level code."""

    defs: dict[str, ast.AST]
    top_imports: list[str]  # modules imported at module level
    optional_imports: list[str]  # module level, under `try: ... except ImportError`
    bindings: dict[str, tuple[str, str | None]]  # alias -> (module, attribute or None)
    top_refs: list[ast.AST]  # module-level statements other than defs


def _import_bindings(node: ast.AST) -> list[tuple[str, str, str | None, str]]:
    """(alias, module, attribute, imported module name) for an import statement."""
    out = []
    if isinstance(node, ast.Import):
        for a in node.names:
            alias = a.asname or a.name.split(".")[0]
            target = a.name if a.asname else a.name.split(".")[0]
            out.append((alias, target, None, a.name))
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        for a in node.names:
            sub = f"{node.module}.{a.name}"
            if _module_file(sub) is not None:  # `from isoclr import store`: a module
                out.append((a.asname or a.name, sub, None, sub))
            else:
                out.append((a.asname or a.name, node.module, a.name, node.module))
    return out


_CACHE: dict[Path, _Module] = {}


def _parse(path: Path) -> _Module:
    if path not in _CACHE:
        tree = ast.parse(path.read_text(), str(path))
        mod = _Module({}, [], [], {}, [])
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                mod.defs[node.name] = node
                continue
            mod.top_refs.append(node)
            optional = isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers
            )
            for sub in ast.walk(node):  # imports under module-level if/try blocks too
                for alias, module, attr, imported in _import_bindings(sub):
                    mod.bindings[alias] = (module, attr)
                    (mod.optional_imports if optional else mod.top_imports).append(imported)
        _CACHE[path] = mod
    return _CACHE[path]


def script_imports(script: Path) -> Imports:
    """Third-party conda packages a shim needs, following the code it can reach.

    Importing a module runs its module-level code (imports and all); a reached function or
    class runs its local imports and reaches the definitions it names (same-module names,
    names imported from isoclr modules, `module.attr` on an imported isoclr module).
    """
    result = Imports()
    loaded: dict[Path, bool] = {}  # module file -> loaded at start-up (hard)
    visited: set[tuple[Path, str]] = set()
    work: list[tuple[str, Path, object]] = [("module", script, True)]

    def load(name: str, hard: bool) -> None:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # isoclr/__init__, then the submodule
            path = _module_file(".".join(parts[:i]))
            if path is not None:
                work.append(("module", path, hard))

    def reach(path: Path, nodes: list[ast.AST], local: dict[str, tuple[str, str | None]]) -> None:
        mod = _parse(path)
        for node in nodes:
            for sub in ast.walk(node):
                for alias, module, attr, imported in _import_bindings(sub):
                    local[alias] = (module, attr)
                    result.lazy.update(_packages({imported}))
                    load(imported, False)
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                    name = sub.id
                    if name in mod.defs and name not in local:
                        work.append(("def", path, name))
                    binding = local.get(name) or mod.bindings.get(name)
                    if binding and binding[1] is not None:
                        target = _module_file(binding[0])
                        if target is not None:
                            work.append(("def", target, binding[1]))
                elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
                    binding = local.get(sub.value.id) or mod.bindings.get(sub.value.id)
                    if binding and binding[1] is None:
                        target = _module_file(binding[0])
                        if target is not None:
                            work.append(("def", target, sub.attr))

    while work:
        kind, path, arg = work.pop()
        if kind == "module":
            hard = bool(arg)
            if path in loaded and (loaded[path] or not hard):
                continue
            first = path not in loaded
            loaded[path] = hard
            mod = _parse(path)
            (result.hard if hard else result.lazy).update(_packages(set(mod.top_imports)))
            result.lazy.update(_packages(set(mod.optional_imports)))
            for name in mod.top_imports:
                load(name, hard)
            if first:
                reach(path, [n for n in mod.top_refs if not isinstance(n, ast.Try)], {})
                for n in mod.top_refs:
                    if isinstance(n, ast.Try):  # reach its code, not its (optional) imports
                        reach(
                            path,
                            [b for b in n.body if not isinstance(b, (ast.Import, ast.ImportFrom))],
                            {},
                        )
        else:
            name = str(arg)
            if (path, name) in visited:
                continue
            visited.add((path, name))
            node = _parse(path).defs.get(name)
            if node is None:
                continue
            if path not in loaded:
                work.append(("module", path, False))
            reach(path, [node], {})
    result.lazy -= result.hard
    return result


RULE_RE = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.MULTILINE)


def rules_with_envs() -> dict[str, list[tuple[str, Path]]]:
    """env file name -> [(rule, script path)] from every rules/*.smk."""
    out: dict[str, list[tuple[str, Path]]] = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        text = smk.read_text()
        starts = [(m.start(), m.group(1)) for m in RULE_RE.finditer(text)]
        for (start, rule), (end, _) in zip(starts, [*starts[1:], (len(text), "")]):
            body = text[start:end]
            conda = re.search(r"^\s+conda:\s*\n\s+\"([^\"]+)\"", body, re.MULTILINE)
            script = re.search(r"^\s+script:\s*\n\s+\"([^\"]+)\"", body, re.MULTILINE)
            if conda is None:
                continue
            env = (smk.parent / conda.group(1)).resolve()
            assert env.parent == ENVS.resolve(), f"{smk.name} rule {rule}: env {env} not in envs/"
            assert script is not None, f"{smk.name} rule {rule}: conda env but no script"
            out.setdefault(env.name, []).append((rule, (smk.parent / script.group(1)).resolve()))
    return out


def read_env(path: Path) -> dict[str, str]:
    """package -> version spec of an environment file (asserting its shape)."""
    env = yaml.safe_load(path.read_text())
    assert set(env) <= {"name", "channels", "dependencies"}, f"{path.name}: unknown keys"
    assert env["channels"] == ["conda-forge", "bioconda", "nodefaults"], path.name
    deps: dict[str, str] = {}
    for dep in env["dependencies"]:
        assert isinstance(dep, str), f"{path.name}: pip sections are not allowed ({dep})"
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(==|=)([^\s=]+)", dep)
        assert m, f"{path.name}: '{dep}' is not pinned (name==version)"
        name, op, version = m.groups()
        if name == "python":
            assert re.fullmatch(r"3\.\d+", version), f"{path.name}: pin python to a minor version"
        else:
            assert op == "==" and "*" not in version, f"{path.name}: '{dep}' is not an exact pin"
        assert name not in deps, f"{path.name}: {name} listed twice"
        deps[name.lower()] = version
    assert "python" in deps, f"{path.name}: no python pin"
    return deps


ENV_FILES = sorted(p.name for p in ENVS.glob("*.yaml"))


def test_every_env_is_used_and_exists():
    used = rules_with_envs()
    assert set(used) == set(ENV_FILES), (sorted(used), ENV_FILES)
    assert set(ENV_FILES) == {"data.yaml", "torch.yaml", "evaluate.yaml", "figures.yaml", "variants.yaml",
                              "attribute.yaml"}


@pytest.mark.parametrize("name", ENV_FILES)
def test_env_parses_and_pins(name):
    read_env(ENVS / name)


@pytest.mark.parametrize("name", ENV_FILES)
def test_env_lists_exactly_what_its_rules_import(name):
    listed = set(read_env(ENVS / name)) - {"python"} - ENV_META.get(name, set())
    hard: set[str] = set()
    lazy: set[str] = set()
    for rule, script in rules_with_envs().get(name, []):
        imports = script_imports(script)
        hard |= imports.hard
        lazy |= imports.lazy
    lazy -= hard
    missing_hard = hard - listed
    assert not missing_hard, f"{name}: rules import {sorted(missing_hard)} at start-up"
    left_out = lazy - listed
    unexplained = left_out - set(LAZY_NOT_IN_ENV.get(name, {}))
    assert not unexplained, (
        f"{name}: {sorted(unexplained)} imported inside functions on its rules' paths; list "
        "them in the env or explain in LAZY_NOT_IN_ENV"
    )
    extra = listed - hard - lazy
    assert not extra, f"{name}: lists {sorted(extra)}, which none of its rules imports"


def test_torch_env_is_a_cuda_build():
    deps = read_env(ENVS / "torch.yaml")
    assert "pytorch-gpu" in deps and "cuda-version" in deps
    assert deps["pytorch-gpu"] == deps["pytorch"]


def test_pins_agree_across_envs():
    """One version of each package everywhere (an env solved for one stage fits the others)."""
    versions: dict[str, set[str]] = {}
    for name in ENV_FILES:
        for pkg, version in read_env(ENVS / name).items():
            versions.setdefault(pkg, set()).add(version)
    assert {p: v for p, v in versions.items() if len(v) > 1} == {}


def test_every_env_installs_isoclr_alone():
    """Each environment's post-deploy script (run by `snakemake --use-conda` in the new
    environment) installs the checkout's isoclr, editable and without dependencies, from the
    checkout the Snakefile names in ISOCLR_ROOT."""
    script = (ENVS / "install-isoclr.sh").read_text()
    assert re.search(r'pip install .*--no-deps --editable "\$ISOCLR_ROOT"', script), script
    for name in ENV_FILES:
        deploy = ENVS / name.replace(".yaml", ".post-deploy.sh")
        assert deploy.resolve() == (ENVS / "install-isoclr.sh").resolve(), f"{deploy.name} is not install-isoclr.sh"
    snakefile = (REPO / "Snakefile").read_text()
    assert "os.environ.update(ISOCLR_ROOT=workflow.basedir)" in snakefile


def test_nothing_edits_the_import_path():
    """isoclr is installed where it runs: no sys.path or PYTHONPATH edits in the workflow."""
    files = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk")),
             *sorted((REPO / "workflow" / "scripts").glob("*.py")), *sorted((SRC / "isoclr").rglob("*.py"))]
    found = [f"{f.relative_to(REPO)}:{i}" for f in files for i, line in enumerate(f.read_text().splitlines(), 1)
             if re.search(r"sys\.path\.(insert|append)|PYTHONPATH=", line)]
    assert not found, found


@pytest.mark.parametrize("script", sorted((REPO / "workflow" / "scripts").glob("*.py")), ids=lambda p: p.name)
def test_shims_call_one_library_function(script):
    """A shim imports one isoclr function and calls it once with the job's plain values."""
    tree = ast.parse(script.read_text())
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    calls = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    assert len(imports) == 1 and isinstance(imports[0], ast.ImportFrom), ast.dump(tree)
    assert imports[0].module.startswith("isoclr.") and len(imports[0].names) == 1
    assert len(calls) == 1 and isinstance(calls[0], ast.Expr) and isinstance(calls[0].value, ast.Call)
    assert calls[0].value.func.id == imports[0].names[0].name
    # the snakemake object itself never enters the library: only its attributes
    passed = [*calls[0].value.args, *(k.value for k in calls[0].value.keywords)]
    assert not [a for a in passed if isinstance(a, ast.Name) and a.id == "snakemake"]
