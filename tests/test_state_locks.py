"""Locks can always be broken (issue 16 item 9): a lock with no id to name it by (an unreadable S3
`lock.json`, a PostgreSQL advisory lock with no lock row) is named as what it is, and `dcrsync state
unlock` breaks it after saying what it found; a readable lock is only broken by its id. On the real
PostgreSQL and MinIO; the file store's lock goes with its process."""

from __future__ import annotations

import hashlib

import psycopg
import pytest

from tests.support.stores import store_of
from tests.test_shared_store import _clients

pytestmark = pytest.mark.hydra


def _hold_unreadable(p):
    """A lock dcrsync cannot read: garbage (with a terminal escape) in S3's lock.json, or PostgreSQL's
    advisory lock held by a session that wrote no lock row. Returns what to close afterwards."""
    if p.kind == "s3":
        with p.server.client() as c:
            c.put_object("dcrsync-state", f"{p.label}/lock.json", b"\x1b]52;c;aGk=\x07 not json")
        return None
    key = int.from_bytes(hashlib.sha256(f"dcrsync:dcrsync:{p.label}".encode()).digest()[:8], "big", signed=True)
    holder = psycopg.connect(p.server.dsn, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (key,))
    return holder


@pytest.mark.parametrize("any_store", ["postgres", "s3"], indirect=True)
def test_an_unreadable_lock_is_named_and_unlock_breaks_it_after_saying_what_it_found(any_store):
    p = any_store
    _clients(p, 1)
    assert p.run("apply", "--auto-approve").exit_code == 0
    holder = _hold_unreadable(p)
    try:
        out = p.run_sub("apply", "--auto-approve")
        line = out.stderr.strip().splitlines()[-1]
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert "unreadable lock" in line and line.endswith("dcrsync state unlock") and "None" not in line, line
        assert "\x1b" not in out.stderr  # what the lock holds is shown inert
        broke = p.run_sub("state", "unlock")
        assert broke.returncode == 0, broke.stderr
        assert "Broke the lock" in broke.stdout and "unreadable lock" in broke.stdout
        assert ("bytes that are not a dcrsync lock" if p.kind == "s3" else "with no lock row") in broke.stdout
        again = p.run_sub("apply", "--auto-approve")
        assert again.returncode == 0, again.stderr
        nothing = p.run_sub("state", "unlock")
        assert nothing.returncode == 1 and "nobody holds the lock" in nothing.stderr
    finally:
        if holder is not None:
            holder.close()


@pytest.mark.parametrize("any_store", ["postgres", "s3"], indirect=True)
def test_unlock_without_an_id_does_not_break_a_readable_lock(any_store):
    p = any_store
    _clients(p, 1)
    store = store_of(p)
    with store.locked():
        out = p.run_sub("state", "unlock")
        assert out.returncode == 1 and "dcrsync state unlock " in out.stderr and "None" not in out.stderr
        lock_id = out.stderr.strip().rsplit(" ", 1)[-1]
        assert p.run_sub("apply", "--auto-approve").returncode == 1  # still held
        assert p.run_sub("state", "unlock", lock_id).returncode == 0


@pytest.mark.parametrize("any_store", ["file"], indirect=True)
def test_the_file_stores_lock_is_said_to_go_with_its_process(any_store):
    out = any_store.run_sub("state", "unlock")
    assert out.returncode == 1 and "goes when that process ends" in out.stderr and "Traceback" not in out.stderr
