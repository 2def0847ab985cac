"""A plan is data: the changes, what they were computed from, and a checksum. JSON round-trips."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dcrsync.errors import PlanError, TooMuchChange

if TYPE_CHECKING:
    from dcrsync.config import Safety

PLAN_VERSION = 1
Action = Literal["create", "update", "move", "rotate", "replace", "delete"]
Cause = Literal["pending", "drift", "both"]
ACTIONS: tuple[str, ...] = ("create", "update", "move", "rotate", "replace", "delete")
#: what a reviewer must see first and never have cut: a client, a secret or an identity goes away
DESTRUCTIVE: frozenset[str] = frozenset({"delete", "replace", "rotate"})
#: how one field changes: a value set, a field declared for the first time (its before is the
#: server's default), or a field no longer declared, reset to the server's default and let go
FieldKind = Literal["change", "declare", "unset"]


@dataclass
class FieldChange:
    path: str
    before: Any
    after: Any
    kind: FieldKind = "change"
    #: set-like fields (redirect_uris, scope, …): what the change adds and removes
    items_added: list[Any] | None = None
    items_removed: list[Any] | None = None
    #: objects and lists of objects (jwks, hydra.metadata, …): each value that differs inside, at its
    #: own path (`jwks.keys[kid=k1].kid`), as {path, before, after} (None: absent on that side)
    nested: list[dict[str, Any]] | None = None


#: FieldChange keys a plan file leaves out when empty (plans without them read as before)
_DESCRIPTION = ("items_added", "items_removed", "nested")


@dataclass
class Change:
    action: Action
    name: str
    client_id: str | None
    cause: Cause
    fields: list[FieldChange] = field(default_factory=list)
    #: why, when the action alone does not say (adoption, a client deleted out of band, …)
    reason: str | None = None
    #: `file:line` of the client in git (none for deletes)
    source: str | None = None
    #: what git declares: enough to carry the change out from a saved plan
    desired: dict[str, Any] | None = None
    #: fingerprint of the live client this change was computed from ("absent" for creates)
    fingerprint: str = "absent"
    #: server's last-modified time, where it keeps one
    updated_at: str | None = None
    #: for a move: the name the client had in state (and in its marker) before
    moved_from: str | None = None
    #: fingerprint of the state record this change was computed from ("absent" when none)
    record: str = "absent"
    #: finishes what an interrupted apply of dcrsync's own started (not counted by the safety rule)
    recovery: bool = False
    #: the change only records the client in state: nothing is sent to the server
    records_only: bool = False
    #: the ownership marker is (re)written: {"before": {name, owner} | None, "after": {name, owner}}
    marker: dict[str, Any] | None = None
    #: the client's `rotation:` token, recorded with the secret a create or rotation issues
    rotation: str | None = None
    #: a rotation that keeps the old secret valid this many seconds (two-phase), where the family can
    grace: int | None = None


@dataclass
class Plan:
    changes: list[Change]
    unchanged: int
    server: dict[str, str]
    state_serial: int = 0
    warnings: list[str] = field(default_factory=list)
    created_at: str = ""
    checksum: str = ""
    #: the --env the plan was made for, if any
    environment: str | None = None
    #: what stops an apply before anything is sent (a declared client that exists unmanaged, …)
    conflicts: list[str] = field(default_factory=list)
    #: secrets delivered to the apps that use them: {name, target, where, reason, id, declaration}
    #: (`dcrsync.deliver.planning`); never a value
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    #: two-phase rotations finished: the old secret retired (its grace ended, every delivery current)
    finish: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts = {a: 0 for a in ACTIONS}
        for change in self.changes:
            counts[change.action] += 1
        return {**counts, "unchanged": self.unchanged}

    def is_empty(self) -> bool:
        return not self.changes and not self.deliveries and not self.finish

    def check_safety(self, managed: int, safety: Safety, force: bool = False) -> None:
        """octoDNS's rule: a plan that updates or deletes too large a share of the managed clients
        stops (TooMuchChange) unless forced. Moves and rotations count as updates; finishing an
        interrupted apply's own creates, and changes that only record state, do not count."""
        if force or managed < safety.min_existing:
            return
        updates = sum(1 for c in self.changes if counts_as_update(c))
        deletes = sum(1 for c in self.changes if c.action in ("delete", "replace"))
        for count, limit, what in (
            (updates, safety.max_update_percent, "update"),
            (deletes, safety.max_delete_percent, "delete"),
        ):
            share = 100.0 * count / managed
            if share > limit:
                raise TooMuchChange(
                    f"the plan would {what} {count} of {managed} managed clients ({share:.0f}%), more than "
                    f"safety.max_{what}_percent ({limit:g}%); review it and rerun with --force"
                )

    def to_dict(self) -> dict[str, Any]:
        body = {
            "version": PLAN_VERSION,
            "created_at": self.created_at,
            "server": self.server,
            "state_serial": self.state_serial,
            "environment": self.environment,
            "summary": self.summary(),
            "warnings": list(self.warnings),
            "conflicts": list(self.conflicts),
            "changes": [_change_dict(c) for c in self.changes],
        }
        if self.deliveries:  # left out when none: plans without deliveries read as before
            body["deliveries"] = self.deliveries
        if self.finish:
            body["finish"] = self.finish
        return {"version": PLAN_VERSION, "checksum": checksum(body), **{k: v for k, v in body.items() if k != "version"}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "the plan file") -> Plan:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PlanError(f"{where} is not JSON ({exc.msg} at line {exc.lineno}); write it with `dcrsync plan --out`") from None
        if not isinstance(data, dict) or data.get("version") != PLAN_VERSION:
            raise PlanError(f"{where} is not a dcrsync plan of version {PLAN_VERSION}")
        body = {k: v for k, v in data.items() if k != "checksum"}
        if data.get("checksum") != checksum(body):
            raise PlanError(f"{where} was modified after `dcrsync plan` wrote it (checksum mismatch); plan again")
        try:
            changes = [
                Change(**{**c, "fields": [FieldChange(**f) for f in c.get("fields", [])]})
                for c in data["changes"]
            ]
            return cls(
                changes=changes,
                unchanged=int(data["summary"]["unchanged"]),
                server=data["server"],
                state_serial=int(data.get("state_serial", 0)),
                warnings=list(data.get("warnings", [])),
                created_at=data.get("created_at", ""),
                environment=data.get("environment"),
                conflicts=list(data.get("conflicts", [])),
                deliveries=list(data.get("deliveries", [])),
                finish=list(data.get("finish", [])),
                checksum=data["checksum"],
            )
        except (KeyError, TypeError) as exc:
            raise PlanError(f"{where} is missing or has a malformed {exc}; plan again") from None


def _change_dict(change: Change) -> dict[str, Any]:
    out = asdict(change)
    out["fields"] = [{k: v for k, v in f.items() if k not in _DESCRIPTION or v is not None} for f in out["fields"]]
    return {k: v for k, v in out.items() if v is not None or k in ("client_id",)}


def counts_as_update(change: Change) -> bool:
    """Does this change alter a client on the server, for the safety thresholds? Finishing an
    interrupted apply's own creates does not count, nor does a change that only records state."""
    if change.recovery:
        return False
    if change.action == "update":
        return not change.records_only
    return change.action in ("move", "rotate", "replace")


def checksum(body: dict[str, Any]) -> str:
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()
