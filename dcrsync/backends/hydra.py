"""Ory Hydra / Ory Network admin API (`/admin/clients`)."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlparse

import httpx

from dcrsync.backends.base import Backend, Fetched, Marker, Result, default_normalise
from dcrsync.backends.hydra_map import PORTABLE_TOO, HydraServerWide, unsupported
from dcrsync.errors import BackendError, BadAnswer
from dcrsync.guards.answers import OBJECT, TEXT, TEXTS, decode, loads, objects, text_or_none
from dcrsync.guards.trust import Trust
from dcrsync.model import LIFESPAN_SUFFIX, SET_FIELDS, ClientSpec, LiveClient, duration_seconds, duration_text
from dcrsync.net.http import error_detail, limited_hint, make_client, unreachable
from dcrsync.net.ratelimit import Limiter
from dcrsync.state.records import ClientRecord

PAGE_SIZE = 500  # Ory Network's maximum (a self-hosted Hydra v2.3 allows 1,000)
#: the most clients a listing may hold when the server does not count them (X-Total-Count)
MAX_LISTED = 250_000
SERIALIZATION_RETRIES = 5
MARKER_KEY = "dcrsync"

#: fields of the `hydra:` block, sent flat in Hydra's client representation
HYDRA_FIELDS = (
    "audience",
    "metadata",
    "skip_consent",
    "skip_logout_consent",
    "access_token_strategy",
    "allowed_cors_origins",
    "frontchannel_logout_session_required",
    "backchannel_logout_session_required",
    "authorization_code_grant_access_token_lifespan",
    "authorization_code_grant_id_token_lifespan",
    "authorization_code_grant_refresh_token_lifespan",
    "client_credentials_grant_access_token_lifespan",
    "implicit_grant_access_token_lifespan",
    "implicit_grant_id_token_lifespan",
    "jwt_bearer_grant_access_token_lifespan",
    "refresh_token_grant_access_token_lifespan",
    "refresh_token_grant_id_token_lifespan",
    "refresh_token_grant_refresh_token_lifespan",
)
#: never sent back in a PUT body: the server owns them
SERVER_OWNED = ("created_at", "updated_at", "registration_access_token", "registration_client_uri")

#: the RFC 7591 text Hydra puts before the one sentence that says what is wrong
_BOILERPLATE = re.compile(
    r"The value of one of the Client Metadata fields is invalid and the server has rejected this request\. "
    r"Note that an Authorization Server MAY choose to substitute a valid value for any requested "
    r"parameter of a Client's Metadata\.\s*"
)
#: `1h0m0s` and `60m` compare equal: Hydra answers lifespans in Go's canonical form
go_duration_seconds = duration_seconds
#: the lifespan fields, which a LiveClient holds written the short way (`5m`, not `5m0s`)
LIFESPANS = tuple(key for key in HYDRA_FIELDS if key.endswith(LIFESPAN_SUFFIX))


_PATH = {key: f"hydra.{key}" for key in HYDRA_FIELDS}
#: what dcrsync reads of a Hydra client, by shape (anything else is kept as the server sent it)
SHAPES = {
    **{key: TEXT for key in ("owner", "client_name", "scope", "token_endpoint_auth_method", "client_secret",
                             "created_at", "updated_at")},
    **{key: OBJECT for key in ("metadata", "jwks")},
    **{key: TEXTS for key in (*(k for k in SET_FIELDS if "." not in k), "audience", "allowed_cors_origins")},
}
_NEVER_KEPT = ("client_secret", "registration_access_token")



def to_live(raw: dict[str, Any]) -> LiveClient:
    """One client of Hydra's answer; runs 10,000 times for a plan, so it stays lean."""
    for key in _NEVER_KEPT:
        if key in raw:
            raw = {k: v for k, v in raw.items() if k not in _NEVER_KEPT}
            break
    path = _PATH.get
    fields = {path(key, key): value for key, value in raw.items()}
    for key in LIFESPANS:
        if raw.get(key):
            fields[_PATH[key]] = duration_text(raw[key])
    for key in PORTABLE_TOO:
        if key in raw:
            fields[key] = raw[key]
    meta = raw.get("metadata")
    mark: dict[str, Any] = {}
    if isinstance(meta, dict) and MARKER_KEY in meta:
        fields["hydra.metadata"] = {k: v for k, v in meta.items() if k != MARKER_KEY}
        if isinstance(meta[MARKER_KEY], dict):
            mark = meta[MARKER_KEY]
    serial = mark.get("serial")
    return LiveClient(
        client_id=str(raw.get("client_id")),
        fields=fields,
        raw=raw,
        managed_name=text_or_none(mark.get("name")),
        owner=text_or_none(mark.get("owner")),
        updated_at=text_or_none(raw.get("updated_at")),
        project=text_or_none(mark.get("project")) or None,
        serial=serial if isinstance(serial, int) and not isinstance(serial, bool) else None,
    )


def _listing_bound(response: httpx.Response, page_size: int) -> int:
    """How many clients a listing may hold: the server's own count (X-Total-Count) plus room for
    clients created while dcrsync reads; without a count, MAX_LISTED."""
    count = response.headers.get("x-total-count", "").strip()
    if not count.isdigit():
        return MAX_LISTED
    return int(count) + max(page_size, int(count) // 10)


def body_for(spec: ClientSpec, marker: Marker, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Hydra's representation: `base` (the live client, for a full PUT) plus everything declared."""
    body: dict[str, Any] = dict(base or {})
    for key in SERVER_OWNED:
        body.pop(key, None)
    body.update(spec.fields)
    user_meta: dict[str, Any] = {}
    for key, value in spec.block("hydra").items():
        if key == "metadata":
            user_meta = dict(value or {})
        else:
            body[key] = value
    if "metadata" not in spec.block("hydra") and isinstance(body.get("metadata"), dict):
        user_meta = {k: v for k, v in body["metadata"].items() if k != MARKER_KEY}
    for path in spec.unset:  # no longer declared: left out of the PUT, Hydra resets it
        key = path.removeprefix("hydra.")
        if key == "metadata":
            user_meta = {}
        else:
            body.pop(key, None)
    mark: dict[str, Any] = {"name": marker.name, "owner": marker.owner}
    if marker.project is not None:
        mark["project"] = marker.project
    if marker.serial is not None:
        mark["serial"] = marker.serial
    previous = previous_owner(base or {}, marker.owner)
    if previous:
        mark["previous_owner"] = previous
    body["metadata"] = {**user_meta, MARKER_KEY: mark}
    body["owner"] = marker.owner
    # Hydra rejects jwks together with jwks_uri (ory/hydra#3935); an empty jwks is only a default
    if body.get("jwks_uri") and not (body.get("jwks") or {}).get("keys"):
        body.pop("jwks", None)
    return body


def previous_owner(raw: dict[str, Any], owner: str) -> str | None:
    """The `owner` a client had before dcrsync marked it, kept in the marker from then on."""
    meta = raw.get("metadata")
    mark = meta.get(MARKER_KEY) if isinstance(meta, dict) else None
    if isinstance(mark, dict):
        return mark.get("previous_owner") or None
    before = raw.get("owner")
    return str(before) if before and before != owner else None


#: what Hydra fills in when a field is left out: never exported, never a change
DEFAULTS: dict[str, Any] = {
    "token_endpoint_auth_method": "client_secret_basic",
    "scope": "offline_access offline openid",
    "subject_type": "public",
    "userinfo_signed_response_alg": "none",
    "hydra.skip_consent": False,
    "hydra.skip_logout_consent": False,
    "hydra.access_token_strategy": "opaque",
}


class HydraBackend(HydraServerWide, Backend):
    family: ClassVar[str] = "hydra"
    defaults: ClassVar[dict[str, Any]] = DEFAULTS
    lists: ClassVar[bool] = True
    chooses_client_id: ClassVar[bool] = True
    chooses_secret: ClassVar[bool] = True
    rotates_secret: ClassVar[bool] = True

    def __init__(self, server: dict[str, Any], *, parallelism: int = 4, trust: Trust | None = None) -> None:
        self.trust = trust
        self.settings = server
        self.url = str(server["admin_url"]).rstrip("/")
        self.public_url = str(server.get("public_url") or "").rstrip("/") or None
        self.page_size = int(server.get("page_size", PAGE_SIZE))
        self.http = make_client(
            self.url,
            token=server.get("token") or None,
            timeout=float(server.get("timeout", 30)),
            max_connections=max(4, parallelism * 2),
            trust=trust,
            limiter=Limiter.for_server(server, parallelism),
        )

    # --- plumbing -------------------------------------------------------------------------
    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(SERIALIZATION_RETRIES + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                raise unreachable(exc, self.url) from None
            # Hydra answers a database serialization conflict under concurrent writes with a 400
            # ("Unable to serialize access due to a concurrent update"): safe to send again
            if response.status_code in (400, 500) and "concurrent update" in response.text:
                time.sleep(0.05 * (2**attempt) * (0.5 + random.random()))
                continue
            break
        if response.status_code >= 400:
            raise self._error(response, what)
        return response

    def _error(self, response: httpx.Response, what: str) -> BackendError:
        status = response.status_code
        err, desc = error_detail(response)
        desc = _BOILERPLATE.sub("", desc).strip()
        detail = f"{err}: {desc}" if err and desc else str(err or desc or response.reason_phrase)
        hint = {
            401: "check server.token in dcrsync.yaml (the admin API refused our credentials)",
            403: "the admin token lacks permission for this call",
            409: "a client with this client_id already exists on the server",
        }.get(status, "") or limited_hint(response)
        if status == 404 and response.request.url.path.endswith("/admin/clients"):
            hint = self._not_admin_hint()
        msg = f"hydra refused to {what}: HTTP {status} {detail}"
        return BackendError(f"{msg}; {hint}" if hint else msg, status=status)

    def _not_admin_hint(self) -> str:
        """After a 404 on /admin/clients: server.admin_url is not Hydra's admin API. Say what it
        looks like instead; the probe is one cheap GET, made only on this error path."""
        if urlparse(self.url).path.rstrip("/").endswith("/admin"):
            return "server.admin_url must not end in /admin (dcrsync adds /admin/clients itself): drop the /admin"
        admin = "set server.admin_url to Hydra's admin endpoint (port 4445 by default)"
        try:
            probe = self.http.get("/.well-known/openid-configuration")
            issuer = loads(probe.content).get("issuer") if probe.status_code == 200 else None
        except (httpx.HTTPError, BackendError, ValueError, AttributeError):
            issuer = None
        if issuer:
            return (
                f"{self.url} looks like Hydra's public endpoint (it answers /.well-known/openid-configuration, "
                f"not /admin/clients); {admin}"
            )
        return f"{self.url} has no /admin/clients; {admin}"

    @staticmethod
    def _client(response: httpx.Response, what: str) -> dict[str, Any]:
        """One client's representation from an answer, or a one-line `BadAnswer`."""
        return objects([decode(response, what)], "client_id", response, what, SHAPES)[0]

    # --- reading --------------------------------------------------------------------------
    def fetch(self, records: Sequence[ClientRecord] = ()) -> Fetched:
        """Every client on the server, page by page, guarding against Hydra's pagination bugs."""
        out: list[LiveClient] = []
        seen_tokens: set[str] = set()
        seen_ids: set[str] = set()
        params: dict[str, Any] = {"page_size": self.page_size}
        requests, bound = 0, MAX_LISTED
        while True:
            response = self._call("GET", "/admin/clients", "list clients", params=params)
            requests += 1
            page = objects(decode(response, "list clients", list), "client_id", response, "list clients", SHAPES)
            bound = min(bound, _listing_bound(response, self.page_size))
            fresh = [c for c in page if c.get("client_id") not in seen_ids]
            for raw in fresh:
                seen_ids.add(raw["client_id"])
                out.append(to_live(raw))
            if len(out) > bound:
                raise BadAnswer(
                    f"{self.url}/admin/clients kept listing new clients past the {bound} its count allows "
                    f"(X-Total-Count, or dcrsync's limit of {MAX_LISTED}): stopped after {requests} pages; "
                    "the server's pagination is broken"
                )
            nxt = response.links.get("next", {}).get("url")
            if not page or not fresh or not nxt:  # empty page: stop even if a `next` is present
                break
            token = (parse_qs(urlparse(nxt).query).get("page_token") or [None])[0]
            if not token or token in seen_tokens:
                break
            seen_tokens.add(token)
            params = {"page_size": self.page_size, "page_token": token}
        return Fetched(clients=out, requests=requests)

    def get(self, client_id: str, record: ClientRecord | None = None) -> tuple[LiveClient | None, dict]:
        try:
            response = self.http.get(f"/admin/clients/{quote(client_id, safe='')}")
        except httpx.TransportError as exc:
            raise unreachable(exc, self.url) from None
        if response.status_code == 404:
            return None, {}
        if response.status_code >= 400:
            raise self._error(response, f"read client {client_id}")
        return to_live(self._client(response, f"read client {client_id}")), {}

    def token_endpoint(self) -> str | None:
        """The public token endpoint (for checking a secret); only known with server.public_url."""
        return f"{self.public_url}/oauth2/token" if self.public_url else None

    def discovery_url(self) -> str | None:
        return f"{self.public_url}/.well-known/openid-configuration" if self.public_url else None

    def no_token_endpoint(self) -> str:
        return "set server.public_url in dcrsync.yaml so that dcrsync can check it"  # the admin API cannot say

    # --- writing --------------------------------------------------------------------------
    def create(
        self, spec: ClientSpec, marker: Marker, client_id: str | None, client_secret: str | None
    ) -> Result:
        body = body_for(spec, marker)
        if client_id:
            body["client_id"] = client_id
        if client_secret:
            body["client_secret"] = client_secret
        response = self._call("POST", "/admin/clients", f"create client {spec.name}", json=body)
        raw = self._client(response, f"create client {spec.name}")
        secret = raw.get("client_secret") or client_secret
        secrets = {"client_secret": secret} if secret else {}
        return Result(live=to_live(raw), secrets=secrets)

    def update(
        self,
        spec: ClientSpec,
        marker: Marker,
        live: LiveClient,
        record: ClientRecord | None,
        new_secret: str | None = None,
    ) -> Result:
        body = body_for(spec, marker, base=spec.baseline or live.raw)
        body.pop("client_secret", None)  # a PUT without a secret keeps the old one
        if new_secret:
            body["client_secret"] = new_secret
        body["client_id"] = live.client_id
        response = self._call(
            "PUT", f"/admin/clients/{quote(live.client_id, safe='')}", f"update client {spec.name}", json=body
        )
        raw = self._client(response, f"update client {spec.name}")
        return Result(live=to_live(raw), secrets={"client_secret": new_secret} if new_secret else {})

    def delete(self, live: LiveClient, record: ClientRecord | None) -> None:
        try:
            response = self.http.delete(f"/admin/clients/{quote(live.client_id, safe='')}")
        except httpx.TransportError as exc:
            raise unreachable(exc, self.url) from None
        if response.status_code in (204, 404):  # already gone is what we wanted
            return
        raise self._error(response, f"delete client {live.client_id}")

    def check_specs(self, specs: Sequence[ClientSpec]) -> None:
        """Refuse, at the field's file:line and before anything is sent, what Hydra would drop."""
        lines = [
            f"{spec.where(path)}: {spec.name}: hydra cannot hold `{path}`: {why}"
            for spec in specs for path, why in unsupported(spec)
        ]
        if lines:
            raise BackendError("\n".join(lines))

    #: raw representation -> LiveClient: lets `drift` tell which raw keys are declared fields

    @staticmethod
    def normalise(path: str, value: Any) -> Any:
        if path.endswith("_lifespan"):
            return go_duration_seconds(value)
        if path == "hydra.metadata" and value in (None, {}):
            return {}
        if value is None and path.removeprefix("hydra.") in PORTABLE_TOO:
            return False  # Hydra leaves a false flag out of its answer
        if value is None and (path in SET_FIELDS):
            return []  # Hydra answers null on create and [] on read for the same empty list
        return default_normalise(path, value)

    def live_of(self, raw: dict[str, Any]) -> LiveClient:
        return to_live(raw)

    def close(self) -> None:
        self.http.close()
