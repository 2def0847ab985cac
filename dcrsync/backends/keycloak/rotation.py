"""Keycloak client-secret rotation policies, read for `rotate-secret --grace`. Pure: no I/O.

Keycloak keeps a client's previous secret valid after a regeneration only when an enabled realm
client policy covers the client and one of the policy's profiles has the `secret-rotation` executor
(a preview feature: `--features=client-secret-rotation`). The old secret then stays valid for the
executor's `rotated-expiration-period`. A PUT that sets a secret never keeps the old one: only the
regenerate endpoint (`POST .../client-secret`) does.

`coverage` tells, from the realm's policies and profiles and the client's representation, which
policy covers the client when its secret is regenerated, the way Keycloak votes: every condition
votes yes, no or abstains (negative logic flips yes and no); a policy applies when none says no and
at least one says yes. dcrsync evaluates the conditions it can read off the client; a policy with
any other condition is reported as one dcrsync cannot vouch for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dcrsync.errors import BadAnswer

EXECUTOR = "secret-rotation"
ROTATED_PERIOD = "rotated-expiration-period"
EXPIRATION_PERIOD = "expiration-period"
#: Keycloak's values when the executor's configuration leaves one out (seconds)
PERIOD_DEFAULTS = {EXPIRATION_PERIOD: 30 * 86400, ROTATED_PERIOD: 2 * 86400}
#: client attributes in which Keycloak keeps the rotation's bookkeeping and the old secret itself:
#: the server's, never read into fields nor kept in a stored representation
ATTR_PREFIX = "client.secret."
ROTATED_SECRET_ATTR = "client.secret.rotated"
ROTATED_EXPIRY_ATTR = "client.secret.rotated.expiration.time"

#: what a condition votes on a secret regeneration by an admin: True yes, False no, None abstains
YES, NO, ABSTAIN = True, False, None


@dataclass(frozen=True)
class Coverage:
    """An enabled policy that covers the client, and its secret-rotation executor's periods."""

    policy: str
    profile: str
    rotated_period: int
    expiration_period: int


@dataclass(frozen=True)
class Verdict:
    covered: list[Coverage]
    #: policies with the executor whose conditions dcrsync cannot evaluate: (policy, condition)
    unknown: list[tuple[str, str]]


def is_rotation_attr(name: str) -> bool:
    return name.startswith(ATTR_PREFIX)


def access_type(rep: Mapping[str, Any]) -> str:
    if rep.get("publicClient"):
        return "public"
    return "bearer-only" if rep.get("bearerOnly") else "confidential"


def _attributes_match(config: Mapping[str, Any], rep: Mapping[str, Any]) -> bool | None:
    """client-attributes: every configured key has exactly its one value on the client."""
    raw = config.get("attributes")
    try:
        pairs = json.loads(raw) if isinstance(raw, str) else raw
        wanted: dict[str, list[str]] = {}
        for pair in pairs or []:
            wanted.setdefault(str(pair["key"]), []).append(str(pair["value"]))
    except (ValueError, TypeError, KeyError):
        return None
    if not wanted:
        return False
    attrs = rep.get("attributes") or {}
    return all(len(v) == 1 and attrs.get(k) == v[0] for k, v in wanted.items())


def vote(condition: Mapping[str, Any], rep: Mapping[str, Any]) -> bool | None | str:
    """The condition's vote on regenerating this client's secret; a str: dcrsync cannot tell."""
    kind = str(condition.get("condition"))
    config = condition.get("configuration") or {}
    result: bool | None
    if kind == "any-client":
        result = YES
    elif kind == "client-access-type":
        result = access_type(rep) in (config.get("type") or [])
    elif kind == "client-attributes":
        matched = _attributes_match(config, rep)
        if matched is None:
            return kind
        result = matched
    elif kind == "client-roles":
        result = ABSTAIN  # Keycloak evaluates it on token and authorization requests only
    else:
        return kind
    negative = str(config.get("is-negative-logic")).lower() == "true"
    return (not result) if negative and result is not None else result


def _seconds(value: Any, default: int) -> int:
    try:
        return int(str(value)) if value not in (None, "") else default
    except ValueError:
        return default


def rotation_profiles(profiles: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """profile name -> (rotated-expiration-period, expiration-period) of its secret-rotation executor."""
    out: dict[str, tuple[int, int]] = {}
    for profile in profiles:
        for executor in profile.get("executors") or []:
            if executor.get("executor") == EXECUTOR:
                config = executor.get("configuration") or {}
                out[str(profile.get("name"))] = (
                    _seconds(config.get(ROTATED_PERIOD), PERIOD_DEFAULTS[ROTATED_PERIOD]),
                    _seconds(config.get(EXPIRATION_PERIOD), PERIOD_DEFAULTS[EXPIRATION_PERIOD]),
                )
    return out


def coverage_of(policies: Mapping[str, Any], profiles: Mapping[str, Any], rep: Mapping[str, Any], where: str) -> Verdict:
    """`coverage` of the realm's own and global policies and profiles, as the admin API answers them;
    an answer that is not what Keycloak writes is a one-line `BadAnswer` (nothing was rotated yet)."""
    try:
        return coverage(
            [*(policies.get("policies") or []), *(policies.get("globalPolicies") or [])],
            [*(profiles.get("profiles") or []), *(profiles.get("globalProfiles") or [])],
            rep,
        )
    except (AttributeError, TypeError, KeyError, ValueError):
        raise BadAnswer(f"{where} answered client policies dcrsync cannot read: the server's answer is broken; "
                        "nothing was rotated") from None


def coverage(
    policies: Iterable[Mapping[str, Any]], profiles: Iterable[Mapping[str, Any]], rep: Mapping[str, Any]
) -> Verdict:
    """Which enabled policies with a secret-rotation profile cover `rep` on a regeneration."""
    rotating = rotation_profiles(profiles)
    covered: list[Coverage] = []
    unknown: list[tuple[str, str]] = []
    for policy in policies:
        names = [p for p in policy.get("profiles") or [] if p in rotating]
        if not policy.get("enabled", True) or not names:
            continue
        votes = [vote(c, rep) for c in policy.get("conditions") or []]
        if NO in votes:
            continue
        cannot = [v for v in votes if isinstance(v, str)]
        if cannot:
            unknown.append((str(policy.get("name")), cannot[0]))
            continue
        if YES not in votes:
            continue  # no condition, or every one abstains: Keycloak does not apply it
        for name in names:
            covered.append(Coverage(str(policy.get("name")), name, *rotating[name]))
    return Verdict(covered, unknown)


def still_kept(attrs: dict[str, Any], client: str, now: float | None = None) -> str | None:
    """Why a second rotation must wait: Keycloak keeps ONE old secret, so rotating while an earlier
    one is still kept would end it at once (the secret apps may still use, or, when the last
    rotation's answer was lost, the only secret the state knows)."""
    expiry = attrs.get(ROTATED_EXPIRY_ATTR)
    if not attrs.get(ROTATED_SECRET_ATTR) or not str(expiry or "").isdigit():
        return None
    if int(expiry) <= (time.time() if now is None else now):
        return None
    until = datetime.fromtimestamp(int(expiry), UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"an earlier rotation of {client} keeps its old secret valid until {until}, and Keycloak keeps one "
        "old secret only: rotating now would end that one at once; wait until then, or end it first "
        "(DELETE .../client-secret/rotated in the admin API); nothing was rotated"
    )


def refusal(verdict: Verdict, grace: int, client: str) -> str | None:
    """Why a rotation keeping the old secret for `grace` seconds cannot be promised, or None."""
    if any(c.rotated_period >= grace for c in verdict.covered):
        return None
    if verdict.covered:
        best = max(verdict.covered, key=lambda c: c.rotated_period)
        return (
            f"client policy {best.policy!r} keeps an old secret of {client} for {human(best.rotated_period)} "
            f"(profile {best.profile!r}, {ROTATED_PERIOD}: {best.rotated_period}), less than the "
            f"{human(grace)} asked: raise it to at least {grace} or ask for less; nothing was rotated"
        )
    if verdict.unknown:
        policy, condition = verdict.unknown[0]
        return (
            f"client policy {policy!r} has a {EXECUTOR} profile, but dcrsync cannot tell whether its "
            f"condition {condition!r} covers {client}; give the policy an any-client, client-access-type "
            "or client-attributes condition; nothing was rotated"
        )
    return (
        f"no client policy of the realm keeps an old secret of {client}: add a client profile with the "
        f"{EXECUTOR} executor ({ROTATED_PERIOD} >= {grace}) and an enabled client policy using it whose "
        "condition covers this client (e.g. client-access-type: confidential), on a Keycloak started with "
        "--features=client-secret-rotation; nothing was rotated"
    )


def human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
