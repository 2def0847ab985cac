"""Session fixtures: real servers started once, age keys made per session, a project factory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest
import yaml
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class AgeKey:
    secret_file: Path
    recipient: str


@pytest.fixture(scope="session")
def age_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgeKey]:
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path_factory.mktemp("age") / "key.txt"
    path.write_text(f"{identity}\n")
    path.chmod(0o600)
    old = os.environ.get("SOPS_AGE_KEY_FILE")
    os.environ["SOPS_AGE_KEY_FILE"] = str(path)
    yield AgeKey(path, str(identity.to_public()))
    if old is None:
        os.environ.pop("SOPS_AGE_KEY_FILE", None)
    else:
        os.environ["SOPS_AGE_KEY_FILE"] = old


@pytest.fixture(scope="session")
def hydra(tmp_path_factory: pytest.TempPathFactory):
    from tests.servers.hydra import start_hydra

    instance = start_hydra(tmp_path_factory.mktemp("hydra"))
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory):
    """A throwaway PostgreSQL cluster (tests/servers/postgres.py); `.dsn` to connect."""
    from tests.servers.postgres import start_postgres

    instance = start_postgres(tmp_path_factory.mktemp("postgres"))
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory):
    """A real S3 server (MinIO, tests/servers/s3.py); `.endpoint`, `.client()`."""
    from tests.servers.s3 import start_minio

    instance = start_minio(tmp_path_factory.mktemp("s3"))
    yield instance
    instance.stop()


@dataclass
class Project:
    """A throwaway dcrsync project folder: dcrsync.yaml, clients/, the state beside them."""

    root: Path
    owner: str

    @property
    def config(self) -> Path:
        return self.root / "dcrsync.yaml"

    @property
    def state(self) -> Path:
        return self.root / "dcrsync.state.sops.yaml"

    def write_client(self, name: str, body: str | dict) -> Path:
        path = self.root / "clients" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = body if isinstance(body, str) else yaml.safe_dump({"name": name, **body}, sort_keys=False)
        path.write_text(textwrap.dedent(text))
        return path

    def remove_client(self, name: str) -> None:
        (self.root / "clients" / f"{name}.yaml").unlink()

    def set_config(self, **changes) -> None:
        data = yaml.safe_load(self.config.read_text())
        data.update(changes)
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))

    def run(self, *args: str, input: str | None = None):
        """The CLI in-process (fast); `result.exit_code`, `result.output`, `result.stderr`."""
        from dcrsync.cli import cli

        runner = CliRunner()
        return runner.invoke(cli, self._argv(args), input=input, catch_exceptions=False)

    def _argv(self, args: tuple[str, ...]) -> list[str]:
        head = 2 if args and args[0] == "state" else 1  # `state list` takes options after `list`
        return [*args[:head], "--config", str(self.config), *args[head:]]

    def run_sub(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """The CLI as a user runs it: a real process."""
        return subprocess.run(
            [sys.executable, "-m", "dcrsync", *self._argv(args)],
            capture_output=True, text=True, timeout=timeout, cwd=self.root,
        )

    def secret(self, name: str) -> str:
        """NAME's client secret from the encrypted state, as `dcrsync state secret` prints it."""
        r = self.run("state", "secret", name)
        assert r.exit_code == 0 and r.output.strip(), r.output
        return r.output.strip()

    def state_doc(self) -> dict:
        return yaml.safe_load(self.state.read_text())


def make_project(root: Path, server: dict, age: AgeKey, owner: str, **extra) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "clients").mkdir(exist_ok=True)
    config = {
        "clients": "clients/",
        "state": "dcrsync.state.sops.yaml",
        "sops": {"age": [age.recipient]},
        "server": server,
        "owner": owner,
        "prune": False,
        **extra,
    }
    (root / "dcrsync.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return Project(root, owner)


@pytest.fixture
def hydra_project(tmp_path: Path, hydra, age_key: AgeKey, request: pytest.FixtureRequest) -> Project:
    owner = "t-" + request.node.name.replace("_", "-").replace("[", "-").replace("]", "")[:40]
    return make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": hydra.admin_url}, age_key, owner)
