"""What every rule module shares: the families lint knows, a finding's shape, and how a client's
grants, authentication method and list fields read when the file leaves them out. Pure."""

from __future__ import annotations

from typing import Any

from dcrsync import families
from dcrsync.model import ClientSpec, Location

#: server families lint knows (the registry's); None stands for "any family"
FAMILIES = tuple(families.FAMILIES)
#: families that have nowhere to store `application_type`
NO_APPLICATION_TYPE = frozenset({"hydra", "keycloak"})

Finding = tuple[str, Location, str]  # rule id, where, message


def grant_types(client: ClientSpec) -> list[str]:
    """Declared grant types, or RFC 7591's default."""
    declared = client.fields.get("grant_types")
    return list(declared) if isinstance(declared, list) else ["authorization_code"]


def auth_method(client: ClientSpec) -> str:
    return client.fields.get("token_endpoint_auth_method") or "client_secret_basic"


def grant_at(client: ClientSpec, grant: str) -> Location:
    """The `grant_types` item naming `grant`, or the client itself when the grant is the default."""
    declared = client.fields.get("grant_types")
    if isinstance(declared, list) and grant in declared:
        return client.where_item("grant_types", declared.index(grant))
    return client.location


def listed(client: ClientSpec, key: str) -> list[Any]:
    value = client.fields.get(key)
    return value if isinstance(value, list) else []
