#!/usr/bin/env bash
# Build Ory Hydra from its upstream Go module (github.com/ory/hydra/v2) with the tiny
# wrapper module in tests/servers/hydra/ (pinned by its committed go.mod / go.sum) into
# $CACHE/bin/hydra-<version>. Idempotent: an existing binary is reused.
# Prints the binary path on stdout; progress and the build time go to stderr.
#
#   DCRSYNC_CACHE   cache root (default ~/.cache/dcrsync)
#   Go's own module and build caches (GOMODCACHE, GOCACHE) are used as usual.
set -euo pipefail
TOOL=build-hydra
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC="$ROOT/tests/servers/hydra"

need go "install Go >= 1.22 to build Hydra"
[[ -f "$SRC/go.mod" && -f "$SRC/main.go" ]] || die "missing $SRC/go.mod or main.go"

# The Hydra version is whatever the committed go.mod requires.
VERSION="$(awk '$1 == "github.com/ory/hydra/v2" && $2 ~ /^v/ {print $2; exit}
                $1 == "require" && $2 == "github.com/ory/hydra/v2" {print $3; exit}' "$SRC/go.mod")"
[[ -n "$VERSION" ]] || die "cannot find the github.com/ory/hydra/v2 version in $SRC/go.mod"

OUT="$CACHE/bin/hydra-$VERSION"
[[ -x "$OUT" ]] && reuse "$OUT"

mkdir -p "$CACHE/bin"
TMP="$OUT.tmp.$$"
trap 'rm -f "$TMP"' EXIT

say "building Hydra $VERSION with $(go version) (first build takes a few minutes)"
start=$SECONDS
cd "$SRC"
if ! go build -tags sqlite -trimpath \
      -ldflags "-s -w -X github.com/ory/hydra/v2/driver/config.Version=$VERSION" \
      -o "$TMP" . ; then
  die "'go build -tags sqlite' in $SRC failed (see the Go errors above)"
fi
"$TMP" version >/dev/null 2>&1 || die "built binary does not run: $TMP version"
mv -f "$TMP" "$OUT"
say "built $OUT in $((SECONDS - start)) s"
echo "$OUT"
