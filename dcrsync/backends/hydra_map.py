"""What Hydra's client representation can hold: the portable fields it accepts and never stores
(refused at plan time and by lint DCR013), and those it enforces server-wide (`SERVER_WIDE`).
Pure: lint imports it without the HTTP backend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dcrsync.families import ServerWide
from dcrsync.model import ClientSpec

#: standard metadata Hydra also keeps under the `hydra:` block's older names: read under both paths
PORTABLE_TOO = ("frontchannel_logout_session_required", "backchannel_logout_session_required")

#: portable fields Hydra enforces for every client by its configuration, never per client -> the setting
#: (Backend.server_wide: not sent, not compared, noted once in the plan)
SERVER_WIDE: dict[str, str] = {
    "require_pkce": (
        "Hydra has no per-client PKCE setting; it requires PKCE of every client with "
        "`oauth2.pkce.enforced: true`, or of public clients (token_endpoint_auth_method: none) with "
        "`oauth2.pkce.enforced_for_public_clients: true`: make sure its configuration has one of them on, "
        "then say which in dcrsync.yaml (`server: {pkce_enforced: all}` or `public`) and this note is not repeated"
    ),
}

#: the note when `server.pkce_enforced: public` says Hydra requires PKCE of public clients only
PUBLIC_ONLY = (
    "server.pkce_enforced is `public`: Hydra requires PKCE of public clients only "
    "(`oauth2.pkce.enforced_for_public_clients`), not of these confidential ones; turn on `oauth2.pkce.enforced` "
    "and write `pkce_enforced: all`, or remove the line"
)


def pkce_covered(enforced: object, spec: ClientSpec, path: str) -> bool:
    """Hydra's configuration, as `server.pkce_enforced` says it, requires PKCE of this client."""
    if path != "require_pkce" or spec.fields.get(path) is not True:
        return False
    return enforced == "all" or (enforced == "public" and spec.fields.get("token_endpoint_auth_method") == "none")


class HydraServerWide(ServerWide):
    """What Hydra enforces server-wide, as a `server:` block configures it: here, without the HTTP
    backend, so that `validate`'s notes do not import it (`families.Family.server_wide`)."""

    server_wide: ClassVar[dict[str, str]] = SERVER_WIDE

    @classmethod
    def server_wide_for(cls, server: Mapping[str, Any]) -> dict[str, str]:
        return {"require_pkce": PUBLIC_ONLY} if server.get("pkce_enforced") == "public" else dict(SERVER_WIDE)

    @classmethod
    def covers(cls, server: Mapping[str, Any], spec: ClientSpec, path: str) -> bool:
        return pkce_covered(server.get("pkce_enforced"), spec, path)


_NO_SUCH = "Hydra has no such client field: it accepts it and keeps nothing, so every plan would show it again"
#: portable fields Hydra cannot hold (measured: a POST to /admin/clients answers without them) -> why
UNSUPPORTED: dict[str, str] = {
    "application_type": f"{_NO_SUCH}; a private-use redirect scheme needs none on Hydra",
    "require_pushed_authorization_requests": "Hydra enforces PAR server-wide (oauth2.pushed_authorization_requests.enforced), not per client",
    "dpop_bound_access_tokens": f"{_NO_SUCH} (Hydra has no DPoP)",
    "tls_client_certificate_bound_access_tokens": f"{_NO_SUCH} (Hydra has no certificate-bound tokens)",
    "authorization_signed_response_alg": f"{_NO_SUCH} (Hydra has no JARM)",
    "authorization_encrypted_response_alg": f"{_NO_SUCH} (Hydra has no JARM)",
    "authorization_encrypted_response_enc": f"{_NO_SUCH} (Hydra has no JARM)",
    "require_signed_request_object": _NO_SUCH,
    "software_statement": "the admin API takes no software statement: it is for dynamic registration (server.kind: rfc7592)",
    "extensions": "Hydra keeps extra metadata in `hydra.metadata`: move it there",
    "software_id": _NO_SUCH,
    "software_version": _NO_SUCH,
    "default_max_age": _NO_SUCH,
    "require_auth_time": _NO_SUCH,
    "initiate_login_uri": _NO_SUCH,
    "default_acr_values": _NO_SUCH,
    "id_token_signed_response_alg": f"{_NO_SUCH} (ID tokens are signed with the server's key set)",
    "id_token_encrypted_response_alg": f"{_NO_SUCH} (Hydra does not encrypt ID tokens)",
    "id_token_encrypted_response_enc": f"{_NO_SUCH} (Hydra does not encrypt ID tokens)",
    "userinfo_encrypted_response_alg": f"{_NO_SUCH} (Hydra does not encrypt userinfo)",
    "userinfo_encrypted_response_enc": f"{_NO_SUCH} (Hydra does not encrypt userinfo)",
    "request_object_encryption_alg": f"{_NO_SUCH} (Hydra takes signed request objects only)",
    "request_object_encryption_enc": f"{_NO_SUCH} (Hydra takes signed request objects only)",
    "tls_client_auth_subject_dn": f"{_NO_SUCH} (Hydra has no mTLS client authentication)",
    "tls_client_auth_san_dns": f"{_NO_SUCH} (Hydra has no mTLS client authentication)",
    "tls_client_auth_san_uri": f"{_NO_SUCH} (Hydra has no mTLS client authentication)",
    "tls_client_auth_san_ip": f"{_NO_SUCH} (Hydra has no mTLS client authentication)",
    "tls_client_auth_san_email": f"{_NO_SUCH} (Hydra has no mTLS client authentication)",
}


def unsupported(spec: ClientSpec) -> list[tuple[str, str]]:
    """(path, why) for every declared field Hydra cannot hold, or declared twice (portable and `hydra:`)."""
    out = [(path, UNSUPPORTED[path]) for path in spec.fields if path in UNSUPPORTED]
    out += [
        (path, f"declared twice: remove `hydra.{path}` (the top-level `{path}` is the standard name)")
        for path in PORTABLE_TOO if path in spec.fields and path in spec.block("hydra")
    ]
    return out
