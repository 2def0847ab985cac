"""Restoring what the state knows: a new secret (rotate), a secret you already hold (set-secret),
and a lost state rebuilt from the ownership markers (recover). The I/O edge of those commands."""

from __future__ import annotations

from dataclasses import dataclass

from dcrsync.adopt import _auth_method, _journal_and_commit
from dcrsync.apply import new_secret
from dcrsync.backends.base import Backend, Marker
from dcrsync.deliver.rotation import parse_duration  # noqa: F401 - `rotate-secret --grace` reads it here
from dcrsync.errors import DcrsyncError, StateError
from dcrsync.model import ClientSpec, LiveClient, Location, observed, uses_secret
from dcrsync.ownership import Ownership
from dcrsync.project import Project, load_specs
from dcrsync.state import ClientRecord, State, desired_values, live_values, now, upsert
from dcrsync.tokencheck import Verdict, check_secret


def rotate_secret(project: Project, backend: Backend, name: str, grace: int | None = None) -> int | None:
    """A new secret for NAME, recorded in the state. With `grace` (seconds) the old secret must stay
    valid at least that long: refused, before anything changes, where the server cannot promise it.
    Returns when the old secret stops working (epoch seconds), with `grace`."""
    if not backend.rotates_secret:
        raise DcrsyncError(
            f"{backend.family} has no standard way to issue a new client secret; "
            "register the client again (remove it from state and git, apply, add it back)"
        )
    if grace is not None and not backend.keeps_old_secret:
        raise DcrsyncError(
            f"{backend.family} cannot keep an old client secret valid after a rotation, so --grace is not "
            "possible here; rotate without it (the old secret stops working at once); nothing was rotated"
        )
    with project.store.locked():
        state = project.store.read()
        record, live = _with_secret(backend, state, name, "")
        project.store.preflight()  # the new secret must be recordable before the server issues it
        until: int | None = None
        if grace is not None:
            result, until = backend.rotate_with_grace(live, record, grace)
            given = dict(result.secrets)
        else:
            # a body of the live client only: rotating never carries pending git changes along
            bare = ClientSpec(name=name, fields={}, location=Location("state", 0, 0))
            secret = new_secret()
            result = backend.update(bare, Marker(project.config.owner, name), live, record, secret)
            given = {k: v for k, v in result.secrets.items() if v} or {"client_secret": secret}
        kept = {"rotating": {"until": until, "at": now()}} if until else {}
        given = {**given, "secret_at": now(), "deliveries": {}, **kept}  # every delivery is due again
        _journal_and_commit(project, state, [upsert(name, client_id=live.client_id, **given)])
    if until == 0:
        raise DcrsyncError(
            f"{backend.family} did not keep the old secret of {name} after all: it no longer works; "
            f"the new one is recorded (dcrsync state secret {name})"
        )
    return until


def _with_secret(backend: Backend, state: State, name: str, note: str) -> tuple[ClientRecord, LiveClient]:
    """NAME's record and its live client, which must authenticate with a secret."""
    record = state.clients.get(name)
    if record is None or not record.client_id:
        raise StateError(f"{name} is not in the state; `dcrsync state list` shows what is")
    live, _ = backend.get(record.client_id, record)
    if live is None:
        raise DcrsyncError(f"client {record.client_id} ({name}) is gone from the server; run `dcrsync plan`")
    if not uses_secret(live.fields):
        raise DcrsyncError(_no_secret(name, live) + note)
    return record, live


def _no_secret(name: str, live: LiveClient) -> str:
    method = _auth_method(live)
    kind = "a public client" if method == "none" else f"it authenticates with {method}"
    return f"{name} has no client secret: {kind} (token_endpoint_auth_method: {method})"


def set_secret(project: Project, backend: Backend, name: str, secret: str) -> tuple[str, Verdict]:
    """Record a secret the team already knows, after the server's token endpoint accepted it.

    Returns (client_id, verdict); a wrong secret, or a check that could not be made, records nothing.
    """
    with project.store.locked():
        state = project.store.read()
        record, live = _with_secret(backend, state, name, "; nothing was recorded")
        hint = backend.no_token_endpoint()
        verdict = check_secret(
            backend.token_endpoint(),
            live.client_id,
            secret,
            grant_types=list(live.fields.get("grant_types") or []),
            auth_method=_auth_method(live),
            prefer_post=backend.token_auth_post,
            no_endpoint=hint,
        )
        if verdict.outcome == "wrong":
            raise DcrsyncError(
                f"the token endpoint refused this secret for {name} (client {live.client_id}: "
                f"{verdict.reason}); nothing was recorded"
            )
        if verdict.outcome == "failed":
            raise DcrsyncError(f"could not check the secret of {name}: {verdict.reason}; nothing was recorded")
        _journal_and_commit(
            project, state, [{"op": "upsert", "name": name, "data": {
                "client_id": live.client_id, "client_secret": secret, "secret_at": None, "deliveries": {}}}]
        )
    return live.client_id, verdict


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
    if store.exists():
        raise StateError(f"{store.where} exists; recover only rebuilds a lost state (move it away first)")
    specs = {s.name: s for s in load_specs(project)}
    with store.locked():
        fetched = backend.fetch([])
        state = State()
        out = Recovered([], [], [])
        ours = Ownership(project.config.owner, backend.lists).by_name(fetched.clients)
        for name, live in sorted(ours.items()):
            spec = specs.get(name)
            desired = desired_values(spec, backend.normalise) if spec else {}
            applied = live_values(live, desired, backend.normalise)
            state.clients[name] = ClientRecord(
                name=name, client_id=live.client_id, desired=applied, applied=applied,
                applied_at=now(), observed=observed(live),
            )
            out.names.append(name)
            if spec is None:
                out.not_in_git.append(name)
            elif uses_secret(spec.fields):
                out.secrets_unknown.append(name)
        project.unlock()
        store.commit(state)
    return out
