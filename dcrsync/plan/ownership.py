"""Whose client is this: the one place that reads dcrsync's ownership marker. Pure.

dcrsync writes a marker — its owner string, the project's identity, the client's `name` and the
serial of the state the writing apply committed — on every client it creates or adopts, where the
server can hold one (Hydra: `owner` and `metadata.dcrsync`; Keycloak: client attributes). The
marker is what lets a lost state be rebuilt, renames be recognised, prune never delete a client
someone else made, and a plan tell that its state is older than what the server shows.

Cases, for a live client, our owner O and our project P:
- marker (O, P, name)       ours, and it claims `name`
- marker (O, no project)    legacy: written before markers carried a project. Ours only where our
                            state records the client (its marker gains P at the next apply);
                            otherwise it may be another project's of the same owner: never
                            deleted, adopted or recovered by this one
- marker (O, Q, name), Q≠P  foreign: another project's; never touched
- marker (X, …), X ≠ O      foreign: another owner's; never touched
- no marker                 unmarked: not ours unless the state records it (a stripped marker is
                            restored; a client never managed must be imported first)
A family that cannot list clients (RFC 7592) keeps no marker on the server: its backend reports
for each client it read the name and owner the state gave it, so every client it shows is ours,
and a client not in state cannot be seen at all (no adoption, no recovery). Without a project
(`project=None`) the owner alone decides, as before projects existed.
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
    #: this project's identity (`identity.project_identity`); None: the owner alone decides
    project: str | None = None

    def _project_ok(self, live: LiveClient) -> bool:
        return self.project is None or not self.lists or live.project == self.project

    def is_ours(self, live: LiveClient) -> bool:
        """The client carries our marker (under any name): our owner and our project."""
        return live.owner == self.owner and live.managed_name is not None and self._project_ok(live)

    def claims(self, live: LiveClient, name: str) -> bool:
        """The client carries our marker for `name`."""
        return self.is_ours(live) and live.managed_name == name

    def legacy(self, live: LiveClient) -> bool:
        """Our owner's marker without a project (written before markers carried one)."""
        return (
            self.project is not None and self.lists and live.owner == self.owner
            and live.managed_name is not None and live.project is None
        )

    def recorded(self, live: LiveClient, name: str) -> bool:
        """For a client our state records as `name`: its marker agrees (ours, or legacy for that name)."""
        return self.claims(live, name) or (self.legacy(live) and live.managed_name == name)

    def foreign(self, live: LiveClient) -> bool:
        """Another owner's or another project's marker: never touched, whatever git or the state say."""
        if live.managed_name is None:
            return False
        if live.owner not in (None, self.owner):
            return True
        return live.owner == self.owner and live.project is not None and not self._project_ok(live)

    def unmarked(self, live: LiveClient) -> bool:
        return live.managed_name is None

    def newer(self, live: LiveClient, serial: int) -> bool:
        """Our marker was written by an apply that committed a later state than `serial`: the state
        this plan reads is behind what the server shows (a branch cut before another apply)."""
        return self.is_ours(live) and self.lists and live.serial is not None and live.serial > serial

    def marker(self, name: str) -> dict[str, Any]:
        out = {"name": name, "owner": self.owner}
        if self.project is not None and self.lists:
            out["project"] = self.project
        return out

    def marker_change(self, live: LiveClient, name: str) -> dict[str, Any] | None:
        """{"before", "after"} when the marker must be (re)written for `name`; None when it is right."""
        if self.claims(live, name):
            return None
        before: dict[str, Any] | None = None
        if live.managed_name is not None or live.owner is not None:
            before = {"name": live.managed_name, "owner": live.owner}
            if live.project is not None:
                before["project"] = live.project
        return {"before": before, "after": self.marker(name)}

    def by_name(self, clients: Iterable[LiveClient]) -> dict[str, LiveClient]:
        """Our clients on a listing server, by the name their marker claims."""
        if not self.lists:
            return {}
        return {c.managed_name: c for c in clients if self.is_ours(c) and c.managed_name}

    def legacy_by_name(self, clients: Iterable[LiveClient]) -> dict[str, LiveClient]:
        """Our owner's clients whose marker has no project yet, by the name it claims."""
        return {c.managed_name: c for c in clients if self.legacy(c) and c.managed_name}

    def ours(self, clients: Iterable[LiveClient]) -> list[LiveClient]:
        return [c for c in clients if self.is_ours(c)] if self.lists else []


def is_upgrade(marker: dict[str, Any] | None) -> bool:
    """A marker change that only adds the project to a legacy marker (same name, same owner):
    dcrsync's own bookkeeping, not counted by the safety thresholds."""
    if not marker or not marker.get("before"):
        return False
    before, after = marker["before"], marker["after"]
    return (
        "project" not in before and "project" in after
        and before.get("name") == after.get("name") and before.get("owner") == after.get("owner")
    )
