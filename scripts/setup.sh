#!/usr/bin/env bash
# Set up isoclr on a fresh Debian/Ubuntu machine. Safe to run again.
#   bash scripts/setup.sh            what the pipeline needs (scripts/demo.sh calls this): a virtual
#                                    environment in .venv, PyTorch, the package with snakemake and
#                                    the SLURM executor plugin, tensorboard. No system packages.
#   bash scripts/setup.sh --tests    the above plus what only the tests need (scripts/test.sh calls
#                                    this): as root, apt-get gffread, bedtools, bcftools and tabix (our transcripts
#                                    are compared with them), slurm-wlm and munge (a one-node SLURM
#                                    cluster), chromium (the HTML report is rendered in it) and
#                                    graphviz (the rule graph picture); pip: pytest, snakefmt, ruff,
#                                    websocket-client (drives Chromium),
#                                    and transformers + multimolecule (external
#                                    encoders, tested offline).
# Environment:
#   ISOCLR_TORCH   the torch requirement (default torch==2.13.0; PyPI's Linux build is the CUDA
#                  one: CPU-only machines can first run
#                  pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu)
#   ISOCLR_VENV    where the virtual environment goes (default .venv in the repository)
#   PYTHON         the Python to create it with (default python3; 3.10 or newer)
#   ISOCLR_NO_EXTERNAL=1   with --tests: skip transformers/multimolecule
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tests=0
case "${1:-}" in
  "") ;;
  --tests) tests=1 ;;
  *) echo "usage: bash scripts/setup.sh [--tests]" >&2; exit 2 ;;
esac

if [ "$tests" = 1 ]; then
  # System tools only the tests use; installed only when missing, and only as root (otherwise the
  # tests that need them skip, saying why; in CI a missing one is an error, see tests/conftest.py).
  need=()
  command -v gffread >/dev/null || need+=(gffread)
  command -v bedtools >/dev/null || need+=(bedtools)
  command -v bcftools >/dev/null || need+=(bcftools)   # tests/test_variants.py: the consensus oracle
  command -v bgzip >/dev/null || need+=(tabix)
  { command -v slurmctld || [ -x /usr/sbin/slurmctld ]; } >/dev/null || need+=(slurm-wlm)
  { command -v munged || [ -x /usr/sbin/munged ]; } >/dev/null || need+=(munge)
  { command -v chromium || command -v chromium-browser; } >/dev/null || need+=(chromium)
  command -v dot >/dev/null || need+=(graphviz)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "setup: apt-get install ${need[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q
      apt-get install -y -q --no-install-recommends "${need[@]}"
    else
      echo "setup: not installing ${need[*]} (needs root and apt-get); tests that need them skip" >&2
    fi
  fi
fi

venv=${ISOCLR_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
py="$venv/bin/python"
# torch first and pinned: with no torch installed, a bare `torch` requirement would pull the
# newest release (several GB); the package's own range (torch>=2.4) is then already satisfied.
"$py" -m pip install -q "${ISOCLR_TORCH:-torch==2.13.0}"
if [ "$tests" = 1 ]; then
  "$py" -m pip install -q -e '.[pipeline,tensorboard,dev]'
  # External encoders (SpliceBERT, RNA-FM, ...) through multimolecule, so their code path is
  # tested offline. Some of its dependencies pin exact torch releases they do not need at run
  # time, so those go in with --no-deps (this keeps the torch above).
  if [ -z "${ISOCLR_NO_EXTERNAL:-}" ]; then
    "$py" -m pip install -q transformers==5.23.0 chanfig==0.0.117 python-frontmatter==1.3.0 datasets==5.2.0
    "$py" -m pip install -q --no-deps multimolecule==0.2.2 danling==0.4.8 torchmetrics==1.9.0 \
      lightning-utilities==0.15.3 torchdata==0.11.0
  fi
else
  "$py" -m pip install -q -e '.[pipeline,tensorboard]'
fi
"$py" -c "import isoclr, torch, snakemake; print('setup: isoclr', isoclr.__version__, '| torch', torch.__version__, '| CUDA', torch.cuda.is_available())"
