"""Shared state on the real PostgreSQL and MinIO: apply, locking, crash and outage convergence,
migration between stores, and no plaintext secret for a database or bucket reader."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.support.crash import kill_when, start_apply
from tests.support.hydra_api import clients_of, token_works, total_clients
from tests.support.stores import use_shared_store

pytestmark = pytest.mark.hydra


@pytest.fixture(params=["postgres", "s3"])
def shared(request, hydra_project, monkeypatch):
    """A Hydra project whose `state:` is a shared store on the session's PostgreSQL or MinIO."""
    return use_shared_store(hydra_project, request.param, request, monkeypatch)


def _clients(p, n: int, prefix: str = "svc") -> None:
    for i in range(n):
        p.write_client(f"{prefix}-{i:03d}", {"client_name": f"S {i}", "grant_types": ["client_credentials"],
                                             "scope": "openid"})


def _store(p):
    from dcrsync.project.opening import open_project

    project = open_project(str(p.config), None)
    project.unlock()
    return project.store


def _stored_bytes(p) -> bytes:
    """Everything the store holds for this state, as a database or bucket reader sees it."""
    if p.kind == "postgres":
        with psycopg.connect(p.server.dsn) as c:
            rows = []
            for table in ("states", "clients", "journal", "locks"):
                rows += [repr(r).encode() for r in c.execute(f"SELECT * FROM dcrsync.{table}").fetchall()]
            return b"\n".join(rows)
    with p.server.client() as c:
        return b"\n".join(c.get_object("dcrsync-state", k).content for k in c.list_keys("dcrsync-state", ""))


def _converged(p, hydra, n: int) -> dict[str, str]:
    live = clients_of(hydra.admin_url, p.owner)
    names = [c["metadata"]["dcrsync"]["name"] for c in live]
    assert len(names) == n and len(set(names)) == n, "a client is missing or duplicated"
    state = _store(p).read()
    by_name = {c["metadata"]["dcrsync"]["name"]: c["client_id"] for c in live}
    assert set(state.clients) == set(by_name)
    secrets = {}
    for name, rec in state.clients.items():
        assert rec.client_id == by_name[name] and not rec.pending and rec.client_secret, name
        secrets[rec.client_id] = rec.client_secret
    with ThreadPoolExecutor(8) as pool:
        ok = list(pool.map(lambda kv: token_works(hydra.public_url, *kv), sorted(secrets.items())))
    assert all(ok), f"{ok.count(False)} recorded secrets do not authenticate"
    return secrets


def test_apply_plan_and_no_plaintext_in_the_store(shared, hydra):
    p = shared
    _clients(p, 5)
    out = p.run_sub("apply", "--auto-approve")
    assert out.returncode == 0, out.stdout + out.stderr
    assert not p.state.exists(), "a shared store must not write the state file into git"
    secrets = _converged(p, hydra, 5)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    held = _stored_bytes(p)
    assert b"svc-000" in held  # names and ids are readable there...
    assert not [s for s in secrets.values() if s.encode() in held], "a secret is in the store in plaintext"
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(p.root / "no-such-key")}
    listed = subprocess.run([sys.executable, "-m", "dcrsync", "state", "list", "--config", str(p.config)],
                            capture_output=True, text=True, env=env, cwd=p.root)
    assert listed.returncode == 0 and "svc-004" in listed.stdout, listed.stderr  # ...without a key


def test_a_held_lock_refuses_names_its_holder_and_unlock_breaks_only_it(shared):
    p = shared
    _clients(p, 2)
    store = _store(p)
    with store.locked():  # held by this (live) test process, as by a runner that hangs
        out = p.run_sub("apply", "--auto-approve")
        assert out.returncode == 1
        line = out.stderr.strip().splitlines()[-1]
        assert "is locked" in line and "dcrsync state unlock" in line and "Traceback" not in out.stderr
        assert f"pid {os.getpid()}" in line
        lock_id = line.rsplit(" ", 1)[-1]
        wrong = p.run_sub("state", "unlock", "00000000-0000-0000-0000-000000000000")
        assert wrong.returncode == 1 and "is not the lock" in wrong.stderr
        assert p.run_sub("apply", "--auto-approve").returncode == 1  # still held
        broke = p.run_sub("state", "unlock", lock_id)
        assert broke.returncode == 0, broke.stderr
        out = p.run_sub("apply", "--auto-approve")
        assert out.returncode == 0, out.stdout + out.stderr


def test_lock_timeout_waits_for_the_holder(shared):
    p = shared
    _clients(p, 2)
    store = _store(p)
    with store.locked():
        waiting = subprocess.Popen(
            [sys.executable, "-m", "dcrsync", "apply", "--config", str(p.config), "--auto-approve",
             "--lock-timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=p.root)
        time.sleep(3)
        assert waiting.poll() is None, "apply with --lock-timeout did not wait"
    stdout, stderr = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, stdout + stderr


def test_sigkill_mid_apply_then_converge(shared, hydra):
    p = shared
    # enough clients that the kill point (10 created) comes well before the end: with 40, an apply on a
    # busy CI machine once finished between two of the probe's polls
    _clients(p, 120)
    before = total_clients(hydra.admin_url)
    proc = start_apply(p, p.root / "apply.log", parallelism=2)
    assert kill_when(proc, lambda: total_clients(hydra.admin_url) - before >= 10)
    # PostgreSQL's advisory lock died with the killed process's session; the S3 lock object of a
    # killed process on this host is taken over
    out = p.run_sub("apply", "--auto-approve")
    assert out.returncode == 0, out.stdout + out.stderr
    _converged(p, hydra, 120)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_two_applies_at_once_one_waits_nothing_lost(shared, hydra):
    p = shared
    _clients(p, 30)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "dcrsync", "apply", "--config", str(p.config), "--auto-approve", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=p.root)
        for extra in ([], ["--lock-timeout", "120"])]
    results = [proc.communicate(timeout=300) for proc in procs]
    codes = [proc.returncode for proc in procs]
    assert codes.count(0) >= 1, results
    for proc, (_, err) in zip(procs, results, strict=True):
        assert "Traceback" not in err
        if proc.returncode != 0:
            assert "is locked" in err
    _converged(p, hydra, 30)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
