#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole pipeline on the embedded demo
# (resources/demo: excerpts of three genomes, offline, CPU, minutes):
#   bash scripts/demo.sh [extra snakemake arguments]
# It runs `snakemake --cores all` on config/config.yaml; outputs go to results/ (README, "Where
# results go"; docs/results.md), figures to results/figures/. Setup installs no system packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
source "${ISOCLR_VENV:-.venv}/bin/activate"
start=$SECONDS
snakemake --cores all "$@"
echo "demo: finished in $((SECONDS - start)) s; figures:"
ls results/figures/*.pdf 2>/dev/null || true
