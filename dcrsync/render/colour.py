"""Whether dcrsync colours its output: one decision, made in one place.

In order: the global `--color` / `--no-color` flag; `NO_COLOR` (any non-empty value turns colour
off, https://no-color.org); `FORCE_COLOR` (any non-empty value turns it on); otherwise colour only
when the stream is a terminal. The flag and the environment are stored on click's context
(`ctx.color`), which `click.echo` also honours: with colour off it strips every ANSI code, so
nothing dcrsync prints can carry colour, whichever renderer made it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import IO

import click


def from_environment(flag: bool | None, environ: Mapping[str, str] = os.environ) -> bool | None:
    """The user's choice: the flag first, then NO_COLOR, then FORCE_COLOR; None means "ask the stream"."""
    if flag is not None:
        return flag
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return None


def wanted(stream: IO[str] | None = None) -> bool:
    """Colour for output to `stream` (stdout by default) in the running command."""
    ctx = click.get_current_context(silent=True)
    choice = ctx.color if ctx is not None and ctx.color is not None else from_environment(None)
    if choice is not None:
        return choice
    # click's own test: a terminal (`CliRunner.invoke(color=True)` stands in for one)
    return not click.utils.should_strip_ansi(stream or sys.stdout)
