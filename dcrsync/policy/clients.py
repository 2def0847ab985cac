"""The policy's rules on clients: each selected client's declared metadata checked against each
rule's checks, one finding per offending value at its `file:line`. Pure.

A finding carries the value it is about (a host, a scope, a field, a grant), so that an exception
may cover some values of a rule and not others. Undeclared metadata is the server's default, which
a file cannot show: only `require` speaks about what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from dcrsync.lint.common import auth_method, grant_types, listed
from dcrsync.model import ClientSpec, Location
from dcrsync.policy.model import ClientRule, Policy, Subject, host_matches, seconds

#: (the value a finding is about, where, what is wrong and what to do)
Hit = tuple[str | None, Location, str]

_HYDRA = "hydra."
_KC = "keycloak.attributes."
#: where a client declares each token lifetime: Hydra's lifespans (Go durations), Keycloak's
#: attributes (seconds; a refresh token lives as long as its client session)
TOKEN_LIFETIMES: dict[str, tuple[str, ...]] = {
    "access_token": (
        *(f"{_HYDRA}{g}_access_token_lifespan" for g in (
            "authorization_code_grant", "client_credentials_grant", "implicit_grant", "jwt_bearer_grant",
            "refresh_token_grant",
        )),
        f"{_KC}access.token.lifespan",
    ),
    "refresh_token": (
        f"{_HYDRA}authorization_code_grant_refresh_token_lifespan",
        f"{_HYDRA}refresh_token_grant_refresh_token_lifespan",
        *(f"{_KC}{a}" for a in (
            "client.session.idle.timeout", "client.session.max.lifespan",
            "client.offline.session.idle.timeout", "client.offline.session.max.lifespan",
        )),
    ),
    "id_token": tuple(
        f"{_HYDRA}{g}_id_token_lifespan" for g in ("authorization_code_grant", "implicit_grant", "refresh_token_grant")
    ),
}


def subject(client: ClientSpec, environment: str | None) -> Subject:
    return Subject(client.name, client.labels, grant_types(client), environment)


def _redirect_hosts(client: ClientSpec, config: Mapping[str, Any]) -> Iterator[Hit]:
    allow, forbid = config.get("allow") or [], config.get("forbid") or []
    for key, label in (("redirect_uris", "redirect URI"), ("post_logout_redirect_uris", "post-logout redirect URI")):
        for i, uri in enumerate(listed(client, key)):
            try:
                host = urlsplit(uri).hostname if isinstance(uri, str) else None
            except ValueError:
                continue  # lint (DCR002) says what is wrong with it
            if not host:
                continue  # a private-use scheme has no host to allow
            where = client.where_item(key, i)
            banned = next((p for p in forbid if host_matches(host, p)), None)
            if banned is not None:
                yield host, where, f"{label} `{uri}`: host `{host}` is forbidden (`{banned}`): use another host"
            elif allow and not any(host_matches(host, p) for p in allow):
                yield host, where, (
                    f"{label} `{uri}`: host `{host}` is not allowed (allowed: {', '.join(allow)}): use an allowed host"
                )


def _declared(client: ClientSpec, path: str) -> Any:
    if path == "description":
        return client.description
    if path.startswith("labels."):
        return client.labels.get(path[len("labels."):])
    top = path.split(".", 1)[0]
    if top in client.blocks:
        return client.declared().get(path)
    return client.fields.get(path)


def _require(client: ClientSpec, paths: Sequence[str]) -> Iterator[Hit]:
    for path in paths:
        if _declared(client, path) in (None, "", [], {}):
            top = path.split(".", 1)[0]
            where = client.where(top) if top in client.field_locations else client.location
            yield path, where, f"`{path}` is missing or empty: declare it"


def _allowed_scopes(client: ClientSpec, allowed: Sequence[str]) -> Iterator[Hit]:
    scope = client.fields.get("scope")
    for token in scope.split() if isinstance(scope, str) else []:
        if token.startswith("-"):
            continue  # Keycloak: a realm default scope removed
        if not any(fnmatchcase(token, p) for p in allowed):
            yield token, client.where("scope"), f"scope `{token}` is not allowed (allowed: {', '.join(allowed)}): remove it"


def _allowed_grants(client: ClientSpec, allowed: Sequence[str]) -> Iterator[Hit]:
    declared = client.fields.get("grant_types")
    for i, grant in enumerate(grant_types(client)):
        if grant not in allowed:
            where = client.where_item("grant_types", i) if isinstance(declared, list) else client.location
            yield grant, where, f"grant `{grant}` is not allowed (allowed: {', '.join(allowed)}): remove it"


def _allowed_auth_methods(client: ClientSpec, allowed: Sequence[str]) -> Iterator[Hit]:
    method = auth_method(client)
    if method not in allowed:
        where = client.where("token_endpoint_auth_method")
        default = "" if "token_endpoint_auth_method" in client.fields else " (the default: none is declared)"
        yield method, where, (
            f"token_endpoint_auth_method `{method}`{default} is not allowed (allowed: {', '.join(allowed)}): "
            "choose one of those"
        )


def _max_token_lifetime(client: ClientSpec, limits: Mapping[str, Any]) -> Iterator[Hit]:
    declared = client.declared()
    for kind, limit in limits.items():
        most = seconds(limit)
        for path in TOKEN_LIFETIMES[kind]:
            value = declared.get(path)
            got = seconds(value) if value is not None else None
            if got is not None and most is not None and got > most:
                yield path, client.where(path), (
                    f"`{path}` is {value}, longer than the {kind.replace('_', ' ')} lifetime allowed ({limit}): shorten it"
                )


CHECKS: dict[str, Callable[[ClientSpec, Any], Iterator[Hit]]] = {
    "redirect_hosts": _redirect_hosts,
    "require": _require,
    "allowed_scopes": _allowed_scopes,
    "allowed_grants": _allowed_grants,
    "allowed_auth_methods": _allowed_auth_methods,
    "max_token_lifetime": _max_token_lifetime,
}


@dataclass(frozen=True)
class Violation:
    """One finding of a policy rule about one client."""

    rule: ClientRule
    client: str
    value: str | None
    where: Location
    message: str


def rule_hits(rule: ClientRule, client: ClientSpec) -> Iterator[tuple[str | None, Location, str]]:
    for check, config in rule.checks.items():
        yield from CHECKS[check](client, config)


def violations(policy: Policy, clients: Sequence[ClientSpec], environment: str | None) -> list[Violation]:
    """Every finding of every rule of `policy` on the clients it selects."""
    out: list[Violation] = []
    for client in clients:
        who = subject(client, environment)
        for rule in policy.rules:
            if not rule.when.selects(who):
                continue
            for value, where, text in rule_hits(rule, client):
                message = f"{text} (policy rule `{rule.id}`, {rule.at.file}:{rule.at.line})"
                out.append(Violation(rule, client.name, value, where, message))
    return out
