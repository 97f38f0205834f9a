"""Bounded YAML for config files: :func:`load_yaml` reads a config file as a dict, refusing
before any validation what would make the planner hang or silently mean something else.

* **Aliases** (``*name`` of an ``&name`` anchor) are counted as the nodes they expand to; a
  document whose expansion passes :data:`NODE_BUDGET` nodes (a "billion laughs" alias bomb:
  nine levels of nine aliases is 387 M nodes) is refused in milliseconds, without expanding it.
  An alias that contains itself is refused too.
* **Duplicate keys** in one mapping (YAML says keys are unique; PyYAML keeps the last one
  silently) are refused, naming both lines.
* **Non-string keys** (``1:``, ``true:``, ``null:``, ``[a, b]:``) are refused, naming the line:
  every config key is a name.

:func:`check_results_folder` refuses a ``results`` folder that would write over the system or
the project itself (the filesystem root, a system folder, the project's source folders).
Both raise :class:`YamlConfigError` (a ``ValueError``) naming the file and line or the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

#: most nodes a config file may expand to through its aliases (the paper config has ~2,000)
NODE_BUDGET = 100_000

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"

#: folders a study's results must not be (nor the filesystem root); a folder below them is
#: allowed (e.g. /home/me/study, /tmp/x), these themselves are not
SYSTEM_FOLDERS = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64",
                  "/libx32", "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv",
                  "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/share",
                  "/var", "/var/lib", "/var/tmp", "/Users", "/System", "/Library",
                  "/Applications", "/private", "/Volumes")
#: the project's own folders: results inside them would overwrite the code and its configs
PROJECT_FOLDERS = ("src", "rules", "config", "workflow", "envs", "tests", "docs", "resources",
                   "scripts", "profiles", "slurm", ".git")


class YamlConfigError(ValueError):
    """A config file or value refused before validation; the message names the file and line,
    or the config key."""


def _where(path: str | os.PathLike[str], node: yaml.Node) -> str:
    return f"{path}: line {node.start_mark.line + 1}"


def _check_node(path: str | os.PathLike[str], root: yaml.Node, budget: int) -> None:
    """Count ``root``'s expanded size (each alias counts as the whole node it names), refuse
    past ``budget``, and check every mapping's keys. Shared nodes are visited once: the cost
    is the size of the document as written, never of its expansion."""
    size: dict[int, int] = {}
    checked: set[int] = set()
    # iterative post-order walk: (node, children done?)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            if isinstance(node, yaml.MappingNode):
                total = 1 + sum(size[id(k)] + size[id(v)] for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                total = 1 + sum(size[id(c)] for c in node.value)
            else:
                total = 1
            if total > budget:
                raise YamlConfigError(
                    f"{_where(path, node)}: this node expands to more than {budget:,} nodes "
                    "through its aliases (*name): refused (a config needs far fewer; write the "
                    "values out)")
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlConfigError(f"{_where(path, node)}: an alias (*name) that contains itself")
        on_path.add(key)
        stack.append((node, True))
        if isinstance(node, yaml.MappingNode):
            if key not in checked:
                checked.add(key)
                _check_keys(path, node)
            for k, v in reversed(node.value):
                stack.append((v, False))
                stack.append((k, False))
        elif isinstance(node, yaml.SequenceNode):
            for c in reversed(node.value):
                stack.append((c, False))


def _check_keys(path: str | os.PathLike[str], node: yaml.MappingNode) -> None:
    seen: dict[str, yaml.Node] = {}
    for k, _ in node.value:
        if k.tag == _MERGE_TAG:  # '<<: *base' merges a mapping in (its keys may be overridden)
            continue
        if not isinstance(k, yaml.ScalarNode) or k.tag != _STR_TAG:
            shown = k.value if isinstance(k, yaml.ScalarNode) else f"a {k.id}"
            raise YamlConfigError(
                f"{_where(path, k)}: key {shown!r} is not a string (config keys are names; quote "
                "it if a name is meant)")
        if k.value in seen:
            first = seen[k.value]
            raise YamlConfigError(
                f"{_where(path, k)}: duplicate key {k.value!r} (first on line "
                f"{first.start_mark.line + 1}, again on line {k.start_mark.line + 1}); YAML "
                "keys are unique: keep one")
        seen[k.value] = k


def loads_yaml(text: str, path: str | os.PathLike[str] = "<string>",
               budget: int = NODE_BUDGET) -> dict[str, Any]:
    """:func:`load_yaml` of a string (``path`` names it in messages)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)  # the node graph: aliases stay shared
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}: line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlConfigError(f"{where}: not valid YAML ({problem})") from None
    if root is None:
        return {}
    _check_node(path, root, budget)
    if not isinstance(root, yaml.MappingNode):
        raise YamlConfigError(f"{_where(path, root)}: a config file is a mapping of keys to "
                              f"values, not a {root.id}")
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise YamlConfigError(f"{path}: {exc}") from None
    finally:
        loader.dispose()
    return data


def load_yaml(path: str | os.PathLike[str], budget: int = NODE_BUDGET) -> dict[str, Any]:
    """Read a config file (YAML) as a dict, bounded: aliases expanding past ``budget`` nodes,
    duplicate keys and non-string keys are refused (:class:`YamlConfigError` naming the file
    and line); an empty file is ``{}``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise YamlConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise YamlConfigError(f"{path}: not a UTF-8 text file ({exc})") from None
    return loads_yaml(text, path, budget)


def check_config_files(paths: list[str | os.PathLike[str]], base: str | os.PathLike[str] = ".") -> None:
    """:func:`load_yaml` every config file (relative paths tried as given, then under ``base``)
    so that a file Snakemake already parsed is refused before validation works on it."""
    for p in dict.fromkeys(str(x) for x in paths):
        path = Path(p)
        if not path.exists() and not path.is_absolute() and (Path(base) / path).exists():
            path = Path(base) / path
        load_yaml(path)


def check_results_folder(config: dict[str, Any], project_root: str | os.PathLike[str]) -> Path:
    """Refuse a ``results`` folder that is the filesystem root, a system folder (``/``,
    ``/usr``, ``/etc``, ``/home`` itself, ...), the project folder or one of its own folders
    (``src/``, ``rules/``, ``config/``, ...) or a folder inside them; returns it resolved."""
    value = config.get("results")
    if not isinstance(value, str) or not value.strip():
        raise YamlConfigError(f"config key 'results': {value!r} is not a folder name")
    root = Path(project_root).resolve()
    folder = (root / value).resolve() if not os.path.isabs(value) else Path(value).resolve()
    if folder == Path(folder.anchor):
        raise YamlConfigError(f"config key 'results': {value!r} is the filesystem root; give a "
                              "folder of the study's own (e.g. results/)")
    system = {Path(s) for s in SYSTEM_FOLDERS}
    system |= {Path(s).resolve() for s in SYSTEM_FOLDERS if Path(s).exists()}
    if folder in system:
        raise YamlConfigError(f"config key 'results': {value!r} is the system folder {folder}; "
                              "give a folder of the study's own (e.g. results/)")
    if folder == root:
        raise YamlConfigError(f"config key 'results': {value!r} is the project folder itself; "
                              "give a folder inside it (e.g. results/)")
    for name in PROJECT_FOLDERS:
        own = root / name
        if folder == own or own in folder.parents:
            raise YamlConfigError(f"config key 'results': {value!r} is inside the project's own "
                                  f"{name}/ folder; give a folder of its own (e.g. results/)")
    return folder
