"""What the behaviour suite needs from a server family, beyond dcrsync itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Ref:
    """How a test names one client on the server: from dcrsync's state record."""

    client_id: str
    registration_access_token: str | None = None
    registration_client_uri: str | None = None


@dataclass
class BackendEnv:
    label: str  # "hydra-admin", "oidc-provider-rotate", "keycloak", …
    #: the `server:` block of dcrsync.yaml
    server: dict[str, Any]
    #: True when `client_id` / `client_secret` authenticate at the token endpoint (client_credentials)
    token_works: Callable[[str, str], bool]
    #: the client as the server holds it now, in RFC 7591 field names; None when gone
    read: Callable[[Ref], dict[str, Any] | None]
    #: change one field behind dcrsync's back, the way an admin of that server would
    change_out_of_band: Callable[[Ref, str, Any], None]
    #: delete the client behind dcrsync's back
    delete_out_of_band: Callable[[Ref], None]
    #: make a client dcrsync does not manage (no marker, not in state); returns its client_id
    create_unmanaged: Callable[[], str]
    #: every client_id on the server, where the family can tell (else None)
    list_ids: Callable[[], list[str]] | None = None
    #: scopes the server accepts (clients in the suite declare only these)
    scopes: tuple[str, ...] = ("openid",)
    #: scenario name -> why this family cannot do it (the suite skips with that reason)
    cannot: dict[str, str] = field(default_factory=dict)
