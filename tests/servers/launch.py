"""Shared plumbing for starting real servers in tests.

Everything here is about processes, not about any one server: a free port, waiting for an
HTTP endpoint, a server process in its own process group with its output in a log file, and
stopping it by PID (SIGTERM, then SIGKILL) — also at interpreter exit, and (on Linux) when
the test process dies without running its exit handlers.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"


class ServerStartError(RuntimeError):
    """A server or its installer failed; the message carries the tail of its log."""


def cache_dir() -> Path:
    """`${DCRSYNC_CACHE:-$HOME/.cache/dcrsync}` — where scripts/ put the servers."""
    return Path(os.environ.get("DCRSYNC_CACHE") or Path.home() / ".cache" / "dcrsync")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def run_script(name: str, *, env: Mapping[str, str] | None = None, timeout: float = 1800) -> Path:
    """Run scripts/<name> (install/build into the cache) and return the path it prints last."""
    script = SCRIPTS / name
    try:
        proc = subprocess.run(
            ["bash", str(script)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            cwd=REPO_ROOT,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServerStartError(f"{script} did not finish within {timeout:.0f} s") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        stderr = "\n".join(proc.stderr.strip().splitlines()[-40:])
        raise ServerStartError(f"{script} failed with exit {proc.returncode}:\n{stderr}")
    return Path(lines[-1])


def _die_with_parent() -> None:
    """preexec_fn: ask Linux to SIGKILL the child when the thread that started it dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


_live: dict[int, ServerProcess] = {}
_live_lock = threading.Lock()


@dataclass
class ServerProcess:
    """A server started in its own process group, its stdout+stderr in `log_path`."""

    name: str
    args: list[str]
    log_path: Path
    popen: subprocess.Popen = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @classmethod
    def start(
        cls,
        name: str,
        args: Sequence[str | os.PathLike[str]],
        workdir: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ServerProcess:
        """Start `args`; `env` is added to os.environ; the log is `workdir/<name>.log`."""
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = workdir / f"{name}.log"
        argv = [str(a) for a in args]
        # Tie the child's life to ours only when started from the main thread: PDEATHSIG
        # fires when the *thread* that forked exits, which would kill a server started
        # from a short-lived worker thread.
        preexec = _die_with_parent if threading.current_thread() is threading.main_thread() else None
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd or workdir,
                start_new_session=True,
                preexec_fn=preexec,
            )
        proc = cls(name=name, args=argv, log_path=log_path, popen=popen)
        with _live_lock:
            _live[popen.pid] = proc
        return proc

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, wait, then SIGKILL it. Safe to call twice."""
        with _live_lock:
            _live.pop(self.popen.pid, None)
        pgid = self.popen.pid  # start_new_session: the leader's pid is the group id
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left in the group (children of a wrapper script), kill it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        procs = list(_live.values())
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.stop(timeout=5)


def wait_http_ok(
    url: str,
    deadline: float,
    proc: ServerProcess | None = None,
    log_path: Path | None = None,
    *,
    interval: float = 0.1,
) -> float:
    """Poll `url` until it answers 2xx; return the seconds it took.

    `deadline` is the time budget in seconds. Fails early if `proc` exits, and on failure
    raises ServerStartError with the tail of `log_path` (default: the process's log).
    """
    start = time.monotonic()
    last = "no answer yet"
    log_path = log_path or (proc.log_path if proc else None)

    def fail(why: str) -> ServerStartError:
        log = f"\n--- {log_path} (tail) ---\n{tail(log_path)}" if log_path else ""
        return ServerStartError(f"{why} (waiting for {url}; last: {last}){log}")

    while True:
        if proc is not None and not proc.alive():
            raise fail(f"{proc.name} exited with code {proc.popen.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - 127.0.0.1 only
                if 200 <= resp.status < 300:
                    return time.monotonic() - start
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if time.monotonic() - start > deadline:
            if proc is not None:
                proc.stop()
            raise fail(f"not ready after {deadline:.0f} s")
        time.sleep(interval)


SOPS_VERSION = "v3.10.2"  # keep in line with scripts/install-sops.sh


def installed_binary(
    override: str, cached: Path, script: str, *, env: Mapping[str, str] | None = None, timeout: float = 1800
) -> Path:
    """The program a launcher runs: `$override` when set (it must be executable), else the cached
    build at `cached`, else what scripts/<script> installs now."""
    explicit = os.environ.get(override)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise ServerStartError(f"{override}={explicit} is not an executable file")
        return Path(explicit)
    if os.access(cached, os.X_OK):
        return cached
    return run_script(script, env=env, timeout=timeout)


def sops_binary() -> Path:
    """`DCRSYNC_SOPS_BIN`, else `$CACHE/bin/sops-<tag>/sops` (installed now if missing).

    Run it with SOPS_DISABLE_VERSION_CHECK=1, always."""
    cached = cache_dir() / "bin" / f"sops-{SOPS_VERSION}" / "sops"
    return installed_binary("DCRSYNC_SOPS_BIN", cached, "install-sops.sh", env={"DCRSYNC_SOPS_VERSION": SOPS_VERSION})


class RunningServer:
    """What every started server offers the tests: its PID, its log, and stop-by-PID.

    Mixed into each launcher's dataclass, which has a `process: ServerProcess` field.
    """

    process: ServerProcess
    stop_timeout: float = 10.0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def stop(self) -> None:
        self.process.stop(timeout=self.stop_timeout)
