"""The project's clients: every client file loaded (`load.clients`), then checked as a project: lint
for the server's family and profile with the project's ignores, the organisation's policy, the
environments dcrsync.yaml defines, and the delivery settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dcrsync.load.clientcache import for_project
from dcrsync.load.clients import Lint, LoadResult, load_clients, masked_diagnostics
from dcrsync.load.gcpause import long_lived
from dcrsync.model import ClientSpec, Diagnostic

if TYPE_CHECKING:
    from dcrsync.load.clientcache import ClientCache
    from dcrsync.load.config import Config


def add_lint(result: LoadResult, config: Config, cache: ClientCache | None = None) -> None:
    """Lint `result`'s clients for the config's server family and profile, with the project's ignores;
    then the organisation's policy (`policy:`), with its exceptions. With a `cache`, files linted
    before in the same context are not linted again."""
    from dcrsync.lint import project_profile, run

    profile = project_profile(config)
    if cache is not None:
        from dcrsync.lint.cache import lint_cached

        linted = lint_cached(cache, result.clients, config.family, config.lint_ignore, profile)
    else:
        linted = run(result.clients, config.family, config.lint_ignore, profile)
    diagnostics, suppressed = linted.diagnostics, linted.suppressed
    if config.policy_path is not None:
        from dcrsync.policy import check_clients

        checked = check_clients(result.clients, config, diagnostics, suppressed)
        diagnostics, suppressed = checked.diagnostics, checked.suppressed
    masked = any(c.env_refs for c in result.clients)
    result.diagnostics.extend(masked_diagnostics(diagnostics) if masked else diagnostics)
    result.suppressed.extend(suppressed)


def _lint_for(config: Config, cache: ClientCache) -> Lint:
    """The project's lint for a load's helper (`dcrsync.load.prefill`): its findings are kept in the
    cache entries the helper sends back. The cache is set to the lint's context first, so that the
    findings the helper keeps are not dropped when this process lints (`lint_in`)."""
    from dcrsync.lint import project_profile
    from dcrsync.lint.cache import lint_cached, lint_context, lint_in

    profile = project_profile(config)
    lint_in(cache, lint_context(config.family, config.lint_ignore, profile))
    return lambda kept, clients: lint_cached(kept, clients, config.family, config.lint_ignore, profile)


def unknown_environments(clients: Sequence[ClientSpec], known: Sequence[str]) -> list[Diagnostic]:
    """An `environments:` entry that dcrsync.yaml does not define, at its line (a typo would
    otherwise drop the client from every environment)."""
    out = []
    for spec in clients:
        for i, name in enumerate(spec.environments or ()):
            if name not in known:
                listed = ", ".join(known) or "none"
                out.append(Diagnostic(
                    spec.where_item("environments", i), "error", "environments",
                    f"{spec.name}: environment `{name}` is not defined in dcrsync.yaml (it defines: {listed}): fix the name",
                ))
    return out


def in_environment(clients: Sequence[ClientSpec], environment: str | None) -> list[ClientSpec]:
    """The clients that exist in `environment` (`--env`; None: the base, where a client that names
    its environments does not exist)."""
    return [s for s in clients if s.environments is None or environment in s.environments]


def load_project(config: Config) -> LoadResult:
    """Every client of the project, with lint diagnostics appended (`--target` is checked by plan)."""
    with long_lived():  # dcrsync.load.gcpause: the clients live until the command ends
        cache = for_project(config)
        result = load_clients(
            config.clients, vars=config.vars, base_dir=config.base_dir, root=config.base_dir, env=config.client_env,
            cache=cache, lint=_lint_for(config, cache),
        )
        add_lint(result, config, cache)
        cache.save()
    if config.path is not None:  # without a dcrsync.yaml no environment is known, nor checked
        result.diagnostics.extend(unknown_environments(result.clients, config.environments))
    result.diagnostics.extend(delivery_problems(result.clients, config))
    result.sort()
    return result


def delivery_problems(clients: list[ClientSpec], config: Config) -> list[Diagnostic]:
    """`deliver:` targets dcrsync.yaml does not allow (outside the roots, unknown recipient sets, …)."""
    from dcrsync.deliver.declared import Settings, check

    return check(clients, Settings.of_config(config))
