"""`dcrsync apply [PLANFILE]`: carry out a fresh plan (after confirmation) or exactly a saved one."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from dcrsync.apply import Applier, forget_departed, spec_from_change
from dcrsync.commands.common import parallelism_option, project_options, render_plan
from dcrsync.errors import DcrsyncError, PlanError
from dcrsync.plan import ACTIONS, Change, Plan
from dcrsync.project import check_stale, load_specs, make_plan, open_project
from dcrsync.render.warnings import lines as warning_lines

PROGRESS_FROM = 20  # operations; fewer print no bar


@click.command()
@project_options
@click.argument("planfile", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Apply even above the safety thresholds.")
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Apply only these clients (repeatable).")
@click.option("--all-warnings", is_flag=True, help="Every warning in full, not one line per kind of warning about many clients.")
@parallelism_option
def apply(config_path, env_name, planfile, auto_approve, force, targets, parallelism, all_warnings) -> None:
    """Make the server match git, recording secrets in the encrypted state."""
    project = open_project(config_path, env_name)
    project.sops  # noqa: B018 - attaches sops to the store: apply reads and writes secrets
    backend = project.backend(parallelism)
    store = project.store
    try:
        with store.locked():
            replayed = store.has_journal()
            state = store.read()
            if replayed:  # an interrupted apply left secrets in the journal: keep them first
                store.commit(state)
                click.echo(f"Recovered an interrupted apply: folded its journal into {store.path}.", err=True)
            if planfile is not None:
                plan = Plan.from_json(planfile.read_text(), str(planfile))
                fetched = check_stale(plan, backend, state, project.config.owner)
                specs = {c.name: spec_from_change(c) for c in plan.changes if c.desired is not None}
                by_id = {c.client_id: c for c in fetched.clients}
                live_by_name = {c.name: by_id[c.client_id] for c in plan.changes if c.client_id in by_id}
                all_specs = None
            else:
                spec_list = load_specs(project)
                planned = make_plan(project, backend, state, spec_list, set(targets) or None)
                plan, specs = planned.plan, planned.specs
                live_by_name = planned.outcome.live_by_name
                fetched = planned.fetched
                all_specs = None if targets else planned.specs
                click.echo(render_plan(plan, "text", all_warnings), nl=False)
            if plan.conflicts:
                raise PlanError(
                    f"{len(plan.conflicts)} conflict(s) stop the apply (listed above); nothing was sent to the server"
                )
            if plan.is_empty():
                if all_specs is not None and forget_departed(state, all_specs, {c.client_id for c in fetched.clients}):
                    store.commit(state)
                click.echo("Nothing to do.")
                if _report_unreadable(fetched, specs):
                    sys.exit(1)
                return
            plan.check_safety(len(state.clients), project.config.safety, force)
            if planfile is None and not auto_approve:
                if not sys.stdin.isatty():
                    raise DcrsyncError("refusing to apply without confirmation: no terminal to ask; pass --auto-approve")
                click.confirm("Apply these changes?", abort=True)
            store.preflight()  # recipients, key and folders, before the first server write
            applier = Applier(backend, store, state, project.config.owner, parallelism=parallelism)
            bar = _progress(plan, applier)
            try:
                report = applier.run(plan, specs, live_by_name)
            finally:
                if bar is not None:
                    bar.__exit__(None, None, None)
    finally:
        backend.close()
    for warning in warning_lines(report.warnings, all_warnings):
        click.echo(f"warning: {warning}", err=True)
    for change, message in report.failed:
        where = f"{change.source}: " if change.source else ""
        click.echo(f"error: {where}{change.action} {change.name}: {message}", err=True)
    s = {a: sum(1 for c in report.done if c.action == a) for a in ACTIONS}
    moved = f"{s['move']} moved, " if s["move"] else ""
    rotated = f"{s['rotate']} rotated, " if s["rotate"] else ""
    click.echo(
        f"Apply {'complete' if report.ok else 'incomplete'}: {s['create']} created, {s['update']} updated, "
        f"{moved}{rotated}{s['replace']} replaced, {s['delete']} deleted, {len(report.failed)} failed. "
        f"State: {store.path}"
    )
    if s["rotate"]:
        names = ", ".join(sorted(c.name for c in report.done if c.action == "rotate"))
        click.echo(f"New secrets were issued for: {names}; give each app its new secret "
                   "(`dcrsync state secret NAME`).", err=True)
    unreadable = _report_unreadable(fetched, specs)
    if not report.ok or unreadable:
        sys.exit(1)


def _report_unreadable(fetched, specs) -> bool:
    """RFC 7592 clients whose stored token the server refused: an error for apply, one line each."""
    for name, why in sorted(fetched.unreadable.items()):
        spec = specs.get(name)
        where = f"{spec.location.file}:{spec.location.line}: " if spec is not None else ""
        click.echo(f"error: {where}{name}: {why}", err=True)
    return bool(fetched.unreadable)


DONE = {"create": "created", "update": "updated", "move": "moved", "rotate": "rotated",
        "replace": "replaced", "delete": "deleted"}


def _progress(plan: Plan, applier: Applier):
    """A bar on a terminal for many changes; otherwise one line per client as it finishes (CI logs)."""
    lock = threading.Lock()
    if len(plan.changes) < PROGRESS_FROM or not sys.stderr.isatty():

        def line(change: Change, error: str | None, client_id: str | None) -> None:
            what = f"failed: {error.splitlines()[0]}" if error else DONE[change.action]
            moved = f" (from {change.moved_from})" if change.moved_from and not error else ""
            with lock:
                click.echo(f"{change.name}: {what}{moved} [client_id={client_id or '-'}]")

        applier.progress = line
        return None
    bar = click.progressbar(length=len(plan.changes), label="Applying", file=sys.stderr)
    bar.__enter__()

    def tick(change: Change, error: str | None, client_id: str | None) -> None:
        with lock:
            bar.update(1)

    applier.progress = tick
    return bar
