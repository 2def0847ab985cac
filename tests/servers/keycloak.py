"""Start a real Keycloak (distribution zip from Maven Central, scripts/fetch-keycloak.sh).

    kc = start_keycloak(tmp_path)                  # kc.sh start-dev, in-memory H2, free ports
    create_realm(kc, "dcrsync")                    # admin token via master/admin-cli, POST realm
    kc.url, kc.admin_user, kc.admin_password
    kc.stop()

Environment:
    DCRSYNC_KEYCLOAK_VERSION    distribution version (default KEYCLOAK_VERSION below)
    DCRSYNC_KEYCLOAK_HOME       use this unpacked distribution instead of the cache
    DCRSYNC_KEYCLOAK_JAVA_HOME  JDK to run it with (default: detected, see find_java_home)
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
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

KEYCLOAK_VERSION = "26.7.3"  # keep in line with scripts/fetch-keycloak.sh
READY_DEADLINE = 180.0
# C1-only JIT: ~35% faster start here (27 s -> 17 s on 2 busy cores); pass java_opts="" for
# long benchmarks, where the full JIT pays off.
QUICK_START_JAVA_OPTS = "-XX:TieredStopAtLevel=1"
PREFERRED_JAVA = range(21, 26)  # Keycloak 26.x supports Java 21 and 25; 17 still starts 26.7.3


@dataclass
class KeycloakInstance(RunningServer):
    stop_timeout = 20.0  # Keycloak shuts down slowly
    url: str
    admin_user: str
    admin_password: str
    management_url: str
    home: Path
    java_home: Path | None
    process: ServerProcess
    startup_seconds: float = 0.0


def keycloak_version() -> str:
    return os.environ.get("DCRSYNC_KEYCLOAK_VERSION") or KEYCLOAK_VERSION


def keycloak_home() -> Path:
    """DCRSYNC_KEYCLOAK_HOME, else $CACHE/keycloak-<version> (fetched now if missing)."""
    explicit = os.environ.get("DCRSYNC_KEYCLOAK_HOME")
    if explicit:
        return Path(explicit)
    version = keycloak_version()
    home = cache_dir() / f"keycloak-{version}"
    if (home / "bin" / "kc.sh").exists():
        return home
    return run_script("fetch-keycloak.sh", env={"DCRSYNC_KEYCLOAK_VERSION": version})


def _java_major(java_home: Path) -> int | None:
    java = java_home / "bin" / "java"
    if not os.access(java, os.X_OK):
        return None
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def find_java_home() -> Path | None:
    """A JDK for Keycloak: DCRSYNC_KEYCLOAK_JAVA_HOME; else the newest Java 21..25 among
    JAVA_HOME, /usr/lib/jvm/*, /usr/local/lib/jvm/*, /opt/java/*, /opt/*jdk*, `java` on PATH;
    else JAVA_HOME / the PATH `java` as they are (None: let kc.sh find java itself)."""
    explicit = os.environ.get("DCRSYNC_KEYCLOAK_JAVA_HOME")
    if explicit:
        return Path(explicit)
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    for pattern in ("/usr/lib/jvm/*", "/usr/local/lib/jvm/*", "/opt/java/*", "/opt/*jdk*"):
        candidates += [Path(p) for p in sorted(glob.glob(pattern))]
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent.parent)
    best: tuple[int, Path] | None = None
    seen: set[Path] = set()
    for home in candidates:
        real = home.resolve()
        if real in seen:
            continue
        seen.add(real)
        major = _java_major(real)
        if major in PREFERRED_JAVA and (best is None or major > best[0]):
            best = (major, real)
    if best:
        return best[1]
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"])
    return None


@contextlib.contextmanager
def _dist_lock(home: Path):
    """start-dev may re-augment (rewrite lib/quarkus) in the shared distribution: one start at a time."""
    lock_path = cache_dir() / f".{home.name}.start.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def start_keycloak(
    workdir: Path,
    *,
    admin_user: str = "admin",
    admin_password: str | None = None,
    ready_deadline: float = READY_DEADLINE,
    java_opts: str = QUICK_START_JAVA_OPTS,
) -> KeycloakInstance:
    """`kc.sh start-dev` on free 127.0.0.1 ports, in-memory H2 (KC_DB=dev-mem), health on."""
    home = keycloak_home()
    java_home = find_java_home()
    admin_password = admin_password or secrets.token_urlsafe(16)
    port, mgmt_port = free_port(), free_port()
    while mgmt_port == port:
        mgmt_port = free_port()
    url = f"http://127.0.0.1:{port}"
    mgmt_url = f"http://127.0.0.1:{mgmt_port}"
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        "KC_DB": "dev-mem",
        "KC_BOOTSTRAP_ADMIN_USERNAME": admin_user,
        "KC_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
        "KC_HEALTH_ENABLED": "true",
        # a preview feature, off by default: `rotate-secret --grace` needs its secret-rotation executor
        "KC_FEATURES": "client-secret-rotation",
        # keep the transaction log of this instance out of the shared distribution
        "JAVA_OPTS_APPEND": " ".join(
            filter(
                None,
                [
                    f"-Dquarkus.transaction-manager.object-store.directory={workdir / 'tx-object-store'}",
                    java_opts,
                ],
            )
        ),
    }
    if java_home is not None:
        env["JAVA_HOME"] = str(java_home)
    args = [
        home / "bin" / "kc.sh",
        "start-dev",
        f"--http-port={port}",
        "--http-host=127.0.0.1",
        f"--http-management-port={mgmt_port}",
        "--hostname-strict=false",
    ]
    started = time.monotonic()
    with _dist_lock(home):
        proc = ServerProcess.start("keycloak", args, workdir, env=env)
        try:
            wait_http_ok(f"{mgmt_url}/health/ready", ready_deadline, proc, interval=0.5)
            wait_http_ok(f"{url}/realms/master/.well-known/openid-configuration", 30, proc)
        except BaseException:
            proc.stop()
            raise
    return KeycloakInstance(
        url, admin_user, admin_password, mgmt_url, home, java_home, proc, time.monotonic() - started
    )


def _request(method: str, url: str, *, token: str | None = None, json_body=None, form=None):
    headers = {}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - 127.0.0.1 only
        body = resp.read()
        return resp.status, (json.loads(body) if body else None), resp.headers


def admin_token(instance: KeycloakInstance) -> str:
    """An access token for the bootstrap admin: password grant on master's `admin-cli`."""
    _, body, _ = _request(
        "POST",
        f"{instance.url}/realms/master/protocol/openid-connect/token",
        form={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": instance.admin_user,
            "password": instance.admin_password,
        },
    )
    return body["access_token"]


_KEY_PROVIDER = "org.keycloak.keys.KeyProvider"
#: the keys of a test realm: one P-256 signing key (tokens ES256), HMAC and AES as Keycloak makes them.
#: Keycloak's own default is two RSA-2048 pairs, whose generation costs the test JVM (C1 only: no
#: BigInteger intrinsics) 2-3 s of CPU per realm, against 0.4 s for the whole realm with these; the
#: suite makes dozens of realms. dcrsync never reads a realm's keys; test_servers_smoke keeps the default.
QUICK_KEYS: dict = {
    "defaultSignatureAlgorithm": "ES256",
    "components": {
        _KEY_PROVIDER: [
            {"name": "ecdsa-generated", "providerId": "ecdsa-generated",
             "config": {"priority": ["100"], "ecdsaEllipticCurveKey": ["P-256"]}},
            {"name": "hmac-generated", "providerId": "hmac-generated",
             "config": {"priority": ["100"], "algorithm": ["HS512"]}},
            {"name": "aes-generated", "providerId": "aes-generated", "config": {"priority": ["100"]}},
        ]
    },
}


def create_realm(instance: KeycloakInstance, realm: str, *, default_keys: bool = False, **representation) -> str:
    """Create an enabled realm (extra RealmRepresentation fields as keyword arguments), with QUICK_KEYS
    unless `default_keys` (Keycloak's own RSA keys) or the representation brings its own components.

    Returns the admin access token used, handy for the next admin calls (it lives 60 s)."""
    if not default_keys and "components" not in representation:
        representation = {**QUICK_KEYS, **representation}
    token = admin_token(instance)
    try:
        _request(
            "POST",
            f"{instance.url}/admin/realms",
            token=token,
            json_body={"realm": realm, "enabled": True, **representation},
        )
    except urllib.error.HTTPError as exc:
        raise ServerStartError(
            f"creating realm {realm!r} failed: HTTP {exc.code} {exc.read()[:300]!r}"
        ) from exc
    return token
