"""The server's posture, from what it publishes and (Keycloak) its realm's client policies. Pure.

Discovery: a server that still offers the `plain` PKCE method, response types that put an access
token in the front channel (implicit, hybrid with `token`) or the password grant lets any client
fall back to them (RFC 9700 §2.1.1, §2.1.2, §2.4). On Keycloak, whose discovery always offers them,
an enabled client policy whose profile has the matching executor (`pkce-enforcer`,
`reject-implicit-grant`, `reject-ropc-grant`) and whose condition covers every client
(`any-client`) closes that door; `secure-redirect-uris-enforcer` is checked the same way. A policy
that covers only some clients is named, and those clients are judged one by one (`covers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dcrsync.backends.keycloak.rotation import NO, YES, vote

PKCE_ENFORCER = "pkce-enforcer"
SECURE_REDIRECTS = "secure-redirect-uris-enforcer"
REJECT_IMPLICIT = "reject-implicit-grant"
REJECT_ROPC = "reject-ropc-grant"
#: what each Keycloak executor enforces, as the posture names it
EXECUTORS = {
    PKCE_ENFORCER: "PKCE with S256 on every authorization request",
    SECURE_REDIRECTS: "only secure, exact redirect URIs",
    REJECT_IMPLICIT: "no implicit or hybrid flow",
    REJECT_ROPC: "no password grant",
}


@dataclass(frozen=True)
class Check:
    """One posture check: `ok` or a finding, with what to do."""

    id: str
    ok: bool
    message: str
    severity: str = "error"


@dataclass(frozen=True)
class KeycloakPolicies:
    """A realm's client policies and profiles (realm's and global), as the admin API returns them."""

    policies: Sequence[Mapping[str, Any]]
    profiles: Sequence[Mapping[str, Any]]

    def _profiles_with(self, executor: str) -> set[str]:
        return {
            str(p.get("name")) for p in self.profiles
            if any(e.get("executor") == executor for e in p.get("executors") or [])
        }

    def enforcing(self, executor: str) -> list[Mapping[str, Any]]:
        """Enabled policies that run `executor` through one of their profiles."""
        names = self._profiles_with(executor)
        return [p for p in self.policies if p.get("enabled", True) and names & set(p.get("profiles") or [])]

    def everywhere(self, executor: str) -> str | None:
        """The name of an enabled policy running `executor` for every client (`any-client`), or None."""
        for policy in self.enforcing(executor):
            conditions = policy.get("conditions") or []
            if conditions and all(vote(c, {}) is YES and c.get("condition") == "any-client" for c in conditions):
                return str(policy.get("name"))
        return None

    def covers(self, executor: str, rep: Mapping[str, Any]) -> str | None:
        """The name of an enabled policy running `executor` whose conditions cover client `rep`."""
        for policy in self.enforcing(executor):
            votes = [vote(c, rep) for c in policy.get("conditions") or []]
            if votes and YES in votes and NO not in votes and not any(isinstance(v, str) for v in votes):
                return str(policy.get("name"))
        return None


def _offered(metadata: Mapping[str, Any], key: str) -> list[str]:
    value = metadata.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []


def _front_channel_tokens(metadata: Mapping[str, Any]) -> list[str]:
    return [t for t in _offered(metadata, "response_types_supported") if "token" in t.split()]


def discovery_checks(
    metadata: Mapping[str, Any], source: str, policies: KeycloakPolicies | None = None
) -> list[Check]:
    """What the discovery document at `source` still offers, and whether client policies close it."""
    out: list[Check] = []
    offers = (
        ("pkce-plain", "plain" in _offered(metadata, "code_challenge_methods_supported"),
         "PKCE method `plain` (code_challenge_methods_supported)", PKCE_ENFORCER),
        ("implicit", bool(_front_channel_tokens(metadata)) or "implicit" in _offered(metadata, "grant_types_supported"),
         "response types that return tokens from the authorization endpoint ("
         + ", ".join(_front_channel_tokens(metadata) or ["implicit grant"]) + ")", REJECT_IMPLICIT),
        ("password-grant", "password" in _offered(metadata, "grant_types_supported"),
         "the password grant (grant_types_supported)", REJECT_ROPC),
    )
    for check, offered, what, executor in offers:
        if not offered:
            out.append(Check(check, True, f"{source} does not offer {what.split(' (')[0]}"))
            continue
        closed = policies.everywhere(executor) if policies is not None else None
        if closed:
            out.append(Check(check, True, f"{source} offers {what}; client policy `{closed}` ({executor}) refuses it for every client"))
        else:
            fix = (f"add an enabled client policy with the {executor} executor for any-client" if policies is not None
                   else "turn it off in the server's configuration, or make sure every client is refused it")
            out.append(Check(check, False, f"{source} still offers {what}: {fix}"))
    return out


def keycloak_checks(policies: KeycloakPolicies, realm: str, executors: Iterable[str] = (PKCE_ENFORCER, SECURE_REDIRECTS)) -> list[Check]:
    """Whether the realm's client policies run each executor for every client."""
    out: list[Check] = []
    for executor in executors:
        everywhere = policies.everywhere(executor)
        some = [str(p.get("name")) for p in policies.enforcing(executor)]
        if everywhere:
            out.append(Check(executor, True, f"realm {realm}: client policy `{everywhere}` enforces {EXECUTORS[executor]} for every client"))
        elif some:
            out.append(Check(executor, False, (
                f"realm {realm}: client policies {', '.join(f'`{s}`' for s in some)} enforce {EXECUTORS[executor]} for "
                "some clients only: give one an any-client condition (the clients left out are listed below)"
            )))
        else:
            out.append(Check(executor, False, (
                f"realm {realm}: no enabled client policy enforces {EXECUTORS[executor]} ({executor} executor): add a "
                "client profile with it and an enabled client policy using it for any-client"
            )))
    return out
