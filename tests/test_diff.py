"""The pure core: what counts as a change, and why (pending / drift / both)."""

from __future__ import annotations

from dcrsync.backends.base import default_normalise
from dcrsync.backends.hydra import HydraBackend, go_duration_seconds, to_live
from dcrsync.model import ClientSpec, LiveClient, Location
from dcrsync.plan.diff import Inputs, compute
from dcrsync.state.records import ClientRecord, State, desired_values

OWNER = "team"


def spec(name: str, **fields) -> ClientSpec:
    hydra = fields.pop("hydra", {})
    return ClientSpec(name=name, fields=fields, location=Location("clients/x.yaml", 1, 1),
                      blocks={"hydra": hydra} if hydra else {})


def live(client_id: str, name: str | None, owner: str | None = OWNER, **fields) -> LiveClient:
    return LiveClient(client_id=client_id, fields=fields, raw={"client_id": client_id, **fields},
                      managed_name=name, owner=owner)


def record(name: str, client_id: str, s: ClientSpec, applied: dict | None = None) -> ClientRecord:
    desired = desired_values(s, default_normalise)
    return ClientRecord(name=name, client_id=client_id, desired=desired,
                        applied=desired if applied is None else applied, client_secret="x")


def run(specs, lives, state=None, **kw):
    return compute(Inputs(specs=specs, live=lives, state=state or State(), owner=OWNER,
                          normalise=default_normalise, **kw))


def test_new_client_is_a_pending_create_with_every_declared_field():
    out = run([spec("a", client_name="A", scope="openid")], [])
    (c,) = out.changes
    assert (c.action, c.cause, c.client_id) == ("create", "pending", None)
    assert [(f.path, f.after) for f in c.fields] == [("client_name", "A"), ("scope", "openid")]


def test_undeclared_server_fields_and_set_order_are_not_changes():
    s = spec("a", grant_types=["refresh_token", "authorization_code"], scope="openid offline_access")
    lv = live("id1", "a", grant_types=["authorization_code", "refresh_token"], scope="offline_access openid",
              subject_type="public", token_endpoint_auth_method="client_secret_basic")
    st = State(clients={"a": record("a", "id1", s)})
    out = run([s], [lv], st)
    assert out.changes == [] and out.unchanged == 1


def test_git_change_is_pending_server_change_is_drift_both_is_both():
    old = spec("a", client_name="A", client_uri="https://a.example.com")
    st = State(clients={"a": record("a", "id1", old)})
    # git changed client_name; server unchanged
    out = run([spec("a", client_name="B", client_uri="https://a.example.com")],
              [live("id1", "a", client_name="A", client_uri="https://a.example.com")], st)
    assert out.changes[0].cause == "pending"
    # server changed client_uri; git unchanged
    out = run([old], [live("id1", "a", client_name="A", client_uri="https://evil.example.com")], st)
    (c,) = out.changes
    assert c.cause == "drift" and [(f.path, f.before, f.after) for f in c.fields] == [
        ("client_uri", "https://evil.example.com", "https://a.example.com")]
    # both
    out = run([spec("a", client_name="B", client_uri="https://a.example.com")],
              [live("id1", "a", client_name="A", client_uri="https://evil.example.com")], st)
    assert out.changes[0].cause == "both"


def test_a_value_the_server_replaced_at_apply_is_not_a_change_every_time():
    s = spec("a", scope="openid api:write")
    st = State(clients={"a": record("a", "id1", s, applied={"scope": ["openid"]})})
    out = run([s], [live("id1", "a", scope="openid")], st)
    assert out.changes == []


def test_prune_deletes_only_clients_the_state_records_with_our_marker():
    st = State(clients={"gone": record("gone", "id1", spec("gone", client_name="G"))})
    lives = [live("id1", "gone", client_name="G"), live("id2", None, owner=None, client_name="stranger"),
             live("id3", "other", owner="another-team"), live("id4", "orphan", client_name="O")]
    out = run([], lives, st, prune=False)
    assert out.changes == [] and out.leftovers == ["gone"]
    out = run([], lives, st, prune=True)
    # a client with our marker that the state does not record is another apply's (a branch ahead,
    # a lost journal) or was forgotten on purpose: named, never deleted
    assert [(c.action, c.client_id, c.cause) for c in out.changes] == [("delete", "id1", "pending")]
    assert out.unrecorded == ["orphan"]
    assert any("orphan" in w and "neither git nor the state" in w and "never deletes" in w for w in out.warnings)


def test_stripped_marker_is_not_deleted_and_is_restored_on_update():
    s = spec("a", client_name="A")
    st = State(clients={"a": record("a", "id1", s)})
    out = run([s], [live("id1", None, owner=None, client_name="A")], st)
    (c,) = out.changes
    assert c.action == "update" and c.marker == {"before": None, "after": {"name": "a", "owner": OWNER}}
    out = run([], [live("id1", None, owner=None, client_name="A")], st, prune=True)
    assert out.changes == []


def test_managed_client_missing_from_state_is_adopted_and_its_secret_rotated():
    s = spec("a", client_name="A", token_endpoint_auth_method="client_secret_basic")
    out = run([s], [live("id9", "a", client_name="A", token_endpoint_auth_method="client_secret_basic")])
    (c,) = out.changes
    # a rotation is its own action, never a harmless-looking update
    assert (c.action, c.client_id) == ("rotate", "id9")
    assert "adopted" in c.reason and "the app must be given the new secret" in c.reason
    assert not c.recovery


def test_client_of_another_owner_is_never_touched():
    theirs = live("id1", "a", owner="someone-else", client_name="Z")
    pinned = spec("a", client_name="A")
    pinned.client_id = "id1"
    out = run([pinned], [theirs])
    assert out.changes == [] and "belongs to owner 'someone-else'" in out.conflicts[0]
    unmarked = live("id1", None, owner=None, client_name="Z")
    out = run([pinned], [unmarked])
    # declared but unmanaged: a conflict that names the way out (Terraform: "import it")
    assert out.changes == [] and "dcrsync import" in out.conflicts[0] and "clients/x.yaml:1:1" in out.conflicts[0]
    # the same name under another owner is another team's client: ours is created beside it
    out = run([spec("a", client_name="A")], [theirs], prune=True)
    assert [(c.action, c.client_id) for c in out.changes] == [("create", None)]


def test_hydra_lifespans_compare_by_duration_and_marker_is_hidden():
    assert go_duration_seconds("1h0m0s") == go_duration_seconds("60m") == 3600
    assert go_duration_seconds("soon") == "soon"
    lv = to_live({"client_id": "x", "metadata": {"dcrsync": {"name": "a", "owner": OWNER}, "team": "b"},
                  "client_secret": "never-kept", "authorization_code_grant_access_token_lifespan": "1h0m0s"})
    assert lv.fields["hydra.metadata"] == {"team": "b"} and "client_secret" not in lv.raw
    assert (lv.managed_name, lv.owner) == ("a", OWNER)
    s = spec("a", hydra={"metadata": {"team": "b"}, "authorization_code_grant_access_token_lifespan": "60m"})
    norm = HydraBackend.normalise
    rec = ClientRecord("a", "x", desired_values(s, norm), desired_values(s, norm))
    out = compute(Inputs([s], [lv], State(clients={"a": rec}), OWNER, norm))
    assert out.changes == [] and out.unchanged == 1


def test_target_restricts_changes():
    out = run([spec("a", client_name="A"), spec("b", client_name="B")], [], targets={"b"})
    assert [c.name for c in out.changes] == ["b"]


# --- day-2: renames, removed fields, labels, rotations ----------------------------------------


def pinned(name: str, client_id: str, **fields) -> ClientSpec:
    s = spec(name, **fields)
    s.client_id = client_id
    return s


def test_rename_with_pinned_client_id_is_one_move_and_no_delete():
    old = spec("svc-1", client_name="A")
    st = State(clients={"svc-1": record("svc-1", "id1", old)})
    new = pinned("billing", "id1", client_name="A")
    out = run([new], [live("id1", "svc-1", client_name="A")], st, prune=True)
    (c,) = out.changes
    assert (c.action, c.name, c.client_id, c.moved_from) == ("move", "billing", "id1", "svc-1")
    assert c.fields == [] and "same secret" in c.reason


def test_rename_after_state_mv_moves_the_marker_only():
    s = spec("billing", client_name="A")
    st = State(clients={"billing": record("billing", "id1", s)})
    out = run([s], [live("id1", "svc-1", client_name="A")], st, prune=True)
    (c,) = out.changes
    assert (c.action, c.moved_from) == ("move", "svc-1")


def test_unrecognisable_rename_is_a_conflict_with_the_hint_in_the_delete():
    old = spec("svc-1", client_name="A")
    st = State(clients={"svc-1": record("svc-1", "id1", old)})
    out = run([spec("billing", client_name="A")], [live("id1", "svc-1", client_name="A")], st, prune=True)
    assert sorted(c.action for c in out.changes) == ["create", "delete"]
    (conflict,) = out.conflicts  # with --auto-approve the app would get a new id and secret
    assert "looks like a rename" in conflict and "moved_from: svc-1" in conflict and "id1" in conflict
    (delete,) = [c for c in out.changes if c.action == "delete"]
    assert "looks like a rename to billing" in delete.reason and "moved_from: svc-1" in delete.reason
    # with prune off nothing is deleted: a warning, no conflict
    out = run([spec("billing", client_name="A")], [live("id1", "svc-1", client_name="A")], st)
    assert out.conflicts == [] and any("looks like a rename of svc-1" in w and "moved_from" in w for w in out.warnings)


def test_moved_from_makes_the_rename_a_move_and_may_stay_in_the_file():
    old = spec("svc-1", client_name="A")
    st = State(clients={"svc-1": record("svc-1", "id1", old)})
    new = spec("billing", client_name="A")
    new.moved_from = "svc-1"
    out = run([new], [live("id1", "svc-1", client_name="A")], st, prune=True)
    (c,) = out.changes
    assert (c.action, c.client_id, c.moved_from) == ("move", "id1", "svc-1") and out.conflicts == []
    # after the move the record is `billing`: moved_from names nothing and changes nothing
    st = State(clients={"billing": record("billing", "id1", new)})
    out = run([new], [live("id1", "billing", client_name="A")], st, prune=True)
    assert out.changes == [] and out.conflicts == []


def test_moved_from_a_name_still_declared_is_a_conflict():
    old = spec("svc-1", client_name="A")
    st = State(clients={"svc-1": record("svc-1", "id1", old)})
    new = spec("billing", client_name="A")
    new.moved_from = "svc-1"
    out = run([old, new], [live("id1", "svc-1", client_name="A")], st, prune=True)
    assert any("svc-1 is still declared" in c for c in out.conflicts)


def test_a_rename_hint_sees_through_extensions_and_blocks():
    fields = {"client_name": "A", "extensions": {"tenant": "t1"}, "hydra": {"audience": ["b", "a"]}}
    old = spec("svc-1", **fields)
    st = State(clients={"svc-1": record("svc-1", "id1", old)})
    out = run([spec("billing", **fields)], [live("id1", "svc-1", client_name="A")], st, prune=True)
    assert any("looks like a rename" in c for c in out.conflicts), out.conflicts


def test_two_files_claiming_one_client_is_refused_by_the_invariant():
    import pytest

    from dcrsync.errors import PlanError

    a = spec("a", client_name="A")
    st = State(clients={"a": record("a", "id1", a)})
    b = pinned("b", "id1", client_name="B")
    with pytest.raises(PlanError, match="both claim client id1"):
        run([spec("a", client_name="A2"), b], [live("id1", "a", client_name="A")], st)


def test_removed_field_is_reset_then_no_longer_managed():
    before = spec("a", client_name="A", contacts=["ops@example.com"])
    st = State(clients={"a": record("a", "id1", before)})
    now = spec("a", client_name="A")
    out = run([now], [live("id1", "a", client_name="A", contacts=["ops@example.com"])], st)
    (c,) = out.changes
    assert c.action == "update" and c.cause == "pending"
    (f,) = c.fields
    assert (f.path, f.before, f.after, f.kind) == ("contacts", ["ops@example.com"], None, "unset")
    # already at the server's default: nothing to reset
    out = run([now], [live("id1", "a", client_name="A", contacts=[])], st)
    assert out.changes == [] and out.unchanged == 1


def test_newly_declared_field_is_pending_not_drift():
    before = spec("a", client_name="A")
    st = State(clients={"a": record("a", "id1", before)})
    now = spec("a", client_name="A", contacts=["ops@example.com"])
    out = run([now], [live("id1", "a", client_name="A", contacts=[])], st)
    (c,) = out.changes
    assert c.cause == "pending"
    assert [(f.path, f.kind) for f in c.fields] == [("contacts", "declare")]


def test_crash_recovery_rotation_is_not_counted_by_safety():
    from dcrsync.load.config import Safety
    from dcrsync.plan.plan import Plan

    specs = [spec(f"c{i}", client_name="A") for i in range(20)]
    st = State(clients={f"c{i}": ClientRecord(f"c{i}", f"id{i}", pending=True) for i in range(20)})
    out = run(specs, [live(f"id{i}", f"c{i}", client_name="A") for i in range(20)], st)
    assert {c.action for c in out.changes} == {"rotate"} and all(c.recovery for c in out.changes)
    Plan(out.changes, 0, {}).check_safety(20, Safety())  # does not raise
    adopted = [c for c in run(specs, [live(f"id{i}", f"c{i}", client_name="A") for i in range(20)],
                              State(clients={"x": ClientRecord("x", "idx")})).changes]
    import pytest

    from dcrsync.errors import PlanError

    with pytest.raises(PlanError, match="max_update_percent"):
        Plan(adopted, 0, {}).check_safety(20, Safety())


def test_changed_client_id_is_a_replace_unless_the_family_renames_in_place():
    before = pinned("a", "old-id", client_name="A")
    st = State(clients={"a": record("a", "old-id", before)})
    now = pinned("a", "new-id", client_name="A")
    lv = [live("old-id", "a", client_name="A")]
    (c,) = run([now], lv, st).changes
    assert c.action == "replace"
    (c,) = run([now], lv, st, renames_client_id=True).changes
    assert (c.action, c.client_id, c.cause) == ("update", "old-id", "pending")
    assert [(f.path, f.before, f.after) for f in c.fields] == [("client_id", "old-id", "new-id")]
    # with a field change too: one update carrying both
    (c,) = run([pinned("a", "new-id", client_name="B")], lv, st, renames_client_id=True).changes
    assert [f.path for f in c.fields] == ["client_id", "client_name"]
    # a new client_id another client holds is a conflict, not a change
    out = run([now], [*lv, live("new-id", None, None)], st, renames_client_id=True)
    assert out.changes == [] and "client_id new-id" in out.conflicts[0] and "taken" in out.conflicts[0]


def test_default_client_id_names_the_create_and_a_taken_one_is_a_conflict():
    by_name = {"renames_client_id": True, "default_client_id": lambda s: s.name}
    (c,) = run([spec("billing-web", client_name="A")], [], **by_name).changes
    assert (c.action, c.client_id) == ("create", "billing-web")
    # a console-made client with that clientId: a conflict at plan time, never a 409 at apply
    out = run([spec("billing-web", client_name="A")], [live("billing-web", None, None)], **by_name)
    assert out.changes == [] and "billing-web" in out.conflicts[0] and "dcrsync import" in out.conflicts[0]
    # a declared client_id wins over the default
    (c,) = run([pinned("billing-web", "bw-1", client_name="A")], [], **by_name).changes
    assert c.client_id == "bw-1"


def test_a_removed_line_whose_value_is_not_the_family_default_is_reset():
    """`enabled: false` removed: false is empty, but the family's default is true, so it is an unset."""
    from dcrsync.plan.fields import field_changes

    s = spec("a", client_name="A")
    record = ClientRecord("a", "id-a", desired={"client_name": "A", "keycloak.enabled": False},
                          applied={"client_name": "A", "keycloak.enabled": False})
    live = LiveClient("id-a", {"client_name": "A", "keycloak.enabled": False}, {})
    changes, _ = field_changes(s, live, record, default_normalise, {"keycloak.enabled": True})
    assert [(c.path, c.kind) for c in changes] == [("keycloak.enabled", "unset")]
    back, _ = field_changes(s, live, record, default_normalise, {})  # no family default: false is empty
    assert back == []
    live_true = LiveClient("id-a", {"client_name": "A", "keycloak.enabled": True}, {})
    assert field_changes(s, live_true, record, default_normalise, {"keycloak.enabled": True})[0] == []
