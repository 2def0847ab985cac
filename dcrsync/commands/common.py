"""Options and helpers shared by the commands that talk to a server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from dcrsync.plan import Plan
from dcrsync.render import colour
from dcrsync.render import json as render_json
from dcrsync.render import markdown as render_markdown
from dcrsync.render import text as render_text


def project_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--env", "env_name", metavar="NAME", help="Environment overlay from dcrsync.yaml.")(fn)
    fn = click.option(
        "--config", "config_path", metavar="FILE", help="dcrsync.yaml to use (default: ./dcrsync.yaml or $DCRSYNC_CONFIG)."
    )(fn)
    return fn


def render_plan(plan: Plan, fmt: str, all_warnings: bool = False) -> str:
    if fmt == "json":
        return render_json.render(plan)
    if fmt == "markdown":
        return render_markdown.render(plan)
    return render_text.render(plan, colour=colour.wanted(), all_warnings=all_warnings)


def parallelism_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--parallelism", type=click.IntRange(1, 64), default=4, show_default=True,
        help="Server calls in flight at once.",
    )(fn)
