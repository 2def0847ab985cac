#!/usr/bin/env bash
# Build the HashiCorp Vault server from its upstream Go module (github.com/hashicorp/vault) with the
# tiny wrapper module in tests/servers/vault/ (pinned by its committed go.mod / go.sum: Vault's main
# module replaces its api and sdk modules with local folders, so the wrapper requires them as
# separate versions) into $CACHE/bin/vault-<version>. Only the vault-kv2 delivery tests need it.
# Idempotent: an existing binary is reused. Prints the binary path on stdout.
#
#   DCRSYNC_CACHE   cache root (default ~/.cache/dcrsync)
set -euo pipefail
TOOL=build-vault
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC="$ROOT/tests/servers/vault"
need go "install Go >= 1.25 to build Vault"
[[ -f "$SRC/go.mod" && -f "$SRC/main.go" ]] || die "missing $SRC/go.mod or main.go"

VERSION="$(awk '$1 == "github.com/hashicorp/vault" && $2 ~ /^v/ {print $2; exit}
                $1 == "require" && $2 == "github.com/hashicorp/vault" {print $3; exit}' "$SRC/go.mod")"
[[ -n "$VERSION" ]] || die "cannot find the github.com/hashicorp/vault version in $SRC/go.mod"

OUT="$CACHE/bin/vault-$VERSION"
[[ -x "$OUT" ]] && reuse "$OUT"

mkdir -p "$CACHE/bin"
TMP="$OUT.tmp.$$"
trap 'rm -f "$TMP"' EXIT

say "building Vault $VERSION with $(go version) (the first build takes 15-30 minutes on 2 cores)"
start=$SECONDS
cd "$SRC"
if ! nice -n 10 go build -trimpath -ldflags "-s -w" -o "$TMP" . ; then
  die "'go build' in $SRC failed (see the Go errors above)"
fi
"$TMP" version >/dev/null 2>&1 || die "built binary does not run: $TMP version"
mv -f "$TMP" "$OUT"
say "built $OUT in $((SECONDS - start)) s"
echo "$OUT"
