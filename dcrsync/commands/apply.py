"""`dcrsync apply [PLANFILE]`: carry out a fresh plan (after confirmation) or exactly a saved one."""

from __future__ import annotations

import sys
import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import click

from dcrsync.apply.applier import Applier, ApplyReport, forget_departed
from dcrsync.backends.base import Backend, Fetched
from dcrsync.commands.common import parallelism_option, project_options
from dcrsync.commands.deliver import report_deliveries
from dcrsync.deliver.hook import ApplyDeliveries
from dcrsync.deliver.planning import declared_targets
from dcrsync.deliver.runner import Deliverer, stale_entries
from dcrsync.errors import DcrsyncError, PlanError
from dcrsync.guards import inert
from dcrsync.load.config import Config
from dcrsync.plan.plan import ACTIONS, Change, Plan
from dcrsync.policy import refusals
from dcrsync.project.opening import Project, open_project
from dcrsync.project.planning import prepare_apply
from dcrsync.render import colour
from dcrsync.render.formats import Options, render
from dcrsync.render.warnings import lines as warning_lines
from dcrsync.state.records import State
from dcrsync.state.store import StateStore

PROGRESS_FROM = 20  # operations; fewer print no bar


@click.command()
@project_options
@click.argument("planfile", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Apply even above the safety thresholds.")
@click.option("--allow-destroy", "allow_destroy", multiple=True, metavar="NAME",
              help="Allow this plan to delete or replace the protected client NAME (repeatable).")
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Apply only these clients (repeatable).")
@click.option("--all-warnings", is_flag=True, help="Every warning in full, not one line per kind of warning about many clients.")
@parallelism_option
@click.option("--lock-timeout", type=click.FloatRange(0), default=0, show_default=True, metavar="SECONDS",
              help="Wait this long for the state's lock held by another run (0: refuse at once).")
def apply(
    config_path, env_name, planfile, auto_approve, force, allow_destroy, targets, parallelism, lock_timeout, all_warnings
) -> None:
    """Make the server match git, recording secrets in the encrypted state."""
    project = open_project(config_path, env_name)
    project.unlock()
    backend = project.backend(parallelism)
    store = project.store
    store.preflight_soon()  # sops checks the recipients while the plan is made
    store.lock_timeout = lock_timeout
    try:
        with store.locked():
            state = _read_replaying(store)
            store.journal_soon()  # a new journal key's batch is sealed while the plan is made
            saved = Plan.from_json(planfile.read_text(), str(planfile)) if planfile is not None else None
            prepared = prepare_apply(project, backend, state, saved, set(targets) or None)
            plan, specs, live_by_name = prepared.plan, prepared.specs, prepared.live_by_name
            fetched, all_specs = prepared.fetched, prepared.all_specs
            deliveries = _deliveries(project, backend, plan, state, specs if saved is None else None)
            if saved is None:
                click.echo(render(plan, "text", Options(colour=colour.wanted(), all_warnings=all_warnings)), nl=False)
            else:
                refuse_against_policy(project.config, plan, state)
            if plan.conflicts:
                raise PlanError(
                    f"{len(plan.conflicts)} conflict(s) stop the apply (listed above); nothing was sent to the server"
                )
            if plan.is_empty():
                departed = all_specs is not None and forget_departed(state, all_specs, {c.client_id for c in fetched.clients})
                if state.seal((all_specs or specs).values()) or departed:  # values an older dcrsync kept plain
                    store.commit(state)
                click.echo("Nothing to do.")
                if _report_unreadable(fetched, specs):
                    sys.exit(1)
                return
            _guard(plan, project, backend, state, fetched, force, set(allow_destroy))
            if planfile is None and not auto_approve:
                if not sys.stdin.isatty():
                    raise DcrsyncError("refusing to apply without confirmation: no terminal to ask; pass --auto-approve")
                click.confirm("Apply these changes?", abort=True)
            store.preflight()  # recipients, key and folders, before the first server write
            applier = Applier(
                backend, store, state, project.config.owner, parallelism=parallelism,
                project=project.ownership(backend).project, deliveries=ApplyDeliveries.of(plan, deliveries),
            )
            with _progress(plan, applier):
                report = applier.run(plan, specs, live_by_name)
    finally:
        backend.close()
    _summary(report, store, all_warnings)
    unreadable = _report_unreadable(fetched, specs)
    undelivered = report_deliveries(deliveries)
    if not report.ok or unreadable or undelivered:
        sys.exit(1)


def refuse_against_policy(config: Config, plan: Plan, state: State) -> None:
    """A saved plan is checked again against the policy's change rules before anything is sent: an
    exception may have expired, or a rule been added, since it was made."""
    broken = refusals(config, plan, state)
    for line in broken:
        click.echo(f"error: {line}", err=True)
    if broken:
        raise PlanError(
            f"{len(broken)} change(s) of the plan break the policy's change rules (listed above); "
            "nothing was sent to the server"
        )


def _guard(plan: Plan, project: Project, backend: Backend, state: State, fetched: Fetched, force: bool,
           allowed: set[str]) -> None:
    """What stops an apply before anything is sent: a protected client's delete or replace, then the
    safety thresholds (deletes counted against the live clients this project owns, however few)."""
    plan.check_protected(allowed)
    own = project.ownership(backend)
    recorded = state.by_client_id()
    owned = sum(1 for c in fetched.clients if own.is_ours(c) or c.client_id in recorded)
    plan.check_safety(len(state.clients), project.config.safety, force, owned=owned)


def _deliveries(project, backend, plan: Plan, state: State, specs) -> Deliverer:
    """The apply's deliverer; on a fresh plan, deliveries found stale with the key join the plan."""
    from dcrsync.project.opening import load_specs
    from dcrsync.project.planning import delivery_settings

    fresh = specs is not None
    settings = delivery_settings(project.config)
    if specs is None:  # a saved plan: its own delivery lines; the files' declarations only to finish rotations
        try:
            specs = {s.name: s for s in load_specs(project)}
        except DcrsyncError:
            specs = {}
    declared = declared_targets(specs.values(), settings)
    deliverer = Deliverer(settings, backend, project.unlock(), declared=declared)
    if fresh:
        stale, notes = stale_entries(deliverer, state, plan.deliveries)
        plan.deliveries += stale
        plan.warnings += notes
    return deliverer


def _read_replaying(store: StateStore) -> State:
    """The state with its secrets; a journal an interrupted apply left is folded in and kept first."""
    replayed = store.has_journal()
    state = store.read()
    if replayed:
        store.commit(state)
        click.echo(f"Recovered an interrupted apply: folded its journal into {store.where}.", err=True)
    return state


def _summary(report: ApplyReport, store: StateStore, all_warnings: bool) -> None:
    for warning in warning_lines(report.warnings, all_warnings):
        click.echo(f"warning: {inert.line(warning)}", err=True)
    for change, message in report.failed:
        where = f"{change.source}: " if change.source else ""
        click.echo(inert.line(f"error: {where}{change.action} {change.name}: {message}"), err=True)
    s = {a: sum(1 for c in report.done if c.action == a) for a in ACTIONS}
    moved = f"{s['move']} moved, " if s["move"] else ""
    rotated = f"{s['rotate']} rotated, " if s["rotate"] else ""
    click.echo(
        f"Apply {'complete' if report.ok else 'incomplete'}: {s['create']} created, {s['update']} updated, "
        f"{moved}{rotated}{s['replace']} replaced, {s['delete']} deleted, {len(report.failed)} failed. "
        f"State: {store.where}"
    )
    if s["rotate"]:
        names = ", ".join(sorted(c.name for c in report.done if c.action == "rotate"))
        click.echo(f"New secrets were issued for: {names}; give each app its new secret "
                   "(`dcrsync state secret NAME`).", err=True)


def _report_unreadable(fetched, specs) -> bool:
    """RFC 7592 clients whose stored token the server refused: an error for apply, one line each."""
    for name, why in sorted(fetched.unreadable.items()):
        spec = specs.get(name)
        where = f"{spec.location.file}:{spec.location.line}: " if spec is not None else ""
        click.echo(inert.line(f"error: {where}{name}: {why}"), err=True)
    return bool(fetched.unreadable)


DONE = {"create": "created", "update": "updated", "move": "moved", "rotate": "rotated",
        "replace": "replaced", "delete": "deleted"}


def _progress(plan: Plan, applier: Applier) -> AbstractContextManager[object]:
    """A bar on a terminal for many changes; otherwise one line per client as it finishes (CI logs)."""
    lock = threading.Lock()
    if len(plan.changes) < PROGRESS_FROM or not sys.stderr.isatty():

        def line(change: Change, error: str | None, client_id: str | None) -> None:
            what = f"failed: {error.splitlines()[0]}" if error else DONE[change.action]
            moved = f" (from {change.moved_from})" if change.moved_from and not error else ""
            with lock:
                click.echo(inert.line(f"{change.name}: {what}{moved} [client_id={client_id or '-'}]"))

        applier.progress = line
        return nullcontext()
    bar = click.progressbar(length=len(plan.changes), label="Applying", file=sys.stderr)

    def tick(change: Change, error: str | None, client_id: str | None) -> None:
        with lock:
            bar.update(1)

    applier.progress = tick
    return bar
