#!/usr/bin/env bash
# Install the upstream sops binary from source with `go install` into
# $CACHE/bin/sops-<tag>/sops. Idempotent: an existing binary is reused.
# Prints the binary path on stdout.
#
#   DCRSYNC_CACHE          cache root (default ~/.cache/dcrsync)
#   DCRSYNC_SOPS_VERSION   released tag to install (default below)
#
# Run sops with SOPS_DISABLE_VERSION_CHECK=1, always: it otherwise calls out to the internet.
set -euo pipefail
TOOL=install-sops
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SOPS_VERSION="${DCRSYNC_SOPS_VERSION:-v3.10.2}"
OUT="$CACHE/bin/sops-$SOPS_VERSION/sops"
export SOPS_DISABLE_VERSION_CHECK=1

[[ -x "$OUT" ]] && reuse "$OUT"
need go "install Go to build sops $SOPS_VERSION"

say "go install github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION (first build takes a few minutes)"
start=$SECONDS
go_install "github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION" "-s -w" "$OUT"
say "installed $OUT in $((SECONDS - start)) s"
echo "$OUT"
