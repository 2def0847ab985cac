"""The shared store goes away mid-apply (PostgreSQL stopped, the S3 server stopped): the apply
starts nothing new, keeps every secret the server returned in the local encrypted journal, exits 1
with one line; with the store back, the next apply replays it and converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.hydra_api import clients_of, total_clients
from tests.support.secrets_scan import files_containing
from tests.test_shared_store import _clients, _converged, _store

pytestmark = pytest.mark.hydra
N = 400  # enough that the apply is still creating when the next group commit (≤ 1 s) finds the store gone


def _local_journal(root: Path) -> list[tuple[str, bytes, bool]]:
    """The batches the apply kept locally while the store was away, as it left them."""
    from dcrsync.state.store import Journal

    raw = []
    for folder in (root / ".dcrsync").glob("*.journal"):
        raw += Journal(folder.with_name(folder.name.removesuffix(".journal"))).raw()
    return raw


def _entries(raw: list[tuple[str, bytes, bool]], key: bytes | None) -> list[dict]:
    """Their entries, opened with the journal key (that of the state they extend, or carried by a batch)."""
    from dcrsync.state.batches import _unseal, open_batch  # the journal key as the next run has it
    from dcrsync.state.sops import Sops

    entries = []
    for name, data, secret in raw:
        batch = open_batch(name, data, secret, Sops())
        key = batch.key or key
        if batch.sealed is not None:
            assert key is not None, f"{name}: sealed, and no journal key to open it"
            _unseal(batch, key)
        entries += batch.entries
    return entries


@pytest.mark.parametrize("kind", ["postgres", "s3"])
def test_store_stopped_mid_apply_keeps_secrets_locally_then_replays(kind, hydra_project, hydra, tmp_path, monkeypatch):
    p = hydra_project
    p.owner = f"out-{kind}-{uuid.uuid4().hex[:10]}"  # the owner of hydra_project is the same for both params
    p.set_config(owner=p.owner)
    if kind == "postgres":
        from tests.servers.postgres import start_postgres

        server = start_postgres(tmp_path / "pg")
        monkeypatch.setenv("DCRSYNC_PG_DSN", server.dsn)
        settings = {"kind": "postgres", "dsn": "${env:DCRSYNC_PG_DSN}"}
    else:
        from tests.servers.s3 import start_minio

        server = start_minio(tmp_path / "s3")
        with server.client() as c:
            c.create_bucket("outage")
        monkeypatch.setenv("DCRSYNC_S3_ENDPOINT", server.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
        settings = {"kind": "s3", "endpoint": "${env:DCRSYNC_S3_ENDPOINT}", "bucket": "outage"}
    p.set_config(state=settings)
    p.kind, p.server = kind, server
    try:
        _clients(p, N)
        before = total_clients(hydra.admin_url)  # this worker's Hydra also holds earlier tests' clients
        log = p.root / "apply.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dcrsync", "apply", "--config", str(p.config), "--auto-approve",
                 "--parallelism", "2"], stdout=out, stderr=subprocess.STDOUT, cwd=p.root, start_new_session=True)
        reached = False
        end = time.monotonic() + 120
        while time.monotonic() < end and proc.poll() is None:
            if total_clients(hydra.admin_url) - before >= 15:
                reached = True
                break
            time.sleep(0.02)
        assert reached, log.read_text()
        if kind == "postgres":
            server.interrupt()
        else:  # at once, as a crashed or unplugged server (a graceful stop lets in-flight requests finish)
            os.killpg(server.process.popen.pid, signal.SIGKILL)
            server.stop()
        assert proc.wait(timeout=300) == 1
        text = log.read_text()
        assert "Traceback" not in text, text
        last = text.strip().splitlines()[-1]
        assert "became unreachable" in last and "local encrypted journal" in last, text
        on_server = len(clients_of(hydra.admin_url, p.owner))
        assert on_server < N, "the apply went on creating clients with its store gone"
        local = _local_journal(p.root)
        assert local, "nothing was kept in the local journal"

        if kind == "postgres":
            server.start_again()
        else:
            server = start_minio(tmp_path / "s3")  # the same data folder, a new port
            monkeypatch.setenv("DCRSYNC_S3_ENDPOINT", server.endpoint)
            p.server = server
        again = p.run_sub("apply", "--auto-approve")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Recovered an interrupted apply" in again.stderr
        assert not list((p.root / ".dcrsync").glob("*.journal")), "the local journal was not cleared"
        secrets = _converged(p, hydra, N)
        state = _store(p).read()
        kept = {e["name"]: e["data"]["client_secret"] for e in _entries(local, state.journal_key)
                if e.get("data", {}).get("client_secret")}
        assert kept, "no secret was kept in the local journal"
        for name, secret in kept.items():
            assert state.clients[name].client_secret == secret, f"{name}: the kept secret was not replayed"
        assert set(kept.values()) <= set(secrets.values())
        leaks = files_containing(set(secrets.values()), [p.root])  # the local journal was encrypted
        assert not leaks, leaks
    finally:
        server.stop()
