"""DCR013: what the lint's server family cannot hold, as its field maps say (`keycloak.limits`,
`hydra_map`); checked only when dcrsync.yaml names the family."""

from __future__ import annotations

from collections.abc import Iterator

from dcrsync.backends import hydra_map
from dcrsync.backends.keycloak.limits import unsupported as keycloak_unsupported
from dcrsync.lint.common import Finding
from dcrsync.model import EXTENSIONS, ClientSpec

#: standard flags Keycloak keeps in an attribute of another shape -> the attribute (the boolean ones
#: are mapped: `keycloak.fields.BOOL_ATTR_FIELDS`)
KEYCLOAK_NOT_MAPPED = {
    # "not required" / "request or request_uri" / "request only" / "request_uri only", not a boolean
    "require_signed_request_object": "request.object.required",
}


def dcr013_family_cannot_hold(client: ClientSpec, family: str | None) -> Iterator[Finding]:
    if family == "keycloak":
        for path, why in keycloak_unsupported(client):
            yield "DCR013", client.where(path), f"Keycloak cannot hold `{path}`: {why}"
        if EXTENSIONS in client.fields:
            why = "Keycloak keeps extra metadata in `keycloak.attributes`: move it there"
            yield "DCR013", client.where(EXTENSIONS), f"Keycloak cannot hold `{EXTENSIONS}`: {why}"
        for path, attr in KEYCLOAK_NOT_MAPPED.items():
            if path in client.fields:
                why = f"dcrsync does not map it to Keycloak yet: set `keycloak.attributes.{attr}` instead"
                yield "DCR013", client.where(path), f"Keycloak cannot hold `{path}`: {why}"
        if "software_statement" in client.fields:
            why = "the admin API takes no software statement: it is for dynamic registration (server.kind: rfc7592)"
            yield "DCR013", client.where("software_statement"), f"Keycloak cannot hold `software_statement`: {why}"
    elif family == "hydra":
        for path, why in hydra_map.unsupported(client):
            yield "DCR013", client.where(path), f"Hydra cannot hold `{path}`: {why}"
