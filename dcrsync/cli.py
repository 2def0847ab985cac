"""The `dcrsync` command line: parse options, call the core, map outcomes to exit codes."""

from __future__ import annotations

import sys

import click

from dcrsync import __version__
from dcrsync.errors import DcrsyncError


class _Group(click.Group):
    """Turns every DcrsyncError into one line on stderr and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except DcrsyncError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dcrsync")
def cli() -> None:
    """Keep OAuth 2.0 / OpenID Connect clients in sync with YAML files in git."""


def _register() -> None:
    from dcrsync.commands import adopt, apply, drift, github, plan, state, validate

    commands = (validate.validate, plan.plan, apply.apply, drift.drift, adopt.import_, adopt.export,
                adopt.rotate_secret, state.state, github.github)
    for command in commands:
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="dcrsync")
