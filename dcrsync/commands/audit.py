"""`dcrsync audit`: the server's posture and its live clients against the profile and the policy."""

from __future__ import annotations

import sys

import click

from dcrsync.audit.read import run_audit
from dcrsync.commands.common import project_options
from dcrsync.lint import PROFILES, project_profile
from dcrsync.policy import today
from dcrsync.project.opening import open_project
from dcrsync.render.formats import format_option, render


@click.command("audit")
@project_options
@format_option("audit", help="markdown: an issue body for a nightly job; json: schemas-free, versioned (`version`).")
@click.option(
    "--profile", type=click.Choice(PROFILES), default=None,
    help="Lint profile the live clients are judged by (default: `lint.profile` of dcrsync.yaml, else baseline).",
)
def audit(config_path: str | None, env_name: str | None, fmt: str, profile: str | None) -> None:
    """Audit the server, read-only: what its discovery document still offers (plain PKCE, implicit
    response types, the password grant), a Keycloak realm's client policies (pkce-enforcer,
    secure-redirect-uris-enforcer, …), and every live client, in git or not, against the lint
    profile's security rules and the organisation policy.

    Exit 0 when nothing is found, 2 on findings (for a nightly job), 1 on an error.
    """
    project = open_project(config_path, env_name)
    config = project.config
    chosen = project_profile(config, profile)
    backend = project.backend()
    try:
        report = run_audit(project, backend, chosen, today())
    finally:
        backend.close()
    click.echo(render(report, fmt), nl=False)
    if report.has_findings():
        sys.exit(2)
