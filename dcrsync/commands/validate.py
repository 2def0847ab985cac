"""`dcrsync validate [PATH…]`: schema + lint, no network, no key."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from dcrsync.backends.base import family_wide, server_wide_declared
from dcrsync.errors import ConfigError
from dcrsync.families import FAMILIES
from dcrsync.lint import PROFILES
from dcrsync.load.bounds import outside
from dcrsync.load.clientcache import for_project
from dcrsync.load.clients import LoadResult, load_clients
from dcrsync.load.config import Config, default_config, find_config, load_config
from dcrsync.load.gcpause import long_lived
from dcrsync.model import Diagnostic
from dcrsync.project.clients import add_lint, load_project
from dcrsync.render import colour
from dcrsync.render.diagnostics import Findings, Summary
from dcrsync.render.formats import Options, format_option, render


def _config(config_path: str | None, env_name: str | None, cwd: Path) -> Config:
    path = find_config(config_path, os.environ, cwd)
    if path is None:
        if env_name:
            raise ConfigError(f"--env {env_name}: there is no dcrsync.yaml here to define environments")
        return default_config(cwd)
    return load_config(path, env_name, os.environ, need_server=False)


def _context(config: Config) -> dict[str, Any]:
    """What the machine formats say was checked: profile, family, environment, policy."""
    policy = None
    if config.policy_path is not None:  # the policy's modules only for a project that has one
        from dcrsync.policy import project_policy

        policy = project_policy(config)
    return {
        "profile": config.lint_profile,
        "server_kind": config.family if config.family in FAMILIES else None,
        "environment": config.environment,
        "refresh_token_rotation": config.refresh_token_rotation,
        "policy": _summary(policy) if policy is not None else None,
    }


def _summary(policy: Any) -> dict[str, Any]:
    from dcrsync.policy import today
    from dcrsync.policy.load import summary

    return summary(policy, today())


def run_validate(paths: tuple[str, ...], config: Config) -> LoadResult:
    """Paths given: those (relative to the working directory); else the project's clients. Either
    way linted for the config's server family (any family without a dcrsync.yaml), with its ignores."""
    if not paths:
        result = load_project(config)
    else:
        with long_lived():  # dcrsync.load.gcpause
            cache = for_project(config, paths)
            result = load_clients(list(paths), vars=config.vars, base_dir=Path.cwd(), root=config.base_dir, strict=False,
                                   env=config.client_env, cache=cache)
            add_lint(result, config, cache)
            cache.save()
    if config.state_at is not None and config.store_settings is None:
        where = outside(str(config.state), os.path.realpath(config.base_dir))
        if where is not None:
            message = f"state: {os.path.normpath(config.state)} is outside the project ({config.base_dir}): apply writes the state there"
            result.diagnostics.append(Diagnostic(config.state_at, "warning", "state", message))
    result.sort()
    return result


def family_notes(result: LoadResult, family: str | None, server: dict) -> list[str]:
    """What the family enforces for every client (not per client), for the fields files declare:
    the same notes the plan shows, so nobody waits for a plan to learn that `require_pkce` is a
    server setting on Hydra. Not a finding: a correct file, even under --strict."""
    entry = FAMILIES.get(family or "")
    if entry is None or entry.server_wide is None or not result.clients:
        return []
    module, cls = entry.server_wide.split(":")
    rules = getattr(importlib.import_module(module), cls)  # no server library: `families.Family.server_wide`
    return server_wide_declared(result.clients, *family_wide(rules, server))


@click.command("validate")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help="dcrsync.yaml to use (default: ./dcrsync.yaml or $DCRSYNC_CONFIG).",
)
@click.option(
    "--env", "env_name", metavar="NAME", help="Environment overlay from dcrsync.yaml (for its vars)."
)
@format_option(
    "diagnostics",
    help="github: workflow commands that annotate the pull request; sarif: a SARIF 2.1.0 log for GitHub code "
    "scanning; json: the findings and the clients as declared (schemas/validate.schema.json, an OPA input).",
)
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
@click.option(
    "--profile", type=click.Choice(PROFILES), default=None,
    help="Lint profile to check with (default: `lint.profile` of dcrsync.yaml, else baseline).",
)
def validate(
    paths: tuple[str, ...], config_path: str | None, env_name: str | None, fmt: str, strict: bool,
    profile: str | None,
) -> None:
    """Check client files against the schema and the lint rules, without any server or key.

    PATH is a client file, a folder (every *.yaml / *.yml below it) or a glob; by default the
    `clients` of dcrsync.yaml (or ./clients/). The rules check for the server family of
    dcrsync.yaml (any family without one) with its lint profile, then its organisation policy
    (`policy:`); findings ignored with `lint: {ignore: …}` are listed as `ignored`, those a policy
    exception allows as `excepted`, with their reason. Exit 0 when valid, 1 on any error (or
    warning with --strict).
    """
    config = _config(config_path, env_name, Path.cwd())
    if profile is not None:
        config.lint_profile = profile
    result = run_validate(paths, config)
    excepted = sum(1 for s in result.suppressed if s.scope == "exception")
    summary = Summary.of(
        result.diagnostics, result.documents, len(result.files), len(result.suppressed) - excepted, excepted
    )
    findings = Findings(result.diagnostics, summary, result.suppressed, strict, result.clients, _context(config))
    click.echo(render(findings, fmt, Options(colour=colour.wanted())), nl=False)
    for note in family_notes(result, config.family, config.server_settings):
        click.echo(f"note: {note}", err=True)
    if summary.errors or (strict and summary.warnings):
        sys.exit(1)
