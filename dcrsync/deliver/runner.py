"""Delivering and checking from the state: the bundle each target gets, its keyed hash, the write,
and the journal entry that records it. Used by `apply` (right after a create or a rotation),
`deliver`, `deliver --check`, `rotate-secret` and `drift`.

A delivery's record (`ClientRecord.deliveries`: target id -> keyed hash) is journaled only after the
write succeeded, so a crash or a failure leaves a delivery to retry, never a record of one that did
not happen; and the secret is on disk in the journal before any delivery of it starts (the caller's
part), so an app never holds a secret the state does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dcrsync.backends.base import Backend
from dcrsync.deliver import writers
from dcrsync.deliver.bundle import BundleError, bundle
from dcrsync.deliver.declared import EXTERNAL_SECRET, Settings, Target
from dcrsync.deliver.endpoints import Endpoints, read
from dcrsync.deliver.hashes import delivery_hash
from dcrsync.deliver.presets import ENDPOINT_SOURCES
from dcrsync.errors import DcrsyncError
from dcrsync.state.records import ClientRecord, Entry, State, upsert
from dcrsync.state.sops import Sops

Verdict = Literal["current", "stale", "missing", "undelivered", "error"]


@dataclass(frozen=True)
class Status:
    target: Target
    verdict: Verdict
    why: str = ""


@dataclass
class Deliverer:
    settings: Settings
    backend: Backend
    sops: Sops | None
    #: (client name, "target where: what went wrong") of every failed delivery
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: (client name, target) of every delivery written
    done: list[tuple[str, Target]] = field(default_factory=list)
    #: each client's declared targets (from the client files), for checks and `deliver`
    declared: dict[str, list[Target]] = field(default_factory=dict)
    _endpoints: Endpoints | None = None

    def targets_of(self, name: str) -> list[Target]:
        return self.declared.get(name, [])

    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            self._endpoints = read(self.backend, self.settings.issuer)
        return self._endpoints

    def values(self, target: Target, client_id: str | None, secret: str | None) -> dict[str, str | None]:
        values: dict[str, str | None] = {"client_id": client_id, "client_secret": secret}
        if ENDPOINT_SOURCES & set(target.keys.values()):
            found = self.endpoints()
            values.update(found.values())
        return values

    def expected(self, target: Target, client_id: str | None, secret: str | None) -> tuple[dict[str, str], str]:
        """(the bundle, its keyed hash) the state gives this target now; BundleError when a value is unknown."""
        if target.kind == EXTERNAL_SECRET:  # holds key names only: its values live in the store
            return {}, delivery_hash(secret, target.id, {"keys": target.keys, "client_id": client_id})
        try:
            values = bundle(target.client, target.keys, self.values(target, client_id, secret))
        except BundleError as exc:
            problem = self._endpoints.problem if self._endpoints is not None else None
            raise BundleError(f"{exc}" + (f" ({problem})" if problem else "")) from None
        return values, delivery_hash(secret, target.id, values)

    def deliver(self, name: str, targets: list[Target], client_id: str | None, secret: str | None,
                record: ClientRecord | None) -> list[Entry]:
        """Write each target; one journal entry recording the hashes of those written (none when
        none was). Failures are kept in `failures`, one per target."""
        kept = dict(record.deliveries) if record is not None else {}
        if name in self.declared:  # records of deliveries no longer declared go
            known = {t.id for t in self.declared[name]} | {t.id for t in targets}
            kept = {tid: digest for tid, digest in kept.items() if tid in known}
        wrote = False
        for target in targets:
            try:
                values, digest = self.expected(target, client_id, secret)
                writers.write(target, values, digest, self.settings, self.sops)
            except DcrsyncError as exc:
                self.failures.append((name, f"{target.line()}: {exc}"))
                continue
            kept[target.id] = digest
            self.done.append((name, target))
            wrote = True
        return [upsert(name, client_id=client_id, deliveries=kept)] if wrote and client_id else []

    def status(self, target: Target, record: ClientRecord | None, keyed: bool) -> Status:
        """Is the copy at the destination what the state gives now (`keyed`: the secret is known), or
        at least what was last delivered (without the key)?"""
        recorded = record.deliveries.get(target.id) if record is not None else None
        seen = writers.seen(target, self.settings)
        if seen.state == "unreadable":
            return Status(target, "error", seen.note or "cannot be read")
        if seen.state == "missing":
            return Status(target, "missing", "not there")
        want = recorded
        if keyed and record is not None:
            try:
                want = self.expected(target, record.client_id, record.client_secret)[1]
            except DcrsyncError as exc:
                return Status(target, "error", str(exc))
        if seen.state == "blind":
            if recorded is None:
                return Status(target, "undelivered", "never delivered")
            return Status(target, "current") if recorded == want else Status(
                target, "stale", "delivered before the secret or the declaration changed")
        if want is None:
            return Status(target, "undelivered", "the state holds no record of delivering it")
        if seen.digest != want:
            return Status(target, "stale", "holds another secret or declaration than the state gives")
        if seen.note:
            return Status(target, "stale", seen.note)
        return Status(target, "current")


def summary(statuses: Mapping[str, list[Status]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for items in statuses.values():
        for s in items:
            counts[s.verdict] = counts.get(s.verdict, 0) + 1
    return counts


def stale_entries(
    deliverer: Deliverer, state: State, listed: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Deliveries the plan does not list yet whose record no longer matches what the state gives now
    (found with the key: a failed or interrupted delivery, a secret set by hand, a moved issuer);
    and one note per delivery whose bundle cannot be made."""
    from dcrsync.deliver.planning import entry

    seen = {(item["name"], item["id"]) for item in listed}
    out: list[dict[str, Any]] = []
    notes: list[str] = []
    for name, targets in sorted(deliverer.declared.items()):
        record = state.clients.get(name)
        if record is None or not record.client_id or record.pending:
            continue
        for target in targets:
            if (name, target.id) in seen:
                continue
            try:
                want = deliverer.expected(target, record.client_id, record.client_secret)[1]
            except DcrsyncError as exc:
                notes.append(f"{target.line()}: {exc}")
                continue
            if record.deliveries.get(target.id) != want:
                out.append(entry(target, "stale: the state holds another secret or endpoint than was delivered"))
    return out, notes
