#!/usr/bin/env bash
# Build the MinIO S3 server from its upstream Go module (github.com/minio/minio) with
# `go install module@version` into $CACHE/bin/minio-<version>/minio. The module's own go.mod
# has no replace directives, so no wrapper module is needed; Go's checksum database pins it.
# Idempotent: an existing binary is reused. Prints the binary path on stdout; progress and
# the build time go to stderr.
#
#   DCRSYNC_CACHE           cache root (default ~/.cache/dcrsync)
#   DCRSYNC_MINIO_VERSION   module version to build (default below)
#
# The default is the last commit of MinIO's community source (2026-02-12, the repository is
# in maintenance mode). MinIO's RELEASE.* tags are not semver, so the module proxy serves
# commits only as pseudo-versions; this one is later than RELEASE.2025-10-15T17-29-55Z and
# adds only a conditional-put quorum fix, API fixes and docs on top of it.
set -euo pipefail

MINIO_VERSION="${DCRSYNC_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE="${DCRSYNC_CACHE:-$HOME/.cache/dcrsync}"
DIR="$CACHE/bin/minio-$MINIO_VERSION"
OUT="$DIR/minio"

die() { echo "build-minio: error: $*" >&2; exit 1; }

if [[ -x "$OUT" ]]; then
  echo "build-minio: reusing $OUT" >&2
  echo "$OUT"
  exit 0
fi

command -v go >/dev/null || die "go not found on PATH; install Go >= 1.24 to build MinIO"

mkdir -p "$CACHE/bin"
TMPDIR_BIN="$(mktemp -d "$CACHE/bin/.minio-$MINIO_VERSION.XXXXXX")"
trap 'rm -rf "$TMPDIR_BIN"' EXIT

commit="${MINIO_VERSION##*-}"
echo "build-minio: go install github.com/minio/minio@$MINIO_VERSION with $(go version)" \
     "(first build takes several minutes)" >&2
start=$SECONDS
if ! CGO_ENABLED=0 GOBIN="$TMPDIR_BIN" GOFLAGS="${GOFLAGS:-} -trimpath" \
     go install -ldflags "-s -w -X github.com/minio/minio/cmd.CommitID=$commit -X github.com/minio/minio/cmd.ShortCommitID=$commit" \
     "github.com/minio/minio@$MINIO_VERSION"; then
  die "'go install github.com/minio/minio@$MINIO_VERSION' failed (see the Go errors above)"
fi
"$TMPDIR_BIN/minio" --version >/dev/null 2>&1 || die "built minio does not run: $TMPDIR_BIN/minio --version"
rm -rf "$DIR"
mkdir -p "$DIR"
mv "$TMPDIR_BIN/minio" "$OUT"
echo "build-minio: built $OUT in $((SECONDS - start)) s" >&2
echo "$OUT"
