"""Options and helpers shared by the commands that talk to a server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def project_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--env", "env_name", metavar="NAME", help="Environment overlay from dcrsync.yaml.")(fn)
    fn = click.option(
        "--config", "config_path", metavar="FILE", help="dcrsync.yaml to use (default: ./dcrsync.yaml or $DCRSYNC_CONFIG)."
    )(fn)
    return fn


def parallelism_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--parallelism", type=click.IntRange(1, 64), default=4, show_default=True,
        help="Server calls in flight at once.",
    )(fn)
