"""A plan is data: the changes, what they were computed from, and a checksum. JSON round-trips."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dcrsync.errors import PlanError, TooMuchChange
from dcrsync.plan.ownership import is_upgrade

if TYPE_CHECKING:
    from dcrsync.load.config import Safety

PLAN_VERSION = 1
Action = Literal["create", "update", "move", "rotate", "replace", "delete"]
Cause = Literal["pending", "drift", "both"]
ACTIONS: tuple[str, ...] = ("create", "update", "move", "rotate", "replace", "delete")
#: what a reviewer must see first and never have cut: a client, a secret or an identity goes away
DESTRUCTIVE: frozenset[str] = frozenset({"delete", "replace", "rotate"})
#: how one field changes: a value set, a field declared for the first time (its before is the
#: server's default), or a field no longer declared, reset to the server's default and let go; or an
#: undeclared field someone changed on the server, kept as the new baseline (accept) or put back (reset)
FieldKind = Literal["change", "declare", "unset", "accept", "reset"]


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
    #: the ownership marker is (re)written: {"before": {name, owner[, project]} | None, "after": {…}}
    marker: dict[str, Any] | None = None
    #: the client's labels (`labels:` in git, or in the state for a client that left git): what the
    #: policy's change rules select by, and what OPA reads
    labels: dict[str, str] | None = None
    #: top-level keys of `desired` read from the environment -> the variables: `desired` holds them
    #: as written (`${env:X}`), and apply reads them from its own environment (see `envrefs`)
    env: dict[str, list[str]] | None = None

    #: for a delete: the client's name on the server, so a reviewer knows which app it is
    client_name: str | None = None

    #: a create of a client deleted by hand that cannot get its old client_id back: the app must follow
    new_client_id: bool = False
    #: `protected: true` (in git, or recorded in the state): a delete or replace needs `--allow-destroy NAME`
    protected: bool = False

    #: the client's `rotation:` token, recorded with the secret a create or rotation issues
    rotation: str | None = None
    #: a rotation that keeps the old secret valid this many seconds (two-phase), where the family can
    grace: int | None = None


#: what a plan made with `--refresh=false` says, in every format
NOT_REFRESHED = (
    "planned from the last-applied state without reading the server (--refresh=false): changes made on "
    "the server since the last apply are not shown, and the server's metadata was not checked; the apply "
    "reads the server and refuses this plan if a client it touches changed since"
)


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
    #: the organisation policy the plan was checked against: its file and the exceptions in force
    policy: dict[str, Any] | None = None
    #: False: planned from the last-applied state without reading the server (`plan --refresh=false`)
    refreshed: bool = True
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

    def check_safety(self, managed: int, safety: Safety, force: bool = False, owned: int | None = None) -> None:
        """octoDNS's rule: a plan that updates or deletes too large a share of the managed clients
        stops (TooMuchChange) unless forced. Moves and rotations count as updates; finishing an
        interrupted apply's own creates, changes that only record state and markers that only gain
        the project's identity do not count. With `owned` (the live clients this project owns) the
        delete share is counted against it, however few they are (`min_existing` spares updates only)."""
        if force:
            return
        updates = sum(1 for c in self.changes if counts_as_update(c))
        deletes = sum(1 for c in self.changes if c.action in ("delete", "replace"))
        checks: list[tuple[int, int, float, str, str]] = []
        if managed >= safety.min_existing:
            checks.append((updates, managed, safety.max_update_percent, "update", "managed clients"))
        if owned is not None:
            checks.append((deletes, owned, safety.max_delete_percent, "delete", "clients this project owns"))
        elif managed >= safety.min_existing:
            checks.append((deletes, managed, safety.max_delete_percent, "delete", "managed clients"))
        for count, base, limit, what, of in checks:
            share = 100.0 * count / base if base else 0.0
            if share > limit:
                raise TooMuchChange(
                    f"the plan would {what} {count} of {base} {of} ({share:.0f}%), more than "
                    f"safety.max_{what}_percent ({limit:g}%); review it and rerun with --force"
                )

    def check_protected(self, allowed: set[str]) -> None:
        """A delete or replace of a protected client stops the apply unless `--allow-destroy NAME`."""
        refused = sorted(
            c.name for c in self.changes if c.protected and c.action in ("delete", "replace") and c.name not in allowed
        )
        if refused:
            flags = " ".join(f"--allow-destroy {n}" for n in refused)
            raise PlanError(
                f"{', '.join(refused)}: protected (protected: true), and this plan deletes or replaces "
                f"{'them' if len(refused) > 1 else 'it'}: rerun the apply with `{flags}` if that is meant; "
                "nothing was sent to the server"
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
        if self.policy is not None:  # plans of projects without a policy read as before
            body["policy"] = self.policy
        if not self.refreshed:  # present only then: plans made before it had no such key
            body["refreshed"] = False
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
                policy=data.get("policy"),
                deliveries=list(data.get("deliveries", [])),
                finish=list(data.get("finish", [])),
                checksum=data["checksum"],
                refreshed=data.get("refreshed", True) is not False,
            )
        except (KeyError, TypeError) as exc:
            raise PlanError(f"{where} is missing or has a malformed {exc}; plan again") from None


def _change_dict(change: Change) -> dict[str, Any]:
    out = asdict(change)
    out["fields"] = [{k: v for k, v in f.items() if k not in _DESCRIPTION or v is not None} for f in out["fields"]]
    return {k: v for k, v in out.items() if v is not None or k in ("client_id",)}


def renamed_id(change: Change) -> str | None:
    """The client_id an in-place rename gives the client (Keycloak), or None."""
    if change.action != "update":
        return None
    return next((str(f.after) for f in change.fields if f.path == "client_id" and f.after), None)


def counts_as_update(change: Change) -> bool:
    """Does this change alter a client on the server, for the safety thresholds? Finishing an
    interrupted apply's own creates does not count, nor does a change that only records state."""
    if change.recovery:
        return False
    if change.action == "update":
        return not change.records_only and not (not change.fields and is_upgrade(change.marker))
    return change.action in ("move", "rotate", "replace")


def is_destructive(change: Change) -> bool:
    """What a reviewer must see first: a client, a secret or an identity goes away (a client deleted
    by hand that comes back under a new client_id too)."""
    return change.action in DESTRUCTIVE or change.new_client_id


def checksum(body: dict[str, Any]) -> str:
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()
