"""Any RFC 7591 / 7592 dynamic registration endpoint (node oidc-provider, Hydra's /oauth2/register, …).

There is no list API and no place for an ownership marker: the state is the only proof that a
client is ours, and each client is read with its own registration access token (RAT).

Facts this module is built on (checked against oidc-provider 9 and Hydra v2.3 in tests):

- A bad token and an unknown client both answer 401 (RFC 7592 §2.1), so a 401 never means
  "gone": it is reported as unreadable, with what to do, and never retried.
- The server may rotate the RAT on any read or update (§5); the old one dies at once. The new
  one is handed back (`Fetched.rotated`, `Result.secrets`) to be journaled before anything else.
- Writes (POST / PUT / DELETE) are not blindly retried: a lost answer to a POST leaves a client
  whose id we never learn, and a lost answer to a PUT on a rotating server loses the new RAT.
  They are retried only when the server surely did not act on them: a refused connection a few
  times, a 429 or 503 for as long as `server.rate_limit.max_wait` (the shared limiter waits them
  out). A DELETE whose retry answers 401 or 404 counts as done: the first attempt deleted it.

The bodies sent and the answers read back, as data, are `rfc7592_map`'s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from dcrsync.backends import discovery
from dcrsync.backends.base import Backend, Fetched, Marker, Result, default_normalise
from dcrsync.backends.rfc7592_map import (
    GIVEN_ONCE,
    SHAPES,
    Rfc7592ServerWide,
    registration_body,
    to_live,
    update_body,
)
from dcrsync.errors import BackendError, ConfigError
from dcrsync.guards.answers import decode, loads, objects
from dcrsync.guards.trust import Trust
from dcrsync.model import SET_FIELDS, ClientSpec, LiveClient
from dcrsync.net.http import RetryPolicy, describe_error, error_detail, limited_hint, make_client, unreachable
from dcrsync.net.ratelimit import Limiter
from dcrsync.state.records import ClientRecord

#: a write whose connection was refused is sent again this many times in all (429 / 503: by time)
WRITE_ATTEMPTS = 4
#: the words shown for a 401 on a client's own token
UNREADABLE = (
    "the server refused its registration access token (HTTP 401: the client was deleted outside "
    "dcrsync, or its token was rotated or revoked by someone else, e.g. by an admin edit); dcrsync "
    "can neither read nor change it. If the client is gone, run `dcrsync state rm {name}` and apply "
    "again to register it anew (the server gives it a new client_id, which the app must be given); if it still exists, have a server admin delete client {client_id} "
    "first (it would otherwise stay as an orphan), then `dcrsync state rm {name}`"
)


def unreadable_message(name: str, client_id: str) -> str:
    return UNREADABLE.format(name=name, client_id=client_id)


_describe = error_detail


def _client(response: httpx.Response, what: str) -> dict[str, Any]:
    """One client's metadata from an answer (an object with a string client_id), or a `BadAnswer`."""
    return objects([decode(response, what)], "client_id", response, what, SHAPES)[0]


class Rfc7592Backend(Rfc7592ServerWide, Backend):
    family: ClassVar[str] = "rfc7592"
    lists: ClassVar[bool] = False
    chooses_client_id: ClassVar[bool] = False
    chooses_secret: ClassVar[bool] = False
    rotates_secret: ClassVar[bool] = False  # RFC 7592 has no standard way to ask for a new secret

    def __init__(self, server: dict[str, Any], *, parallelism: int = 4, trust: Trust | None = None) -> None:
        self.trust = trust
        self.issuer = str(server["issuer"]).rstrip("/") if server.get("issuer") else None
        if self.issuer and urlsplit(self.issuer).scheme not in ("http", "https"):
            raise ConfigError(f"server.issuer is {self.issuer!r}, not an http(s) URL: set it in dcrsync.yaml")
        self.url = str(server.get("registration_url") or "").rstrip("/")
        self.initial_access_token = server.get("initial_access_token") or None
        self.owner = server.get("owner")  # filled by callers that know it (LiveClient.owner)
        self.parallelism = max(1, parallelism)
        timeout = float(server.get("timeout", 30))
        conns = max(4, self.parallelism * 2)
        # no global Authorization header: every request carries its own token; one limiter for both
        limiter = Limiter.for_server(server, self.parallelism)
        self.http = make_client(timeout=timeout, max_connections=conns, limiter=limiter, trust=trust)
        self.http_once = make_client(
            timeout=timeout, max_connections=conns, policy=RetryPolicy(attempts=1), limiter=limiter, trust=trust
        )
        self._metadata: tuple[dict[str, Any], str] | None = None
        self._metadata_read = False
        if not self.url:  # configured with the issuer alone
            found = self.metadata()
            endpoint = found[0].get("registration_endpoint") if found else None
            if not isinstance(endpoint, str) or not endpoint:
                where = found[1] if found else " or ".join(discovery.metadata_urls(str(self.issuer)))
                raise BackendError(
                    f"server.issuer {self.issuer}: no registration_endpoint in its metadata ({where}); "
                    "set server.registration_url in dcrsync.yaml"
                )
            self.url = endpoint.rstrip("/")

    # --- what the server says it supports ------------------------------------------------
    def metadata(self) -> tuple[dict[str, Any], str] | None:
        """The server's discovery / RFC 8414 metadata and where it was read; None when it publishes
        none. Read once. Without `issuer`, the registration URL's origin is asked, and its answer is
        used only when it names this registration endpoint (never another tenant's document)."""
        if self._metadata_read:
            return self._metadata
        if self.issuer:
            urls = discovery.metadata_urls(self.issuer)
        else:
            origin = discovery.origin_of(self.url)
            urls = [origin + discovery.OIDC_WELL_KNOWN, origin + discovery.OAUTH_WELL_KNOWN]
        found: tuple[dict[str, Any], str] | None = None
        for url in urls:
            response = self._read("GET", url, None)
            try:
                doc = loads(response.content) if response.status_code == 200 else None
            except ValueError:
                doc = None
            if not isinstance(doc, dict):
                continue
            endpoint = str(doc.get("registration_endpoint") or "").rstrip("/")
            if self.issuer or (self.url and endpoint == self.url):
                found = (doc, url)
                break
        self._metadata, self._metadata_read = found, True
        return found

    def discovery_url(self) -> str | None:
        found = self.metadata()
        return found[1] if found else None

    def check_specs(self, specs: Sequence[ClientSpec]) -> None:
        """Refuse, at the field's file:line and before anything is sent, what the server's published
        metadata says it does not support; a scope it does not advertise is a plan warning."""
        found = self.metadata()
        if found is None:
            return  # the server publishes nothing: planned as before
        doc, source = found
        findings = sorted(
            (f for spec in specs for f in discovery.unsupported(spec, doc, source)),
            key=lambda f: (f.location.file, f.location.line, f.location.col),
        )
        self.notes = [f.format() for f in findings if f.severity == "warning"]
        errors = [f.format() for f in findings if f.severity == "error"]
        if errors:
            raise BackendError("\n".join(errors))

    # --- plumbing -------------------------------------------------------------------------
    @staticmethod
    def _auth(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _uri(self, record: ClientRecord | None, client_id: str) -> str:
        if record is not None and record.registration_client_uri:
            return record.registration_client_uri
        return f"{self.url}/{client_id}"

    def _error(self, response: httpx.Response, what: str, name: str | None = None, client_id: str = "") -> BackendError:
        status = response.status_code
        err, desc = _describe(response)
        if status == 401 and name is not None:
            return BackendError(f"cannot {what}: {unreadable_message(name, client_id)}", status=status)
        detail = f"{err}: {desc}" if err and desc else (err or desc or response.reason_phrase)
        hint = ""
        if status == 401 and name is None:
            hint = "; check server.initial_access_token in dcrsync.yaml (the registration endpoint refused it)"
        elif status == 403:
            hint = "; the server forbids this call (is registration management enabled for this client?)"
        elif limited_hint(response):
            hint = f"; {limited_hint(response)}"
        return BackendError(f"the server refused to {what}: HTTP {status} {detail}{hint}", status=status)

    def _read(self, method: str, url: str, token: str | None) -> httpx.Response:
        try:
            return self.http.request(method, url, headers=self._auth(token))
        except httpx.TransportError as exc:
            raise unreachable(exc, url) from None

    def _write(self, method: str, url: str, token: str | None, body: Any = None) -> tuple[httpx.Response, int]:
        """Send a write; again only when the server surely did not act. Returns (answer, attempts)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.http_once.request(method, url, headers=self._auth(token), json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if attempt >= WRITE_ATTEMPTS:
                    raise unreachable(exc, url) from None
                time.sleep(0.2 * 2 ** (attempt - 1))
                continue
            except httpx.TransportError as exc:
                raise BackendError(
                    f"{describe_error(exc, url)}; the request may have reached the server and its answer "
                    "was lost: run `dcrsync plan` to see where things stand"
                ) from None
            return response, attempt

    # --- reading --------------------------------------------------------------------------
    def _fetch_one(self, record: ClientRecord) -> tuple[str, LiveClient | None, str | None, str | None]:
        """(name, live or None when gone, a rotated token, why it is unreadable)."""
        response = self._read("GET", self._uri(record, record.client_id), record.registration_access_token)
        if response.status_code == 401:
            return record.name, None, None, unreadable_message(record.name, record.client_id)
        if response.status_code in (404, 410):
            return record.name, None, None, None
        if response.status_code >= 400:
            raise self._error(response, f"read client {record.name} ({record.client_id})")
        raw = _client(response, f"read client {record.name}")
        token = raw.get("registration_access_token")
        rotated = token if token and token != record.registration_access_token else None
        return record.name, to_live(raw, record.name, self.owner), rotated, None

    def fetch(self, records: Sequence[ClientRecord] = ()) -> Fetched:
        todo = [
            r for r in records
            if r.client_id and r.registration_access_token
        ]
        out = Fetched(clients=[])
        if not todo:
            return out
        workers = min(self.parallelism, len(todo))
        if workers == 1:
            results = [self._fetch_one(r) for r in todo]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dcrsync-fetch") as pool:
                results = list(pool.map(self._fetch_one, todo))
        for name, live, rotated, why in results:
            out.requests += 1
            if live is not None:
                out.clients.append(live)
            if rotated:
                out.rotated[name] = {"registration_access_token": rotated}
            if why:
                out.unreadable[name] = why
        return out

    def get(self, client_id: str, record: ClientRecord | None = None) -> tuple[LiveClient | None, dict[str, Any]]:
        if record is None or not record.registration_access_token:
            raise BackendError(
                f"client {client_id}: an RFC 7592 client can only be read with its registration access "
                "token, and the state has none for it"
            )
        name, live, rotated, why = self._fetch_one(record)
        if why:
            raise BackendError(why, status=401)
        return live, ({"registration_access_token": rotated} if rotated else {})

    # --- writing --------------------------------------------------------------------------
    def create(
        self, spec: ClientSpec, marker: Marker, client_id: str | None, client_secret: str | None
    ) -> Result:
        response, _ = self._write("POST", self.url, self.initial_access_token, registration_body(spec))
        if response.status_code >= 400:
            raise self._error(response, f"register client {spec.name}")
        raw = _client(response, f"register client {spec.name}")
        secrets = {k: raw[k] for k in GIVEN_ONCE if raw.get(k)}
        if isinstance(raw.get("client_secret_expires_at"), int):
            secrets["client_secret_expires_at"] = raw["client_secret_expires_at"]
        return Result(live=to_live(raw, marker.name, marker.owner), secrets=secrets)

    def update(
        self,
        spec: ClientSpec,
        marker: Marker,
        live: LiveClient,
        record: ClientRecord | None,
        new_secret: str | None = None,
    ) -> Result:
        if record is None or not record.registration_access_token:
            raise BackendError(
                f"cannot update client {spec.name} ({live.client_id}): the state holds no registration "
                "access token for it"
            )
        uri = self._uri(record, live.client_id)
        response, _ = self._write("PUT", uri, record.registration_access_token, update_body(spec, live))
        if response.status_code >= 400:
            raise self._error(response, f"update client {spec.name}", spec.name, live.client_id)
        raw = _client(response, f"update client {spec.name}")
        secrets: dict[str, Any] = {}
        token = raw.get("registration_access_token")
        if token and token != record.registration_access_token:
            secrets["registration_access_token"] = token  # the old one is dead already
        secret = raw.get("client_secret")
        if secret and secret != record.client_secret:
            secrets["client_secret"] = secret
            if isinstance(raw.get("client_secret_expires_at"), int):
                secrets["client_secret_expires_at"] = raw["client_secret_expires_at"]
        uri_now = raw.get("registration_client_uri")
        if uri_now and uri_now != record.registration_client_uri:
            secrets["registration_client_uri"] = uri_now
        return Result(live=to_live(raw, marker.name, marker.owner), secrets=secrets)

    def delete(self, live: LiveClient, record: ClientRecord | None) -> None:
        name = record.name if record is not None else live.client_id
        token = record.registration_access_token if record is not None else None
        response, attempts = self._write("DELETE", self._uri(record, live.client_id), token)
        status = response.status_code
        if status in (200, 204, 404, 410):
            return
        if status == 401 and attempts > 1:
            return  # an earlier attempt was deleted and took the token with it
        raise self._error(response, f"delete client {name}", name, live.client_id)

    def live_of(self, raw: dict[str, Any]) -> LiveClient:
        return to_live(raw, None, None)

    @staticmethod
    def normalise(path: str, value: Any) -> Any:
        if path in SET_FIELDS and value is None:
            return []  # null, absent and [] are the same empty set
        if path == "scope" and value in (None, ""):
            return []
        if value == "" and path.endswith(("_uri", "_uris")):
            return None
        return default_normalise(path, value)

    def close(self) -> None:
        self.http.close()
        self.http_once.close()
