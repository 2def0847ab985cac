"""A throwaway dcrsync project folder (config, clients/, state) and the age key its state is sealed with."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml
from click.testing import CliRunner


@dataclass
class AgeKey:
    secret_file: Path
    recipient: str


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

    def run_sub_input(self, *args: str, input: str) -> subprocess.CompletedProcess:
        """The CLI as a real process with `input` on its stdin (how a secret is given: never an argument)."""
        return subprocess.run(
            [sys.executable, "-m", "dcrsync", *self._argv(args)],
            input=input, capture_output=True, text=True, timeout=300, cwd=self.root,
        )

    def secret(self, name: str) -> str:
        """NAME's client secret from the encrypted state, as `dcrsync state secret` prints it."""
        r = self.run("state", "secret", name)
        assert r.exit_code == 0 and r.output.strip(), r.output
        return r.output.strip()

    def state_doc(self) -> dict:
        """The state's sops document as it is stored (read without a key), its clients block read as
        name -> identity; a secret the state holds shows as the one encrypted value that keeps them all."""
        return readable(yaml.safe_load(self.state.read_text()))


def readable(doc: dict | None) -> dict | None:
    """A version 2 state document with its `clients` lines as a mapping (each held secret given as
    the encrypted `secrets` value); any other document as it is."""
    if not isinstance(doc, dict) or doc.get("version") != 2:
        return doc
    clients = {}
    for line in (doc.get("clients") or "").splitlines():
        ((name, identity),) = json.loads(line).items()
        for key in identity.pop("held", []):
            identity[key] = doc["secrets"]
        clients[name] = identity
    return {**doc, "clients": clients}


def make_project(root: Path, server: dict, age: AgeKey, owner: str, **extra) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "clients").mkdir(exist_ok=True)
    config = {
        "clients": "clients/",
        "state": "dcrsync.state.sops.yaml",
        "sops": {"age": [age.recipient]},
        "server": server,
        "owner": owner,
        "project": owner,  # a folder under /tmp has no git remote to derive the identity from
        "prune": False,
        # the clients of these tests are written for what each test proves, not for the BCP: they
        # lint with the earlier rules; tests/test_profile.py proves rfc9700, the default, itself
        "lint": {"profile": "baseline"},
        **extra,
    }
    (root / "dcrsync.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return Project(root, owner)
