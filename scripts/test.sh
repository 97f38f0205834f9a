#!/usr/bin/env bash
# Set up for the tests (scripts/setup.sh --tests) and run the test suite:
#   bash scripts/test.sh [pytest arguments]     e.g. bash scripts/test.sh -m "not slow"
# As root the setup also apt-installs the test-only tools if missing, and the SLURM tests start (and stop)
# a one-node cluster on localhost. Fails when any test fails, and when no test ran.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --tests
source "${ISOCLR_VENV:-.venv}/bin/activate"
rc=0
python -m pytest -ra --durations=15 "$@" || rc=$?
if [ "$rc" = 5 ]; then
  echo "test: pytest collected no tests" >&2
fi
exit "$rc"
