"""A project's plan, made: the YAML loaded while the state is read and the server answers, the diff,
the policy, the deliveries; the lost-state and staleness checks; and the plan an apply carries out,
fresh or saved (`prepare_apply`). The I/O edge of `plan`, `drift` and `apply`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from dcrsync.backends.base import Backend, Fetched
from dcrsync.deliver.declared import Settings
from dcrsync.deliver.planning import declared_targets, due, finishing
from dcrsync.errors import PlanError
from dcrsync.families import BLOCKS
from dcrsync.guards import masking
from dcrsync.load.config import Config
from dcrsync.load.gcpause import long_lived
from dcrsync.model import ClientSpec, LiveClient, Location, fingerprint
from dcrsync.plan import envplan
from dcrsync.plan.diff import Inputs, Outcome, compute
from dcrsync.plan.ownership import Ownership
from dcrsync.plan.plan import Change, Plan, renamed_id
from dcrsync.plan.undeclared import Decision, decide
from dcrsync.policy import check_plan
from dcrsync.project.opening import Project, load_specs, read_state
from dcrsync.state.records import State, now, record_fingerprint, upsert


@dataclass
class Planned:
    plan: Plan
    outcome: Outcome
    specs: dict[str, ClientSpec]
    fetched: Fetched


def gather(
    project: Project, backend: Backend, *, need_secrets: bool
) -> tuple[list[ClientSpec], State, Fetched]:
    """Load the YAML while the state is read (sops runs as its own process) and the server answers.

    Reading the server is read-only, so it can start before the YAML is known to be valid; when the
    YAML is invalid its answer is dropped and the error raised, and nothing on the server changes.
    """

    def remote() -> tuple[State, Fetched]:
        if backend.lists and not backend.fetch_reads_records:  # the list needs nothing from the state:
            # read the state (sops, verifying) meanwhile
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dcrsync-state") as side:
                reading = side.submit(read_state, project, backend, need_secrets=need_secrets)
                fetched = backend.fetch([])
                return reading.result(), fetched
        state = read_state(project, backend, need_secrets=need_secrets)
        return state, backend.fetch(list(state.clients.values()))

    with long_lived(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="dcrsync-fetch") as pool:
        pending = pool.submit(remote)
        try:
            specs = load_specs(project)
        except BaseException:
            pending.cancel()
            raise
        state, fetched = pending.result()
    return specs, state, fetched


def load_while_fetching(project: Project, backend: Backend, state: State) -> tuple[list[ClientSpec], Fetched]:
    """`gather` for a state already read: the YAML loads while a listing server answers. Not where a
    read can rotate tokens (RFC 7592): invalid YAML would drop the answer, and with it the new tokens."""
    if not backend.lists:
        specs = load_specs(project)
        return specs, backend.fetch(list(state.clients.values()))
    with long_lived(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="dcrsync-fetch") as pool:
        pending = pool.submit(backend.fetch, list(state.clients.values()))
        try:
            specs = load_specs(project)
        except BaseException:
            pending.cancel()
            raise
        return specs, pending.result()


def make_plan(
    project: Project,
    backend: Backend,
    state: State,
    specs: Sequence[ClientSpec],
    targets: set[str] | None = None,
    fetched: Fetched | None = None,
) -> Planned:
    if targets:
        unknown = sorted(targets - {s.name for s in specs} - set(state.clients))
        if unknown:
            raise PlanError(f"--target names no client in git or state: {', '.join(unknown)}")
    specs, server_wide = backend.per_client(specs)  # fields the server enforces for every client: a note
    backend.check_specs(specs)  # fields the server family cannot hold, at their file:line
    if fetched is None:
        fetched = backend.fetch(list(state.clients.values()))
    if fetched.rotated:
        persist_rotated(project, state, fetched)
    check_lost_state(project, backend, state, fetched)
    outcome = compute(_inputs(project, backend, state, specs, targets, fetched))
    kept = settle(project, backend, state, specs, outcome, targets)
    plan = Plan(
        changes=outcome.changes,
        unchanged=outcome.unchanged,
        server={"kind": backend.family, "url": backend.url},
        state_serial=state.serial,
        warnings=[
            *state.warnings,
            *server_wide,
            *backend.notes,
            *outcome.warnings,
            *kept,
            *[
                f"{c.name}: `{f.path}` is no longer declared, but dcrsync does not know the server's default "
                "for it: apply leaves its current value (declare the value you want instead)"
                for c in outcome.changes for f in c.fields
                if f.kind == "unset" and backend.kept_when_unset(f.path)
            ],
        ],
        created_at=now(),
        environment=project.config.environment,
        conflicts=[masking.mask(c) for c in outcome.conflicts],
    )
    plan.deliveries, plan.finish = planned_deliveries(project, specs, state, outcome.changes, targets)
    check_plan(project.config, plan, {s.name: s for s in specs}, state)  # labels; the policy's change rules
    plan.warnings = [masking.mask(w) for w in plan.warnings]  # no value a client file read from the environment
    return Planned(plan, outcome, {s.name: s for s in specs}, fetched)


def settle(
    project: Project, backend: Backend, state: State, specs: Sequence[ClientSpec], outcome: Outcome,
    targets: set[str] | None,
) -> list[str]:
    """What only the whole plan shows: a reference that a rename in it would break (an error, at its
    file:line), and each hand edit of an undeclared field, made a row of its client's change (kept as
    the new baseline, or put back where the client is strict). Returns the plan's warnings about them."""
    renames = {c.client_id: new for c in outcome.changes if c.client_id and (new := renamed_id(c))}
    backend.check_plan(specs, renames)
    how = Decision(strict_of(project.config.strict, specs), backend.restores, backend.live_of)
    chosen = {s.name: s for s in specs if not targets or s.name in targets}
    outcome.changes, warnings = decide(outcome.changes, chosen, state.clients, outcome.live_by_name, how)
    return warnings


def strict_of(project: bool, specs: Sequence[ClientSpec]) -> Callable[[str], bool]:
    """Is a client strict: its file's `strict:` where written, else the project's."""
    own = {s.name: s.strict for s in specs if s.strict is not None}
    return lambda name: own.get(name, project)


def _inputs(
    project: Project, backend: Backend, state: State, specs: Sequence[ClientSpec], targets: set[str] | None,
    fetched: Fetched,
) -> Inputs:
    """What `diff.compute` needs: git, the server, the state, and what this family can do."""
    return Inputs(
        specs=specs,
        live=fetched.clients,
        state=state,
        owner=project.config.owner,
        normalise=backend.normalise,
        prune=project.config.prune,
        lists=backend.lists,
        rotates_secret=backend.rotates_secret,
        targets=targets,
        unreadable=fetched.unreadable,
        defaults=backend.defaults,
        renames_client_id=backend.renames_client_id,
        default_client_id=backend.default_client_id,
        project=project.ownership(backend).project,
        chooses_client_id=backend.chooses_client_id,
        now=time.time(), keeps_old_secret=backend.keeps_old_secret, family=backend.family,
    )


def planned_deliveries(
    project: Project, specs: Sequence[ClientSpec], state: State, changes: list[Change], targets: set[str] | None
) -> tuple[list[dict], list[str]]:
    """The plan's delivery lines and the two-phase rotations it finishes (`dcrsync.deliver.planning`)."""
    delivering = declared_targets(specs, delivery_settings(project.config), targets)
    return due(delivering, state, changes), finishing(state, time.time(), targets)


def delivery_settings(config: Config) -> Settings:
    return Settings.of_config(config)


def check_lost_state(project: Project, backend: Backend, state: State, fetched: Fetched) -> None:
    """No state, yet clients on the server carry our marker: the state is elsewhere or lost.
    Planning on would adopt every one of them and issue each a new secret; stop and say why."""
    if state.clients or not backend.lists:
        return
    ours = sorted(project.ownership(backend).by_name(fetched.clients))
    if not ours:
        return
    where = project.store.where
    have = "is empty" if project.store.exists() else "does not exist"
    names = ", ".join(ours[:5]) + (", …" if len(ours) > 5 else "")
    raise PlanError(
        f"the state {where} {have}, but {len(ours)} client(s) on {backend.url} carry this project's marker "
        f"(project {project.identity!r}, owner {project.config.owner!r}: {names}): if the state is elsewhere "
        "(a wrong `state:` path, a forgotten --env, a checkout without the file) point dcrsync at it; if it is "
        "lost, rebuild it with `dcrsync state recover`. Nothing was changed"
    )


def persist_rotated(project: Project, state: State, fetched: Fetched) -> None:
    """A server rotated registration tokens while we read: journal them at once, or they are lost."""
    entries = [upsert(n, **d) for n, d in fetched.rotated.items()]
    project.unlock()
    with project.store.locked():
        project.store.append(entries)
    state.fold(entries)


def check_stale(plan: Plan, backend: Backend, state: State, own: Ownership) -> Fetched:
    """A saved plan applies only to what it saw: each client it touches, on the server and in the
    state, is as it was. Changes to other clients in between do not make it stale."""
    if plan.server.get("url") != backend.url or plan.server.get("kind") != backend.family:
        raise PlanError(
            f"the plan was made for {plan.server.get('kind')} at {plan.server.get('url')}, "
            f"not {backend.family} at {backend.url}; plan again for this server"
        )
    fetched = backend.fetch(list(state.clients.values()))
    by_id = {c.client_id: c for c in fetched.clients}
    by_marker = own.by_name(fetched.clients)
    stale: list[str] = []
    for change in plan.changes:
        record = state.clients.get(change.moved_from or change.name)
        if record_fingerprint(record) != change.record:
            stale.append(f"{change.name} (its state record changed since)")
        elif change.action == "create":
            now_there = (change.client_id and by_id.get(change.client_id)) or by_marker.get(change.name)
            if now_there and not (record is not None and record.pending):
                stale.append(f"{change.name} (created since)")
        else:
            live = by_id.get(change.client_id or "")
            if fingerprint(live) != change.fingerprint:
                what = "deleted" if live is None else "changed"
                stale.append(f"{change.name} ({what} on the server since)")
    if stale:
        raise PlanError(
            f"the plan is stale: {', '.join(stale[:10])}{' …' if len(stale) > 10 else ''}; "
            "run `dcrsync plan` again and review the new plan"
        )
    return fetched


@dataclass
class Prepared:
    """What an apply carries out, the same on both paths (a saved plan, or a fresh one)."""

    plan: Plan
    specs: dict[str, ClientSpec]
    live_by_name: dict[str, LiveClient]
    fetched: Fetched
    #: every client in git, when known (a fresh, untargeted plan): records of clients gone from both
    #: git and the server are then forgotten
    all_specs: dict[str, ClientSpec] | None


def prepare_apply(
    project: Project, backend: Backend, state: State, saved: Plan | None, targets: set[str] | None
) -> Prepared:
    """A saved plan, checked as not stale for what it touches, or a fresh plan of git."""
    if saved is not None:
        fetched = check_stale(saved, backend, state, project.ownership(backend))
        by_id = {c.client_id: c for c in fetched.clients}
        specs = {c.name: spec_from_change(c) for c in saved.changes if c.desired is not None}
        live = {c.name: by_id[c.client_id] for c in saved.changes if c.client_id in by_id}
        envplan.read_references(saved, specs, project.config.client_env, os.environ)  # `${env:X}`: read here
        envplan.check_references(saved, specs, live, state, backend)
        return Prepared(saved, specs, live, fetched, None)
    specs, fetched = load_while_fetching(project, backend, state)
    planned = make_plan(project, backend, state, specs, targets, fetched)
    return Prepared(
        planned.plan, planned.specs, planned.outcome.live_by_name, planned.fetched,
        None if targets else planned.specs,
    )


def spec_from_change(change: Change) -> ClientSpec:
    """The client as a saved plan declares it (what apply needs to carry the change out)."""
    desired = dict(change.desired or {})
    loc = Location.parse(change.source)
    return ClientSpec(
        name=change.name,
        fields={k: v for k, v in desired.items() if k != "client_id" and k not in BLOCKS},
        location=loc,
        client_id=desired.get("client_id"),
        blocks={name: desired[name] for name in BLOCKS if desired.get(name)},
        labels=dict(change.labels or {}),
        protected=change.protected,
        rotation=change.rotation,
    )
