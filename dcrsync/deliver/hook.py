"""What an apply delivers: the plan's delivery lines, written right after the create or rotation
that issued their secret (`now`, from the Applier's workers) and the others once the server changes
are done (`rest`), then the two-phase rotations whose grace ended (`finish`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from dcrsync.backends.base import Backend
from dcrsync.deliver.declared import KEPT, Target
from dcrsync.deliver.planning import target_of
from dcrsync.deliver.runner import Deliverer
from dcrsync.errors import DcrsyncError
from dcrsync.model import LiveClient
from dcrsync.plan.plan import Plan
from dcrsync.state.records import ClientRecord, Entry, State, upsert


@dataclass
class ApplyDeliveries:
    deliverer: Deliverer
    targets: dict[str, list[Target]]
    finishing: list[str] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, plan: Plan, deliverer: Deliverer) -> ApplyDeliveries:
        targets: dict[str, list[Target]] = {}
        for item in plan.deliveries:
            targets.setdefault(item["name"], []).append(target_of(item))
        return cls(deliverer, targets, list(plan.finish))

    def _of(self, name: str) -> list[Target]:
        """The plan's lines for NAME; else its declared targets (a secret the server issued unasked,
        such as Keycloak's rotation policy on an update, is delivered at once too)."""
        return self.targets.get(name) or self.deliverer.targets_of(name)

    def wants(self, name: str) -> bool:
        return bool(self._of(name))

    def now(self, name: str, client_id: str, secret: str | None, record: ClientRecord | None) -> list[Entry]:
        """Deliver NAME's new secret (already durable in the journal); the entry recording it."""
        with self._lock:
            self.handled.add(name)
        if secret is None and record is not None:
            secret = record.client_secret
        return self.deliverer.deliver(name, self._of(name), client_id, secret, record)

    def rest(self, state: State) -> list[Entry]:
        """Deliver what no create or rotation of this apply did, from the state's records."""
        entries: list[Entry] = []
        for name, targets in self.targets.items():
            record = state.clients.get(name)
            if name in self.handled or record is None or not record.client_id:
                continue
            entries += self.deliverer.deliver(name, targets, record.client_id, record.client_secret, record)
        return entries

    def finish(self, state: State, backend: Backend, live: dict[str, LiveClient]) -> list[Entry]:
        """Retire the old secret of each two-phase rotation whose grace ended, once every delivery of
        the client is current; otherwise say what is stale and leave it for the next run."""
        entries: list[Entry] = []
        for name in self.finishing:
            record, client = state.clients.get(name), live.get(name)
            if record is None or client is None:
                continue
            try:
                entries += finish_rotation(self.deliverer, backend, name, record, client)
            except DcrsyncError as exc:
                self.deliverer.failures.append((name, f"finishing its rotation: {exc}"))
        return entries


def finish_rotation(
    deliverer: Deliverer, backend: Backend, name: str, record: ClientRecord, live: LiveClient
) -> list[Entry]:
    """End the old secret of NAME's two-phase rotation: only when every delivery is current."""
    targets = [t for t in deliverer.targets_of(name) if t.kind in KEPT]
    behind = [s for s in (deliverer.status(t, record, keyed=True) for t in targets) if s.verdict != "current"]
    if behind:
        said = "; ".join(f"{s.target.line()}: {s.verdict} ({s.why})" for s in behind)
        raise DcrsyncError(
            f"{name}'s deliveries are not current ({said}): the old secret stays until they are; "
            "run `dcrsync deliver` and check with `dcrsync deliver --check`"
        )
    backend.retire_old_secret(live)
    return [upsert(name, client_id=record.client_id, rotating=None)]
