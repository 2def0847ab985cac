"""`dcrsync audit`'s reads: the server's discovery document, a Keycloak realm's client policies and
refresh-token settings, and every live client. Read-only: GETs only, nothing written, not even the
state (its journal, if any, is left for the next apply). Answers are shape-checked; what cannot be
read is a note in the report, not a crash."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import httpx

from dcrsync.audit.clients import AuditedClient, audit_clients, live_spec, with_server_enforced
from dcrsync.audit.posture import EXECUTORS, KeycloakPolicies, discovery_checks, keycloak_checks
from dcrsync.audit.report import AuditReport
from dcrsync.backends import discovery
from dcrsync.backends.base import Backend
from dcrsync.lint import Profile
from dcrsync.load.clients import load_clients
from dcrsync.model import ClientSpec, LiveClient
from dcrsync.net.http import make_client
from dcrsync.plan.ownership import Ownership
from dcrsync.policy import project_policy
from dcrsync.project.opening import Project, read_state
from dcrsync.state.records import now

MAX_DOCUMENT = 1_000_000  # bytes: a discovery document or a policy list is a few kilobytes


def _json(http: httpx.Client, url: str, what: str, notes: list[str], **kw: Any) -> Any:
    """The JSON at `url`, or None with a note saying why not."""
    try:
        response = http.get(url, **kw)
    except httpx.HTTPError as exc:
        notes.append(f"{what}: {url} could not be read ({exc.__class__.__name__})")
        return None
    if response.status_code != 200 or len(response.content) > MAX_DOCUMENT:
        notes.append(f"{what}: {url} answered HTTP {response.status_code} ({len(response.content)} bytes)")
        return None
    try:
        return response.json()
    except ValueError:
        notes.append(f"{what}: {url} did not answer JSON")
        return None


def _discovery(backend: Backend, notes: list[str]) -> tuple[dict[str, Any], str] | None:
    family = backend.family
    if family == "keycloak":
        url = f"{backend.base}/realms/{backend.realm}{discovery.OIDC_WELL_KNOWN}"  # type: ignore[attr-defined]
        doc = _json(backend.token_http, url, "discovery", notes)  # type: ignore[attr-defined]
    elif family == "hydra":
        public = getattr(backend, "public_url", None)
        if not public:
            notes.append("discovery: set server.public_url in dcrsync.yaml to have Hydra's discovery document audited")
            return None
        url = public + discovery.OIDC_WELL_KNOWN
        with make_client(public, timeout=30) as http:
            doc = _json(http, url, "discovery", notes)
    else:
        found = backend.metadata() if hasattr(backend, "metadata") else None
        doc, url = found if found else (None, "")
        if found is None:
            notes.append("discovery: the server publishes no metadata (OpenID Connect discovery, RFC 8414)")
    return (doc, url) if isinstance(doc, dict) else None


def _keycloak(backend: Backend, notes: list[str]) -> tuple[KeycloakPolicies | None, dict[str, Any]]:
    """The realm's client policies (realm's and global) and its representation (refresh-token settings)."""
    http, base = backend.http, backend.url  # type: ignore[attr-defined]
    what = "client policies (needs realm-management view-realm)"
    policies = _json(http, f"{base}/client-policies/policies", what, notes, params={"include-global-policies": "true"})
    profiles = _json(http, f"{base}/client-policies/profiles", what, notes, params={"include-global-profiles": "true"})
    realm = _json(http, base, "realm settings (needs view-realm)", notes)
    if not isinstance(policies, dict) or not isinstance(profiles, dict):
        return None, realm if isinstance(realm, dict) else {}
    found = KeycloakPolicies(
        [p for p in [*(policies.get("policies") or []), *(policies.get("globalPolicies") or [])] if isinstance(p, dict)],
        [p for p in [*(profiles.get("profiles") or []), *(profiles.get("globalProfiles") or [])] if isinstance(p, dict)],
    )
    return found, realm if isinstance(realm, dict) else {}


def _pkce_everywhere(enforced: str | None, live: LiveClient) -> bool:
    """The server requires PKCE of this client by its own configuration, as the project's profile has
    it (`lint.project_profile`: Hydra's `server.pkce_enforced`, `all` or `public` clients)."""
    if enforced == "public":
        return live.fields.get("token_endpoint_auth_method") == "none"
    return enforced == "all"


def _git(project: Project) -> dict[str, ClientSpec]:
    """The clients git declares (those whose files load; validate reports the others)."""
    config = project.config
    return {s.name: s for s in load_clients(config.clients, vars=config.vars, base_dir=config.base_dir).clients}


def _enforced(policies: KeycloakPolicies | None, profile: Profile, live: LiveClient) -> list[str]:
    """What the server enforces for this client by its own configuration."""
    out = [e for e in EXECUTORS if policies is not None and policies.covers(e, live.raw)]
    return out + (["pkce"] if _pkce_everywhere(profile.pkce_enforced, live) else [])


def _posture(backend: Backend, report: AuditReport, profile: Profile) -> tuple[KeycloakPolicies | None, Profile]:
    """The server's posture into the report; the client policies, and the profile with what the realm
    says of refresh-token rotation."""
    policies, realm = _keycloak(backend, report.notes) if backend.family == "keycloak" else (None, {})
    found = _discovery(backend, report.notes)
    if found is not None:
        report.posture += discovery_checks(found[0], found[1], policies)
    if policies is not None:
        report.posture += keycloak_checks(policies, str(getattr(backend, "realm", "")))
    if realm.get("revokeRefreshToken") is True and int(realm.get("refreshTokenMaxReuse") or 0) == 0:
        rotation = f"realm {realm.get('realm')}: Revoke Refresh Token on, max reuse 0"
        profile = dataclasses.replace(profile, refresh_token_rotation=rotation)
    return policies, profile


def run_audit(project: Project, backend: Backend, profile: Profile, today: dt.date) -> AuditReport:
    """Read the server (GETs only) and judge it: its posture, then every live client but its built-ins."""
    config = project.config
    report = AuditReport({"kind": backend.family, "url": backend.url}, profile.name, config.environment, now())
    policy = project_policy(config)
    report.policy = policy.file if policy is not None else None
    policies, profile = _posture(backend, report, profile)
    state = read_state(project, backend, need_secrets=not backend.lists)
    fetched = backend.fetch(list(state.clients.values()))
    git = _git(project)
    ours = Ownership(config.owner, backend.lists).by_name(fetched.clients) if backend.lists else {
        n: c for c in fetched.clients for n, r in state.clients.items() if r.client_id == c.client_id}
    name_of = {c.client_id: n for n, c in ours.items()}
    specs, sources = [], {}
    for live in fetched.clients:
        why = backend.reserved(live)
        if why:
            report.skipped.append((live.client_id, why))
            continue
        name = name_of.get(live.client_id) or live.client_id
        in_git = git.get(name) if live.client_id in name_of else None
        spec = live_spec(live, name, backend.normalise, in_git)
        with_server_enforced(spec, in_git, backend.server_wide, _enforced(policies, profile, live))
        specs.append(spec)
        sources[name] = (live, str(in_git.location) if in_git else None)
    judged = audit_clients(specs, backend.family, profile, policy, config.environment, today)
    for spec in specs:
        live, source = sources[spec.name]
        findings, excepted = judged[spec.name]
        name = live.fields.get("client_name")
        report.clients.append(AuditedClient(live.client_id, spec.name, source, findings, excepted,
                                            name if isinstance(name, str) else None))
    return report
