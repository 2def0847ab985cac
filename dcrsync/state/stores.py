"""Shared state stores (PostgreSQL, S3-compatible object storage) and `open_store`, which picks the
store `state:` in dcrsync.yaml names: a path is the sops file in git (`dcrsync.state.store.FileStore`), a
mapping with `kind:` is a shared store.

A shared store's driver is an optional extra; naming a store whose extra is missing is one line
that says which `pip install` fixes it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dcrsync.errors import ConfigError
from dcrsync.state.store import FileStore

if TYPE_CHECKING:
    from dcrsync.load.config import Config
    from dcrsync.state.store import StateStore

EXTRAS = {"postgres": "psycopg", "s3": None}


def open_store(config: Config) -> StateStore:
    """The store `config.state` / `config.store_settings` names."""
    settings = config.store_settings
    if settings is None:
        return FileStore(config.state)
    if config.store_unset:
        more = f" (and {len(config.store_unset) - 1} more)" if len(config.store_unset) > 1 else ""
        raise ConfigError(config.store_unset[0] + more)
    kind = settings.get("kind")
    local = config.base_dir / ".dcrsync"
    if kind == "postgres":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"{config.path}: `state: {{kind: postgres}}` needs the PostgreSQL driver: "
                "pip install 'dcrsync[postgres]'"
            ) from None
        from dcrsync.state.postgres import PostgresStore

        _check_trusted(config, settings)
        from dcrsync.net.gate import store_trust

        return PostgresStore(settings, local, store_trust(allow_link_local=config.allow_link_local))
    if kind == "s3":
        from dcrsync.state.s3 import S3Store

        _check_trusted(config, settings)
        return S3Store(settings, local, allow_link_local=config.allow_link_local)
    raise ConfigError(f"{config.path}: `state:` names an unknown store kind {kind!r}; use postgres or s3")


def _check_trusted(config: Config, settings: dict[str, Any]) -> None:
    """Refuse, before any connection, a store DCRSYNC_TRUSTED_STORE does not name (its keys or DSN
    would go there), or one at a link-local address (see dcrsync.guards.trust)."""
    from dcrsync.guards.trust import UntrustedURL, from_env, postgres_targets, s3_url

    try:
        trust = from_env(os.environ, allow_link_local=config.allow_link_local)[1]
    except UntrustedURL as exc:
        raise ConfigError(str(exc)) from None
    where = f"{config.path}: `state:`"
    if settings.get("kind") == "s3":
        problem = trust.refusal(s3_url(str(settings["endpoint"]), str(settings["bucket"])), "the S3 bucket")
        if problem:
            raise ConfigError(f"{where} {problem}")
        return
    import psycopg

    try:
        info = psycopg.conninfo.conninfo_to_dict(str(settings["dsn"]))
    except psycopg.Error:
        return  # the store says what is wrong with it when it connects, and nothing is sent before
    targets = postgres_targets(info, os.environ)
    if isinstance(targets, str):
        if trust.trusted is not None:
            raise ConfigError(f"{where} the PostgreSQL DSN {targets}")
        return
    from dcrsync.net.gate import resolves_link_local

    for target in targets:
        name = f"the PostgreSQL server {target.host}:{target.port} (database {target.path[1:] or '(default)'})"
        problem = trust.refusal_of(target, name)
        if problem is None and not trust.allow_link_local and not trust.names(target.host):
            # the driver may connect to any of the name's answers: one such answer is refused
            found = resolves_link_local(target.host, target.port)
            problem = trust.link_local_refusal(f"{name} (its host resolves to {found})") if found else None
        if problem:
            raise ConfigError(f"{where} {problem}")


def _dcrsync_params(dsn: str) -> dict[str, object]:
    """`dsn` without dcrsync's own query parameters (`schema`, `name`), which libpq would refuse, and those."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in ("schema", "name")}
    rest = urlencode([(k, v) for k, v in query if k not in ours])
    return {"dsn": urlunsplit(parts._replace(query=rest)), **ours}


def open_store_spec(spec: str, config: Config) -> StateStore:
    """A store named on the command line (`state migrate --to`): a path, `postgres://…` /
    `postgresql://…` (dcrsync's own `?schema=` and `?name=` choose the schema and the state's name,
    as `state:` does; the other parameters are libpq's), or
    `s3://bucket/prefix` (endpoint, region and keys from the environment: DCRSYNC_S3_ENDPOINT,
    AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."""
    import dataclasses
    import os
    from pathlib import Path

    if spec.startswith(("postgres://", "postgresql://")):
        settings: dict[str, object] = {"kind": "postgres", **_dcrsync_params(spec)}
    elif spec.startswith("s3://"):
        bucket, _, prefix = spec.removeprefix("s3://").partition("/")
        endpoint = os.environ.get("DCRSYNC_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            raise ConfigError(f"{spec}: set DCRSYNC_S3_ENDPOINT to the S3 endpoint URL (e.g. https://s3.eu-west-1.amazonaws.com)")
        settings = {"kind": "s3", "endpoint": endpoint, "bucket": bucket, "prefix": prefix or "dcrsync/"}
    else:
        path = Path(spec) if Path(spec).is_absolute() else Path.cwd() / spec
        return FileStore(path)
    return open_store(dataclasses.replace(config, store_settings=settings, store_unset=()))
