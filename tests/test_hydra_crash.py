"""A SIGKILLed apply converges on the next run: no duplicate, no lost secret, nothing in plaintext."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.crash import journal_batches, kill_when, start_apply
from tests.support.hydra_api import clients_of, token_works, total_clients
from tests.support.secrets_scan import files_containing

pytestmark = pytest.mark.hydra
N = 300


def test_sigkill_at_several_points_converges(hydra_project, hydra):
    p = hydra_project
    for i in range(N):
        p.write_client(f"svc-{i:03d}", {"client_name": f"Service {i}", "grant_types": ["client_credentials"],
                                         "scope": "openid"})
    journal = p.state.with_name(p.state.name + ".journal")

    def batches() -> int:
        return journal_batches(p.state)

    before = total_clients(hydra.admin_url)  # this worker's Hydra also holds earlier tests' clients

    def on_server() -> int:
        return total_clients(hydra.admin_url) - before

    kill_points = [
        ("right after the create intents are journaled", lambda: batches() >= 1),
        ("after a few group commits", lambda: batches() >= 3),
        ("half-way through the creates", lambda: on_server() >= N // 2),
        ("after every create, before the state is written", lambda: on_server() >= N),
    ]
    killed = []
    for i, (label, ready) in enumerate(kill_points):
        log = p.root / f"apply-{i}.log"
        proc = start_apply(p, log)
        if kill_when(proc, ready):
            killed.append(label)
        out = log.read_text()
        assert "Traceback" not in out, out
    assert len(killed) >= 3, f"only killed at: {killed}"

    final = subprocess.run(
        [sys.executable, "-m", "dcrsync", "apply", "--config", str(p.config), "--auto-approve"],
        capture_output=True, text=True, cwd=p.root, timeout=600,
    )
    assert final.returncode == 0, final.stdout + final.stderr

    live = clients_of(hydra.admin_url, p.owner)
    names = [c["metadata"]["dcrsync"]["name"] for c in live]
    assert len(names) == N and len(set(names)) == N, "a client is missing or duplicated"

    plan = p.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert not journal.exists()

    from dcrsync.state.sops import Sops
    from dcrsync.state.store import FileStore

    state = FileStore(p.state, Sops()).read()
    assert set(state.clients) == set(names)
    by_name = {c["metadata"]["dcrsync"]["name"]: c["client_id"] for c in live}
    secrets = {}
    for name, record in state.clients.items():
        assert record.client_id == by_name[name] and not record.pending
        assert record.client_secret, f"{name}: secret lost"
        secrets[name] = record.client_secret

    with ThreadPoolExecutor(8) as pool:
        ok = list(pool.map(lambda n: token_works(hydra.public_url, by_name[n], secrets[n]), sorted(secrets)))
    assert all(ok), f"{ok.count(False)} recorded secrets do not authenticate"

    leaks = files_containing(set(secrets.values()), [p.root, Path(tempfile.gettempdir())])
    assert leaks == [], f"plaintext secrets on disk: {leaks[:3]}"
