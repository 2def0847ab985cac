#!/usr/bin/env bash
# Install the npm package `oidc-provider` pinned by tests/servers/oidc-provider/package.json
# and package-lock.json into $CACHE/oidc-provider-<version>/ with `npm ci`.
# Idempotent: reused when that directory already holds the same lockfile.
# Prints the directory (pass it to server.mjs as --modules / OIDC_PROVIDER_DIR).
#
#   DCRSYNC_CACHE   cache root (default ~/.cache/dcrsync)
set -euo pipefail
TOOL=install-oidc-provider
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC="$ROOT/tests/servers/oidc-provider"

need node "install Node.js >= 20"
need npm "it comes with Node.js"
[[ -f "$SRC/package.json" && -f "$SRC/package-lock.json" ]] \
  || die "missing $SRC/package.json or package-lock.json"

VERSION="$(node -e 'const p = require(process.argv[1]); process.stdout.write(p.dependencies["oidc-provider"])' "$SRC/package.json")" \
  || die "cannot read the oidc-provider version from $SRC/package.json"
DEST="$CACHE/oidc-provider-$VERSION"

if [[ -f "$DEST/node_modules/oidc-provider/package.json" ]] \
   && cmp -s "$SRC/package-lock.json" "$DEST/package-lock.json"; then
  reuse "$DEST"
fi

scratch "$CACHE" "oidc-provider-$VERSION"
TMP="$SCRATCH"
chmod 755 "$TMP"
cp "$SRC/package.json" "$SRC/package-lock.json" "$TMP/"

start=$SECONDS
say "npm ci (oidc-provider $VERSION) in $TMP"
if ! (cd "$TMP" && npm ci --no-audit --no-fund --loglevel=error >&2); then
  die "'npm ci' for oidc-provider $VERSION failed (see npm's errors above)"
fi
installed="$(node -e 'process.stdout.write(require(process.argv[1]).version)' "$TMP/node_modules/oidc-provider/package.json")"
[[ "$installed" == "$VERSION" ]] || die "npm installed oidc-provider $installed, expected $VERSION"
rm -rf "$DEST"
mv "$TMP" "$DEST"
trap - EXIT
say "installed $DEST in $((SECONDS - start)) s"
echo "$DEST"
