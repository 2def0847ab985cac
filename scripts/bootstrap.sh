#!/usr/bin/env bash
# Install everything dcrsync's demo and tests need, on a fresh machine, idempotently:
#   - a virtualenv in .venv with dcrsync (editable) and its test tools
#   - the upstream sops binary, built from its Go module into the cache
#   - Ory Hydra, built from its Go module into the cache
#   - on request: Keycloak, oidc-provider, PostgreSQL (Debian's package, plus the unprivileged
#     user it runs as under root), the MinIO S3 server and the Open Policy Agent (both built from
#     their Go modules)
# Later runs reuse what is there and take seconds.
#
#   DCRSYNC_CACHE   cache root for built servers (default ~/.cache/dcrsync)
#   BOOTSTRAP_ONLY  space-separated subset of: python sops hydra keycloak oidc-provider postgres s3 opa
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
ONLY="${BOOTSTRAP_ONLY:-python sops hydra}"
want() { [[ " $ONLY " == *" $1 "* ]]; }
step() { echo "bootstrap: $*" >&2; }

if want python; then
  PY="${PYTHON:-python3}"
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || { echo "bootstrap: error: Python >= 3.11 is needed ($PY is $("$PY" --version 2>&1))" >&2; exit 1; }
  if [[ ! -x .venv/bin/python ]]; then
    step "creating .venv"
    "$PY" -m venv .venv
  fi
  stamp=".venv/.dcrsync-installed"
  if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
    step "installing dcrsync and its test tools into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
    touch "$stamp"
  fi
fi
want sops && bash scripts/install-sops.sh >/dev/null
want hydra && bash scripts/build-hydra.sh >/dev/null
want keycloak && bash scripts/fetch-keycloak.sh >/dev/null
want oidc-provider && bash scripts/install-oidc-provider.sh >/dev/null
want postgres && bash scripts/install-postgres.sh >/dev/null
want s3 && bash scripts/build-minio.sh >/dev/null
want opa && bash scripts/build-opa.sh >/dev/null
step "ready ($ROOT)"
