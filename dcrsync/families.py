"""The server families dcrsync knows, one registry line each: the backend class that talks to the
server, and the block of family-only fields its client files may carry (`hydra:`, `keycloak:`).

Pure: nothing here imports a backend. The core (model, loader, diff, export) reads the blocks from
this table instead of naming families; `backends.make_backend` imports a backend only when one is
made, so a family whose dependencies are missing fails there, with the module's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Block:
    """A family's own block in a client file: its keys are compared as paths `NAME.KEY`."""

    name: str
    #: how messages name the family ("Hydra-only")
    title: str
    #: lists compared as sets (order never matters)
    set_keys: frozenset[str] = frozenset()
    #: mappings compared one key at a time (`keycloak.attributes.KEY`): only the keys written are managed
    per_key: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Family:
    #: "module:Class" of its `backends.base.Backend` subclass
    backend: str
    block: Block | None = None


FAMILIES: dict[str, Family] = {
    "hydra": Family(
        "dcrsync.backends.hydra:HydraBackend",
        Block("hydra", "Hydra", set_keys=frozenset({"audience", "allowed_cors_origins"})),
    ),
    "rfc7592": Family("dcrsync.backends.rfc7592:Rfc7592Backend"),
    "keycloak": Family(
        "dcrsync.backends.keycloak.backend:KeycloakBackend",
        Block("keycloak", "Keycloak", per_key=frozenset({"attributes"})),
    ),
}

#: block name -> its declaration
BLOCKS: dict[str, Block] = {f.block.name: f.block for f in FAMILIES.values() if f.block is not None}


def flatten_block(name: str, block: dict[str, Any]) -> dict[str, Any]:
    """A block's keys as flat paths (`hydra.audience`; `keycloak.attributes.KEY` one by one)."""
    decl = BLOCKS.get(name)
    out: dict[str, Any] = {}
    for key, value in block.items():
        if decl is not None and key in decl.per_key and isinstance(value, dict):
            out.update({f"{name}.{key}.{sub}": v for sub, v in value.items()})
        else:
            out[f"{name}.{key}"] = value
    return out
