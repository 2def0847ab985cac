"""`dcrsync --help` lists every command from the registry's short help, importing no command module."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from dcrsync.cli import COMMANDS, SHORT_HELP, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_registry_short_help_is_the_commands_own(name: str) -> None:
    """The registry's text is what the command's docstring says: the two cannot drift apart."""
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert SHORT_HELP[name] == command.get_short_help_str(10_000)


def test_help_lists_every_command_without_importing_one() -> None:
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from dcrsync.cli import cli\n"
        "out = CliRunner().invoke(cli, ['--help']).output\n"
        "print(json.dumps([out, sorted(m for m in sys.modules if m.startswith('dcrsync.commands'))]))\n"
    )
    out, imported = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                              check=True).stdout)
    assert imported == []
    for name in COMMANDS:
        assert f"  {name} " in out
    assert "Show what apply would change on the server." in out


def test_help_matches_the_listing_click_would_make() -> None:
    """The same rows as click's own listing, which imports every command for its help."""
    ours = CliRunner().invoke(cli, ["--help"], terminal_width=100).output
    formatter = click.HelpFormatter(width=100)
    ctx = click.Context(cli, terminal_width=100)
    click.Group.format_commands(cli, ctx, formatter)
    assert formatter.getvalue() in ours


def test_a_command_missing_from_the_registry_is_imported_for_its_help(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(SHORT_HELP, "plan")
    out = CliRunner().invoke(cli, ["--help"]).output
    assert "Show what apply would change on the server." in out
