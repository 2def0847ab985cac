#!/usr/bin/env bash
# The main job end to end on a fresh machine: install everything, start a local Ory Hydra,
# make a throwaway age key, then validate -> plan -> apply -> plan (no changes) on examples/.
set -euo pipefail
cd "$(dirname "$0")/.."
# the install's own output (pip, go builds) goes to a log: the first screen is dcrsync's
log="${TMPDIR:-/tmp}/dcrsync-demo-install.log"
echo "demo: installing dcrsync, sops and Ory Hydra (the first run builds them: a few minutes; log: $log)"
if ! bash scripts/bootstrap.sh >"$log" 2>&1; then
  tail -n 25 "$log" >&2
  echo "demo: the install failed; the whole log is $log" >&2
  exit 1
fi
export DCRSYNC_SOPS="$(bash scripts/install-sops.sh 2>/dev/null)"
export SOPS_DISABLE_VERSION_CHECK=1
exec .venv/bin/python scripts/demo.py "$@"
