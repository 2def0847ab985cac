"""Rules the schema cannot say. Each has a stable id, a severity, and a one-line why.

`RULES` is the one table: the README's rule list and `validate --format json` come from it.
Rules run on clients that passed the schema, so values have their schema types.

Rules know the server family they lint for (`server.kind` of dcrsync.yaml; None: any family, as
`validate PATH` without a config), so they never demand what that family cannot hold. A finding
can be ignored, with a reason, for the whole project (`lint: {ignore: {RULE: reason}}` in
dcrsync.yaml) or for one client (the same block in its file); ignored findings are kept apart as
`Suppressed`, so `validate` still shows them.

The package: `rules` (the registry), `runner` (runs every rule, sets ignored findings apart),
`common` (what the rules share), and the rules by subject: `redirects` (DCR002, DCR003, DCR011,
DCR012), `grants` (DCR001, DCR004 to DCR010), `families` (DCR013), `profile` (the lint profiles,
`baseline` and `rfc9700`, and the rules only rfc9700 runs: DCR014 to DCR016), and `cache` (the findings
of files the client cache keeps).

Backends are imported for the families' pure field maps (DCR013, PKCE). May import: the ground, load,
backends.
"""

from __future__ import annotations

from dcrsync.lint.common import FAMILIES, NO_APPLICATION_TYPE, Finding, grant_types
from dcrsync.lint.families import KEYCLOAK_NOT_MAPPED, dcr013_family_cannot_hold
from dcrsync.lint.grants import (
    PKCE_ATTR,
    PKCE_FIELD,
    dcr001_redirect_uris_needed,
    dcr004_public_client_credentials,
    dcr005_keys,
    dcr006_response_grant_agreement,
    dcr007_implicit,
    dcr008_pkce,
    dcr009_tls_subject,
    dcr010_password,
)
from dcrsync.lint.profile import PROFILES, Profile, has_pkce, project_profile
from dcrsync.lint.redirects import (
    KEYCLOAK_SAME_AS_REDIRECTS,
    dcr002_003_redirect_uris,
    dcr011_wildcards,
    dcr012_hydra_post_logout_origin,
)
from dcrsync.lint.rules import IGNORABLE, RULES, Rule, rules_markdown
from dcrsync.lint.runner import CHECKS, Check, LintResult, Suppressed, family_of, lint, run

__all__ = [
    "CHECKS",
    "FAMILIES",
    "IGNORABLE",
    "KEYCLOAK_NOT_MAPPED",
    "KEYCLOAK_SAME_AS_REDIRECTS",
    "NO_APPLICATION_TYPE",
    "PKCE_ATTR",
    "PKCE_FIELD",
    "PROFILES",
    "RULES",
    "Check",
    "Finding",
    "LintResult",
    "Profile",
    "project_profile",
    "Rule",
    "Suppressed",
    "dcr001_redirect_uris_needed",
    "dcr002_003_redirect_uris",
    "dcr004_public_client_credentials",
    "dcr005_keys",
    "dcr006_response_grant_agreement",
    "dcr007_implicit",
    "dcr008_pkce",
    "dcr009_tls_subject",
    "dcr010_password",
    "dcr011_wildcards",
    "dcr012_hydra_post_logout_origin",
    "dcr013_family_cannot_hold",
    "family_of",
    "grant_types",
    "has_pkce",
    "lint",
    "rules_markdown",
    "run",
]
