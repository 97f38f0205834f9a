# Shared by every rules file: config validation, paths, wildcard constraints, target lists.
import os

from snakemake.utils import min_version, validate

min_version("8.0")


validate(config, schema="../config/schema.yaml")

RESULTS = config["results"]
SPECIES = list(config["species"])


wildcard_constraints:
    species="|".join(SPECIES),


def results(*parts):
    """A path under the configured results folder."""
    return os.path.join(RESULTS, *parts)


def rule_resources(rule_name, key, default):
    """A resource for a rule from config `resources` (see config/schema.yaml)."""
    return config.get("resources", {}).get(rule_name, {}).get(key, default)


def all_targets():
    """Everything `snakemake` with no target builds: each stage adds its own list."""
    return data_targets() + pretrain_targets() + evaluation_targets() + figure_targets()
