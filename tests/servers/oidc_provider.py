"""Start a real node `oidc-provider` (tests/servers/oidc-provider/server.mjs).

    op = start_oidc_provider(tmp_path, rotate_rat=True, initial_access_token=None)
    op.issuer, op.registration_url, op.token_url
    op.test_admin_url        # test-only view of the provider's store: list / read / patch / delete clients
    op.stop()

The npm package is installed into `$CACHE/oidc-provider-<version>/` by
scripts/install-oidc-provider.sh (run here when missing); `DCRSYNC_OIDC_PROVIDER_DIR`
points at another install. `DCRSYNC_NODE` picks the node binary (default: `node` on PATH).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers.launch import (
    RunningServer,
    ServerProcess,
    ServerStartError,
    cache_dir,
    free_port,
    run_script,
    wait_http_ok,
)

SERVER_DIR = Path(__file__).resolve().parent / "oidc-provider"
READY_DEADLINE = 30.0


@dataclass
class OidcProviderInstance(RunningServer):
    issuer: str
    registration_url: str
    token_url: str
    rotate_rat: bool
    initial_access_token: str | None
    process: ServerProcess
    startup_seconds: float = 0.0

    @property
    def test_admin_url(self) -> str:
        """The test-only admin hook over the provider's own store (see server.mjs, DCRSYNC_TEST_ADMIN)."""
        return f"{self.issuer}/__test_admin__"


def oidc_provider_dir() -> Path:
    """The directory whose node_modules holds oidc-provider (installed now if missing)."""
    explicit = os.environ.get("DCRSYNC_OIDC_PROVIDER_DIR")
    if explicit:
        return Path(explicit)
    version = json.loads((SERVER_DIR / "package.json").read_text())["dependencies"]["oidc-provider"]
    installed = cache_dir() / f"oidc-provider-{version}"
    lock_ok = (installed / "package-lock.json").exists() and (
        (installed / "package-lock.json").read_bytes() == (SERVER_DIR / "package-lock.json").read_bytes()
    )
    if lock_ok and (installed / "node_modules" / "oidc-provider" / "package.json").exists():
        return installed
    return run_script("install-oidc-provider.sh")


def start_oidc_provider(
    workdir: Path,
    *,
    rotate_rat: bool = True,
    initial_access_token: str | None = None,
    ready_deadline: float = READY_DEADLINE,
    test_admin: bool = True,
    client_auth_methods: tuple[str, ...] = (),
    public_origin: str | None = None,
) -> OidcProviderInstance:
    """server.mjs on a free 127.0.0.1 port; registration at /reg, management at /reg/:id.

    `public_origin`: the origin a (misconfigured) reverse proxy in front of it announces; the URLs
    the provider hands out (discovery, registration_client_uri) then name it (PUBLIC_ORIGIN)."""
    node = os.environ.get("DCRSYNC_NODE") or shutil.which("node")
    if not node:
        raise ServerStartError("node not found on PATH (set DCRSYNC_NODE); Node.js >= 20 is needed")
    modules = oidc_provider_dir()
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        "ROTATE_RAT": "true" if rotate_rat else "false",
        "INITIAL_ACCESS_TOKEN": initial_access_token or "",
        "NODE_ENV": "test",
        "DCRSYNC_TEST_ADMIN": "1" if test_admin else "",
        "CLIENT_AUTH_METHODS": ",".join(client_auth_methods),  # empty: the library's default
        "PUBLIC_ORIGIN": public_origin or "",
    }
    started = time.monotonic()
    for attempt in (1, 2):
        proc = ServerProcess.start(
            "oidc-provider",
            [node, SERVER_DIR / "server.mjs", "--port", str(port), "--issuer", issuer, "--modules", modules],
            workdir / f"attempt-{attempt}",
            env=env,
        )
        try:
            wait_http_ok(f"{issuer}/.well-known/openid-configuration", ready_deadline, proc)
            break
        except ServerStartError:
            proc.stop()
            # seen once in a full CI run on a loaded machine: node alive, never listening, no error;
            # a second start on a fresh port is the test harness's business, not dcrsync's
            if attempt == 2:
                raise
            port = free_port()
            issuer = f"http://127.0.0.1:{port}"
        except BaseException:
            proc.stop()
            raise
    return OidcProviderInstance(
        issuer=issuer,
        registration_url=f"{issuer}/reg",
        token_url=f"{issuer}/token",
        rotate_rat=rotate_rat,
        initial_access_token=initial_access_token,
        process=proc,
        startup_seconds=time.monotonic() - started,
    )
