"""The servers behind the shared state stores start and do what the stores will rely on.

PostgreSQL (Debian's package, tests/servers/postgres.py): password auth over TCP, transactions,
session-level advisory locks that block other sessions and die with their session.
S3 (MinIO, tests/servers/s3.py): create-only puts (`If-None-Match: *`), compare-and-swap puts
(`If-Match: <etag>`), listing under a prefix, delete — one by one and under concurrency.

A server that cannot start fails these tests; nothing here is skipped.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from tests.servers.s3 import S3Client, error_code

# --- PostgreSQL ----------------------------------------------------------------------------


def test_postgres_connects_with_its_dsn_and_rejects_a_wrong_password(postgres):
    with psycopg.connect(postgres.dsn, connect_timeout=10) as conn:
        user, version = conn.execute("SELECT current_user, current_setting('server_version')").fetchone()
    assert user == postgres.user
    assert version == postgres.version and int(version.split(".")[0]) >= 13
    wrong = postgres.dsn.replace(postgres.password, postgres.password + "x")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=10)


def test_postgres_transactions_commit_and_roll_back(postgres):
    table = f"t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (k text PRIMARY KEY, v integer NOT NULL)")
        with conn.transaction():
            conn.execute(f"INSERT INTO {table} VALUES ('kept', 1)")
        with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
            conn.execute(f"INSERT INTO {table} VALUES ('lost', 2)")
            conn.execute(f"INSERT INTO {table} VALUES ('kept', 3)")  # fails: the whole block goes
        rows = conn.execute(f"SELECT k, v FROM {table} ORDER BY k").fetchall()
    assert rows == [("kept", 1)]


def test_postgres_advisory_lock_blocks_others_until_its_session_is_killed(postgres):
    key = 0x64637273  # any bigint; the stores will pick their own
    holder = psycopg.connect(postgres.dsn, autocommit=True)
    other = psycopg.connect(postgres.dsn, autocommit=True)
    admin = psycopg.connect(postgres.dsn, autocommit=True)
    try:
        holder_pid = holder.execute("SELECT pg_backend_pid()").fetchone()[0]
        # Session-level: taken inside a transaction that then rolls back, it is still held.
        with pytest.raises(RuntimeError), holder.transaction():
            holder.execute("SELECT pg_advisory_lock(%s)", [key])
            raise RuntimeError("roll back")
        assert other.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0] is False
        held_by = admin.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND ((classid::bigint << 32) | objid::bigint) = %s",
            [key],
        ).fetchall()
        assert held_by == [(holder_pid,)]

        assert admin.execute("SELECT pg_terminate_backend(%s, 10000)", [holder_pid]).fetchone()[0] is True
        with pytest.raises(psycopg.OperationalError):
            holder.execute("SELECT 1")
        assert other.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0] is True
        assert other.execute("SELECT pg_advisory_unlock(%s)", [key]).fetchone()[0] is True
    finally:
        for conn in (holder, other, admin):
            conn.close()


def test_postgres_blocking_advisory_lock_waits_for_the_holder(postgres):
    key = 0x73746f72
    with psycopg.connect(postgres.dsn, autocommit=True) as holder, psycopg.connect(
        postgres.dsn, autocommit=True
    ) as waiter:
        holder.execute("SELECT pg_advisory_lock(%s)", [key])
        got = threading.Event()

        def wait_for_lock() -> None:
            waiter.execute("SELECT pg_advisory_lock(%s)", [key])
            got.set()

        thread = threading.Thread(target=wait_for_lock)
        thread.start()
        assert not got.wait(1.0), "a second session got a lock that was still held"
        holder.execute("SELECT pg_advisory_unlock(%s)", [key])
        thread.join(10)
        assert got.is_set()
        waiter.execute("SELECT pg_advisory_unlock(%s)", [key])


# --- S3 ------------------------------------------------------------------------------------


@pytest.fixture
def bucket(s3) -> str:
    name = f"dcrsync-{uuid.uuid4().hex[:12]}"
    with s3.client() as client:
        resp = client.create_bucket(name)
        assert resp.status_code == 200, resp.text
    return name


@pytest.fixture
def client(s3):
    with s3.client() as c:
        yield c


def test_s3_rejects_a_request_signed_with_the_wrong_secret(s3, bucket):
    with S3Client(s3.endpoint, s3.access_key, s3.secret_key + "x", s3.region) as bad:
        resp = bad.put_object(bucket, "x", b"x")
    assert resp.status_code == 403 and error_code(resp) == "SignatureDoesNotMatch"


def test_s3_if_none_match_star_creates_once(client, bucket):
    first = client.put_object(bucket, "state/lock", b"one", if_none_match="*")
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')  # ETags come quoted

    second = client.put_object(bucket, "state/lock", b"two", if_none_match="*")
    assert second.status_code == 412 and error_code(second) == "PreconditionFailed"

    got = client.get_object(bucket, "state/lock")
    assert got.status_code == 200 and got.content == b"one" and got.headers["etag"] == etag


def test_s3_if_match_is_compare_and_swap(client, bucket):
    etag1 = client.put_object(bucket, "state/doc", b"v1").headers["etag"]

    swapped = client.put_object(bucket, "state/doc", b"v2", if_match=etag1)
    assert swapped.status_code == 200, swapped.text
    etag2 = swapped.headers["etag"]
    assert etag2 != etag1

    stale = client.put_object(bucket, "state/doc", b"v3", if_match=etag1)
    assert stale.status_code == 412 and error_code(stale) == "PreconditionFailed"
    assert client.get_object(bucket, "state/doc").content == b"v2"

    # CAS on an object that is not there: 404 NoSuchKey, not 412.
    missing = client.put_object(bucket, "state/none", b"x", if_match=etag2)
    assert missing.status_code == 404 and error_code(missing) == "NoSuchKey"
    assert client.get_object(bucket, "state/none").status_code == 404


def test_s3_lists_under_a_prefix_and_deletes(client, bucket):
    keys = ["env/prod/state.json", "env/prod/lock", "env/prod-eu/state.json", "env/stage/state é 1.json"]
    for key in keys:
        assert client.put_object(bucket, key, key.encode()).status_code == 200

    assert sorted(client.list_keys(bucket, "env/prod/")) == ["env/prod/lock", "env/prod/state.json"]
    assert sorted(client.list_keys(bucket, "env/prod")) == sorted(keys[:3])
    assert client.list_keys(bucket, "env/stage/") == ["env/stage/state é 1.json"]
    assert client.get_object(bucket, "env/stage/state é 1.json").content == "env/stage/state é 1.json".encode()

    deleted = client.delete_object(bucket, "env/prod/lock")
    assert deleted.status_code == 204
    assert client.get_object(bucket, "env/prod/lock").status_code == 404
    assert client.list_keys(bucket, "env/prod/") == ["env/prod/state.json"]
    # Deleting what is gone still answers 204; and the name can be created-only again.
    assert client.delete_object(bucket, "env/prod/lock").status_code == 204
    assert client.put_object(bucket, "env/prod/lock", b"again", if_none_match="*").status_code == 200


def test_s3_lists_past_one_page(client, bucket):
    keys = [f"many/{i:03d}" for i in range(7)]
    for key in keys:
        assert client.put_object(bucket, key, b"x").status_code == 200
    assert client.list_keys(bucket, "many/", page_size=3) == keys  # 3 requests, in key order


def test_s3_etag_is_the_content_md5_so_equal_bodies_share_it(client, bucket):
    """What a store must know: A -> B -> A gives back A's ETag, so a CAS holding A's old ETag
    succeeds again (ABA). A store that needs a fresh ETag per write puts a nonce in the body."""
    etag_a = client.put_object(bucket, "aba", b"A").headers["etag"]
    assert etag_a == '"' + hashlib.md5(b"A").hexdigest() + '"'
    assert client.put_object(bucket, "aba", b"B", if_match=etag_a).status_code == 200
    assert client.put_object(bucket, "aba", b"A").headers["etag"] == etag_a
    assert client.put_object(bucket, "aba", b"C", if_match=etag_a).status_code == 200


def test_s3_minio_ignores_if_match_on_delete(client, bucket):
    """A server limit a store must design around (AWS S3 honours If-Match on DeleteObject;
    this MinIO does not): a DELETE with a stale If-Match still deletes and answers 204."""
    client.put_object(bucket, "lock", b"held by someone else")
    resp = client.request("DELETE", bucket, "lock", headers={"if-match": '"0123456789abcdef0123456789abcdef"'})
    assert resp.status_code == 204
    assert client.get_object(bucket, "lock").status_code == 404


def _race(s3, bucket: str, key: str, n: int, **conditions: str) -> list[httpx.Response]:
    """`n` conditional puts of the same key, released at the same moment, one client each."""
    start = threading.Barrier(n)

    def put(i: int) -> httpx.Response:
        with s3.client() as c:
            start.wait(10)
            return c.put_object(bucket, key, f"writer {i}".encode(), **conditions)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(put, range(n)))


def test_s3_concurrent_create_only_puts_have_one_winner(s3, client, bucket):
    results = _race(s3, bucket, "race/create", 8, if_none_match="*")
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [412] * 7, [(r.status_code, error_code(r)) for r in results]
    winner = next(r for r in results if r.status_code == 200)
    assert client.get_object(bucket, "race/create").headers["etag"] == winner.headers["etag"]


def test_s3_concurrent_compare_and_swap_has_one_winner(s3, client, bucket):
    base = client.put_object(bucket, "race/cas", b"base").headers["etag"]
    time.sleep(0.01)
    results = _race(s3, bucket, "race/cas", 8, if_match=base)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [412] * 7, [(r.status_code, error_code(r)) for r in results]
    winner = next(r for r in results if r.status_code == 200)
    assert client.get_object(bucket, "race/cas").headers["etag"] == winner.headers["etag"]
