#!/usr/bin/env bash
# Build the Open Policy Agent (`opa`) from its upstream Go module (github.com/open-policy-agent/opa)
# with `go install module@version` into $CACHE/bin/opa-<version>/opa, for the tests of the Rego
# library in examples/policy/ (`opa test`, `opa eval`). dcrsync itself never runs opa. Built
# without cgo (no Wasm engine: the Rego library does not need it). Idempotent: an existing binary is
# reused. Prints the binary path on stdout; progress and the build time go to stderr.
#
#   DCRSYNC_CACHE         cache root (default ~/.cache/dcrsync)
#   DCRSYNC_OPA_VERSION   module version to build (default below)
#
# On a shared 2-core machine the first build takes several minutes: it runs under `nice`.
set -euo pipefail
TOOL=build-opa
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OPA_VERSION="${DCRSYNC_OPA_VERSION:-v1.22.4}"
OUT="$CACHE/bin/opa-$OPA_VERSION/opa"

[[ -x "$OUT" ]] && reuse "$OUT"
need go "install Go >= 1.24 to build opa"

say "go install github.com/open-policy-agent/opa@$OPA_VERSION with $(go version) (first build takes several minutes)"
start=$SECONDS
renice -n 10 -p $$ >/dev/null 2>&1 || true  # the compiler runs below this script: others keep the cores
CGO_ENABLED=0 go_install "github.com/open-policy-agent/opa@$OPA_VERSION" \
  "-s -w -X github.com/open-policy-agent/opa/v1/version.Version=${OPA_VERSION#v}" "$OUT" version
say "built $OUT in $((SECONDS - start)) s"
echo "$OUT"
