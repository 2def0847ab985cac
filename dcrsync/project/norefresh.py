"""`plan --refresh=false`: the server as the last apply left it, read from the state, not the server.

On an RFC 7591/7592 server a client can only be read with its registration access token, a secret
in the state: a pull request's plan would need the age key that opens every secret of the project.
With `--refresh=false` (Terraform's `-refresh=false`) it needs none: each client is taken as the
state recorded it after the last apply (`observed`, the server's whole representation), the
server is not asked at all (nor its metadata), and the plan says so. What someone changed on the
server since is not seen here; `apply` of the saved plan reads the server with the key and refuses
it as stale if a client it touches changed, and `drift` reports such changes.

Only for families that cannot list (RFC 7592): where the server lists its clients, the plan learns
there about clients outside the state (conflicts, foreign owners), and reading needs no key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from dcrsync.backends.base import Backend, Fetched
from dcrsync.errors import ConfigError
from dcrsync.model import ClientSpec, LiveClient
from dcrsync.state.records import ClientRecord


def check_config(server: dict[str, Any], family: str) -> None:
    """Refuse `--refresh=false` where it would still ask the server, or has no purpose."""
    if family != "rfc7592":
        raise ConfigError(
            f"--refresh=false is for RFC 7591/7592 servers, where reading a client needs its registration "
            f"token from the state (the key); a {family} plan reads the server with a read-only credential "
            "and needs no key: drop --refresh=false"
        )
    if not server.get("registration_url"):
        raise ConfigError(
            "--refresh=false sends no request, but server.issuer alone is resolved by reading the server's "
            "metadata: set server.registration_url in dcrsync.yaml (its registration_endpoint)"
        )


def live_from_state(backend: Backend, record: ClientRecord) -> LiveClient | None:
    """The client as the last apply saw it (None for a create the server never confirmed)."""
    if not record.client_id or record.pending:
        return None
    if record.observed is not None:
        live = backend.live_of({**record.observed, "client_id": record.client_id})
    else:  # applied by a dcrsync that kept only the declared fields
        live = LiveClient(client_id=record.client_id, fields=dict(record.applied), raw=dict(record.applied))
    return replace(live, managed_name=record.name, owner=backend.owner or None)


class FromState:
    """A backend whose reads come from the state: it sends nothing (see the module docstring)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def fetch(self, records: Sequence[ClientRecord] = ()) -> Fetched:
        clients = [live for r in records if (live := live_from_state(self.backend, r)) is not None]
        return Fetched(clients=clients)

    def check_specs(self, specs: Sequence[ClientSpec]) -> None:
        return None  # the server's metadata is not read: the plan says so

    def close(self) -> None:
        self.backend.close()
