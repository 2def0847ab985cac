"""The runner: every rule for the lint's server family, on every client, with ignored findings
kept apart (`Suppressed`) so that `validate` still shows them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from dcrsync.lint.common import FAMILIES, Finding
from dcrsync.lint.families import dcr013_family_cannot_hold
from dcrsync.lint.grants import (
    dcr001_redirect_uris_needed,
    dcr004_public_client_credentials,
    dcr005_keys,
    dcr006_response_grant_agreement,
    dcr007_implicit,
    dcr008_pkce,
    dcr009_tls_subject,
    dcr010_password,
)
from dcrsync.lint.profile import Profile, profile_checks
from dcrsync.lint.redirects import dcr002_003_redirect_uris, dcr011_wildcards, dcr012_hydra_post_logout_origin
from dcrsync.lint.rules import RULES
from dcrsync.model import ClientSpec, Diagnostic, Ignore, Suppressed

Check = Callable[[ClientSpec, str | None], Iterator[Finding]]


def _any_family(check: Callable[[ClientSpec], Iterator[Finding]]) -> Check:
    def run(client: ClientSpec, family: str | None) -> Iterator[Finding]:
        return check(client)

    return run


CHECKS: tuple[Check, ...] = (
    _any_family(dcr001_redirect_uris_needed),
    dcr002_003_redirect_uris,
    _any_family(dcr004_public_client_credentials),
    _any_family(dcr005_keys),
    _any_family(dcr006_response_grant_agreement),
    _any_family(dcr007_implicit),
    dcr008_pkce,
    _any_family(dcr009_tls_subject),
    _any_family(dcr010_password),
    dcr011_wildcards,
    dcr012_hydra_post_logout_origin,
    dcr013_family_cannot_hold,
)


@dataclass
class LintResult:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)


def family_of(kind: str | None) -> str | None:
    """The family lint checks for: a known `server.kind`, else None (any family)."""
    return kind if kind in FAMILIES else None


def run(
    clients: Sequence[ClientSpec],
    family: str | None = None,
    ignore: Mapping[str, Ignore] | None = None,
    profile: Profile | None = None,
) -> LintResult:
    """Every finding of every rule of `profile` (default baseline) for `family` (None: any), sorted by
    location; those ignored by the project (`ignore`) or by the client's own `lint.ignore` kept apart."""
    family = family_of(family)
    profile = profile or Profile()
    project = ignore or {}
    extra = profile_checks(profile, family)
    out = LintResult()
    for client in clients:
        found = [f for check in CHECKS for f in check(client, family)] + [f for c in extra for f in c(client)]
        for rule, where, message in (f for f in found if not profile.met_by_server(f[0])):
            diagnostic = Diagnostic(where, profile.severity(rule, RULES[rule].severity), rule, message)
            _keep(out, client, project, diagnostic)
    out.diagnostics.sort(key=lambda d: (d.location, d.rule))
    out.suppressed.sort(key=lambda s: (s.diagnostic.location, s.diagnostic.rule))
    return out


def _keep(out: LintResult, client: ClientSpec, project: Mapping[str, Ignore], diagnostic: Diagnostic) -> None:
    """A finding as a diagnostic, or set apart when the client or the project ignores its rule."""
    rule = diagnostic.rule
    found, scope = client.lint_ignore.get(rule), "client"
    if found is None:
        found, scope = project.get(rule), "project"
    if found is None or not RULES[rule].ignorable:
        out.diagnostics.append(diagnostic)
    else:
        out.suppressed.append(Suppressed(diagnostic, found.reason, found.at, scope))


def lint(
    clients: Sequence[ClientSpec],
    family: str | None = None,
    ignore: Mapping[str, Ignore] | None = None,
    profile: Profile | None = None,
) -> list[Diagnostic]:
    """The findings that are not ignored (see `run`)."""
    return run(clients, family, ignore, profile).diagnostics
