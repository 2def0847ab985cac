#!/usr/bin/env bash
# The main job end to end on a fresh machine: install everything, start a local Ory Hydra,
# make a throwaway age key, then validate -> plan -> apply -> plan (no changes) on examples/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export DCRSYNC_SOPS="$(bash scripts/install-sops.sh 2>/dev/null)"
export SOPS_DISABLE_VERSION_CHECK=1
exec .venv/bin/python scripts/demo.py "$@"
