"""The change one client in git needs, once matched to its live client and record: a create (also of
a client deleted by hand), an update, a move (a rename), a rotate (adopted without its secret, or a
declared rotation that is due), a rename in place or a replace, each with its reason. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dcrsync.load import envrefs
from dcrsync.model import ClientSpec, LiveClient, fingerprint, shown, uses_secret
from dcrsync.plan import departures
from dcrsync.plan.fields import field_changes
from dcrsync.plan.ownership import is_upgrade
from dcrsync.plan.plan import Change, FieldChange
from dcrsync.plan.rotation import due as rotation_due
from dcrsync.plan.rotation import grace_of, human
from dcrsync.state.records import ClientRecord, record_fingerprint

if TYPE_CHECKING:
    from dcrsync.plan.diff import Inputs


def _cause(causes: set[str]) -> str:
    if causes == {"pending", "drift"}:
        return "both"
    return next(iter(causes)) if causes else "pending"


def create_change(
    spec: ClientSpec, record: ClientRecord | None, warnings: list[str], default_id: str | None = None
) -> Change:
    source = str(spec.location)
    pending_create = record is not None and record.pending
    if pending_create and record is not None and not record.client_id:
        warnings.append(
            f"{spec.name} ({source}): an interrupted apply sent its registration and lost the "
            "answer; the server chose the client_id, so an orphan client may exist there: "
            "look for one named " + repr(spec.fields.get("client_name", spec.name))
        )
    cause = "pending" if record is None or pending_create else "drift"
    client_id = spec.client_id or ((record.client_id or None) if pending_create else None) or default_id
    fields = envrefs.hide(spec, [FieldChange(p, None, shown(p, v)) for p, v in sorted(spec.declared().items())])
    reason, new_id = None, False
    if record is not None and not pending_create:
        reason = f"client {record.client_id} is gone from the server (deleted outside dcrsync)"
        if client_id == record.client_id:
            again = " and its secret" if record.has("client_secret") and uses_secret(spec.fields) else ""
            reason += f": created again under its recorded client_id{again}"
        else:
            new_id = True
            fields.insert(0, FieldChange("client_id", record.client_id, client_id or "(chosen by the server)"))
            reason += "; it gets a new client_id, which the app must be given (with its new secret)"
    return Change(
        "create", spec.name, client_id, cause, fields, reason, source, spec_payload(spec),
        record=record_fingerprint(record), new_client_id=new_id, protected=spec.protected,
    )


def update_change(
    inp: Inputs, spec: ClientSpec, live: LiveClient, record: ClientRecord | None, moved_from: str | None
) -> Change | None:
    """An update, move or rotate of a matched client; None when it already matches."""
    fields, causes = field_changes(spec, live, record, inp.normalise, inp.defaults)
    if unchanged(inp, spec, live, record, moved_from, fields):
        return None
    source = str(spec.location)
    common = dict(
        source=source, desired=spec_payload(spec), fingerprint=fingerprint(live), updated_at=live.updated_at,
        record=record_fingerprint(record), protected=spec.protected,
    )
    if moved_from is not None:
        reason = f"renamed from {moved_from}: the state record and the ownership marker follow; same client, same secret"
        return Change("move", spec.name, live.client_id, _cause(causes), fields, reason, moved_from=moved_from, **common)
    marker = inp.own.marker_change(live, spec.name)
    if marker is not None:
        causes.add("drift" if record is not None and not is_upgrade(marker) else "pending")
    common["marker"] = marker
    recovering = record is not None and record.pending
    if record is None or recovering:
        knows_secret = record is not None and bool(record.client_secret)
        if not knows_secret and inp.rotates_secret and uses_secret(spec.fields):
            reason = (
                "created by an interrupted apply whose answer was lost: a new secret is issued"
                if recovering else
                "found on the server with our marker but not in state: adopted, and its unknown secret is "
                "replaced"
            )
            reason += "; the app must be given the new secret"
            return Change("rotate", spec.name, live.client_id, _cause(causes), fields, reason, recovery=recovering, **common)
        reason = (
            "created by an interrupted apply: recorded now" if recovering
            else "found on the server with our marker but not in state: adopted"
        )
        only = not fields and marker is None
        return Change(
            "update", spec.name, live.client_id, _cause(causes), fields, reason, recovery=recovering,
            records_only=only, **common,
        )
    rotation = _declared_rotation(inp, spec, record, fields, causes, common, live)
    if rotation is not None:
        return rotation
    if not fields and marker is None:
        return _protection_change(spec, live, record, common)
    reason = None
    if not fields and is_upgrade(marker):
        reason = f"the ownership marker gains this project's identity ({inp.project}); nothing else changes"
    return Change("update", spec.name, live.client_id, _cause(causes), fields, reason, **common)


def _protection_change(spec: ClientSpec, live: LiveClient, record: ClientRecord, common: dict[str, Any]) -> Change | None:
    """`protected:` changed in git and nothing else: recorded in the state (so that removing the file
    later cannot drop it unseen); nothing is sent."""
    if record.protected == spec.protected:
        return None
    what = "protected: true is recorded" if spec.protected else "protected is removed"
    return Change(
        "update", spec.name, live.client_id, "pending", [], f"{what} in the state; nothing is sent to the server",
        records_only=True, **common,
    )


def _declared_rotation(
    inp: Inputs, spec: ClientSpec, record: ClientRecord, fields: list[FieldChange], causes: set[str],
    common: dict[str, Any], live: LiveClient,
) -> Change | None:
    """A `rotate` the client's `rotation:` token or `rotate.max_age` asks for, reviewed like any change;
    it says whether the old secret stays valid (two-phase) or stops working at once."""
    if inp.now is None or not uses_secret(spec.fields) or (spec.rotation is None and not spec.rotate):
        return None
    why, note = rotation_due(spec, record, inp.now)
    if note:
        inp.notes.append(note)
    if why is None:
        return None
    if not inp.rotates_secret:
        inp.notes.append(f"{spec.name}: {why}, but {inp.family} has no standard way to issue a new secret: not rotated")
        return None
    grace = grace_of(spec)
    if grace and inp.keeps_old_secret:
        how = (f"two-phase: the new secret is delivered and the old one stays valid {human(grace)} "
               "(retired by `dcrsync rotate-secret NAME --finish` once `deliver --check` is current, or by "
               "the next apply after the grace)")
    else:
        grace = None
        how = (f"{inp.family} keeps one secret: the old one stops working at once, until the app reads its new "
               "delivery" + (" (rotate.grace needs a family that keeps two secrets)" if spec.rotate and
                             spec.rotate.get("grace") else ""))
    causes.add("pending")
    return Change("rotate", spec.name, live.client_id, _cause(causes), fields, f"{why}; {how}", grace=grace, **common)


def unchanged(
    inp: Inputs, spec: ClientSpec, live: LiveClient, record: ClientRecord | None, moved_from: str | None,
    fields: list[FieldChange],
) -> bool:
    """A managed client that matches git, its record and its marker, whose protection is recorded and
    which declares no rotation: no change, and nothing more to compute for it (fingerprints, payloads),
    which is most of a no-change plan's diff."""
    return (
        not fields and moved_from is None and record is not None and not record.pending
        and record.protected == spec.protected and spec.rotation is None and not spec.rotate
        and inp.own.marker_change(live, spec.name) is None
    )


def rename_change(inp: Inputs, spec: ClientSpec, live: LiveClient, record: ClientRecord) -> Change:
    """A changed declared client_id on a family that renames in place: one update, same client."""
    change = update_change(inp, spec, live, record, None)
    rename = FieldChange("client_id", live.client_id, spec.client_id)
    if change is None:
        return Change(
            "update", spec.name, live.client_id, "pending", [rename], None, str(spec.location), spec_payload(spec),
            fingerprint(live), live.updated_at, record=record_fingerprint(record),
        )
    change.fields.insert(0, rename)
    change.cause = "both" if change.cause in ("drift", "both") else "pending"
    return change


def replace_change(spec: ClientSpec, live: LiveClient, record: ClientRecord) -> Change:
    protected = spec.protected or record.protected
    reason = departures.join(
        "client_id is immutable: the client is deleted and created again",
        departures.protected_note(spec.name) if protected else None,
    )
    return Change(
        "replace", spec.name, live.client_id, "pending", [FieldChange("client_id", live.client_id, spec.client_id)],
        reason, str(spec.location), spec_payload(spec), fingerprint(live), live.updated_at,
        record=record_fingerprint(record), protected=protected,
    )


def spec_payload(spec: ClientSpec) -> dict[str, Any]:
    """What a saved plan needs to rebuild the spec: the declared fields, blocks and client_id."""
    out: dict[str, Any] = dict(spec.fields)
    if spec.client_id:
        out["client_id"] = spec.client_id
    out.update({name: block for name, block in spec.blocks.items() if block})
    out.update(spec.env_templates)  # read from the environment: the references, never the values
    return out
