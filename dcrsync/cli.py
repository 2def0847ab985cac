"""The `dcrsync` command line: parse options, call the core, map outcomes to exit codes."""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

import click

from dcrsync import __version__
from dcrsync.errors import DcrsyncError
from dcrsync.guards import inert
from dcrsync.render import colour

#: command name -> "module:attribute"; a command's module is imported only when it runs
COMMANDS: dict[str, str] = {
    "validate": "dcrsync.commands.validate:validate",
    "plan": "dcrsync.commands.plan:plan",
    "apply": "dcrsync.commands.apply:apply",
    "drift": "dcrsync.commands.drift:drift",
    "deliver": "dcrsync.commands.deliver:deliver",
    "import": "dcrsync.commands.adopt:import_",
    "export": "dcrsync.commands.adopt:export",
    "rotate-secret": "dcrsync.commands.adopt:rotate_secret",
    "state": "dcrsync.commands.state:state",
    "github": "dcrsync.commands.github:github",
    "audit": "dcrsync.commands.audit:audit",
}

#: command name -> its short help, so `dcrsync --help` lists the commands without importing any of them
#: (tests/test_cli_help.py checks each against the command's own docstring); a command missing here is
#: imported for its help, as before
SHORT_HELP: dict[str, str] = {
    "apply": "Make the server match git, recording secrets in the encrypted state.",
    "audit": "Audit the server, read-only: what its discovery document still offers (plain PKCE, implicit "
    "response types, the password grant), a Keycloak realm's client policies (pkce-enforcer, "
    "secure-redirect-uris-enforcer, …), and every live client, in git or not, against the lint profile's "
    "security rules and the organisation policy.",
    "deliver": "Write every client's deliveries from the state (sops manifests, External Secrets, commands).",
    "drift": "Report changes made on the server outside dcrsync (exit 2 when declared fields drifted).",
    "export": "Write YAML for the live clients (never secrets; server defaults left out).",
    "github": "Post plans and drift to GitHub (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL).",
    "import": "Adopt live clients: mark them as ours and record them in the state, in one state write.",
    "plan": "Show what apply would change on the server.",
    "rotate-secret": "Issue a new client secret, record it in the state (never printed) and deliver it.",
    "state": "Read and edit the encrypted state.",
    "validate": "Check client files against the schema and the lint rules, without any server or key.",
}


def _set_colour(ctx: click.Context, _param: click.Parameter, value: bool | None) -> None:
    if value is not None:
        ctx.color = value


def _with_colour_option(cmd: click.Command) -> click.Command:
    """`dcrsync plan --no-color` works as well as `dcrsync --no-color plan` (and for `state list`)."""
    if not any(p.name == "color" for p in cmd.params):
        cmd.params.append(click.Option(
            ["--color/--no-color", "color"], default=None, expose_value=False, callback=_set_colour,
            help="Colour the output or not (default: on a terminal, unless NO_COLOR is set).",
        ))
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            _with_colour_option(sub)
    return cmd


class _Group(click.Group):
    """Loads commands lazily, and turns every DcrsyncError (and a command's usage error) into one
    line on stderr and exit 1 (a message about several problems: one `error:` line each). Each line
    is made inert (`guards.inert`): an error can carry a server's own words (an `error_description`),
    which must neither reach the terminal as escapes nor start a line of its own."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        return _with_colour_option(getattr(importlib.import_module(module), attr))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from `SHORT_HELP`: `dcrsync --help` imports no command module."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            text = SHORT_HELP.get(name)
            if text is None:
                cmd = self.get_command(ctx, name)
                if cmd is None or cmd.hidden:
                    continue
                rows.append((name, cmd.get_short_help_str(limit)))
            else:
                rows.append((name, click.Command(name, help=text).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DcrsyncError as exc:
            click.echo(inert.lines(str(exc), "error: "), err=True)
            sys.exit(1)
        except click.UsageError as exc:  # exit 2 means "changes" in our contract: a usage error is 1
            where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            click.echo(f"error: {inert.line(exc.format_message())}{where}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Abort, click.exceptions.Exit, click.ClickException):
            raise  # click's own ways out
        except Exception as exc:  # the last resort: one line, the traceback only with --debug
            if ctx.meta.get("dcrsync.debug"):
                raise
            click.echo(f"error: {unexpected(exc)}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dcrsync")
@click.option(
    "--color/--no-color", "color", default=None,
    help="Colour the output or not (default: on a terminal, unless NO_COLOR is set).",
)
@click.option("--debug", is_flag=True, envvar="DCRSYNC_DEBUG", help="Show the traceback of an unexpected error.")
@click.pass_context
def cli(ctx: click.Context, color: bool | None, debug: bool) -> None:
    """Keep OAuth 2.0 / OpenID Connect clients in sync with YAML files in git."""
    ctx.color = colour.from_environment(color)  # inherited by every command; click.echo honours it
    ctx.meta["dcrsync.debug"] = debug


def unexpected(exc: BaseException) -> str:
    """One line for an error dcrsync did not foresee: its kind and where in dcrsync it happened, never
    its message (which may hold data a server sent, or a secret)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/dcrsync/" in f.filename.replace("\\", "/")]
    at = ""
    if ours:
        path = ours[-1].filename.replace("\\", "/")
        at = f" at dcrsync/{path.rsplit('/dcrsync/', 1)[-1]}:{ours[-1].lineno}"
    return (f"unexpected {type(exc).__name__}{at}: a bug in dcrsync; run the command again with --debug for the "
            "traceback, and report it")


def main() -> None:
    cli(prog_name="dcrsync")
