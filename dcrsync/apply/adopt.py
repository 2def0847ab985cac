"""Bringing clients under dcrsync (import, recover), new secrets (rotate) and known ones (set-secret):
the I/O edge.

Import never changes a client's settings: it puts dcrsync's marker on it and records it, with the
server's values as what was last applied, so that where a client file declares something else,
`dcrsync plan` shows it as a pending change. Every import of one run is one state write. The files
it writes for clients that have none are `clientfiles`'.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from dcrsync.apply.applier import new_secret
from dcrsync.apply.clientfiles import check_files, clients_dir, write_files
from dcrsync.backends.base import Backend, Marker, Result
from dcrsync.errors import DcrsyncError, StateError
from dcrsync.load.export import document_for, dump, owned_by, reserved
from dcrsync.model import ClientSpec, LiveClient, observed, uses_secret
from dcrsync.plan.ownership import Ownership
from dcrsync.project.clients import load_project
from dcrsync.project.opening import InvalidClients, Project
from dcrsync.state.records import State, desired_values, live_values, now, sealed_of

SecretFate = Literal["rotated", "read", "unknown", "none"]


def _journal_and_commit(project: Project, state: State, entries: list[dict]) -> None:
    """Durable first (the journal), then folded into the state with one atomic replace."""
    project.store.append(entries)
    state.fold(entries)
    project.store.commit(state)


@dataclass(frozen=True)
class Selection:
    """Which clients `import` adopts when no single NAME CLIENT_ID is given."""

    files: bool = False  # every client file pinning a client_id on the server but not in state
    owner: str | None = None  # the server's unmanaged clients of this owner
    match: str | None = None  # ... whose client_id or client_name matches this glob

    @property
    def server(self) -> bool:
        return bool(self.owner or self.match)


@dataclass
class Candidate:
    name: str
    live: LiveClient
    spec: ClientSpec | None = None  # from an existing file; None until its file is written
    wrote: bool = False


@dataclass
class Adopted:
    name: str
    client_id: str
    file: str
    wrote: bool
    previous_owner: str | None
    secret: SecretFate
    auth_method: str
    differs: list[str] = field(default_factory=list)  # declared paths whose value the server does not hold


@dataclass
class ImportReport:
    adopted: list[Adopted] = field(default_factory=list)
    #: files that pin a client_id the server does not have (apply creates them)
    not_on_server: list[str] = field(default_factory=list)
    #: clients the selection matched but import leaves alone, with the reason
    left_alone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _auth_method(live: LiveClient) -> str:
    return str(live.fields.get("token_endpoint_auth_method") or "client_secret_basic")


def read_secret(backend: Backend, live: LiveClient) -> str | None:
    """The client's current secret where the family hands it to an admin (Keycloak), else None."""
    return backend.read_secret(live) if backend.reads_secret else None


def _previous_owner(live: LiveClient, owner: str) -> str | None:
    """The owner a hand-made client had (Hydra's `owner`), which the marker replaces and keeps."""
    if not Ownership(owner).unmarked(live):
        return None
    before = live.raw.get("owner")
    return str(before) if before and before != owner else None


def _foreign(live: LiveClient, own: Ownership) -> str | None:
    if own.foreign(live) and live.owner != own.owner:
        return f"it carries the marker of dcrsync owner {live.owner!r}; it is not ours to import"
    if own.foreign(live):
        return f"it carries the marker of another dcrsync project ({live.project!r}); it is not ours to import"
    return None


def _adopt_one(
    project: Project, backend: Backend, cand: Candidate, rotate: bool, serial: int
) -> tuple[Adopted, list[dict]]:
    """Our marker on the client (nothing else changes), and the journal entries recording it."""
    assert cand.spec is not None
    (spec,), _ = backend.per_client([cand.spec])  # as plan compares it: no field the server enforces for all
    live, owner = cand.live, project.config.owner
    method = _auth_method(live)
    has_secret = uses_secret(live.fields)
    secret = new_secret() if rotate and has_secret and backend.rotates_secret else None
    bare = ClientSpec(name=spec.name, fields={}, location=spec.location)
    marker = Marker(owner, spec.name, project.ownership(backend).project, serial)
    result: Result = backend.update(bare, marker, live, None, secret)
    desired = desired_values(spec, backend.normalise)
    current = live_values(result.live, desired, backend.normalise)
    entries: list[dict] = []
    given = {k: v for k, v in result.secrets.items() if v} or ({"client_secret": secret} if secret else {})
    read = None if given or not has_secret else read_secret(backend, result.live)
    if read:
        given = {"client_secret": read}
    if given:
        entries.append({"op": "upsert", "name": spec.name, "data": {"client_id": live.client_id, **given}})
    entries.append({
        "op": "upsert",
        "name": spec.name,
        # what the server holds is what was "last applied": a file that says otherwise is pending
        "data": {
            "client_id": live.client_id,
            "desired": current,
            "applied": current,
            "applied_at": now(),
            "pending": None,
            "observed": observed(result.live),
            "protected": spec.protected,
            # fields the file reads from the environment: their server values are kept encrypted
            "sealed": sealed_of(spec),
        },
    })
    fate: SecretFate = "rotated" if secret else "read" if read else "unknown" if has_secret else "none"
    adopted = Adopted(
        name=spec.name,
        client_id=live.client_id,
        file=spec.location.file,
        wrote=cand.wrote,
        previous_owner=_previous_owner(live, owner),
        secret=fate,
        auth_method=method,
        differs=sorted(p for p in desired if desired[p] != current[p]),
    )
    return adopted, entries


def _adopt(
    project: Project, backend: Backend, state: State, todo: list[Candidate], rotate: bool, parallelism: int
) -> ImportReport:
    """Mark every candidate (concurrently), then record all of them with one journal append and one commit."""
    report = ImportReport()
    entries: list[dict] = []
    project.store.preflight()  # recipients and folders, before the first server write

    def run(cand: Candidate) -> tuple[Adopted, list[dict]] | str:
        try:
            return _adopt_one(project, backend, cand, rotate, state.serial + 1)
        except DcrsyncError as exc:
            return f"{cand.name} (client {cand.live.client_id}): {exc}"

    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(todo)))) as pool:
        for outcome in pool.map(run, todo):
            if isinstance(outcome, str):
                report.failed.append(outcome)
            else:
                report.adopted.append(outcome[0])
                entries.extend(outcome[1])
    if entries:
        _journal_and_commit(project, state, entries)
    return report


def _project_specs(project: Project) -> list[ClientSpec]:
    """Every client file of the project, which must be valid before anything is touched.

    A project without client files yet is where adopting starts: that alone is no error here."""
    loaded = load_project(project.config)
    if not loaded.files:
        return []
    if loaded.errors:
        raise InvalidClients(loaded.diagnostics)
    return loaded.clients


def _require_lists(backend: Backend) -> None:
    if not backend.lists:
        raise DcrsyncError(
            f"{backend.family} servers cannot import: dcrsync can only manage clients it registered "
            "itself there (it needs their registration access token)"
        )


def import_client(
    project: Project, backend: Backend, name: str, client_id: str, *, rotate: bool, out: Path | None
) -> ImportReport:
    """Adopt one live client as NAME: its existing file if one declares it, else a file written now."""
    _require_lists(backend)
    own = project.ownership(backend)
    with project.store.locked():
        state = project.store.read()
        if name in state.clients:
            raise StateError(
                f"{name} exists in the state already (client {state.clients[name].client_id}); nothing to import"
            )
        taken = state.by_client_id().get(client_id)
        if taken is not None:
            raise StateError(f"client {client_id} is managed already, as {taken.name}")
        specs = _project_specs(project)
        live, _ = backend.get(client_id, None)
        if live is None:
            raise DcrsyncError(f"no client {client_id} on {backend.url}; check the id (dcrsync export lists them)")
        why = reserved(live, backend) or _foreign(live, own)
        if why:
            raise DcrsyncError(f"client {client_id} cannot be imported: {why}")
        cand = _one_candidate(project, backend, specs, name, live, out)
        report = _adopt(project, backend, state, [cand], rotate, 1)
    if report.failed:
        raise DcrsyncError(report.failed[0])
    return report


def _one_candidate(
    project: Project, backend: Backend, specs: list[ClientSpec], name: str, live: LiveClient, out: Path | None
) -> Candidate:
    """NAME's file if one declares it (with this client_id), else a file written now from the server."""
    client_id = live.client_id
    by_name = {s.name: s for s in specs}
    pinned = [s for s in specs if s.client_id == client_id]
    if name in by_name:
        spec = by_name[name]
        if spec.client_id != client_id:
            pins = f"client_id {spec.client_id}" if spec.client_id else "no client_id (a new client)"
            raise DcrsyncError(
                f"{spec.location}: {name} is declared there with {pins}, not {client_id}: "
                "choose another NAME, or set its client_id"
            )
        return Candidate(name, live, spec)
    if pinned:
        raise DcrsyncError(
            f"{pinned[0].location}: client {client_id} is declared there as {pinned[0].name}: "
            f"run `dcrsync import {pinned[0].name} {client_id}` (or `dcrsync import --all`)"
        )
    target = out or clients_dir(project) / f"{name}.yaml"
    if target.exists():
        raise DcrsyncError(f"{target} exists already and does not declare {name}; choose another NAME or --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(dump(document_for(name, live, backend)))
    loaded = check_files(project, [target])
    if loaded.errors:
        raise DcrsyncError(
            f"wrote {target}, but the server's client does not pass validation "
            f"({loaded.errors[0].format()}); nothing was changed on the server: fix the file "
            f"(or the client) and run `dcrsync import {name} {client_id}` again"
        )
    return Candidate(name, live, loaded.clients[0], wrote=True)


def import_many(
    project: Project, backend: Backend, selection: Selection, *, rotate: bool, parallelism: int = 4
) -> ImportReport:
    """Adopt every client the selection names, in one state write; lint first, the server last."""
    _require_lists(backend)
    own = project.ownership(backend)
    with project.store.locked():
        state = project.store.read()
        specs = _project_specs(project)
        fetched = backend.fetch([])
        by_id = {c.client_id: c for c in fetched.clients}
        managed = state.by_client_id()
        pinned = {s.client_id: s for s in specs if s.client_id}
        report = ImportReport()
        chosen: dict[str, Candidate] = {}

        def from_file(spec: ClientSpec, live: LiveClient) -> None:
            if spec.name in state.clients:  # the name manages another client: a rename, for plan
                report.left_alone.append(
                    f"{spec.name} ({spec.location.file}): the name is in the state for client "
                    f"{state.clients[spec.name].client_id}"
                )
                return
            why = reserved(live, backend) or _foreign(live, own)
            if why:
                report.left_alone.append(f"{spec.name} ({spec.location.file}): {why}")
                return
            chosen[live.client_id] = Candidate(spec.name, live, spec)

        if selection.files:
            for spec in specs:
                if not spec.client_id or spec.client_id in managed:
                    continue
                live = by_id.get(spec.client_id)
                if live is None:
                    report.not_on_server.append(f"{spec.name} ({spec.location.file})")
                else:
                    from_file(spec, live)
        todo: list[Candidate] = []
        if selection.server:
            for live in fetched.clients:
                if live.client_id in managed or live.client_id in chosen or not _selected(live, selection):
                    continue
                if live.client_id in pinned:
                    from_file(pinned[live.client_id], live)
                    continue
                why = reserved(live, backend) or _foreign(live, own)
                if why:
                    report.left_alone.append(f"client {live.client_id}: {why}")
                    continue
                todo.append(Candidate("", live))
        everything = _with_details(backend, [*chosen.values(), *todo])
        unfit = write_files(project, backend, todo, {s.name for s in specs} | set(state.clients))
        everything = [c for c in everything if c.spec is not None]  # a file that failed lint: not adopted
        if everything:
            done = _adopt(project, backend, state, everything, rotate, parallelism)
            report.adopted, report.failed = done.adopted, done.failed
        report.failed += unfit
    report.adopted.sort(key=lambda a: a.name)
    return report


def _with_details(backend: Backend, cands: list[Candidate]) -> list[Candidate]:
    """The candidates with what the listing left out read (Keycloak: roles), for the files and the state."""
    for cand, live in zip(cands, backend.with_details([c.live for c in cands]), strict=True):
        cand.live = live
    return cands


def _selected(live: LiveClient, selection: Selection) -> bool:
    """The server's client matches `--owner` (Hydra's owner or our marker) and `--match` (id or name)."""
    if selection.owner and not owned_by(live, selection.owner):
        return False
    name = str(live.fields.get("client_name") or "")
    return not selection.match or fnmatchcase(live.client_id, selection.match) or fnmatchcase(name, selection.match)
