"""Issue 16 items 6 and 7: whatever a server answers, dcrsync says one line and exits 1 (no traceback),
and its work stays bounded (pages, bytes, time).

What no real server produces comes from the named fake `tests/servers/fake_hostile.py`; an S3
`state.json` that is not JSON is written into the real MinIO.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from tests.servers.fake_hostile import HostileServer
from tests.support.project import make_project


def hostile_project(tmp_path, age_key, url: str, **server):
    p = make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": url, **server}, age_key, "hostile")
    p.write_client("a", {"client_name": "A", "grant_types": ["client_credentials"]})
    return p


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize(("mode", "said"), [
    ("html", "answered an HTML page ('Sign in to the guest Wi-Fi') (HTTP 200) to `list clients`, where JSON was expected"),
    ("not-a-list", "answered a JSON object (HTTP 200) to `list clients`, where a JSON list was expected"),
    ("nesting-bomb", "answered JSON nested deeper than 64 levels (HTTP 200) to `list clients`"),
])
def test_an_answer_that_is_not_the_expected_json_is_one_line(tmp_path, age_key, mode, said):
    with HostileServer(mode) as fake:
        p = hostile_project(tmp_path, age_key, fake.url)
        line = one_line_error(p.run_sub("plan"))
    assert f"{fake.url}/admin/clients {said}" in line
    assert "check that the URL in dcrsync.yaml is the server's API" in line  # what to do


def test_a_create_answered_with_a_list_fails_that_client_and_keeps_its_intent(tmp_path, age_key):
    with HostileServer("create-answers-list") as fake:
        p = hostile_project(tmp_path, age_key, fake.url)
        r = p.run_sub("apply", "--auto-approve")
    line = one_line_error(r)
    assert "create a: " in line and "answered a JSON list (HTTP 201) to `create client a`, where a JSON object" in line
    # the create may have happened: its intent (the client_id dcrsync chose) stays, for the next apply
    (record,) = p.state_doc()["clients"].values()
    assert record["pending"] == "create" and record["client_id"] and "client_secret" not in record


def test_endless_pages_stop_at_the_servers_own_count(tmp_path, age_key):
    with HostileServer("endless") as fake:  # X-Total-Count: 3, and a fresh page with a `next` forever
        p = hostile_project(tmp_path, age_key, fake.url)
        started = time.monotonic()
        line = one_line_error(p.run_sub("plan"))
        took = time.monotonic() - started
    assert "kept listing new clients past the 503 its count allows" in line and "pagination is broken" in line
    assert fake.seen.pages == 2 and took < 30  # before: 4.4 GB in 90 s


def test_endless_pages_without_a_count_stop_at_dcrsyncs_limit(tmp_path, age_key, monkeypatch):
    from dcrsync.backends import hydra

    monkeypatch.setattr(hydra, "MAX_LISTED", 2_000)  # the mechanism at 2,000 instead of 250,000 clients
    with HostileServer("endless-uncounted") as fake:
        p = hostile_project(tmp_path, age_key, fake.url)
        r = p.run("plan")
    assert r.exit_code == 1 and "dcrsync's limit of 2000" in r.stderr and "Traceback" not in r.stderr
    assert fake.seen.pages == 5  # 2,500 clients read: one page past the limit, then it stops


#: the process's own peak (VmHWM belongs to the address space exec made; ru_maxrss would carry over
#: the forking pytest's size, which is hundreds of MB late in a full run)
PEAK = textwrap.dedent("""
    import re, sys
    from dcrsync.cli import main
    try:
        main()
    finally:
        with open("/proc/self/status") as status:
            peak = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
        sys.stderr.write(f"peak-rss-kb {peak}\\n")
""")


def test_a_200_mb_answer_is_not_read_whole(tmp_path, age_key):
    with HostileServer("huge") as fake:
        p = hostile_project(tmp_path, age_key, fake.url)
        r = subprocess.run([sys.executable, "-c", PEAK, *p._argv(("plan",))], capture_output=True, text=True,
                           cwd=p.root, timeout=120)
        time.sleep(0.2)  # let the fake notice the hang-up
    assert "Traceback" not in r.stderr and r.returncode == 1
    assert f"error: {fake.url}/admin/clients answered more than 32 MB (HTTP 200); dcrsync stopped reading" in r.stderr
    peak_mb = int(r.stderr.split("peak-rss-kb ")[1].split()[0]) / 1024
    assert peak_mb < 150, peak_mb  # the 200 MB body was never held (nor parsed)
    assert fake.seen.bytes_sent < 100 * 1024 * 1024


def test_an_answer_trickled_one_byte_a_second_meets_the_deadline(tmp_path, age_key):
    with HostileServer("trickle") as fake:
        p = hostile_project(tmp_path, age_key, fake.url, timeout=3)
        started = time.monotonic()
        line = one_line_error(p.run_sub("plan"))
        took = time.monotonic() - started
    assert f"{fake.url}/admin/clients did not finish answering within its deadline (no whole answer within 3 s)" in line
    assert took < 10, took  # one attempt of 3 s, never asked again; before: past 150 s


@pytest.mark.hydra
def test_an_s3_state_object_that_is_not_json_is_one_line(tmp_path, age_key, s3, monkeypatch):
    with s3.client() as c:
        c.create_bucket("dcrsync-hostile")
        prefix = f"h-{uuid.uuid4().hex[:8]}/"
        c.put_object("dcrsync-hostile", prefix + "state.json", b"<Error>not what dcrsync wrote</Error>",
                     if_none_match="*", if_match=None)
    monkeypatch.setenv("DCRSYNC_S3_KEY", s3.access_key)
    monkeypatch.setenv("DCRSYNC_S3_SECRET", s3.secret_key)
    state = {"kind": "s3", "endpoint": s3.endpoint, "bucket": "dcrsync-hostile", "prefix": prefix,
             "region": s3.region, "access_key_id": "${env:DCRSYNC_S3_KEY}",
             "secret_access_key": "${env:DCRSYNC_S3_SECRET}"}
    p = make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": "http://127.0.0.1:9"}, age_key, "h",
                     state=state)
    line = one_line_error(p.run_sub("state", "list"))
    assert f"s3://dcrsync-hostile/{prefix}state.json at {s3.endpoint} is not a dcrsync state object " in line
    assert "(not JSON: it starts '<Error>not what dcrsync wrote</Error>')" in line
    assert "restore an earlier version of the object" in line


def _s3_at(tmp_path, age_key, monkeypatch, url: str, **state):
    """A project whose S3 state store is at `url` (the fake: no real S3 service answers like this)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "hostile-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hostile-test-secret")
    return make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": "http://127.0.0.1:9"}, age_key, "h",
                        state={"kind": "s3", "endpoint": url, "bucket": "dcrsync-hostile", **state})


def test_an_s3_store_that_answers_200_mb_is_not_read_whole(tmp_path, age_key, monkeypatch):
    with HostileServer("huge") as fake:
        p = _s3_at(tmp_path, age_key, monkeypatch, fake.url)
        r = subprocess.run([sys.executable, "-c", PEAK, *p._argv(("state", "list"))], capture_output=True,
                           text=True, cwd=p.root, timeout=120)
        time.sleep(0.2)  # let the fake notice the hang-up
    line = one_line_error(r)
    assert f"s3://dcrsync-hostile/dcrsync/ at {fake.url}: {fake.url}/dcrsync-hostile/dcrsync/" in line
    assert "answered more than 128 MB (HTTP 200); check that state.endpoint in dcrsync.yaml is the S3 service" in line
    peak_mb = int(r.stderr.split("peak-rss-kb ")[1].split()[0]) / 1024
    assert peak_mb < 150, peak_mb  # the 200 MB body was never held
    assert fake.seen.bytes_sent < 100 * 1024 * 1024


def test_an_s3_store_that_trickles_its_answer_meets_the_stores_deadline(tmp_path, age_key, monkeypatch):
    with HostileServer("trickle") as fake:
        p = _s3_at(tmp_path, age_key, monkeypatch, fake.url, timeout=3)
        started = time.monotonic()
        line = one_line_error(p.run_sub("state", "list"))
        took = time.monotonic() - started
    assert line.endswith(f"s3://dcrsync-hostile/dcrsync/ at {fake.url} did not finish answering within 3 s "
                         "(state.timeout)"), line
    assert took < 10, took  # one attempt of 3 s, never asked again; before: one byte a second for 10 minutes


BROKEN = textwrap.dedent("""
    import sys
    import dcrsync.project.planning
    def compute(inputs):
        raise KeyError("value-the-server-sent-" + "s3cr3t")
    dcrsync.project.planning.compute = compute  # a bug, as one would be: an exception nobody foresaw
    from dcrsync.cli import main
    main()
""")


def test_an_unforeseen_error_is_one_line_and_its_traceback_waits_for_debug(tmp_path, age_key, monkeypatch):
    from click.testing import CliRunner

    from dcrsync.cli import cli
    from tests.support.github_stub import GitHubStub

    with HostileServer("empty") as fake:  # lists no client: the plan reaches the diff
        p = hostile_project(tmp_path, age_key, fake.url)
        plain = subprocess.run([sys.executable, "-c", BROKEN, *p._argv(("plan",))], capture_output=True, text=True,
                               cwd=p.root, timeout=120)
        debug = subprocess.run([sys.executable, "-c", BROKEN, "--debug", *p._argv(("plan",))], capture_output=True,
                               text=True, cwd=p.root, timeout=120)
    line = one_line_error(plain)
    assert line.startswith("error: unexpected KeyError at dcrsync/") and "a bug in dcrsync" in line
    assert "--debug for the traceback" in line and "s3cr3t" not in plain.stderr + plain.stdout
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "KeyError" in debug.stderr
    # the pull request's error comment shows that line
    errors = tmp_path / "plan.err"
    errors.write_text(plain.stderr)
    stub = GitHubStub().start()
    try:
        pr = stub.add_pull()
        for key, value in {"GITHUB_API_URL": stub.url, "GITHUB_TOKEN": stub.token, "GITHUB_REPOSITORY": stub.repo}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("GH_TOKEN", raising=False)
        r = CliRunner().invoke(cli, ["github", "comment", "--error-file", str(errors), "--pr", str(pr)])
        assert r.exit_code == 0, r.output
        (comment,) = stub.comments[pr]
    finally:
        stub.stop()
    assert f"```text\n{line}\n```" in comment["body"] and "Traceback" not in comment["body"]


def test_an_error_answer_nested_a_hundred_thousand_deep_is_described_in_one_short_line():
    import httpx

    from dcrsync.net.http import error_detail

    bomb = httpx.Response(400, content=b"[" * 100_000 + b"]" * 100_000, request=httpx.Request("GET", "http://x/"))
    code, said = error_detail(bomb)  # before: a RecursionError
    assert code is None and said.startswith("[[[[") and said.endswith(" characters)")
    assert "\n" not in said and len(said) < 300


@pytest.mark.hydra
def test_a_postgres_state_row_that_is_not_what_dcrsync_wrote_is_one_line(tmp_path, age_key, postgres, monkeypatch):
    import psycopg

    name = f"h-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DCRSYNC_PG_DSN", postgres.dsn)
    state = {"kind": "postgres", "dsn": "${env:DCRSYNC_PG_DSN}", "schema": "dcrsync", "name": name}
    p = make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": "http://127.0.0.1:9"}, age_key, "h",
                     state=state)
    assert p.run_sub("state", "list").returncode == 0  # creates the tables; no state yet
    with psycopg.connect(postgres.dsn, autocommit=True) as c:  # a writer to the table, not dcrsync
        c.execute("INSERT INTO dcrsync.states (name, serial, document, sidecar) VALUES (%s, 1, %s, %s)",
                  (name, b"version: 1\nserial: 1\nclients: [billing-web, reports]\n", b"{}"))
    line = one_line_error(p.run_sub("state", "list"))
    assert "is not a dcrsync state (its `clients` is a JSON list, not an object of client records)" in line
    assert "restore it from git or from the store's backup" in line
