"""The state in PostgreSQL (psycopg 3): one schema dcrsync creates and migrates itself.

Tables (in `schema`, default `dcrsync`; `name` tells states apart, e.g. one per environment):
- `states`: the sops-encrypted identity document and the plain bookkeeping sidecar, with a serial;
- `clients`: one row per client (name, client_id, applied_at, which secrets are held), rewritten by
  every commit in its transaction, for people and tools that query the database (no secret in it);
- `journal`: one row per group commit of an apply (a secret batch encrypted as one value: `dcrsync.state.batches`);
- `locks`: who holds the lock (id, user, host, pid, CI run, since, the holding backend's pid).

The lock itself is a session-level advisory lock on its own connection: it dies with the process
(or its connection), so a crashed apply leaves no stale lock; the row says who held it last.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import psycopg

from dcrsync.errors import StateError
from dcrsync.guards.trust import Trust
from dcrsync.net.connect import allowed_answers
from dcrsync.net.gate import Resolver, literal
from dcrsync.state.batches import check_base
from dcrsync.state.records import SECRET_KEYS, State
from dcrsync.state.shared import SharedStore, Unreachable, describe, may_break

SCHEMA_VERSION = 1

MIGRATIONS = {
    1: """
CREATE TABLE IF NOT EXISTS {s}.states (
  name text PRIMARY KEY, serial bigint NOT NULL, document bytea NOT NULL, sidecar bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS {s}.clients (
  state text NOT NULL, name text NOT NULL, client_id text, applied_at text, secrets text[] NOT NULL,
  PRIMARY KEY (state, name));
CREATE TABLE IF NOT EXISTS {s}.journal (
  state text NOT NULL, seq bigserial, secret boolean NOT NULL, batch bytea NOT NULL,
  written_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (state, seq));
CREATE TABLE IF NOT EXISTS {s}.locks (
  state text PRIMARY KEY, id text NOT NULL, holder jsonb NOT NULL, backend_pid integer NOT NULL,
  since timestamptz NOT NULL DEFAULT now());
""",
}


def _safe_dsn(dsn: str) -> str:
    """The DSN without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return "postgresql://…"
    return f"postgresql://{info.get('user', '')}@{info.get('host', '')}:{info.get('port', '5432')}/{info.get('dbname', '')}"


def pinned(dsn: str, trust: Trust, resolve: Resolver | None = None) -> dict[str, str]:
    """libpq's `host`, `hostaddr` and `port` for a DSN that names its server(s) by host name: each name's
    answers that are not link-local or metadata addresses, resolved here once, so that the driver
    (psycopg, or libpq) connects where dcrsync looked instead of resolving the name again (DNS
    rebinding); TLS and `.pgpass` still see the name. Of several hosts (libpq's fail-over list), each
    name is pinned to its own answers, in the DSN's order, and every other entry (a literal address, a
    Unix socket, a name the Trust allows as it is) is left for the driver as written. A name that does
    not resolve here is dropped, not left for the driver to resolve later (an answer that came only
    then would not have been vetted); none left: psycopg's OperationalError, as the driver would say.
    {} where there is nothing to pin: no host name, a `hostaddr` or a service already, or ports that
    do not fit the hosts (libpq says so)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return {}
    host = str(info.get("host") or os.environ.get("PGHOST") or "")
    port = str(info.get("port") or os.environ.get("PGPORT") or "5432")
    if info.get("hostaddr") or os.environ.get("PGHOSTADDR") or info.get("service") or os.environ.get("PGSERVICE"):
        return {}
    hosts, ports = host.split(","), port.split(",")
    ports = ports * len(hosts) if len(ports) == 1 else ports
    if not host or len(ports) != len(hosts) or not all(p.isdigit() for p in ports):
        return {}
    out: list[tuple[str, str, str]] = []  # (host, hostaddr, port) of each attempt
    unresolved: list[str] = []
    for name, at in zip(hosts, ports, strict=True):
        if (not name or name.startswith(("/", "@")) or literal(name) or trust.allow_link_local
                or trust.names(name)):
            out.append((name, "", at))
            continue
        addresses = allowed_answers(name, int(at), trust, resolve)
        out.extend((name, a, at) for a in addresses)
        if not addresses:
            unresolved.append(name)
    if not out:
        raise psycopg.OperationalError(f"failed to resolve host {unresolved[0]!r}: it has no address")
    if not unresolved and not any(addr for _, addr, _ in out):
        return {}
    return {key: ",".join(row[i] for row in out) for i, key in enumerate(("host", "hostaddr", "port"))}


class PostgresStore(SharedStore):
    kind = "postgres"

    def __init__(self, settings: dict[str, Any], local_dir: Path, trust: Trust | None = None) -> None:
        self.dsn = str(settings["dsn"])
        self.trust = trust or Trust()
        self.schema = str(settings.get("schema", "dcrsync"))
        self.name = str(settings.get("name", "default"))
        self.where = f"{_safe_dsn(self.dsn)} (schema {self.schema}, state {self.name})"
        super().__init__(local_dir, f"{self.where}")
        key = hashlib.sha256(f"dcrsync:{self.schema}:{self.name}".encode()).digest()[:8]
        self._lock_key = int.from_bytes(key, "big", signed=True)
        self._conn: psycopg.Connection | None = None
        self._lock_conn: psycopg.Connection | None = None
        self._migrated = False

    # --- connections (`pinned`: to the addresses dcrsync vetted) ------------------------------
    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.dsn, autocommit=True, connect_timeout=10,
                                   application_name="dcrsync", **pinned(self.dsn, self.trust))
        except psycopg.OperationalError as exc:
            raise Unreachable(f"cannot connect to {self.where}: {_first_line(exc)}") from None

    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        if not self._migrated:
            self._migrate(self._conn)
        return self._conn

    def _run(self, fn: Any) -> Any:
        """Run fn(connection); a dropped connection is Unreachable (one line, no traceback)."""
        try:
            return fn(self._db())
        except psycopg.OperationalError as exc:
            if self._conn is not None:
                self._conn.close()
            raise Unreachable(f"{self.where} did not answer: {_first_line(exc)}") from None
        except psycopg.Error as exc:  # a refused privilege, a bad schema name: one line, no traceback
            raise StateError(f"{self.where}: {_first_line(exc)}") from None

    def _migrate(self, conn: psycopg.Connection) -> None:
        """Create or migrate the schema; a schema already current is only read (a read-only role
        for plan and drift needs no CREATE)."""
        s = self.schema
        if conn.execute("SELECT to_regclass(%s)", (f'"{s}".meta',)).fetchone()[0] is not None:
            row = conn.execute(f"SELECT value FROM \"{s}\".meta WHERE key = 'schema_version'").fetchone()
            if row and int(row[0]) == SCHEMA_VERSION:
                self._migrated = True
                return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('dcrsync-migrate'))")
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{s}"')
            conn.execute(f'CREATE TABLE IF NOT EXISTS "{s}".meta (key text PRIMARY KEY, value text NOT NULL)')
            row = conn.execute(f"SELECT value FROM \"{s}\".meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"{self.where} was written by a newer dcrsync (schema version {version}); upgrade dcrsync"
                )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                conn.execute(MIGRATIONS[step].format(s=f'"{s}"'))
            conn.execute(
                f"INSERT INTO \"{s}\".meta VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),),
            )
        self._migrated = True

    # --- engine ----------------------------------------------------------------------------
    def _fetch(self) -> tuple[bytes, bytes] | None:
        row = self._run(lambda c: c.execute(
            f'SELECT document, sidecar FROM "{self.schema}".states WHERE name = %s', (self.name,)).fetchone())
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def _journal(self) -> list[tuple[str, bytes, bool]]:
        rows = self._run(lambda c: c.execute(
            f'SELECT seq, batch, secret FROM "{self.schema}".journal WHERE state = %s ORDER BY seq',
            (self.name,)).fetchall())
        return [(f"{self.schema}.journal row seq={q} (state {self.name})", bytes(b), bool(s)) for q, b, s in rows]

    def _has_journal(self) -> bool:
        return bool(self._run(lambda c: c.execute(
            f'SELECT EXISTS (SELECT 1 FROM "{self.schema}".journal WHERE state = %s)', (self.name,)).fetchone()[0]))

    def _append(self, data: bytes, secret: bool) -> None:
        self._run(lambda c: c.execute(
            f'INSERT INTO "{self.schema}".journal (state, secret, batch) VALUES (%s, %s, %s)',
            (self.name, secret, data)))

    def _commit(self, serial: int, document: bytes, sidecar: bytes, base: str) -> None:
        s = self.schema
        state = State.from_files(document, self.where, True, sidecar)  # names and ids only, for the rows

        def write(c: psycopg.Connection) -> None:
            with c.transaction():
                if self._lock is not None:
                    row = c.execute(f'SELECT id FROM "{s}".locks WHERE state = %s FOR UPDATE', (self.name,)).fetchone()
                    if row is None or row[0] != self._lock["id"]:
                        raise StateError(
                            f"the lock on {self.where} was broken (`dcrsync state unlock`) while this run held it; "
                            "nothing was written: run again"
                        )
                row = c.execute(f'SELECT document FROM "{s}".states WHERE name = %s FOR UPDATE', (self.name,)).fetchone()
                check_base(base, None if row is None else bytes(row[0]), self.where)
                c.execute(
                    f'INSERT INTO "{s}".states (name, serial, document, sidecar, updated_at) VALUES (%s, %s, %s, %s, now()) '
                    "ON CONFLICT (name) DO UPDATE SET serial = excluded.serial, document = excluded.document, "
                    "sidecar = excluded.sidecar, updated_at = now()",
                    (self.name, serial, document, sidecar),
                )
                c.execute(f'DELETE FROM "{s}".clients WHERE state = %s', (self.name,))
                with c.cursor().copy(f'COPY "{s}".clients (state, name, client_id, applied_at, secrets) FROM STDIN') as cp:
                    for name, rec in state.clients.items():
                        cp.write_row((self.name, name, rec.client_id, rec.applied_at or None,
                                      [k for k in SECRET_KEYS if rec.has(k)]))
                c.execute(f'DELETE FROM "{s}".journal WHERE state = %s', (self.name,))

        self._run(write)

    def _ping(self) -> None:
        self._run(lambda c: c.execute("SELECT 1"))

    def prepare(self) -> str:
        """Create or migrate the schema (`dcrsync state init`); the first use does the same."""
        self._run(lambda c: None)
        return f"The schema {self.schema} on {_safe_dsn(self.dsn)} is ready (version {SCHEMA_VERSION})."

    def _try_lock(self, info: dict[str, Any]) -> dict[str, Any] | None:
        self._db()  # the schema exists before the lock row is written
        if self._lock_conn is None or self._lock_conn.closed:
            self._lock_conn = self._connect()
        conn = self._lock_conn
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._lock_key,)).fetchone()[0]
            if not got:
                return self.lock_holder() or {"unreadable": "released while it was being read"}
            conn.execute(
                f'INSERT INTO "{self.schema}".locks (state, id, holder, backend_pid, since) '
                "VALUES (%s, %s, %s, pg_backend_pid(), now()) ON CONFLICT (state) DO UPDATE SET id = excluded.id, "
                "holder = excluded.holder, backend_pid = excluded.backend_pid, since = now()",
                (self.name, info["id"], json.dumps(info)),
            )
        except psycopg.OperationalError as exc:
            conn.close()
            raise Unreachable(f"{self.where} did not answer: {_first_line(exc)}") from None
        return None

    def _unlock(self, info: dict[str, Any]) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is None:
            return
        try:
            conn.execute(f'DELETE FROM "{self.schema}".locks WHERE state = %s AND id = %s', (self.name, info["id"]))
            conn.execute("SELECT pg_advisory_unlock(%s)", (self._lock_key,))
        except psycopg.Error:
            pass  # the session ends below; its advisory lock goes with it
        finally:
            conn.close()

    def _advisory_holder(self, c: psycopg.Connection) -> tuple[int, str] | None:
        """The session holding this state's advisory lock: (pid, what pg_stat_activity says of it)."""
        row = c.execute(
            "SELECT l.pid, a.application_name, a.client_addr::text, a.backend_start FROM pg_locks l "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = %s", (self._lock_key,)).fetchone()
        if row is None:
            return None
        return row[0], f"backend pid {row[0]}, application {row[1] or '?'!r}, from {row[2] or 'a local socket'}, since {row[3]}"

    def _holder(self, c: psycopg.Connection) -> tuple[dict[str, Any] | None, int | None]:
        """Who holds the lock, and the backend pid to end to break it. A session holding the advisory
        lock without the row that names it (deleted, or a stale row of a killed run) is unreadable."""
        row = c.execute(f'SELECT holder, backend_pid FROM "{self.schema}".locks WHERE state = %s',
                        (self.name,)).fetchone()
        session = self._advisory_holder(c)
        if session is None:
            return None, None
        if row is None or row[1] != session[0]:
            return {"unreadable": f"held by {session[1]}, with no lock row naming it"}, session[0]
        return {**row[0], "backend_pid": row[1]}, session[0]

    def lock_holder(self) -> dict[str, Any] | None:
        return self._run(lambda c: self._holder(c)[0])  # type: ignore[no-any-return]

    def break_lock(self, lock_id: str | None) -> str:
        """End the session holding lock LOCK_ID (only that one) and drop its row; or, when the lock has
        no row to name it by, end the session that holds it."""

        def breaking(c: psycopg.Connection) -> str:
            found, pid = self._holder(c)
            held = may_break(self.where, found, lock_id)
            c.execute("SELECT pg_terminate_backend(%s)", (pid,))
            c.execute(f'DELETE FROM "{self.schema}".locks WHERE state = %s', (self.name,))
            return describe(held)

        return str(self._run(breaking))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
