#!/usr/bin/env bash
# Make PostgreSQL's server programs (initdb, pg_ctl, postgres) available for the tests and,
# when run as root, the unprivileged system user the tests run them as (PostgreSQL refuses
# to run as root). Installs Debian's `postgresql` package with apt-get only when no server
# is found. Idempotent; prints the directory holding initdb/pg_ctl/postgres on stdout.
#
#   DCRSYNC_PG_BINDIR   use this directory (must hold initdb, pg_ctl, postgres)
#   DCRSYNC_PG_USER     the unprivileged user to create as root (default dcrsync-pg)
set -euo pipefail

PG_USER="${DCRSYNC_PG_USER:-dcrsync-pg}"
die() { echo "install-postgres: error: $*" >&2; exit 1; }

has_server() { [[ -x "$1/initdb" && -x "$1/pg_ctl" && -x "$1/postgres" ]]; }

if [[ -n "${DCRSYNC_PG_BINDIR:-}" ]]; then
  has_server "$DCRSYNC_PG_BINDIR" || die "DCRSYNC_PG_BINDIR=$DCRSYNC_PG_BINDIR lacks initdb/pg_ctl/postgres"
fi

find_bindir() {
  if [[ -n "${DCRSYNC_PG_BINDIR:-}" ]]; then
    echo "$DCRSYNC_PG_BINDIR"
    return 0
  fi
  local dir
  # Debian's layout, newest major version first.
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4 -rn); do
    if has_server "$dir"; then echo "$dir"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1; then
    dir="$(dirname "$(readlink -f "$(command -v initdb)")")"
    if has_server "$dir"; then echo "$dir"; return 0; fi
  fi
  return 1
}

if ! BINDIR="$(find_bindir)"; then
  SUDO=()
  if [[ "$(id -u)" != 0 ]]; then
    sudo -n true 2>/dev/null \
      || die "no PostgreSQL server found; install Debian's 'postgresql' package (needs root)"
    SUDO=(sudo -n)
  fi
  command -v apt-get >/dev/null || die "no PostgreSQL server found and no apt-get to install one"
  echo "install-postgres: installing Debian's postgresql package" >&2
  start=$SECONDS
  # The package's postinst creates a default cluster; the tests never use it.
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends postgresql postgresql-client >&2 \
    || die "apt-get install postgresql failed"
  BINDIR="$(find_bindir)" || die "postgresql installed, but no initdb/pg_ctl/postgres found"
  echo "install-postgres: installed in $((SECONDS - start)) s" >&2
fi

if [[ "$(id -u)" == 0 ]] && ! getent passwd "$PG_USER" >/dev/null; then
  echo "install-postgres: creating the unprivileged system user $PG_USER" >&2
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
          --shell /usr/sbin/nologin "$PG_USER" \
    || getent passwd "$PG_USER" >/dev/null \
    || die "useradd $PG_USER failed"
fi

echo "install-postgres: $("$BINDIR/postgres" --version) in $BINDIR" >&2
echo "$BINDIR"
