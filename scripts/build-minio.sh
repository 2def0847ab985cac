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
TOOL=build-minio
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MINIO_VERSION="${DCRSYNC_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
OUT="$CACHE/bin/minio-$MINIO_VERSION/minio"

[[ -x "$OUT" ]] && reuse "$OUT"
need go "install Go >= 1.24 to build MinIO"

commit="${MINIO_VERSION##*-}"
say "go install github.com/minio/minio@$MINIO_VERSION with $(go version) (first build takes several minutes)"
start=$SECONDS
CGO_ENABLED=0 go_install "github.com/minio/minio@$MINIO_VERSION" \
  "-s -w -X github.com/minio/minio/cmd.CommitID=$commit -X github.com/minio/minio/cmd.ShortCommitID=$commit" "$OUT"
say "built $OUT in $((SECONDS - start)) s"
echo "$OUT"
