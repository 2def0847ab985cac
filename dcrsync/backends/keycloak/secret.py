"""A Keycloak client's secret beyond create and update: read (for `import` and `state recover`),
regenerated with the old one kept valid for a grace (only under a realm client policy whose profile
has the secret-rotation executor, `rotation`), and the old one retired. Mixed into `KeycloakBackend`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from dcrsync.backends.base import Result
from dcrsync.backends.keycloak import rotation as krot
from dcrsync.errors import BackendError, BadAnswer
from dcrsync.model import LiveClient
from dcrsync.state.records import ClientRecord

#: authenticators that check the client secret
SECRET_AUTHENTICATORS = ("client-secret", "client-secret-jwt")


class KeycloakSecret:
    """Reading, regenerating and retiring a client's secret.

    Uses the backend's `_call` / `_json` (one admin request), `_read`, `_live`, `_by_client_id` and `url`."""

    url: str
    _call: Callable[..., httpx.Response]
    _json: Callable[..., Any]
    _read: Callable[[str, str], dict[str, Any]]
    _live: Callable[[dict[str, Any]], LiveClient]
    _by_client_id: Callable[[str], dict[str, Any] | None]

    def retire_old_secret(self, live: LiveClient) -> None:
        """End the previous secret a grace rotation kept (Keycloak's `client-secret/rotated`)."""
        internal_id = live.raw.get("id") or (self._by_client_id(live.client_id) or {}).get("id")
        self._call("DELETE", f"/clients/{internal_id}/client-secret/rotated",
                   f"end the old secret of {live.client_id}", ok=(404,))

    def rotate_with_grace(self, live: LiveClient, record: ClientRecord | None, grace: int) -> tuple[Result, int]:
        """Regenerate the secret (the only call after which Keycloak keeps the old one), once a
        client policy is seen to keep the old one at least `grace` seconds; returns (the new secret,
        when the old one expires; 0: Keycloak did not keep it after all)."""
        internal_id = str(live.raw["id"])
        what = "read the realm's client policies"
        policies = self._json("GET", "/client-policies/policies", what, params={"include-global-policies": "true"})
        profiles = self._json("GET", "/client-policies/profiles", what, params={"include-global-profiles": "true"})
        verdict = krot.coverage_of(policies, profiles, live.raw, f"{self.url}/client-policies")
        why = krot.refusal(verdict, grace, live.client_id) or krot.still_kept(
            (self._read(internal_id, f"read client {live.client_id}").get("attributes") or {}), live.client_id
        )
        if why:
            raise BackendError(why)
        what = f"regenerate the secret of {live.client_id}"
        body = self._json("POST", f"/clients/{internal_id}/client-secret", what)
        secret = body.get("value")
        if not isinstance(secret, str) or not secret:
            raise BadAnswer(f"{self.url}/clients/{internal_id}/client-secret answered no secret `value` to `{what}`: "
                            "the server's answer is broken; run `dcrsync rotate-secret` again")
        rep = self._read(internal_id, f"read client {live.client_id}")
        attrs = rep.get("attributes") or {}
        kept = attrs.get(krot.ROTATED_EXPIRY_ATTR) if attrs.get(krot.ROTATED_SECRET_ATTR) else None
        return Result(live=self._live(rep), secrets={"client_secret": secret}), int(kept or 0)

    def read_secret(self, live: LiveClient) -> str | None:
        """The current secret (the client-secret endpoint; never the `client.secret.rotated` attribute)."""
        if live.raw.get("publicClient") or live.raw.get("clientAuthenticatorType") not in SECRET_AUTHENTICATORS:
            return None
        body = self._call("GET", f"/clients/{live.raw['id']}/client-secret", f"read the secret of {live.client_id}")
        value = (body.json() or {}).get("value")
        return str(value) if value else None
