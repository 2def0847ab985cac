#!/usr/bin/env bash
# Install the upstream sops release binary, verified, into $CACHE/bin/sops-<tag>-release/sops.
# Prints the binary's path on stdout; says what it does on stderr.
#
# Verified twice before anything is installed: the sha256 of the downloaded
# sops-<tag>.<os>.<arch> must equal its line in the release's checksums file
# (sops-<tag>.checksums.txt) AND the sum the caller pinned (DCRSYNC_SOPS_SHA256).
#
#   DCRSYNC_SOPS_VERSION    release tag (default v3.10.2)
#   DCRSYNC_SOPS_SHA256     pinned sha256 of the binary for this OS/architecture (required)
#   DCRSYNC_SOPS_RELEASES   where the releases are (default https://github.com/getsops/sops/releases/download;
#                           plain http only on 127.0.0.1 / localhost, for tests)
#   DCRSYNC_CACHE           cache root (default ~/.cache/dcrsync)
#
# Exit codes:
#   0  installed (or already installed and still matching the pinned sum)
#   1  refused: the download is not what upstream released (tampered or corrupted), or it does not run.
#      Do NOT fall back to anything: find out why.
#   3  no release binary to use here (no pinned sum, an OS/architecture without one, the download
#      failed): build sops from source instead (scripts/install-sops.sh).
set -uo pipefail

VERSION="${DCRSYNC_SOPS_VERSION:-v3.10.2}"
PINNED="$(printf '%s' "${DCRSYNC_SOPS_SHA256:-}" | tr 'A-F' 'a-f')"
RELEASES="${DCRSYNC_SOPS_RELEASES:-https://github.com/getsops/sops/releases/download}"
RELEASES="${RELEASES%/}"
CACHE="${DCRSYNC_CACHE:-$HOME/.cache/dcrsync}"
DIR="$CACHE/bin/sops-$VERSION-release"
OUT="$DIR/sops"
export SOPS_DISABLE_VERSION_CHECK=1

say() { echo "install-sops-release: $*" >&2; }
refuse() { say "REFUSED: $*"; exit 1; }
unavailable() { say "$*; build sops from source instead (scripts/install-sops.sh)"; exit 3; }

sha256_of() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) unavailable "no sops release binary is used for $(uname -s)" ;;
esac
case "$(uname -m)" in
  x86_64|amd64) arch=amd64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) unavailable "no sops release binary is used for $(uname -m)" ;;
esac
ASSET="sops-$VERSION.$os.$arch"
SUMS="sops-$VERSION.checksums.txt"

[[ "$PINNED" =~ ^[0-9a-f]{64}$ ]] || unavailable "no pinned sha256 for $ASSET (set DCRSYNC_SOPS_SHA256)"

case "$RELEASES" in
  https://*) proto="=https" ;;
  http://127.0.0.1[:/]*|http://localhost[:/]*) proto="=http" ;;
  *) refuse "DCRSYNC_SOPS_RELEASES must be an https:// URL (got $RELEASES)" ;;
esac

if [[ -x "$OUT" && "$(sha256_of "$OUT")" == "$PINNED" ]]; then
  say "reusing $OUT (sha256 matches the pinned $PINNED)"
  echo "$OUT"
  exit 0
fi

mkdir -p "$CACHE/bin" || unavailable "cannot create $CACHE/bin"
TMP="$(mktemp -d "$CACHE/bin/.sops-$VERSION-release.XXXXXX")" || unavailable "cannot create a temporary folder in $CACHE/bin"
trap 'rm -rf "$TMP"' EXIT

fetch() {  # fetch NAME: the release asset into $TMP/NAME
  curl --fail --silent --show-error --location --proto "$proto" --proto-redir "$proto" \
       --retry 3 --connect-timeout 20 --max-time 300 \
       --output "$TMP/$1" "$RELEASES/$VERSION/$1"
}

say "downloading $RELEASES/$VERSION/$ASSET"
fetch "$ASSET" || unavailable "could not download $ASSET"
fetch "$SUMS" || unavailable "could not download $SUMS"

listed="$(awk -v name="$ASSET" '$2 == name || $2 == "*" name { print tolower($1); exit }' "$TMP/$SUMS")"
actual="$(sha256_of "$TMP/$ASSET")"
[[ -n "$listed" ]] || refuse "$SUMS does not list $ASSET; nothing installed"
if [[ "$actual" != "$listed" ]]; then
  refuse "$ASSET has sha256 $actual but the release's $SUMS says $listed: the download was tampered with or corrupted; nothing installed"
fi
if [[ "$actual" != "$PINNED" ]]; then
  refuse "$ASSET has sha256 $actual (as its $SUMS says) but the pinned sum is $PINNED: the release is not the one pinned; nothing installed"
fi

chmod 755 "$TMP/$ASSET"
"$TMP/$ASSET" --version >/dev/null 2>&1 || refuse "$ASSET matches its checksums but does not run here ($TMP/$ASSET --version failed)"
rm -rf "$DIR" && mkdir -p "$DIR" && mv "$TMP/$ASSET" "$OUT" || refuse "could not install $OUT"
say "installed $OUT (sha256 $actual, as pinned and as $SUMS lists it)"
echo "$OUT"
