"""The stores' papercuts (issue 17 item 14): `state migrate` takes its target from the environment, and
`state init` prepares a shared store (the S3 bucket on the real MinIO, the schema on the real
PostgreSQL); a missing bucket says how to create it."""

from __future__ import annotations

import subprocess
import sys
import uuid

import psycopg
import pytest

from tests.test_shared_store import _clients, _converged

pytestmark = pytest.mark.hydra


def test_a_missing_bucket_says_how_to_create_it_and_state_init_creates_it(hydra_project, hydra, s3, monkeypatch):
    p = hydra_project
    bucket = f"init-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    p.set_config(state={"kind": "s3", "endpoint": s3.endpoint, "bucket": bucket, "region": s3.region})
    p.kind, p.server = "s3", s3
    _clients(p, 1)
    out = p.run_sub("apply", "--auto-approve")
    line = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 1 and f"the bucket {bucket} does not exist" in line and "dcrsync state init" in line
    made = p.run_sub("state", "init")
    assert made.returncode == 0 and f"Created the bucket {bucket}" in made.stdout, made.stderr
    again = p.run_sub("state", "init")
    assert again.returncode == 0 and "exists already" in again.stdout, again.stderr
    assert p.run_sub("apply", "--auto-approve").returncode == 0
    _converged(p, hydra, 1)


def test_state_init_creates_the_postgres_schema(hydra_project, postgres, monkeypatch):
    p = hydra_project
    schema = f"init_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DCRSYNC_PG_DSN", postgres.dsn)
    p.set_config(state={"kind": "postgres", "dsn": "${env:DCRSYNC_PG_DSN}", "schema": schema})
    out = p.run_sub("state", "init")
    assert out.returncode == 0 and f"The schema {schema}" in out.stdout and postgres.password not in out.stdout
    with psycopg.connect(postgres.dsn) as c:
        assert c.execute(f"SELECT count(*) FROM {schema}.states").fetchone()[0] == 0


def test_migrate_takes_its_target_from_the_environment(hydra_project, hydra, postgres, monkeypatch):
    p = hydra_project
    _clients(p, 1)
    assert p.run_sub("apply", "--auto-approve").returncode == 0
    schema = f"env_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DCRSYNC_MIGRATE_TO", f"{postgres.dsn}?schema={schema}")
    out = subprocess.run([sys.executable, "-m", "dcrsync", "state", "migrate", "--config", str(p.config)],
                         capture_output=True, text=True, cwd=p.root)
    assert out.returncode == 0, out.stderr
    assert postgres.password not in out.stdout + out.stderr
    assert "command line" not in out.stderr  # it did not come from there
    unset = p.run_sub("state", "migrate", "--to", "env:NO_SUCH_VARIABLE")
    assert unset.returncode == 1 and "NO_SUCH_VARIABLE is not set" in unset.stderr
    p.set_config(state={"kind": "postgres", "dsn": postgres.dsn, "schema": schema})
    p.kind, p.server = "postgres", postgres
    _converged(p, hydra, 1)
