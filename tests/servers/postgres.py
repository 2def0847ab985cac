"""Start a real PostgreSQL server (Debian's package) for the tests: `initdb` + `pg_ctl`.

    pg = start_postgres(workdir)   # free 127.0.0.1 port, throwaway cluster, password auth
    pg.dsn                         # postgresql://dcrsync:…@127.0.0.1:<port>/dcrsync
    pg.stop()                      # pg_ctl stop -m fast, then SIGKILL by PID; data removed

PostgreSQL refuses to run as root. As root the cluster belongs to an unprivileged system user
(`dcrsync-pg`, made by scripts/install-postgres.sh) and every PostgreSQL program runs as that
user. Its directory is a fresh `mkdtemp` under the system temp dir (pytest's own temp dirs are
private to root, so the user could not enter them); the server log is copied into `workdir`
when the server stops.

The programs are found by scripts/install-postgres.sh (`$DCRSYNC_PG_BINDIR`, else the newest
`/usr/lib/postgresql/*/bin`, else `initdb` on PATH), which installs Debian's `postgresql`
with apt-get when there is none.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.launch import ServerStartError, free_port, run_script, tail

PG_USER = os.environ.get("DCRSYNC_PG_USER", "dcrsync-pg")
DB_USER = "dcrsync"
DB_NAME = "dcrsync"
READY_DEADLINE = 60.0
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    # A throwaway cluster: no crash safety needed, and the shared machine has slow disks.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "50",
    "log_min_messages": "warning",
}


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def _pg_user_exists() -> bool:
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        return False
    return True


def postgres_bindir() -> Path:
    """The directory with initdb/pg_ctl/postgres (installing them, and the user, if missing)."""
    if os.geteuid() == 0 and not _pg_user_exists():
        return run_script("install-postgres.sh", env={"DCRSYNC_PG_USER": PG_USER}, timeout=900)
    explicit = os.environ.get("DCRSYNC_PG_BINDIR")
    if explicit:
        if not _has_server(Path(explicit)):
            raise ServerStartError(f"DCRSYNC_PG_BINDIR={explicit} lacks initdb, pg_ctl or postgres")
        return Path(explicit)
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_major, reverse=True):
        if _has_server(candidate):
            return candidate
    on_path = shutil.which("initdb")
    if on_path and _has_server(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    return run_script("install-postgres.sh", env={"DCRSYNC_PG_USER": PG_USER}, timeout=900)


def _major(bindir: Path) -> int:
    try:
        return int(bindir.parent.name)
    except ValueError:
        return -1


@dataclass
class _RunAs:
    """Run PostgreSQL's programs as the unprivileged user when we are root, else as ourselves."""

    uid: int | None
    gid: int | None
    home: Path

    def run(self, argv: Sequence[str | os.PathLike[str]], what: str, timeout: float = 120) -> str:
        try:
            proc = subprocess.run(
                [str(a) for a in argv],
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.home,
                env={**os.environ, "HOME": str(self.home), "LC_ALL": "C", "PGTZ": "UTC"},
                stdin=subprocess.DEVNULL,
                **self._ids(),
            )
        except subprocess.TimeoutExpired as exc:
            raise ServerStartError(f"postgres: {what} did not finish within {timeout:.0f} s") from exc
        if proc.returncode != 0:
            out = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
            raise ServerStartError(f"postgres: {what} failed with exit {proc.returncode}:\n{out}")
        return proc.stdout

    def _ids(self) -> dict:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.gid)


@dataclass
class PostgresInstance:
    """A running throwaway cluster. Same surface as the other launchers: pid, log_path, stop()."""

    host: str
    port: int
    user: str
    password: str
    database: str
    socket_dir: Path
    data_dir: Path
    bindir: Path
    version: str
    log_path: Path
    pid: int
    startup_seconds: float = 0.0
    _runner: _RunAs = field(repr=False, default=None)  # type: ignore[assignment]
    _root: Path = field(repr=False, default=None)  # type: ignore[assignment]
    _keep_log: Path | None = field(repr=False, default=None)
    _stopped: bool = field(repr=False, default=False)

    @property
    def dsn(self) -> str:
        """libpq URL over TCP with password auth (what a user's config would hold)."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def alive(self) -> bool:
        """The postmaster is still there (pg_ctl left it to init, which may reap it late)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        with contextlib.suppress(OSError, IndexError):
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            return stat.rsplit(")", 1)[1].split()[0] != "Z"
        return True

    def interrupt(self, timeout: float = 30.0) -> None:
        """An outage: the server shuts down fast (as `pg_ctl stop -m fast`), its data kept for
        `start_again`. Raises if it is still up after `timeout`."""
        os.kill(self.pid, signal.SIGINT)
        end = time.monotonic() + timeout
        while self.alive() and time.monotonic() < end:
            time.sleep(0.05)
        if self.alive():
            raise RuntimeError(f"PostgreSQL (pid {self.pid}) did not shut down in {timeout:.0f} s; see {self.log_path}")

    def start_again(self) -> None:
        """The same cluster up again on its port, after `interrupt`."""
        settings = {**SERVER_SETTINGS, "port": str(self.port), "unix_socket_directories": str(self.socket_dir)}
        options = " ".join(f"-c {k}={v}" for k, v in settings.items())
        self._runner.run([self.bindir / "pg_ctl", "start", "-D", self.data_dir, "-l", self.log_path, "-w",
                          "-o", options], "pg_ctl start", timeout=90)
        _live.pop(self.pid, None)
        self.pid = _postmaster_pid(self.data_dir)
        _live[self.pid] = self

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (what `pg_ctl stop -m fast` does: SIGINT to the postmaster's PID),
        SIGKILL if it is still there after `timeout`; then the cluster directory goes."""
        if self._stopped:
            return
        self._stopped = True
        _live.pop(self.pid, None)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGINT)
        end = time.monotonic() + timeout
        while self.alive() and time.monotonic() < end:
            time.sleep(0.05)
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGKILL)
            time.sleep(0.2)
        if self._keep_log is not None:
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log_path, self._keep_log)
                self.log_path = self._keep_log
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)


_live: dict[int, PostgresInstance] = {}


@atexit.register
def _stop_all() -> None:
    for instance in list(_live.values()):
        with contextlib.suppress(Exception):
            instance.stop(timeout=10)


def start_postgres(workdir: Path, *, ready_deadline: float = READY_DEADLINE) -> PostgresInstance:
    """initdb a fresh cluster and `pg_ctl start` it on a free 127.0.0.1 port."""
    bindir = postgres_bindir()
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="dcrsync-pg-"))
    try:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(PG_USER)
            runner = _RunAs(entry.pw_uid, entry.pw_gid, root)
        else:
            runner = _RunAs(None, None, root)
        runner.chown(root)
        root.chmod(0o700)
        password = secrets.token_urlsafe(18)
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        runner.chown(pwfile)
        data, sockets, log_path = root / "data", root / "sockets", root / "postgres.log"
        sockets.mkdir()
        runner.chown(sockets)
        runner.run(
            [
                bindir / "initdb", "-D", data, "-U", DB_USER, f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8",
                "--locale=C", "--no-sync",
            ],
            "initdb",
        )
        pwfile.unlink()
        port = free_port()
        settings = {**SERVER_SETTINGS, "port": str(port), "unix_socket_directories": str(sockets)}
        options = " ".join(f"-c {key}={value}" for key, value in settings.items())
        runner.run(
            [bindir / "pg_ctl", "start", "-D", data, "-l", log_path, "-w", "-t", str(int(ready_deadline)),
             "-o", options],
            "pg_ctl start",
            timeout=ready_deadline + 30,
        )
        pid = _postmaster_pid(data)
        instance = PostgresInstance(
            host="127.0.0.1", port=port, user=DB_USER, password=password, database=DB_NAME,
            socket_dir=sockets, data_dir=data, bindir=bindir, version="", log_path=log_path, pid=pid,
            _runner=runner, _root=root, _keep_log=workdir / "postgres.log",
        )
        _live[pid] = instance
    except BaseException:
        _kill_cluster(root)
        raise
    try:
        bin_psql = shutil.which("psql") or str(bindir / "psql")
        runner.run([bindir / "createdb", "-h", sockets, "-p", str(port), "-U", DB_USER, DB_NAME], "createdb")
        _wait_tcp_ready(instance, bindir, ready_deadline)
        instance.version = runner.run(
            [bin_psql, "-h", sockets, "-p", str(port), "-U", DB_USER, "-d", DB_NAME, "-XAtc", "SHOW server_version"],
            "psql SHOW server_version",
        ).strip()
    except BaseException as exc:
        log = tail(log_path)
        instance.stop()
        if isinstance(exc, ServerStartError):
            raise ServerStartError(f"{exc}\n--- {log_path} (tail) ---\n{log}") from exc
        raise
    instance.startup_seconds = time.monotonic() - started
    return instance


def _postmaster_pid(data: Path) -> int:
    """The first line of postmaster.pid (pg_ctl start -w returns only once it is written)."""
    try:
        return int((data / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError) as exc:
        raise ServerStartError(f"postgres: no postmaster.pid in {data} after pg_ctl start") from exc


def _wait_tcp_ready(instance: PostgresInstance, bindir: Path, deadline: float) -> None:
    """pg_isready over TCP on 127.0.0.1 (pg_ctl -w only checked the Unix socket)."""
    pg_isready = shutil.which("pg_isready") or str(bindir / "pg_isready")
    end = time.monotonic() + deadline
    last = ""
    while True:
        proc = subprocess.run(
            [pg_isready, "-h", instance.host, "-p", str(instance.port), "-d", instance.database, "-t", "2"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )
        if proc.returncode == 0:
            return
        last = (proc.stdout + proc.stderr).strip()
        if not instance.alive() or time.monotonic() > end:
            raise ServerStartError(f"postgres: not ready on {instance.host}:{instance.port} ({last})")
        time.sleep(0.1)


def _kill_cluster(root: Path) -> None:
    """A start that failed half-way: kill a postmaster that may be up, drop the directory."""
    pid_file = root / "data" / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError, ProcessLookupError, PermissionError):
        os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)
    shutil.rmtree(root, ignore_errors=True)
