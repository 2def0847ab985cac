"""Start a real HashiCorp Vault dev server (built from its Go module by scripts/build-vault.sh), for
the vault-kv2 delivery target (issue 18 item 3).

    instance = start_vault(tmp_path)      # in memory, KV v2 mounted at secret/, a root token
    instance.address, instance.token      # http://127.0.0.1:<port>
    instance.stop()

The binary is `$DCRSYNC_VAULT_BIN` if set, else `$CACHE/bin/vault-<version>`; when absent,
scripts/build-vault.sh builds it (15-30 minutes the first time on 2 cores, seconds afterwards).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers.launch import (
    RunningServer,
    ServerProcess,
    cache_dir,
    free_port,
    installed_binary,
    wait_http_ok,
)

VAULT_VERSION = "v1.21.4"  # keep in line with tests/servers/vault/go.mod
READY_DEADLINE = 60.0


@dataclass
class VaultInstance(RunningServer):
    address: str
    token: str
    binary: Path
    process: ServerProcess
    startup_seconds: float = 0.0


def vault_binary() -> Path:
    return installed_binary("DCRSYNC_VAULT_BIN", cache_dir() / "bin" / f"vault-{VAULT_VERSION}", "build-vault.sh",
                            timeout=3600)


def start_vault(workdir: Path) -> VaultInstance:
    """`vault server -dev` on a free 127.0.0.1 port: in memory, KV v2 at `secret/`."""
    binary = vault_binary()
    port = free_port()
    token = secrets.token_urlsafe(24)
    address = f"http://127.0.0.1:{port}"
    argv = [binary, "server", "-dev", f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}",
            "-dev-no-store-token"]
    started = time.monotonic()
    proc = ServerProcess.start("vault", argv, workdir, env={"VAULT_DISABLE_MLOCK": "true", "HOME": str(workdir)})
    try:
        wait_http_ok(f"{address}/v1/sys/health", READY_DEADLINE, proc)
    except BaseException:
        proc.stop()
        raise
    return VaultInstance(address, token, binary, proc, time.monotonic() - started)
