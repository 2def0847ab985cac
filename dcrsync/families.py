"""The server families dcrsync knows, one registry line each: the backend class that talks to the
server, and the block of family-only fields its client files may carry (`hydra:`, `keycloak:`).

Pure: nothing here imports a backend (what a family enforces server-wide, `ServerWide`, is read from a
module without its server library). The core (model, loader, diff, export) reads the blocks from
this table instead of naming families; `backends.make_backend` imports a backend only when one is
made, so a family whose dependencies are missing fails there, with the module's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


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


class ServerWide:
    """What a family enforces for every client by the server's own configuration, never per client:
    the fields, and what says so. Each backend is one (`backends.base.Backend`); a family with such
    fields also names a class of them in a module without its server library (`Family.server_wide`),
    so that `validate` notes them without importing the backend."""

    #: portable fields the family has no per-client place for because the server enforces them for
    #: every client by its own configuration -> what says so (the setting): never sent, never compared,
    #: and the plan notes it once (`backends.base.split_server_wide`)
    server_wide: ClassVar[dict[str, str]] = {}

    @classmethod
    def server_wide_for(cls, server: Mapping[str, Any]) -> dict[str, str]:
        """`server_wide` as this server block has it configured (the note may depend on it)."""
        return dict(cls.server_wide)

    @classmethod
    def covers(cls, server: Mapping[str, Any], spec: Any, path: str) -> bool:
        """The `server:` block says the server enforces this spec's (a `model.ClientSpec`) server-wide
        `path` itself (the user acknowledged the note, e.g. Hydra's `pkce_enforced`): no note for it."""
        return False


@dataclass(frozen=True)
class Family:
    #: "module:Class" of its `backends.base.Backend` subclass
    backend: str
    block: Block | None = None
    #: "module:Class" of what it enforces server-wide (`server_wide_for`, `covers`), in a module that
    #: needs no server library (validate's notes); None: nothing (the backend's are the defaults)
    server_wide: str | None = None


FAMILIES: dict[str, Family] = {
    "hydra": Family(
        "dcrsync.backends.hydra:HydraBackend",
        Block("hydra", "Hydra", set_keys=frozenset({"audience", "allowed_cors_origins"})),
        server_wide="dcrsync.backends.hydra_map:HydraServerWide",
    ),
    "rfc7592": Family("dcrsync.backends.rfc7592:Rfc7592Backend", server_wide="dcrsync.backends.rfc7592_map:Rfc7592ServerWide"),
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
