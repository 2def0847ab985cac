"""`dcrsync deliver`: (re)write every delivery from the state, check them (`--check`), or print one
client's bundle to a pipe (`--stdout NAME`)."""

from __future__ import annotations

import sys

import click

from dcrsync.commands.common import project_options
from dcrsync.deliver.bundle import as_text, bundle
from dcrsync.deliver.declared import STDOUT, Target, resolve, targets_of
from dcrsync.deliver.planning import declared_targets
from dcrsync.deliver.presets import STANDARD
from dcrsync.deliver.runner import Deliverer, Status
from dcrsync.errors import DcrsyncError, StateError
from dcrsync.model import Location

#: --check's words, and whether each one makes the check fail (exit 2)
BEHIND = ("stale", "missing", "undelivered")


@click.command()
@project_options
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Only these clients (repeatable).")
@click.option("--check", is_flag=True, help="Find missing or stale copies, print no secret: exit 0 current, 2 stale, 1 error.")
@click.option("--stdout", "stdout_name", metavar="NAME", help="Print NAME's bundle (for a pipe: never to a terminal unless --reveal).")
@click.option("--format", "fmt", type=click.Choice(["dotenv", "env", "json"]), help="With --stdout: the bundle's format.")
@click.option("--reveal", is_flag=True, help="With --stdout: print even to a terminal.")
def deliver(config_path, env_name, targets, check, stdout_name, fmt, reveal) -> None:
    """Write every client's deliveries from the state (sops manifests, External Secrets, commands)."""
    from dcrsync.project.opening import load_specs, open_project
    from dcrsync.project.planning import delivery_settings

    if stdout_name and check:
        raise click.UsageError("--stdout prints one bundle and --check checks every delivery: use one")
    project = open_project(config_path, env_name)
    specs = {s.name: s for s in load_specs(project)}
    names = set(targets) | ({stdout_name} if stdout_name else set()) or None
    unknown = sorted((names or set()) - set(specs))
    if unknown:
        raise StateError(f"--target/--stdout names no client in git: {', '.join(unknown)}")
    settings = delivery_settings(project.config)
    backend = project.backend()
    try:
        deliverer = Deliverer(settings, backend, project.unlock(), declared=declared_targets(specs.values(), settings, names))
        if stdout_name:
            _print_bundle(project, deliverer, specs[stdout_name], fmt, reveal)
            return
        if check:
            sys.exit(_check(project, deliverer))
        if not deliverer.declared:
            click.echo("No deliveries declared (a client's `deliver:`, or dcrsync.yaml's `delivery.defaults`).")
        _write_all(project, deliverer)
    finally:
        backend.close()
    if report_deliveries(deliverer):
        sys.exit(1)


def refuse_terminal(reveal: bool) -> None:
    """A bundle goes to a pipe or a file, never to a screen (or a screen recording) unless asked."""
    if not reveal and sys.stdout.isatty():
        raise DcrsyncError("refusing to print secrets to a terminal: pipe or redirect the output, or pass --reveal")


def _print_bundle(project, deliverer: Deliverer, spec, fmt: str | None, reveal: bool) -> None:
    refuse_terminal(reveal)
    record = project.store.read().clients.get(spec.name)
    if record is None or not record.client_id:
        raise StateError(f"{spec.name} is not in {project.store.where} yet: apply first")
    declared = [t for t in targets_of(spec, deliverer.settings) if t.kind == STDOUT]
    target = declared[0] if declared else resolve(spec.name, {"target": STDOUT, "keys": STANDARD}, Location("-", 0, 0))
    keys = target.keys
    if not declared and record.client_secret is None:
        keys = {k: v for k, v in keys.items() if v != "client_secret"}  # a public client: no secret to give
    target = Target(target.client, target.kind, keys, target.settings, target.at)
    values = bundle(spec.name, keys, deliverer.values(target, record.client_id, record.client_secret))
    click.echo(as_text(values, fmt or target.settings.get("format") or "dotenv"), nl=False)


def _statuses(project, deliverer: Deliverer) -> list[Status]:
    state = project.store.read()
    out: list[Status] = []
    for name, targets in sorted(deliverer.declared.items()):
        record = state.clients.get(name)
        out += [deliverer.status(t, record, keyed=True) for t in targets]
    return out


def _check(project, deliverer: Deliverer) -> int:
    """One line per delivery, no value; 0 all current, 2 some missing or stale, 1 an error."""
    statuses = _statuses(project, deliverer)
    for s in statuses:
        why = f" ({s.why})" if s.why else ""
        click.echo(f"{s.verdict}: {s.target.client}: {s.target.line()}{why}")
    counts = {v: sum(1 for s in statuses if s.verdict == v) for v in ("current", *BEHIND, "error")}
    click.echo(", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no deliveries declared")
    if counts["error"]:
        return 1
    return 2 if any(counts[v] for v in BEHIND) else 0


def _write_all(project, deliverer: Deliverer) -> None:
    store = project.store
    with store.locked():
        state = store.read()
        entries = []
        for name, targets in sorted(deliverer.declared.items()):
            record = state.clients.get(name)
            if record is None or not record.client_id or record.pending:
                deliverer.failures.append((name, "not on the server yet: apply first"))
                continue
            entries += deliverer.deliver(name, targets, record.client_id, record.client_secret, record)
        if entries:
            store.append(entries)
            state.fold(entries)
            store.commit(state)


def report_deliveries(deliverer: Deliverer) -> bool:
    """One line per delivery written (stdout) and per failure (stderr); True when one failed."""
    for name, target in deliverer.done:
        click.echo(f"delivered {name}: {target.line()}")
    for name, why in deliverer.failures:
        click.echo(f"error: delivery {name}: {why}; retried by the next apply or `dcrsync deliver`", err=True)
    return bool(deliverer.failures)


def deliver_client(project, backend, name: str) -> Deliverer:
    """Deliver NAME's targets from the state now (after `rotate-secret`), under the state's lock."""
    from dcrsync.project.opening import load_specs
    from dcrsync.project.planning import delivery_settings

    settings = delivery_settings(project.config)
    deliverer = Deliverer(settings, backend, project.unlock())
    try:
        specs = [s for s in load_specs(project) if s.name == name]
    except DcrsyncError as exc:  # the rotation is done and recorded: say why it is not delivered yet
        deliverer.failures.append((name, f"the client files do not load ({str(exc).splitlines()[-1]})"))
        return deliverer
    deliverer.declared = declared_targets(specs, settings)
    if deliverer.declared:
        _write_all(project, deliverer)
    return deliverer


def finish_client(config_path, env_name, name: str) -> None:
    """`rotate-secret NAME --finish`: retire the old secret once `deliver --check` is current for NAME."""
    from dcrsync.deliver.hook import finish_rotation
    from dcrsync.project.opening import load_specs, open_project
    from dcrsync.project.planning import delivery_settings

    project = open_project(config_path, env_name)
    settings = delivery_settings(project.config)
    specs = [s for s in load_specs(project) if s.name == name]
    backend = project.backend()
    try:
        deliverer = Deliverer(settings, backend, project.unlock(), declared=declared_targets(specs, settings))
        with project.store.locked():
            state = project.store.read()
            record = state.clients.get(name)
            if record is None or not record.client_id:
                raise StateError(f"{name} is not in {project.store.where}; `dcrsync state list` shows what is")
            if not record.rotating:
                raise StateError(f"{name} has no two-phase rotation under way: nothing to finish")
            live, _ = backend.get(record.client_id, record)
            if live is None:
                raise DcrsyncError(f"client {record.client_id} ({name}) is gone from the server; run `dcrsync plan`")
            entries = finish_rotation(deliverer, backend, name, record, live)
            project.store.append(entries)
            state.fold(entries)
            project.store.commit(state)
    finally:
        backend.close()
    click.echo(f"Finished the rotation of {name}: every delivery holds the new secret, and the old one no longer works.")
