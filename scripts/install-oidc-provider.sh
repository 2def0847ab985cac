#!/usr/bin/env bash
# Install the npm package `oidc-provider` pinned by tests/servers/oidc-provider/package.json
# and package-lock.json into $CACHE/oidc-provider-<version>/ with `npm ci`.
# Idempotent: reused when that directory already holds the same lockfile.
# Prints the directory (pass it to server.mjs as --modules / OIDC_PROVIDER_DIR).
#
#   DCRSYNC_CACHE   cache root (default ~/.cache/dcrsync)
set -euo pipefail

die() { echo "install-oidc-provider: error: $*" >&2; exit 1; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/tests/servers/oidc-provider"
CACHE="${DCRSYNC_CACHE:-$HOME/.cache/dcrsync}"

command -v node >/dev/null || die "node not found on PATH; install Node.js >= 20"
command -v npm >/dev/null || die "npm not found on PATH"
[[ -f "$SRC/package.json" && -f "$SRC/package-lock.json" ]] \
  || die "missing $SRC/package.json or package-lock.json"

VERSION="$(node -e 'const p = require(process.argv[1]); process.stdout.write(p.dependencies["oidc-provider"])' "$SRC/package.json")" \
  || die "cannot read the oidc-provider version from $SRC/package.json"
DEST="$CACHE/oidc-provider-$VERSION"

if [[ -f "$DEST/node_modules/oidc-provider/package.json" ]] \
   && cmp -s "$SRC/package-lock.json" "$DEST/package-lock.json"; then
  echo "install-oidc-provider: reusing $DEST" >&2
  echo "$DEST"
  exit 0
fi

mkdir -p "$CACHE"
TMP="$(mktemp -d "$CACHE/.oidc-provider-$VERSION.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"
cp "$SRC/package.json" "$SRC/package-lock.json" "$TMP/"

start=$SECONDS
echo "install-oidc-provider: npm ci (oidc-provider $VERSION) in $TMP" >&2
if ! (cd "$TMP" && npm ci --no-audit --no-fund --loglevel=error >&2); then
  die "'npm ci' for oidc-provider $VERSION failed (see npm's errors above)"
fi
installed="$(node -e 'process.stdout.write(require(process.argv[1]).version)' "$TMP/node_modules/oidc-provider/package.json")"
[[ "$installed" == "$VERSION" ]] || die "npm installed oidc-provider $installed, expected $VERSION"
rm -rf "$DEST"
mv "$TMP" "$DEST"
trap - EXIT
echo "install-oidc-provider: installed $DEST in $((SECONDS - start)) s" >&2
echo "$DEST"
