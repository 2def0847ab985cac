"""The ownership rule, in one place: ours, claims, foreign, unmarked, and the marker change."""

from __future__ import annotations

from dcrsync.model import LiveClient
from dcrsync.plan.ownership import Ownership


def live(name: str | None, owner: str | None) -> LiveClient:
    return LiveClient(client_id=f"id-{name}-{owner}", fields={}, raw={}, managed_name=name, owner=owner)


def test_the_four_cases():
    own = Ownership("team")
    ours, theirs, bare = live("a", "team"), live("a", "other"), live(None, None)
    assert own.is_ours(ours) and own.claims(ours, "a") and not own.claims(ours, "b")
    assert own.foreign(theirs) and not own.is_ours(theirs) and not own.foreign(ours)
    assert own.unmarked(bare) and not own.foreign(bare) and not own.is_ours(bare)


def test_marker_change_names_before_and_after():
    own = Ownership("team")
    assert own.marker_change(live("a", "team"), "a") is None
    assert own.marker_change(live("a", "team"), "b") == {
        "before": {"name": "a", "owner": "team"}, "after": {"name": "b", "owner": "team"}}
    assert own.marker_change(live(None, None), "a") == {"before": None, "after": {"name": "a", "owner": "team"}}


def test_a_family_that_cannot_list_shows_no_marker_index():
    clients = [live("a", "team"), live("b", "other")]
    assert set(Ownership("team").by_name(clients)) == {"a"}
    assert Ownership("team", lists=False).by_name(clients) == {}
    assert Ownership("team", lists=False).ours(clients) == []
