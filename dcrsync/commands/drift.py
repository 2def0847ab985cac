"""`dcrsync drift`: what someone changed on the server since the last apply. Exit 0 / 2 / 1.

Exit 2 on drift of declared fields; changes of undeclared fields are reported and exit 0 unless
`--fail-on-undeclared`."""

from __future__ import annotations

import sys

import click

from dcrsync.commands.common import parallelism_option, project_options
from dcrsync.guards import inert
from dcrsync.plan.drift import detect
from dcrsync.project.opening import open_project
from dcrsync.project.planning import check_lost_state, gather, persist_rotated
from dcrsync.render.formats import format_option, render


@click.command()
@project_options
@format_option("drift")
@click.option(
    "--fail-on-undeclared", is_flag=True,
    help="Exit 2 also when only fields the YAML does not declare changed (webOrigins, lifespans, mappers).",
)
@parallelism_option
def drift(config_path, env_name, fmt, fail_on_undeclared, parallelism) -> None:
    """Report changes made on the server outside dcrsync (exit 2 when declared fields drifted)."""
    project = open_project(config_path, env_name)
    backend = project.backend(parallelism)
    try:
        specs, state, fetched = gather(project, backend, need_secrets=not backend.lists)
        specs, _ = backend.per_client(specs)  # as plan compares them
        if fetched.rotated:
            persist_rotated(project, state, fetched)
        check_lost_state(project, backend, state, fetched)  # as plan: one line, exit 1, not "all drifted"
        own = project.ownership(backend)
        deliveries = stale_deliveries(project, backend, specs, state)
    finally:
        backend.close()
    report = detect(
        specs, fetched.clients, state, owner=project.config.owner, normalise=backend.normalise,
        lists=backend.lists, server={"kind": backend.family, "url": backend.url}, unreadable=fetched.unreadable,
        read=backend.live_of, project=own.project,
    )
    report.environment = project.config.environment
    report.deliveries = deliveries
    for warning in state.warnings:
        click.echo(f"warning: {inert.line(warning)}", err=True)
    click.echo(render(report, fmt), nl=False)
    sys.exit(report.exit_code(fail_on_undeclared))


def stale_deliveries(project, backend, specs, state) -> list[dict[str, str]]:
    """Deliveries whose copy is missing, or differs from what was last delivered (without the key:
    the copy against the state's record; with it, against what the state gives now)."""
    from dcrsync.deliver.planning import declared_targets
    from dcrsync.deliver.runner import Deliverer
    from dcrsync.project.planning import delivery_settings

    settings = delivery_settings(project.config)
    deliverer = Deliverer(settings, backend, None, declared=declared_targets(specs, settings))
    out = []
    for name, targets in sorted(deliverer.declared.items()):
        record = state.clients.get(name)
        if record is None or record.pending or not record.client_id:
            continue
        for target in targets:
            status = deliverer.status(target, record, keyed=not state.encrypted)
            if status.verdict != "current":
                out.append({"name": name, "target": target.kind, "where": target.where,
                            "verdict": status.verdict, "why": status.why})
    return out

