#!/usr/bin/env bash
# The whole test suite on a fresh machine: install everything, lint, run every test against
# real servers (Hydra, Keycloak, oidc-provider, sops, PostgreSQL, MinIO; the tests start them
# themselves on free 127.0.0.1 ports) and the Rego library against a real opa. A server that fails
# to start fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BOOTSTRAP_ONLY="python sops hydra keycloak oidc-provider postgres s3 opa" bash scripts/bootstrap.sh
SOPS_BIN="$(bash scripts/install-sops.sh 2>/dev/null)"
export DCRSYNC_SOPS="$SOPS_BIN"
export SOPS_DISABLE_VERSION_CHECK=1
echo "test: ruff check" >&2
.venv/bin/ruff check dcrsync tests
echo "test: pytest" >&2
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
