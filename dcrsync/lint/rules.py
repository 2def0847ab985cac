"""The rule registry: each rule's stable id, severity and one-line why, in one table.

`RULES` is the one table: the README's rule list (`rules_markdown`) and `validate --format json`
come from it; `IGNORABLE` are the ids a `lint: {ignore: …}` block may name. A rule with a `profile`
runs only under that lint profile (`lint: {profile: rfc9700}`); `profile.RAISED` are the rules that
profile makes errors.
"""

from __future__ import annotations

from typing import NamedTuple

from dcrsync.lint.profile import RAISED
from dcrsync.model import Severity


class Rule(NamedTuple):
    severity: Severity
    summary: str
    why: str
    ignorable: bool = True  # False: ignoring it cannot help, the server refuses anyway
    profile: str | None = None  # the only lint profile that runs it (None: every profile)


RULES: dict[str, Rule] = {
    "DCR001": Rule(
        "error",
        "`authorization_code` or `implicit` grant needs `redirect_uris` (no `grant_types` means `authorization_code`)",
        "the server has nowhere to send the user back to; RFC 7591 defaults `grant_types` to authorization_code",
    ),
    "DCR002": Rule(
        "error",
        "a redirect URI (and a post-logout redirect URI) must be absolute and have no fragment",
        "RFC 6749 §3.1.2: the server compares redirect URIs exactly and must not receive a fragment",
    ),
    "DCR003": Rule(
        "error",
        "a redirect URI (and a post-logout redirect URI) uses https; http only for loopback (127.0.0.1, "
        "[::1], localhost); a private-use scheme (com.example.app:/cb) only with `application_type: native` "
        "(on Hydra and Keycloak, which cannot store `application_type`, a reverse-domain private-use scheme "
        "needs none)",
        "codes and tokens sent over plain http or to a scheme any app can claim can be stolen "
        "(OAuth 2.0 Security BCP, RFC 8252 §7)",
    ),
    "DCR004": Rule(
        "error",
        "`token_endpoint_auth_method: none` cannot use the `client_credentials` grant",
        "client_credentials authenticates the client itself; a public client has no credentials to prove",
    ),
    "DCR005": Rule(
        "error",
        "`private_key_jwt` / `self_signed_tls_client_auth` need exactly one of `jwks` and `jwks_uri`; "
        "never both",
        "the server needs the client's public keys to check it, and RFC 7591 §2 forbids sending both",
    ),
    "DCR006": Rule(
        "error",
        "`response_types` and `grant_types` agree: `code` ↔ authorization_code, `token`/`id_token` ↔ implicit",
        "RFC 7591 §2.1: a response type the grants cannot use (or a grant without its response type) "
        "fails at login time",
    ),
    "DCR007": Rule(
        "warning",
        "the `implicit` grant is discouraged",
        "OAuth 2.0 Security BCP: tokens in the URL leak; use authorization_code with PKCE instead",
    ),
    "DCR008": Rule(
        "warning",
        "a public client (`token_endpoint_auth_method: none`) must use PKCE: declare `require_pkce: true` "
        "(on Keycloak, `keycloak: {attributes: {pkce.code.challenge.method: S256}}` also meets it)",
        "without a secret, PKCE (S256) is what stops a stolen authorization code being redeemed; "
        "make sure the app sends a code_challenge",
    ),
    "DCR009": Rule(
        "error",
        "`tls_client_auth` needs exactly one `tls_client_auth_subject_dn` / `_san_dns` / `_san_uri` / "
        "`_san_ip` / `_san_email`",
        "RFC 8705 §2.1.2: the server matches the client certificate against exactly one of them",
    ),
    "DCR010": Rule(
        "warning",
        "the `password` grant is discouraged",
        "OAuth 2.0 Security BCP: the resource owner password credentials grant must not be used; "
        "it exposes the user's password to the client",
    ),
    "DCR011": Rule(
        "error",
        "no `*` in a redirect URI or a post-logout redirect URI (Keycloak's post-logout `+`, \"the redirect "
        "URIs\", is no wildcard and is fine there)",
        "OAuth 2.0 Security BCP §4.1.3: redirect URIs are compared exactly; Keycloak matches `*` as a wildcard "
        "(an open redirect for codes), every other server as the character itself (a URI no app can use)",
    ),
    "DCR012": Rule(
        "error",
        "on Hydra, each post-logout redirect URI shares scheme, host and port with one of the client's "
        "redirect URIs",
        "Hydra refuses the client otherwise (400 at apply); it compares them as written, so "
        "`https://a.example.com` and `https://a.example.com:443` differ",
    ),
    "DCR013": Rule(
        "error",
        "a field the server family cannot hold (Keycloak: `application_type`, `sector_identifier_uri`, … — "
        "see Server families; Hydra: `application_type`)",
        "the server would refuse it, or drop it so that every plan shows it again; checked only when "
        "dcrsync.yaml names the family",
        ignorable=False,
    ),
    "DCR014": Rule(
        "error",
        "an `authorization_code` client that authenticates (confidential) declares `require_pkce: true` "
        "(the public ones: DCR008)",
        "RFC 9700 §2.1.1: PKCE is what stops an injected or stolen authorization code being redeemed; a "
        "client secret does not",
        profile="rfc9700",
    ),
    "DCR015": Rule(
        "error",
        "a plain-http redirect URI uses a loopback IP literal (`http://127.0.0.1:PORT/…`, `http://[::1]…`), "
        "not `localhost`",
        "RFC 8252 §8.3 and RFC 9700 §2.1: `localhost` may resolve elsewhere or reach another interface than "
        "the app listens on",
        profile="rfc9700",
    ),
    "DCR016": Rule(
        "error",
        "a public client's refresh tokens are sender-constrained (`dpop_bound_access_tokens: true`) or rotated "
        "by the server (Hydra always; elsewhere say so: `lint: {refresh_token_rotation: \"…\"}`)",
        "RFC 9700 §4.14.2: a public client's leaked refresh token is otherwise usable by anyone until it "
        "expires",
        profile="rfc9700",
    ),
}

IGNORABLE: tuple[str, ...] = tuple(rule_id for rule_id, rule in RULES.items() if rule.ignorable)


def rules_markdown() -> str:
    """The rule table for the README."""
    lines = ["| id | severity | rule | why |", "| --- | --- | --- | --- |"]
    for rule_id, rule in RULES.items():
        severity = rule.severity if rule.ignorable else f"{rule.severity} (cannot be ignored)"
        if rule.profile:  # rfc9700, the default profile, runs it; baseline does not
            severity = f"{severity} (not in baseline)"
        elif rule_id in RAISED:  # the default (rfc9700) first, then what baseline says
            severity = f"{RAISED[rule_id]} (baseline: {severity})"
        lines.append(f"| {rule_id} | {severity} | {rule.summary} | {rule.why} |")
    return "\n".join(lines)
