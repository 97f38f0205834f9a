#!/usr/bin/env bash
# Post-deploy script of every environment in envs/ (each <env>.post-deploy.sh links here).
# `snakemake --use-conda` runs it inside a new environment right after creating it: it installs
# this checkout's isoclr, editable (jobs run the checkout's code as it is) and without
# dependencies (the environment keeps exactly the packages its .yaml pins). The Snakefile sets
# ISOCLR_ROOT to the checkout; see docs/install.md.
set -euo pipefail
if [ -z "${CONDA_PREFIX:-}" ]; then  # never install into an environment conda did not make
  echo "install-isoclr: not inside a conda environment (CONDA_PREFIX unset): nothing installed" >&2
  exit 0
fi
: "${ISOCLR_ROOT:?is set by the Snakefile to the checkout this environment installs isoclr from}"
python -m pip install --quiet --no-deps --editable "$ISOCLR_ROOT"
# which checkout this environment runs: a job of another checkout that shares the environment
# (one --conda-prefix for both) stops with a clear error (isoclr.core.logs.check_checkout)
mkdir -p "$CONDA_PREFIX/etc"
printf '%s\n' "$ISOCLR_ROOT" > "$CONDA_PREFIX/etc/isoclr-checkout"
python -c "import isoclr; print('isoclr', isoclr.__version__, 'from', isoclr.__path__[0])"
