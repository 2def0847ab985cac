"""Bringing clients under dcrsync (import, recover) and new secrets (rotate): the I/O edge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dcrsync.apply import Applier, new_secret
from dcrsync.backends.base import Backend, Marker, Result
from dcrsync.errors import DcrsyncError, StateError
from dcrsync.export import document_for, dump
from dcrsync.lint import lint
from dcrsync.loader import load_clients
from dcrsync.model import ClientSpec, Location, uses_secret
from dcrsync.project import Project, load_specs
from dcrsync.state import ClientRecord, State, desired_values, live_values, now


def _journal_and_commit(project: Project, state: State, entries: list[dict]) -> None:
    """Durable first (the journal), then folded into the state with one atomic replace."""
    project.store.append(entries)
    state.fold(entries)
    project.store.commit(state)


def import_client(
    project: Project, backend: Backend, name: str, client_id: str, *, rotate: bool, out: Path | None
) -> tuple[Path, bool]:
    """Write NAME's YAML from the live client, put our marker on it, record it; maybe rotate."""
    if not backend.lists:
        raise DcrsyncError(
            f"{backend.family} servers cannot import: dcrsync can only manage clients it registered "
            "itself there (it needs their registration access token)"
        )
    target = out or _clients_dir(project) / f"{name}.yaml"
    if target.exists():
        raise DcrsyncError(f"{target} exists already; choose another NAME or --out")
    with project.store.locked():
        state = project.store.read()
        if name in state.clients:
            raise StateError(f"{name} is in the state already (client {state.clients[name].client_id})")
        taken = state.by_client_id().get(client_id)
        if taken is not None:
            raise StateError(f"client {client_id} is managed already, as {taken.name}")
        live, _ = backend.get(client_id, None)
        if live is None:
            raise DcrsyncError(f"no client {client_id} on {backend.url}; check the id (dcrsync export lists them)")
        if live.managed_name and live.owner not in (None, project.config.owner):
            raise DcrsyncError(f"client {client_id} belongs to owner {live.owner!r}; it is not ours to import")
        doc = document_for(name, live, backend)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump(doc))
        loaded = load_clients([target], vars=project.config.vars)
        loaded.diagnostics += lint(loaded.clients)
        if loaded.errors:
            raise DcrsyncError(
                f"wrote {target}, but the server's client does not pass validation "
                f"({loaded.errors[0].format()}); nothing was changed on the server: fix the file (or the "
                "client), delete the file and run `dcrsync import` again"
            )
        spec = loaded.clients[0]
        secret = new_secret() if rotate and backend.rotates_secret and uses_secret(spec.fields) else None
        result = backend.update(spec, Marker(project.config.owner, name), live, None, secret)
        applier = Applier(backend, project.store, state, project.config.owner)
        _journal_and_commit(project, state, applier._record(spec, result))
    return target, secret is not None


def rotate_secret(project: Project, backend: Backend, name: str) -> None:
    if not backend.rotates_secret:
        raise DcrsyncError(
            f"{backend.family} has no standard way to issue a new client secret; "
            "register the client again (remove it from state and git, apply, add it back)"
        )
    with project.store.locked():
        state = project.store.read()
        record = state.clients.get(name)
        if record is None or not record.client_id:
            raise StateError(f"{name} is not in the state; `dcrsync state list` shows what is")
        live, _ = backend.get(record.client_id, record)
        if live is None:
            raise DcrsyncError(f"client {record.client_id} ({name}) is gone from the server; run `dcrsync plan`")
        # a body of the live client only: rotating never carries pending git changes along
        bare = ClientSpec(name=name, fields={}, location=Location("state", 0, 0))
        secret = new_secret()
        result: Result = backend.update(bare, Marker(project.config.owner, name), live, record, secret)
        given = {k: v for k, v in result.secrets.items() if v} or {"client_secret": secret}
        _journal_and_commit(
            project, state, [{"op": "upsert", "name": name, "data": {"client_id": live.client_id, **given}}]
        )


@dataclass
class Recovered:
    names: list[str]
    secrets_unknown: list[str]
    not_in_git: list[str]


def recover(project: Project, backend: Backend) -> Recovered:
    """Rebuild name <-> client_id from the ownership markers on the server."""
    if not backend.lists:
        raise DcrsyncError(
            f"{backend.family} servers keep no marker dcrsync can search: a lost state cannot be rebuilt; "
            "restore it from git history"
        )
    store = project.store
    if store.path.exists():
        raise StateError(f"{store.path} exists; recover only rebuilds a lost state (move it away first)")
    specs = {s.name: s for s in load_specs(project)}
    with store.locked():
        fetched = backend.fetch([])
        state = State()
        out = Recovered([], [], [])
        for live in sorted(fetched.clients, key=lambda c: c.managed_name or ""):
            if live.owner != project.config.owner or not live.managed_name:
                continue
            name = live.managed_name
            spec = specs.get(name)
            desired = desired_values(spec, backend.normalise) if spec else {}
            applied = live_values(live, desired, backend.normalise)
            state.clients[name] = ClientRecord(
                name=name, client_id=live.client_id, desired=applied, applied=applied,
                applied_at=now(),
            )
            out.names.append(name)
            if spec is None:
                out.not_in_git.append(name)
            elif uses_secret(spec.fields):
                out.secrets_unknown.append(name)
        project.sops  # noqa: B018
        store.commit(state)
    return out


def _clients_dir(project: Project) -> Path:
    first = project.config.clients[0] if project.config.clients else "clients/"
    path = project.config.base_dir / first
    if any(ch in first for ch in "*?["):
        path = project.config.base_dir / "clients"
    return path
