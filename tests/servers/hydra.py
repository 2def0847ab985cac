"""Start a real Ory Hydra (built from its Go module by scripts/build-hydra.sh).

    instance = start_hydra(tmp_path)          # SQLite in tmp_path, dynamic registration on
    instance.admin_url, instance.public_url   # http://127.0.0.1:<port>
    instance.stop()

The binary is `$DCRSYNC_HYDRA_BIN` if set, else `$CACHE/bin/hydra-<version>`; when absent,
scripts/build-hydra.sh builds it (a few minutes the first time, seconds afterwards).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers.launch import (
    RunningServer,
    ServerProcess,
    ServerStartError,
    cache_dir,
    free_port,
    installed_binary,
    wait_http_ok,
)

HYDRA_VERSION = "v2.3.0"  # keep in line with tests/servers/hydra/go.mod
READY_DEADLINE = 60.0


@dataclass
class HydraInstance(RunningServer):
    admin_url: str
    public_url: str
    binary: Path
    process: ServerProcess
    startup_seconds: float = 0.0

    @property
    def issuer(self) -> str:
        return self.public_url  # what /.well-known/openid-configuration says (no trailing slash)


def hydra_binary() -> Path:
    """`DCRSYNC_HYDRA_BIN`, else the cached build (built now if missing)."""
    return installed_binary("DCRSYNC_HYDRA_BIN", cache_dir() / "bin" / f"hydra-{HYDRA_VERSION}", "build-hydra.sh")


def start_hydra(
    workdir: Path,
    *,
    dynamic_registration: bool = True,
    extra_env: dict[str, str] | None = None,
    ready_deadline: float = READY_DEADLINE,
) -> HydraInstance:
    """`hydra serve all --dev` on free 127.0.0.1 ports with a SQLite database file in `workdir`.

    Not Hydra's `DSN=memory`: that database lives only while one of Hydra's connections stays
    open, and a client that disconnects mid-request (the crash tests kill dcrsync by the dozen) can
    leave Hydra with none: every later call answered 500 "Unable to locate the table". A file,
    migrated first, with no fsync (a throwaway server), is as quick and never vanishes."""
    binary = hydra_binary()
    admin_port, public_port = free_port(), free_port()
    while public_port == admin_port:
        public_port = free_port()
    public_url = f"http://127.0.0.1:{public_port}"
    admin_url = f"http://127.0.0.1:{admin_port}"
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / f"hydra-{secrets.token_hex(4)}.sqlite"
    env = {
        # SQLite (the `sqlite` build tag): foreign keys on, WAL, no fsync, wait for a busy writer
        "DSN": f"sqlite://{database}?_fk=true&_journal_mode=WAL&_synchronous=OFF&_busy_timeout=10000",
        "SERVE_PUBLIC_HOST": "127.0.0.1",
        "SERVE_PUBLIC_PORT": str(public_port),
        "SERVE_ADMIN_HOST": "127.0.0.1",
        "SERVE_ADMIN_PORT": str(admin_port),
        "URLS_SELF_ISSUER": public_url,
        "URLS_SELF_PUBLIC": public_url,
        "URLS_LOGIN": f"{public_url}/login",
        "URLS_CONSENT": f"{public_url}/consent",
        "SECRETS_SYSTEM": secrets.token_urlsafe(32),
        "OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED": "true" if dynamic_registration else "false",
        "LOG_LEVEL": "warn",
        "SQA_OPT_OUT": "true",
        **(extra_env or {}),
    }
    started = time.monotonic()
    migrate(binary, env)
    proc = ServerProcess.start("hydra", [binary, "serve", "all", "--dev", "--sqa-opt-out"], workdir, env=env)
    try:
        wait_http_ok(f"{admin_url}/health/ready", ready_deadline, proc)
        wait_http_ok(f"{public_url}/health/ready", ready_deadline, proc)
    except BaseException:
        proc.stop()
        raise
    return HydraInstance(admin_url, public_url, binary, proc, time.monotonic() - started)


def migrate(binary: Path, env: dict[str, str]) -> None:
    """`hydra migrate sql up` on the new database file; its output in the error when it fails."""
    done = subprocess.run([str(binary), "migrate", "sql", "up", "--read-from-env", "--yes"],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise ServerStartError(f"hydra migrate sql up failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")


class Hydra:
    """Context manager form: `with Hydra(tmp_path) as h: ...`."""

    def __init__(self, workdir: Path, *, dynamic_registration: bool = True) -> None:
        self.workdir = workdir
        self.dynamic_registration = dynamic_registration
        self.instance: HydraInstance | None = None

    def __enter__(self) -> HydraInstance:
        self.instance = start_hydra(self.workdir, dynamic_registration=self.dynamic_registration)
        return self.instance

    def __exit__(self, *exc: object) -> None:
        if self.instance is not None:
            self.instance.stop()
