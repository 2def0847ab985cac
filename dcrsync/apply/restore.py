"""Restoring what the state knows: a new secret (rotate), a secret you already hold (set-secret),
and a lost state rebuilt from the ownership markers (recover). The I/O edge of those commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dcrsync.apply.adopt import _auth_method, _journal_and_commit, read_secret
from dcrsync.apply.applier import new_secret
from dcrsync.apply.tokencheck import Verdict, check_secret
from dcrsync.backends.base import Backend, Marker
from dcrsync.errors import DcrsyncError, StateError
from dcrsync.model import ClientSpec, LiveClient, Location, observed, uses_secret
from dcrsync.plan.rotation import parse_duration  # noqa: F401 - `rotate-secret --grace` reads it here
from dcrsync.project.opening import Project, load_specs
from dcrsync.state.records import ClientRecord, State, desired_values, live_values, now, sealed_of, upsert


def rotate_secret(
    project: Project, backend: Backend, name: str, grace: int | None = None,
    confirm: Callable[[str, str], None] | None = None,
) -> int | None:
    """A new secret for NAME, recorded in the state. With `grace` (seconds) the old secret must stay
    valid at least that long: refused, before anything changes, where the server cannot promise it.
    `confirm(name, client_id)` is asked once the client is known to have a secret, before anything
    changes (it raises to stop). Returns when the old secret stops working (epoch seconds), with `grace`."""
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
        if confirm is not None:
            confirm(name, live.client_id)
        project.store.preflight()  # the new secret must be recordable before the server issues it
        until: int | None = None
        if grace is not None:
            result, until = backend.rotate_with_grace(live, record, grace)
            given = dict(result.secrets)
        else:
            # a body of the live client only: rotating never carries pending git changes along
            bare = ClientSpec(name=name, fields={}, location=Location("state", 0, 0))
            secret = new_secret()
            marker = Marker(project.config.owner, name, project.ownership(backend).project, state.serial + 1)
            result = backend.update(bare, marker, live, record, secret)
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
            trust=backend.trust,
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
    #: our owner's clients whose marker has no project yet: left alone (`dcrsync import --owner` adopts them)
    legacy: list[str] = field(default_factory=list)
    #: clients whose secret the server handed back (Keycloak), recorded in the state
    secrets_read: list[str] = field(default_factory=list)


def unread_why(backend: Backend) -> str:
    """Why dcrsync does not know a secret after an import or a recover, said for the family."""
    if backend.reads_secret:
        return f"{backend.family} gave no secret for them"
    return f"{backend.family} never gives a client's secret back; Keycloak is the family that does"


def recover(project: Project, backend: Backend) -> Recovered:
    """Rebuild name <-> client_id from this project's markers on the server, with what the server
    holds as the last-applied baseline (so `drift` and `plan` agree right after)."""
    if not backend.lists:
        raise DcrsyncError(
            f"{backend.family} servers keep no marker dcrsync can search: a lost state cannot be rebuilt; "
            "restore it from git history"
        )
    store = project.store
    if store.exists():
        raise StateError(f"{store.where} exists; recover only rebuilds a lost state (move it away first)")
    specs = {s.name: s for s in backend.per_client(load_specs(project))[0]}  # compared as plan compares them
    own = project.ownership(backend)
    with store.locked():
        listed = backend.fetch([]).clients
        state = State()
        out = Recovered([], [], [], sorted(own.legacy_by_name(listed)))
        for name, live in sorted(own.by_name(listed).items()):
            spec = specs.get(name)
            desired = desired_values(spec, backend.normalise) if spec else {}
            state.clients[name] = ClientRecord(name=name, client_id=live.client_id, desired=desired, applied_at=now())
        # read again as plan and drift will read these records (Keycloak: the roles they declare)
        fetched = {c.client_id: c for c in backend.fetch(list(state.clients.values())).clients}
        for name, record in list(state.clients.items()):
            live = fetched.get(record.client_id or "")
            if live is None:  # deleted in between: nothing to recover
                del state.clients[name]
                continue
            record.desired = record.applied = live_values(live, record.desired, backend.normalise)
            record.observed = observed(live)
            record.protected = bool(specs[name].protected) if name in specs else False
            record.sealed = sealed_of(specs[name]) if name in specs else {}
            state.serial = max(state.serial, live.serial or 0)  # markers of the lost state's applies: not "newer"
            out.names.append(name)
            if name not in specs:
                out.not_in_git.append(name)
            _recover_secret(backend, state.clients[name], live, out)
        project.unlock()
        store.commit(state)
    return out


def _recover_secret(backend: Backend, record: ClientRecord, live: LiveClient, out: Recovered) -> None:
    """The client's secret read back where the family hands it over (Keycloak), else named unknown."""
    if not uses_secret(live.fields):
        return
    record.client_secret = read_secret(backend, live)
    (out.secrets_read if record.client_secret else out.secrets_unknown).append(record.name)
