"""`dcrsync.yaml`: find it, choose the environment, substitute `${env:X}` / `${var:x}`, validate, and
build the `Config` the commands read. The file as a document (reading, the environment's overlay,
substitution, where each value is written) is `load.configfile`'s.

Every problem is a ConfigError whose message starts with ``FILE:LINE:COL:``.

An `${env:X}` in the `server:` block whose variable is unset fails only when the server block is
used (`Config.server`, by commands that contact the server): `validate`, `state list` and
`state show` run without the admin token in the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcrsync.errors import ConfigError
from dcrsync.guards.trust import UntrustedURL, from_env, split, url_keys
from dcrsync.load import envrefs
from dcrsync.load.configfile import (
    MergedView,
    PathKey,
    as_text,
    config_error,
    environments_at,
    origin_of,
    read_document,
    substitute_all,
    with_environment,
)
from dcrsync.load.schemacheck import schema_diagnostics, validator
from dcrsync.load.substitute import SubstitutionError, substitute
from dcrsync.load.yamlsource import Document
from dcrsync.model import Ignore, Location

CONFIG_NAMES = ("dcrsync.yaml", "dcrsync.yml")
DEFAULT_CLIENTS = "clients/"
DEFAULT_STATE = "dcrsync.state.sops.yaml"
SOPS_CONFIG = ".sops.yaml"


@dataclass
class Safety:
    max_update_percent: float = 30.0
    max_delete_percent: float = 30.0
    min_existing: int = 10


@dataclass
class Config:
    path: Path | None  # the dcrsync.yaml, None when none was found (validate only)
    base_dir: Path  # its folder (or cwd)
    clients: list[str]  # folder or globs, relative to base_dir
    state: Path  # absolute (a shared store's local fallback journal lives beside it)
    sops_age: list[str]  # age recipients from dcrsync.yaml; [] -> use the repository .sops.yaml
    sops_config: Path | None  # the .sops.yaml found searching upward from base_dir (when present)
    #: the server block after substitution and validation; always has "kind". An `${env:X}` whose
    #: variable is unset is kept as written and named in `server_unset`: read it through `server`
    server_settings: dict[str, Any]
    owner: str = "dcrsync"
    prune: bool = False
    #: undeclared fields changed on the server are put back at the next apply (a client's `strict:` wins)
    strict: bool = False
    safety: Safety = field(default_factory=Safety)
    vars: dict[str, Any] = field(default_factory=dict)  # text, or lists and maps of values
    environment: str | None = None
    lint_ignore: dict[str, Ignore] = field(default_factory=dict)  # `lint: {ignore: {RULE: reason}}`
    lint_profile: str = "rfc9700"  # `lint: {profile: rfc9700|baseline}`: the BCP by default
    #: `lint: {refresh_token_rotation: reason}`: how the server rotates refresh tokens, if it does
    refresh_token_rotation: str | None = None
    #: `policy:` — the organisation's policy file (absolute), None when the project has none
    policy_path: Path | None = None
    server_unset: tuple[str, ...] = ()  # "FILE:LINE:COL: environment variable `X` is not set …"
    #: `state:` as a mapping (a shared store: `kind: postgres|s3`, …), None for the sops file;
    #: an unset `${env:X}` in it is named in `store_unset` and fails when the store is opened
    store_settings: dict[str, Any] | None = None
    store_unset: tuple[str, ...] = ()
    #: the environments dcrsync.yaml defines (`environments:`), whichever is chosen
    environments: tuple[str, ...] = ()
    #: `allow_link_local: true`: the project's server or store really is at a link-local address
    allow_link_local: bool = False
    #: "FILE:LINE:COL: server.X … is not under DCRSYNC_TRUSTED_SERVER …": raised by `server`
    server_untrusted: tuple[str, ...] = ()
    #: where `state:` is written in dcrsync.yaml (None: not written, or no dcrsync.yaml)
    state_at: Location | None = field(default=None, compare=False)
    #: what client files may read from the environment (`client_env:`; see `envrefs`)
    client_env: envrefs.ClientEnv = field(default_factory=envrefs.ClientEnv, compare=False)
    #: `project:` as written (after the environment's overlay); None: derived (`identity.project_identity`)
    project: str | None = None
    #: `delivery:` (roots, recipient sets, defaults, issuer), read by `dcrsync.deliver`
    delivery: dict[str, Any] = field(default_factory=dict)

    @property
    def server(self) -> dict[str, Any]:
        """The server block, for commands that contact the server: an unset `${env:X}` in it is a
        ConfigError at its line here, not when the file is read."""
        if self.server_unset:
            more = f" (and {len(self.server_unset) - 1} more)" if len(self.server_unset) > 1 else ""
            raise ConfigError(self.server_unset[0] + more)
        if self.server_untrusted:
            raise ConfigError(self.server_untrusted[0])
        return self.server_settings

    @property
    def family(self) -> str:
        """`server.kind` (hydra, rfc7592, keycloak), or "none" without a dcrsync.yaml."""
        return str(self.server_settings.get("kind", "none"))


def find_config(explicit: str | None, environ: Mapping[str, str], cwd: Path) -> Path | None:
    """`--config`, then `DCRSYNC_CONFIG`, then ./dcrsync.yaml (or .yml); None when there is none."""
    for given, origin in ((explicit, "--config"), (environ.get("DCRSYNC_CONFIG"), "DCRSYNC_CONFIG")):
        if given:
            path = Path(given) if Path(given).is_absolute() else cwd / given
            if not path.is_file():
                raise ConfigError(f"{given}: no such file (from {origin}): fix the path")
            return path
    for name in CONFIG_NAMES:
        if (cwd / name).is_file():
            return cwd / name
    return None


def find_sops_config(start: Path) -> Path | None:
    """The nearest `.sops.yaml` in `start` or a folder above it."""
    for folder in (start, *start.parents):
        candidate = folder / SOPS_CONFIG
        if candidate.is_file():
            return candidate
    return None


def default_config(cwd: Path) -> Config:
    """What `validate` uses when there is no dcrsync.yaml: clients/ under the working directory."""
    return Config(
        path=None,
        base_dir=cwd,
        clients=[DEFAULT_CLIENTS],
        state=cwd / DEFAULT_STATE,
        sops_age=[],
        sops_config=find_sops_config(cwd),
        server_settings={"kind": "none"},
    )


def load_config(
    path: Path,
    env_name: str | None = None,
    environ: Mapping[str, str] = os.environ,
    *,
    need_server: bool = False,
) -> Config:
    """Read, merge, substitute and validate one dcrsync.yaml.

    An `${env:X}` in the `server` block whose X is unset stays as written and fails only when
    `Config.server` is read (by a command that contacts the server); `need_server=True` makes it
    fail here.
    """
    path = path if path.is_absolute() else Path.cwd() / path
    doc = read_document(path)
    problems = schema_diagnostics(validator("config"), doc)
    if problems:
        raise config_error(problems)
    envs_at = environments_at(doc, env_name)
    merged, origins = with_environment(doc.value, env_name, envs_at)

    def locate(p: PathKey) -> Location:
        return doc.loc(origin_of(p, origins))

    vars_raw = {k: v if isinstance(v, (list, dict)) else as_text(v) for k, v in (merged.get("vars") or {}).items()}

    def resolve_var(_: PathKey, text: str) -> str:
        return substitute(text, {}, environ, allow_vars=False)

    variables: dict[str, Any] = substitute_all(vars_raw, ("vars",), resolve_var, locate)
    unset: list[str] = []
    store_unset: list[str] = []

    def resolve(p: PathKey, text: str) -> str:
        if p[:1] not in (("server",), ("state",)):
            return substitute(text, variables, environ)
        kept = substitute(text, variables, environ, keep_undefined_env=True)  # raises for a bad reference
        try:
            return substitute(text, variables, environ)
        except SubstitutionError as exc:  # only an unset variable is left
            (unset if p[:1] == ("server",) else store_unset).append(f"{locate(p)}: {exc}")
            return kept

    rest = {k: v for k, v in merged.items() if k != "vars"}
    resolved: dict[str, Any] = substitute_all(rest, (), resolve, locate)
    if need_server and unset:
        raise ConfigError(unset[0] + (f" (and {len(unset) - 1} more)" if len(unset) > 1 else ""))
    if env_name is not None:  # the overlay may leave the merged server incomplete
        view = MergedView(doc, origins)
        final = schema_diagnostics(validator("config"), view, {**resolved, "vars": variables})
        if final:
            raise config_error(final)
    config = _build(path, env_name, resolved, variables, locate, envrefs.client_env(doc.value, merged, locate))
    config.server_unset = tuple(unset)
    config.store_unset = tuple(store_unset)
    _guardrails(config, resolved, doc)
    _project_wide(config, doc, resolved, environ, locate)
    return config


def _project_wide(
    config: Config, doc: Document, resolved: dict[str, Any], environ: Mapping[str, str],
    locate: Callable[[PathKey], Location],
) -> None:
    """The environments defined, and where the server may be asked (dcrsync.guards.trust)."""
    config.environments = tuple(sorted(doc.value.get("environments") or {}))
    config.allow_link_local = resolved.get("allow_link_local") is True
    config.server_untrusted = _untrusted(resolved["server"], environ, config.allow_link_local, locate)


def _untrusted(
    server: dict[str, Any], environ: Mapping[str, str], allow_link_local: bool, locate: Callable[[PathKey], Location]
) -> tuple[str, ...]:
    """Each server URL the trusted-server rule refuses, as "FILE:LINE:COL: why" (see dcrsync.guards.trust)."""
    try:
        trust = from_env(environ, allow_link_local=allow_link_local)[0]
    except UntrustedURL as exc:
        return (str(exc),)
    out = []
    for key in url_keys(server):
        value = server[key]
        if isinstance(value, str) and "${" not in value and split(value):  # not a URL: make_backend says so
            problem = trust.refusal(value, f"server.{key}")
            if problem:
                out.append(f"{locate(('server', key))}: {problem}")
    return tuple(out)


def _guardrails(config: Config, resolved: dict[str, Any], doc: Document) -> None:
    """`lint:` (profile, ignores, what the server does by itself) and `policy:` into the config."""
    lint = resolved.get("lint") or {}
    config.lint_ignore = {
        rule: Ignore(reason, doc.key_loc(("lint", "ignore", rule))) for rule, reason in (lint.get("ignore") or {}).items()
    }
    config.lint_profile = str(lint.get("profile", "rfc9700"))
    config.refresh_token_rotation = lint.get("refresh_token_rotation")
    if resolved.get("policy"):
        config.policy_path = config.base_dir / str(resolved["policy"])


def _build(
    path: Path,
    env_name: str | None,
    resolved: dict[str, Any],
    variables: dict[str, Any],
    locate: Callable[[PathKey], Location],
    client_env: envrefs.ClientEnv,
) -> Config:
    base_dir = path.parent
    clients = resolved.get("clients", DEFAULT_CLIENTS)
    safety = resolved.get("safety") or {}
    state = resolved.get("state", DEFAULT_STATE)
    return Config(
        path=path,
        base_dir=base_dir,
        clients=[clients] if isinstance(clients, str) else list(clients),
        state=base_dir / (state if isinstance(state, str) else DEFAULT_STATE),
        store_settings=dict(state) if isinstance(state, dict) else None,
        sops_age=list((resolved.get("sops") or {}).get("age", [])),
        sops_config=find_sops_config(base_dir),
        server_settings=dict(resolved["server"]),
        owner=resolved.get("owner", "dcrsync"),
        project=resolved.get("project"),
        prune=bool(resolved.get("prune", False)),
        strict=bool(resolved.get("strict", False)),
        safety=Safety(
            max_update_percent=float(safety.get("max_update_percent", 30.0)),
            max_delete_percent=float(safety.get("max_delete_percent", 30.0)),
            min_existing=int(safety.get("min_existing", 10)),
        ),
        vars=variables,
        environment=env_name,
        state_at=locate(("state",)) if "state" in resolved else None,
        client_env=client_env,
        delivery=dict(resolved.get("delivery") or {}),
    )
