"""The plan as data: checksum, JSON round trip, tampering, and the safety rule."""

from __future__ import annotations

import json

import pytest

from dcrsync.errors import PlanError, TooMuchChange
from dcrsync.load.config import Safety
from dcrsync.plan.plan import Change, FieldChange, Plan


def change(action: str, name: str, **kw) -> Change:
    return Change(action, name, kw.pop("client_id", f"id-{name}"), "pending", **kw)  # type: ignore[arg-type]


def sample() -> Plan:
    return Plan(
        changes=[
            change("create", "a", client_id=None, fields=[FieldChange("client_name", None, "A")]),
            change("move", "b", moved_from="old-b", marker={"before": {"name": "old-b", "owner": "t"},
                                                            "after": {"name": "b", "owner": "t"}}),
            change("rotate", "c", reason="the app must be given the new secret"),
            change("update", "d", fields=[FieldChange("contacts", ["x@example.com"], None, "unset")]),
        ],
        unchanged=3, server={"kind": "hydra", "url": "http://127.0.0.1:1"}, environment="staging",
        conflicts=["e (clients/e.yaml:1:1): client x already exists"], created_at="2026-01-01T00:00:00Z",
    )


def test_json_round_trip_keeps_every_field():
    plan = sample()
    again = Plan.from_json(plan.to_json())
    assert again.changes == plan.changes
    assert (again.environment, again.conflicts, again.unchanged) == ("staging", plan.conflicts, 3)
    assert again.summary() == {"create": 1, "update": 1, "move": 1, "rotate": 1, "replace": 0, "delete": 0,
                               "unchanged": 3}


def test_checksum_catches_an_edit():
    data = json.loads(sample().to_json())
    data["changes"][2]["action"] = "update"  # someone hides a rotation
    with pytest.raises(PlanError, match="checksum mismatch"):
        Plan.from_json(json.dumps(data))
    with pytest.raises(PlanError, match="not JSON"):
        Plan.from_json("{nope")
    with pytest.raises(PlanError, match="version"):
        Plan.from_json(json.dumps({"version": 99}))


def test_safety_counts_updates_moves_rotations_but_not_recovery_or_state_only():
    managed = 10
    rule = Safety(max_update_percent=30, max_delete_percent=30, min_existing=5)
    ok = Plan([change("update", n, records_only=True) for n in "abcd"]
              + [change("rotate", n, recovery=True) for n in "efgh"], 0, {})
    ok.check_safety(managed, rule)
    too_many = Plan([change("move", "a"), change("rotate", "b"), change("update", "c", fields=[FieldChange("x", 1, 2)]),
                     change("update", "d", fields=[FieldChange("x", 1, 2)])], 0, {})
    with pytest.raises(TooMuchChange, match="update 4 of 10"):
        too_many.check_safety(managed, rule)
    too_many.check_safety(managed, rule, force=True)
    too_many.check_safety(4, rule)  # fewer than min_existing managed: no rule
    deletes = Plan([change("delete", n) for n in "abcd"], 0, {})
    with pytest.raises(TooMuchChange, match="delete 4 of 10"):
        deletes.check_safety(managed, rule)


def test_a_saved_plan_source_reads_back_as_the_location_it_was_written_from():
    from dcrsync.model import Location

    loc = Location("clients/c:odd name.yaml", 12, 3)
    assert Location.parse(str(loc)) == loc
    assert Location.parse(None) == Location("plan", 0, 1)
    assert Location.parse("somewhere") == Location("somewhere", 0, 1)
