"""The one config loader: layering, schema validation that fills every default, and the
checks of names that point at nothing.

The Snakefile (``rules/common.smk``: :func:`complete` on the config Snakemake layered),
``isoclr plan``, ``isoclr cost`` and every ``--config`` option of the CLI
(:func:`load_config`) read a config here, so they all see the same filled config and the
settings objects (:mod:`isoclr.config.settings`) read their values from it: every default
lives once, in ``config/schema.yaml``.

Layering (docs/settings.md): a config file declaring ``study:`` is a complete study and the
base; files without it are overrides deep-merged over the base in order; without a study
file, the demo ``config/config.yaml`` is the base.

Validation is jsonschema's (Draft 2020-12), extended to fill the ``default`` of every
property it validates (as Snakemake's ``validate(..., set_default=True)``). An unknown key is
reported from the validator's own ``additionalProperties`` / ``unevaluatedProperties``
errors, each with the closest valid key.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from isoclr.config.base import ConfigError, suggest

#: the repository root (config/ and the schema live there)
ROOT = Path(__file__).resolve().parents[3]
SCHEMA_PATH = ROOT / "config" / "schema.yaml"
DEFAULT_CONFIG = ROOT / "config" / "config.yaml"


def _read_yaml(path: str | Path) -> Any:
    """Every config, override and schema file is read here (one YAML reader), bounded
    (:func:`isoclr.config.safe_yaml.load_yaml`: alias bombs, duplicate and non-string keys are
    refused before anything else reads the file)."""
    from isoclr.config.safe_yaml import load_yaml

    return load_yaml(path)


def read_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file holding a mapping (a config, an override, a model entry), read by
    :func:`_read_yaml`; empty file: an empty mapping."""
    data = _read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping of config keys, got {type(data).__name__}")
    return data


@functools.cache
def _schema(path: str) -> dict[str, Any]:
    return read_mapping(path)


def schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The config schema (a fresh copy: filling defaults never shares the schema's objects)."""
    if not Path(path).exists():
        raise ConfigError(f"the config schema {path} is missing (it ships with the repository)")
    return copy.deepcopy(_schema(str(path)))


# ---------------------------------------------------------------------------------------------
# layering
# ---------------------------------------------------------------------------------------------
def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, mappings merged key by key (Snakemake's --configfile rule)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def study_of(path: str | Path) -> str | None:
    """The ``study`` a config file declares (a complete study config), or None (an override)."""
    data = _read_yaml(path)
    return data.get("study") if isinstance(data, dict) else None


def needs_default_config(configfiles: Sequence[str | Path]) -> bool:
    """Whether the demo config (config/config.yaml) is the base of these ``--configfile`` files.

    A file declaring ``study:`` is a complete study and the base: it must come first, and only
    one may. Files without it are overrides layered (deep-merged, in order) over the base, so
    ``--configfile my_overrides.yaml`` changes the demo and ``--configfile config/paper.yaml
    my_cluster.yaml`` changes the paper study.
    """
    studies = [(i, str(p), study_of(p)) for i, p in enumerate(configfiles)]
    named = [(i, p, s) for i, p, s in studies if s]
    if len(named) > 1:
        raise ConfigError(f"--configfile: {named[0][1]} and {named[1][1]} both declare a study; give one")
    if named and named[0][0] != 0:
        raise ConfigError(f"--configfile: the study config {named[0][1]} must come first (overrides after it)")
    return not named


def layered(configfiles: Sequence[str | Path], default: str | Path = DEFAULT_CONFIG) -> dict[str, Any]:
    """The config files merged as ``snakemake --configfile FILES`` merges them (not filled)."""
    files = [Path(p) for p in configfiles]
    if needs_default_config(files):
        files = [Path(default), *files]
    config: dict[str, Any] = {}
    for path in files:
        config = deep_merge(config, read_mapping(path))
    return config


# ---------------------------------------------------------------------------------------------
# validation (fills defaults)
# ---------------------------------------------------------------------------------------------
def _validator_class() -> Any:
    """Draft 2020-12, extended to fill each validated property's default (a copy)."""
    from jsonschema import Draft202012Validator, validators

    properties = Draft202012Validator.VALIDATORS["properties"]

    def fill_defaults(validator: Any, props: Mapping[str, Any], instance: Any, node: Mapping[str, Any]) -> Iterator[Any]:
        if isinstance(instance, dict):
            for key, sub in props.items():
                if isinstance(sub, Mapping) and "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from properties(validator, props, instance, node)

    return validators.extend(Draft202012Validator, {"properties": fill_defaults})


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    """A schema node with local ``$ref`` and ``allOf`` merged in (for the valid-key list)."""
    node = dict(node)
    if "$ref" in node:
        target: Any = root
        for part in node.pop("$ref").lstrip("#/").split("/"):
            target = target[part]
        node = {**_resolve(target, root), **node}
    props = dict(node.get("properties", {}))
    for sub in node.pop("allOf", []):
        props.update(_resolve(sub, root).get("properties", {}))
    node["properties"] = props
    return node


def _where(error: Any) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "the top level"


def _unknown_keys(error: Any, root: Mapping[str, Any]) -> list[str]:
    """The unknown keys of an additionalProperties / unevaluatedProperties error, each with
    the closest valid key of that level."""
    valid = list(_resolve(error.schema, root).get("properties", {}))
    extra = [k for k in error.instance if k not in valid]
    return [f"unknown key {k!r} at {_where(error)}{suggest(str(k), valid)}" for k in extra]


def fill(config: dict[str, Any], schema_path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """Validate ``config`` against the schema and fill every default, in place (returned).

    Unknown keys are reported first, all of them, each named with its place and the closest
    valid key; then the first other error (a wrong type, a name that does not match its
    pattern ...), with the key at fault."""
    from jsonschema.exceptions import best_match

    root = schema(schema_path)
    validator = _validator_class()(root)
    errors = list(validator.iter_errors(config))
    unknown = [p for e in errors if e.validator in ("additionalProperties", "unevaluatedProperties")
               for p in _unknown_keys(e, root)]
    if unknown:
        raise ConfigError("config: " + "; ".join(dict.fromkeys(unknown)))
    if errors:
        error = best_match(errors)
        path = ".".join(str(p) for p in error.absolute_path)
        raise ConfigError(f"config{' ' + path if path else ''}: {error.message}")
    return config


def defaults(definition: str) -> dict[str, Any]:
    """The schema's defaults of a section (``$defs/DEFINITION``, e.g. ``download``, ``tasks``,
    ``finetune``): what a CLI without ``--config`` uses, as the pipeline would."""
    root = schema()
    out: dict[str, Any] = {}
    _validator_class()({"$ref": f"#/$defs/{definition}", "$defs": root["$defs"]}).validate(out)
    return out


def fill_model_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A bare ``pretrain.models`` entry with the schema's defaults filled in (keys it gives,
    even ones the schema does not know, are kept: the settings class refuses those)."""
    node = schema()["$defs"]["pretrain_model"]["properties"]
    out = dict(entry)
    for key, sub in node.items():
        if "default" in sub:
            out.setdefault(key, copy.deepcopy(sub["default"]))
    return out


def complete(config: dict[str, Any], schema_path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """:func:`fill` then :func:`isoclr.config.checks.check_references`, in place: what the
    Snakefile does to the config Snakemake layered, and what :func:`load_config` does."""
    from isoclr.config.checks import check_references
    from isoclr.config.safe_yaml import check_results_folder

    fill(config, schema_path)
    check_references(config)
    check_results_folder(config, ROOT)  # not /, a system folder, or the project's src/, rules/, ...
    return config


def load_config(configfiles: Sequence[str | Path], default: str | Path = DEFAULT_CONFIG,
                schema_path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The config the pipeline sees for ``snakemake --configfile FILES``: layered
    (:func:`layered`), validated with every default filled, names checked."""
    return complete(layered(configfiles, default), schema_path)


def pipeline_or_entry(path: str | Path) -> dict[str, Any]:
    """``isoclr pretrain --config FILE``: a pipeline config (with ``pretrain``: loaded as by
    :func:`load_config`) or one model's entry (as the multi-GPU job writes it: returned as read;
    :class:`isoclr.config.settings.pretrain.PretrainSettings` fills its defaults)."""
    data = read_mapping(path)
    return load_config([path]) if "pretrain" in data else data


def config_option(path: str | Path | None) -> dict[str, Any]:
    """A CLI ``--config FILE`` option: the same config ``snakemake --configfile FILE`` sees
    (over the demo config unless FILE declares a study); none given: the demo config."""
    return load_config([path] if path else [])
