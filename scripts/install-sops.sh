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

SOPS_VERSION="${DCRSYNC_SOPS_VERSION:-v3.10.2}"
CACHE="${DCRSYNC_CACHE:-$HOME/.cache/dcrsync}"
DIR="$CACHE/bin/sops-$SOPS_VERSION"
OUT="$DIR/sops"
export SOPS_DISABLE_VERSION_CHECK=1

die() { echo "install-sops: error: $*" >&2; exit 1; }

if [[ -x "$OUT" ]]; then
  echo "install-sops: reusing $OUT" >&2
  echo "$OUT"
  exit 0
fi

command -v go >/dev/null || die "go not found on PATH; install Go to build sops $SOPS_VERSION"

mkdir -p "$CACHE/bin"
TMPDIR_BIN="$(mktemp -d "$CACHE/bin/.sops-$SOPS_VERSION.XXXXXX")"
trap 'rm -rf "$TMPDIR_BIN"' EXIT

echo "install-sops: go install github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION (first build takes a few minutes)" >&2
start=$SECONDS
if ! GOBIN="$TMPDIR_BIN" GOFLAGS="${GOFLAGS:-} -trimpath" \
     go install -ldflags "-s -w" "github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION"; then
  die "'go install github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION' failed (see the Go errors above)"
fi
"$TMPDIR_BIN/sops" --version >/dev/null 2>&1 || die "installed sops does not run: $TMPDIR_BIN/sops --version"
rm -rf "$DIR"
mkdir -p "$DIR"
mv "$TMPDIR_BIN/sops" "$OUT"
echo "install-sops: installed $OUT in $((SECONDS - start)) s" >&2
echo "$OUT"
