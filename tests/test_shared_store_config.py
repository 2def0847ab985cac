"""`state:` as a shared store in dcrsync.yaml: the mapping, its `${env:X}`, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcrsync.errors import ConfigError, DcrsyncError, StateError
from dcrsync.load.config import load_config
from dcrsync.state.postgres import PostgresStore
from dcrsync.state.s3 import S3Store
from dcrsync.state.store import FileStore
from dcrsync.state.stores import open_store

SERVER = "server: {kind: hydra, admin_url: http://127.0.0.1:4445}\n"


def _config(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    path = tmp_path / "dcrsync.yaml"
    path.write_text(SERVER + text)
    return load_config(path, None, env or {})


def test_a_path_is_the_file_store(tmp_path):
    store = open_store(_config(tmp_path, "state: s/x.sops.yaml\n"))
    assert isinstance(store, FileStore) and store.path == tmp_path / "s/x.sops.yaml"


def test_postgres_mapping_hides_the_password_and_defers_an_unset_dsn(tmp_path):
    text = "state: {kind: postgres, dsn: '${env:PG}', schema: team_a}\n"
    config = _config(tmp_path, text)  # validate and state list need no DSN: reading the file does not fail
    with pytest.raises(ConfigError, match=r"dcrsync.yaml:2:.*PG"):
        open_store(config)
    store = open_store(_config(tmp_path, text, {"PG": "postgresql://u:hunter2@127.0.0.1:5/db"}))
    assert isinstance(store, PostgresStore) and store.schema == "team_a"
    assert "hunter2" not in store.where and "127.0.0.1" in store.where


def test_s3_mapping_takes_keys_from_the_config_or_the_environment(tmp_path, monkeypatch):
    text = "state: {kind: s3, endpoint: 'http://127.0.0.1:9', bucket: abc, prefix: team}\n"
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(StateError, match="no S3 credentials"):
        open_store(_config(tmp_path, text))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    store = open_store(_config(tmp_path, text))
    assert isinstance(store, S3Store) and store.prefix == "team/" and store.where.startswith("s3://abc/team/")
    assert store.deadline == 60  # each request's overall deadline, by default
    assert open_store(_config(tmp_path, text.replace("team}", "team, timeout: 5}"))).deadline == 5


@pytest.mark.parametrize("text, where", [
    ("state: {kind: postgres}\n", "dcrsync.yaml:2"),
    ("state: {kind: s3, endpoint: 'ftp://x', bucket: abc}\n", "dcrsync.yaml:2"),
    ("state: {kind: etcd, dsn: x}\n", "dcrsync.yaml:2"),
    ("state: {kind: s3, endpoint: 'http://127.0.0.1:9', bucket: abc, timeout: 0}\n", "dcrsync.yaml:2"),
])
def test_a_bad_store_mapping_is_one_line_at_its_place(tmp_path, text, where):
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, text)
    assert where in str(err.value) and "Traceback" not in str(err.value)


def test_an_unreachable_store_is_one_line(tmp_path):
    from tests.servers.launch import free_port

    port = free_port()  # nothing listens there
    store = open_store(_config(tmp_path, f"state: {{kind: postgres, dsn: 'postgresql://u:p@127.0.0.1:{port}/d'}}\n"))
    with pytest.raises(DcrsyncError, match="cannot connect") as err:
        store.read_public()
    assert "\n" not in str(err.value)
