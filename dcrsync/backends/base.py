"""The small protocol every server family implements, and what its calls return."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from dcrsync.model import SECRET_FIELDS, ClientSpec, LiveClient, fingerprint, normalise_value, observed
from dcrsync.state import ClientRecord

__all__ = ["Backend", "Fetched", "Marker", "Result", "default_normalise", "fingerprint", "observed"]


@dataclass(frozen=True)
class Marker:
    """The ownership marker dcrsync writes on every client it creates."""

    owner: str
    name: str


@dataclass
class Result:
    """What a create / update / rotation left on the server."""

    live: LiveClient
    #: what the server gives once, to be journaled before anything else
    secrets: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fetched:
    clients: list[LiveClient]
    #: secrets rotated while reading (RFC 7592 servers may rotate on any read): journal them
    rotated: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: names in state whose client could not be read with its stored token, with the reason
    unreadable: dict[str, str] = field(default_factory=dict)
    requests: int = 0


class Backend(Protocol):
    family: ClassVar[str]
    #: the server can list every client (Hydra admin, Keycloak); else plan reads each by its token
    lists: ClassVar[bool]
    #: the caller may choose client_id (and so a lost create response never makes a duplicate)
    chooses_client_id: ClassVar[bool]
    #: the caller may choose client_secret (so it is journaled before the request is sent)
    chooses_secret: ClassVar[bool]
    #: a new client secret can be set or regenerated for an existing client
    rotates_secret: ClassVar[bool]
    url: str

    def fetch(self, records: Sequence[ClientRecord]) -> Fetched: ...

    def get(self, client_id: str, record: ClientRecord | None) -> tuple[LiveClient | None, dict[str, Any]]: ...

    def create(
        self, spec: ClientSpec, marker: Marker, client_id: str | None, client_secret: str | None
    ) -> Result: ...

    def update(
        self,
        spec: ClientSpec,
        marker: Marker,
        live: LiveClient,
        record: ClientRecord | None,
        new_secret: str | None = None,
    ) -> Result: ...

    def delete(self, live: LiveClient, record: ClientRecord | None) -> None: ...

    def normalise(self, path: str, value: Any) -> Any: ...

    def close(self) -> None: ...


def default_normalise(path: str, value: Any) -> Any:
    if path in SECRET_FIELDS:
        return None
    return normalise_value(path, value)
