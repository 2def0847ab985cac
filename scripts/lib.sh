# What the install scripts share; sourced, never run:
#   TOOL=install-sops; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# TOOL names the script in its messages. Sets ROOT (the repository) and CACHE (where built servers
# live, ${DCRSYNC_CACHE:-~/.cache/dcrsync}). Progress goes to stderr; the one path a script prints
# on stdout is what tests/servers/launch.py reads.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${DCRSYNC_CACHE:-$HOME/.cache/dcrsync}"

say() { echo "$TOOL: $*" >&2; }
die() { say "error: $*"; exit 1; }

# need COMMAND HINT: stop with HINT when COMMAND is not on PATH
need() { command -v "$1" >/dev/null || die "$1 not found on PATH; $2"; }

# reuse PATH: it is already there: say so, print it, and end the script
reuse() { say "reusing $1"; echo "$1"; exit 0; }

# scratch PARENT NAME: a fresh folder PARENT/.NAME.XXXXXX in $SCRATCH, removed when the script ends
scratch() {
  mkdir -p "$1"
  SCRATCH="$(mktemp -d "$1/.$2.XXXXXX")"
  trap 'rm -rf "$SCRATCH"' EXIT
}

# go_install MODULE@VERSION LDFLAGS OUT [CHECK]: `go install` one binary (reproducible: -trimpath)
# into a scratch folder beside OUT's, check that `OUT CHECK` runs (default --version), then put it at
# OUT (its folder is replaced). Prefix the call with variables for Go (CGO_ENABLED=0 go_install …).
go_install() {
  local pkg=$1 ldflags=$2 out=$3 check=${4:---version} dir bin
  dir="$(dirname "$out")"
  bin="$(basename "$out")"
  scratch "$(dirname "$dir")" "$(basename "$dir")"
  if ! GOBIN="$SCRATCH" GOFLAGS="${GOFLAGS:-} -trimpath" go install -ldflags "$ldflags" "$pkg"; then
    die "'go install $pkg' failed (see the Go errors above)"
  fi
  "$SCRATCH/$bin" "$check" >/dev/null 2>&1 || die "built $bin does not run: $SCRATCH/$bin $check"
  rm -rf "$dir"
  mkdir -p "$dir"
  mv "$SCRATCH/$bin" "$out"
}
