"""Whose client is this: the one place that reads dcrsync's ownership marker. Pure.

dcrsync writes a marker — its owner string and the client's `name` — on every client it creates
or adopts, where the server can hold one (Hydra: `owner` and `metadata.dcrsync`; Keycloak: client
attributes). The marker is what lets a lost state be rebuilt, renames be recognised, and prune
never delete a client someone else made.

Cases, for a live client and our owner O:
- marker (O, name)        ours, and it claims `name`
- marker (P, name), P ≠ O  foreign: another dcrsync project's; never touched
- no marker               unmarked: not ours unless the state records it (a stripped marker is
                          restored; a client never managed must be imported first)
A family that cannot list clients (RFC 7592) keeps no marker on the server: its backend reports
for each client it read the name and owner the state gave it, so every client it shows is ours,
and a client not in state cannot be seen at all (no adoption, no recovery).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dcrsync.model import LiveClient


@dataclass(frozen=True)
class Ownership:
    owner: str
    #: the server lists every client and holds the marker (else only state-known clients are seen)
    lists: bool = True

    def is_ours(self, live: LiveClient) -> bool:
        """The client carries our marker (under any name)."""
        return live.owner == self.owner and live.managed_name is not None

    def claims(self, live: LiveClient, name: str) -> bool:
        """The client carries our marker for `name`."""
        return self.is_ours(live) and live.managed_name == name

    def foreign(self, live: LiveClient) -> bool:
        """Another owner's marker: never touched, whatever git or the state say."""
        return live.managed_name is not None and live.owner not in (None, self.owner)

    def unmarked(self, live: LiveClient) -> bool:
        return live.managed_name is None

    def marker_change(self, live: LiveClient, name: str) -> dict[str, Any] | None:
        """{"before", "after"} when the marker must be (re)written for `name`; None when it is right."""
        if self.claims(live, name):
            return None
        before = None if live.managed_name is None and live.owner is None else {
            "name": live.managed_name, "owner": live.owner}
        return {"before": before, "after": {"name": name, "owner": self.owner}}

    def by_name(self, clients: Iterable[LiveClient]) -> dict[str, LiveClient]:
        """Our clients on a listing server, by the name their marker claims."""
        if not self.lists:
            return {}
        return {c.managed_name: c for c in clients if self.is_ours(c) and c.managed_name}

    def ours(self, clients: Iterable[LiveClient]) -> list[LiveClient]:
        return [c for c in clients if self.is_ours(c)] if self.lists else []
