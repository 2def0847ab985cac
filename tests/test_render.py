"""The terminal renderer: what a reviewer reads for each kind of change."""

from __future__ import annotations

from dcrsync.plan.plan import Change, FieldChange, Plan
from dcrsync.render import text


def render(*changes: Change, **kw) -> str:
    return text.render(Plan(list(changes), 1, {"kind": "hydra", "url": "http://h"}, **kw))


def test_field_kinds_read_as_declared_unset_and_changed():
    out = render(Change("update", "a", "id1", "pending", [
        FieldChange("client_name", "A", "B"),
        FieldChange("contacts", [], ["ops@example.com"], "declare"),
        FieldChange("client_uri", "https://x", None, "unset"),
    ]))
    assert '~ client_name: "A" -> "B"' in out
    assert '+ contacts: (server default: []) -> ["ops@example.com"]' in out
    assert '- client_uri: "https://x" -> (unset)' in out
    assert "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete, 1 unchanged." in out


def test_move_rotate_marker_and_conflicts_are_spelled_out():
    out = render(
        Change("move", "billing", "id1", "pending", moved_from="svc-1",
               marker={"before": {"name": "svc-1", "owner": "t"}, "after": {"name": "billing", "owner": "t"}}),
        Change("rotate", "c", "id2", "pending", reason="adopted; the app must be given the new secret"),
        Change("update", "d", "id3", "pending", records_only=True),
        environment="prod", conflicts=["e (clients/e.yaml:1:1): client x already exists"],
    )
    assert "(environment prod)" in out
    assert "conflict: e (clients/e.yaml:1:1)" in out
    assert '-> move billing' in out and 'name: "svc-1" -> "billing"' in out
    assert "ownership marker:" in out
    assert "! rotate c" in out and "the app must be given the new secret" in out
    assert "recorded in state only" in out
    assert "1 to move, 1 to rotate" in out
