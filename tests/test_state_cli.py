"""The state through the CLI: list/show/secret/rm, the lock, a missing key, a journal left behind."""

from __future__ import annotations

import json
import os

import pytest

from dcrsync.state.sops import Sops
from dcrsync.state.store import FileStore

pytestmark = pytest.mark.hydra
SVC = {"client_name": "Svc", "grant_types": ["client_credentials"], "scope": "openid"}


@pytest.fixture
def applied(hydra_project):
    p = hydra_project
    p.write_client("a", SVC)
    p.write_client("b", SVC)
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    return p


def test_show_masks_secrets_and_list_needs_no_key(applied, monkeypatch):
    p = applied
    secret = p.run("state", "secret", "a").output.strip()
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    shown = p.run("state", "show", "a")
    assert shown.exit_code == 0 and secret not in shown.output
    assert json.loads(shown.output)["client_secret"] == "(sensitive)"
    listed = p.run("state", "list")
    assert listed.exit_code == 0 and listed.output.count("\n") == 2


def test_secret_without_the_key_says_which_key_is_missing(applied, tmp_path):
    p = applied
    env = dict(os.environ, SOPS_AGE_KEY_FILE=str(tmp_path / "nope.txt"))
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "dcrsync", "state", "secret", "a", "--config", str(p.config)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "SOPS_AGE_KEY_FILE" in r.stderr and r.stdout == ""


def test_rm_forgets_without_touching_the_server(applied, hydra):
    from tests.support.hydra_api import clients_of

    p = applied
    r = p.run("state", "rm", "b")
    assert r.exit_code == 0, r.output
    assert set(p.state_doc()["clients"]) == {"a"}
    assert len(clients_of(hydra.admin_url, p.owner)) == 2
    missing = p.run_sub("state", "rm", "zzz")
    assert missing.returncode == 1 and "zzz" in missing.stderr


def test_a_second_apply_is_refused_while_the_lock_is_held(applied):
    p = applied
    p.write_client("c", SVC)
    store = FileStore(p.state, Sops())
    with store.locked():
        r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 1 and "locked by another dcrsync apply" in r.stderr
    assert "c" not in p.state_doc()["clients"]
    assert p.run("apply", "--auto-approve").exit_code == 0


def test_lock_timeout_waits_for_the_other_apply_on_the_file_store(applied):
    import subprocess
    import sys
    import threading
    import time

    p = applied
    p.write_client("d", SVC)
    store = FileStore(p.state, Sops())
    released = threading.Event()

    def hold() -> None:
        with store.locked():
            released.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.2)
    proc = subprocess.Popen([sys.executable, "-m", "dcrsync", "apply", "--config", str(p.config), "--auto-approve",
                             "--lock-timeout", "60"], cwd=p.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(2)
    assert proc.poll() is None  # still waiting for the lock
    released.set()
    holder.join()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "d" in p.state_doc()["clients"]


def test_hand_edited_state_is_refused_with_advice(applied):
    p = applied
    text = p.state.read_text().replace("serial: 1", "serial: 7")
    p.state.write_text(text)
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 1 and "MAC mismatch" in r.stderr and "restore it from git" in r.stderr
