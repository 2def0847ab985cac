#!/usr/bin/env bash
# The whole test suite on a fresh machine: install everything, lint, run every test against
# real servers (Hydra, Keycloak, oidc-provider, sops, PostgreSQL, MinIO; the tests start them
# themselves on free 127.0.0.1 ports) and the Rego library against a real opa. A server that fails
# to start fails the run.
#
# pytest runs on 4 workers (pytest-xdist) by default: the suite mostly waits on servers, so 4 workers
# overlap those waits on 2 cores; each worker starts its own servers, and every Keycloak test goes to
# one worker (one JVM). DCRSYNC_TEST_WORKERS=N sets the count; `-n 0` or `-p no:xdist` runs serially.
set -euo pipefail
cd "$(dirname "$0")/.."
BOOTSTRAP_ONLY="python sops hydra keycloak oidc-provider postgres s3 opa" bash scripts/bootstrap.sh
SOPS_BIN="$(bash scripts/install-sops.sh 2>/dev/null)"
export DCRSYNC_SOPS="$SOPS_BIN"
export SOPS_DISABLE_VERSION_CHECK=1
echo "test: ruff check" >&2
.venv/bin/ruff check dcrsync tests
# Each worker, and each dcrsync the tests start, would compile every test module (pytest's assertion
# rewrite) and dcrsync module again when bytecode is off: keep the compiled files under .venv instead.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="$PWD/.venv/pycache"
parallel=(-n "${DCRSYNC_TEST_WORKERS:-4}" --dist loadgroup)
for arg in "$@"; do
  case "$arg" in -n|-n*|--numprocesses|--numprocesses=*|no:xdist) parallel=() ;; esac
done
echo "test: pytest ${parallel[*]}" >&2
exec .venv/bin/python -m pytest -p no:cacheprovider "${parallel[@]}" "$@"
