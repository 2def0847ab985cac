"""Opening a project: its config, its state's store, the sops that unlocks it, its backend, and its
clients loaded and checked (`load_specs`) for the environment chosen."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dcrsync.backends import make_backend
from dcrsync.backends.base import Backend
from dcrsync.errors import ConfigError, DcrsyncError, SopsError
from dcrsync.guards.trust import from_env
from dcrsync.load.config import Config, find_config, load_config
from dcrsync.model import ClientSpec, Diagnostic
from dcrsync.plan.ownership import Ownership
from dcrsync.project.clients import in_environment, load_project
from dcrsync.project.identity import project_identity
from dcrsync.state.records import State
from dcrsync.state.sops import Sops, age_key_configured
from dcrsync.state.store import StateStore
from dcrsync.state.stores import open_store


class InvalidClients(DcrsyncError):
    """The YAML has errors: nothing is fetched or touched. The message is one line per error."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        errors = [d for d in diagnostics if d.severity == "error"]
        lines = [d.format() for d in errors[:50]]
        if len(errors) > 50:
            lines.append(f"… and {len(errors) - 50} more; run `dcrsync validate` for all of them")
        lines.append(f"{len(errors)} error(s) in the client files; nothing was sent to the server")
        super().__init__("\n".join(lines))


@dataclass
class Project:
    config: Config
    store: StateStore
    _sops: Sops | None = None
    _identity: str | None = None

    @property
    def identity(self) -> str:
        """This project's identity in every marker: `project:`, or derived from the git remote."""
        if self._identity is None:
            self._identity = project_identity(self.config.project, self.config.base_dir, self.config.environment)
        return self._identity

    def ownership(self, backend: Backend) -> Ownership:
        """Whose clients are this project's on `backend` (the identity counts only where markers are kept)."""
        return Ownership(self.config.owner, backend.lists, self.identity if backend.lists else None)

    def unlock(self) -> Sops:
        """Give the store the sops that reads and writes secrets (commands that need the key)."""
        if self._sops is None:
            self._sops = Sops(age_recipients=self.config.sops_age, config_path=self.config.sops_config)
            self.store.unlock(self._sops)
        return self._sops

    def backend(self, parallelism: int = 4) -> Backend:
        server = self.config.server  # refuses a server DCRSYNC_TRUSTED_SERVER does not name, at its line
        trust = from_env(os.environ, allow_link_local=self.config.allow_link_local)[0]
        backend = make_backend(server, parallelism=parallelism, trust=trust)
        backend.owner = self.config.owner  # families without a marker on the server report ours
        return backend


def open_project(config_path: str | None, env_name: str | None) -> Project:
    path = find_config(config_path, os.environ, Path.cwd())
    if path is None:
        raise ConfigError(
            "no dcrsync.yaml here: run from the folder that holds it, or pass --config / set DCRSYNC_CONFIG"
        )
    config = load_config(path, env_name, os.environ)
    return Project(config=config, store=open_store(config))


def load_specs(project: Project) -> list[ClientSpec]:
    result = load_project(project.config)
    if result.errors:
        raise InvalidClients(result.diagnostics)
    return in_environment(result.clients, project.config.environment)


def read_state(project: Project, backend: Backend, *, need_secrets: bool) -> State:
    """With the key when there is one (the state and its journal are then verified), or when the
    backend needs stored tokens; without it otherwise, saying that nothing could be verified."""
    store = project.store
    if need_secrets or store.has_journal() or age_key_configured():
        project.unlock()
        try:
            return store.read()
        except SopsError:
            if need_secrets:
                raise
    return store.read_public()
