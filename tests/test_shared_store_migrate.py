"""`dcrsync state migrate --to` file -> PostgreSQL -> S3 -> file: every secret survives (it still
authenticates at Hydra's token endpoint), the source stays as it was, an occupied target is refused."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.test_shared_store import _clients, _converged

pytestmark = pytest.mark.hydra


def test_migrate_round_trip_file_postgres_s3_file(hydra_project, hydra, postgres, s3, monkeypatch):
    p = hydra_project
    _clients(p, 12)
    assert p.run_sub("apply", "--auto-approve").returncode == 0
    before = _converged(p, hydra, 12)
    file_bytes = p.state.read_bytes()

    db = f"mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.dsn, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {db}")
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/" + db
    bucket = f"mig-{uuid.uuid4().hex[:10]}"
    with s3.client() as c:
        c.create_bucket(bucket)
    monkeypatch.setenv("DCRSYNC_S3_ENDPOINT", s3.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.setenv("MIG_DSN", dsn)

    out = p.run_sub("state", "migrate", "--to", "env:MIG_DSN")  # the DSN stays out of process lists
    assert out.returncode == 0, out.stderr
    password = dsn.split("@")[0].split(":")[-1]
    assert "verified" in out.stdout and password not in out.stdout + out.stderr  # no password shown
    assert p.state.read_bytes() == file_bytes, "the source was changed"
    again = p.run_sub("state", "migrate", "--to", dsn)
    assert again.returncode == 1 and "holds a state already" in again.stderr
    assert "password is on the command line" in again.stderr and password not in again.stderr

    p.set_config(state={"kind": "postgres", "dsn": "${env:MIG_DSN}"})
    p.kind, p.server = "postgres", postgres
    assert _converged(p, hydra, 12) == before
    out = p.run_sub("state", "migrate", "--to", f"s3://{bucket}/team/")
    assert out.returncode == 0, out.stderr

    p.set_config(state={"kind": "s3", "endpoint": s3.endpoint, "bucket": bucket, "prefix": "team/"})
    p.kind, p.server = "s3", s3
    assert _converged(p, hydra, 12) == before
    out = p.run_sub("state", "migrate", "--to", "back.sops.yaml")
    assert out.returncode == 0, out.stderr

    p.set_config(state="back.sops.yaml")
    assert _converged(p, hydra, 12) == before
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_migrate_into_a_chosen_schema_and_state_name(hydra_project, hydra, postgres):
    """`?schema=` and `?name=` on the DSN choose where the copy goes, as `state:` would."""
    p = hydra_project
    _clients(p, 2)
    assert p.run_sub("apply", "--auto-approve").returncode == 0
    before = _converged(p, hydra, 2)
    out = p.run_sub("state", "migrate", "--to", postgres.dsn + "?schema=team_a&name=staging")
    assert out.returncode == 0, out.stderr
    assert "(schema team_a, state staging)" in out.stdout
    with psycopg.connect(postgres.dsn) as c:
        assert c.execute("SELECT name FROM team_a.states").fetchall() == [("staging",)]
    p.set_config(state={"kind": "postgres", "dsn": postgres.dsn, "schema": "team_a", "name": "staging"})
    p.kind, p.server = "postgres", postgres
    assert _converged(p, hydra, 2) == before


def test_a_store_whose_extra_is_missing_says_which_pip_install(hydra_project, monkeypatch):
    # a fake for a fault the test machine cannot have (psycopg is installed): hide the module
    monkeypatch.setitem(__import__("sys").modules, "psycopg", None)
    monkeypatch.setenv("DCRSYNC_PG_DSN", "postgresql://x@127.0.0.1:1/x")
    hydra_project.set_config(state={"kind": "postgres", "dsn": "${env:DCRSYNC_PG_DSN}"})
    out = hydra_project.run("state", "list")
    assert out.exit_code == 1
    assert "pip install 'dcrsync[postgres]'" in out.output and "Traceback" not in out.output
