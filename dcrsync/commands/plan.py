"""`dcrsync plan`: fetch live, diff, print; optionally save the plan for `apply`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dcrsync.commands.common import parallelism_option, project_options
from dcrsync.guards import inert
from dcrsync.project import norefresh
from dcrsync.project.opening import open_project
from dcrsync.project.planning import gather, make_plan
from dcrsync.render import colour
from dcrsync.render.formats import Options, format_option, render


@click.command()
@project_options
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan (JSON) for `dcrsync apply PLANFILE`.")
@format_option("plan")
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Plan only these clients (repeatable).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none.")
@click.option("--all-warnings", is_flag=True, help="Every warning in full, not one line per kind of warning about many clients.")
@click.option(
    "--refresh", type=click.BOOL, default=True, show_default=True, metavar="true|false",
    help="false: plan from the last-applied state without reading the server (RFC 7591/7592 servers, whose "
    "clients are read with tokens from the state): a pull request's plan then needs no key; the apply reads "
    "the server and refuses the plan if a client it touches changed.",
)
@parallelism_option
def plan(config_path, env_name, out, fmt, targets, detailed_exitcode, parallelism, all_warnings, refresh) -> None:
    """Show what apply would change on the server."""
    project = open_project(config_path, env_name)
    if not refresh:
        norefresh.check_config(project.config.server, project.config.family)
    backend = project.backend(parallelism)
    if not refresh:
        backend = norefresh.FromState(backend)  # sends nothing: every read comes from the state
    try:
        specs, state, fetched = gather(project, backend, need_secrets=refresh and not backend.lists)
        planned = make_plan(project, backend, state, specs, set(targets) or None, fetched)
    finally:
        backend.close()
    planned.plan.refreshed = refresh
    if out is not None:
        out.write_text(planned.plan.to_json())
    click.echo(render(planned.plan, fmt, Options(colour=colour.wanted(), all_warnings=all_warnings)), nl=False)
    if out is not None and fmt != "json":
        click.echo(f"Saved the plan to {out}; apply exactly it with `dcrsync apply {out}`.", err=True)
    if planned.plan.conflicts:
        for conflict in planned.plan.conflicts:
            click.echo(f"error: {inert.line(conflict)}", err=True)
        sys.exit(1)
    if detailed_exitcode and not planned.plan.is_empty():
        sys.exit(2)
