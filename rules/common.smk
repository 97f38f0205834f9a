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


def all_targets():
    """Everything `snakemake` with no target builds (extended by later stages)."""
    targets = expand(results("stores", "{species}.h5"), species=SPECIES)
    targets += [results("homology", "sets.h5"), results("splits", "splits.tsv")]
    return targets
