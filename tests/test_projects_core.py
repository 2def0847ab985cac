"""The pure core of issue 17 (many teams, one server): whose client is whose with projects, a state
behind the server, a hand delete, protection, the delete threshold, and what a refresh accepts."""

from __future__ import annotations

import pytest

from dcrsync.apply.refresh import accepted
from dcrsync.backends.base import default_normalise
from dcrsync.errors import PlanError, TooMuchChange
from dcrsync.load.config import Safety
from dcrsync.model import ClientSpec, LiveClient, Location
from dcrsync.plan.diff import Inputs, compute
from dcrsync.plan.ownership import Ownership
from dcrsync.plan.plan import Change, Plan, counts_as_update, is_destructive
from dcrsync.plan.undeclared import default_reader
from dcrsync.state.records import ClientRecord, State, desired_values

OWNER, ME, THEM = "platform", "acme/payments", "acme/checkout"


def spec(name: str, **fields) -> ClientSpec:
    protected = fields.pop("protected", False)
    return ClientSpec(name=name, fields=fields, location=Location("clients/x.yaml", 1, 1), protected=protected)


def live(cid: str, name: str | None, project: str | None = ME, serial: int | None = None, **fields) -> LiveClient:
    return LiveClient(cid, fields, {"client_id": cid, **fields}, managed_name=name, owner=OWNER if name else None,
                      project=project if name else None, serial=serial)


def record(name: str, cid: str, s: ClientSpec, **kw) -> ClientRecord:
    d = desired_values(s, default_normalise)
    return ClientRecord(name=name, client_id=cid, desired=d, applied=dict(d), client_secret="x", **kw)


def run(specs, lives, state=None, **kw):
    return compute(Inputs(specs=specs, live=lives, state=state or State(), owner=OWNER, project=ME,
                          normalise=default_normalise, **kw))


# --- 1. projects ---------------------------------------------------------------------------------


def test_a_project_owns_its_markers_and_another_projects_are_foreign_with_the_same_owner():
    own = Ownership(OWNER, project=ME)
    mine, theirs, legacy = live("1", "a"), live("2", "a", THEM), live("3", "a", None)
    assert own.claims(mine, "a") and not own.is_ours(theirs) and own.foreign(theirs)
    assert own.legacy(legacy) and not own.foreign(legacy) and not own.is_ours(legacy)
    assert own.recorded(legacy, "a") and not own.recorded(legacy, "b")
    assert set(own.by_name([mine, theirs, legacy])) == {"a"} and set(own.legacy_by_name([legacy])) == {"a"}
    # a family without markers on the server (RFC 7592) reports the state's own: no project to compare
    assert Ownership(OWNER, lists=False, project=ME).claims(live("4", "a", None), "a")


def test_prune_and_adoption_never_reach_another_projects_clients():
    mine = spec("api", client_name="A")
    st = State(clients={"api": record("api", "1", mine)})
    lives = [live("1", "api", client_name="A"), live("2", "web", THEM, client_name="W"),
             live("3", "old", None, client_name="O")]
    out = run([mine], lives, st, prune=True)
    assert out.changes == [] and out.conflicts == [] and out.unrecorded == []
    # another project's client of the same name: ours is a create beside it, never an adoption
    (c,) = run([mine, spec("web", client_name="W")], lives, st, prune=True).changes
    assert (c.action, c.name, c.client_id) == ("create", "web", None)
    # a legacy marker of our owner the state does not record may be another project's: a conflict
    out = run([mine, spec("old", client_name="O")], lives, st, prune=True)
    assert out.changes == [] and "without project identities" in out.conflicts[0] and "dcrsync import old 3" in out.conflicts[0]


def test_a_project_identity_that_changed_is_a_conflict_naming_the_old_one():
    s = spec("api", client_name="A")
    out = run([s], [live("1", "api", "github.com/acme/old-name", client_name="A")], State(clients={"api": record("api", "1", s)}))
    assert out.changes == [] and "set `project: github.com/acme/old-name`" in out.conflicts[0]


def test_a_recorded_legacy_marker_gains_the_project_and_is_not_counted_by_safety():
    specs = [spec(f"c{i}", client_name="A") for i in range(20)]
    st = State(clients={s.name: record(s.name, f"id{i}", s) for i, s in enumerate(specs)})
    out = run(specs, [live(f"id{i}", f"c{i}", None, client_name="A") for i in range(20)], st)
    assert len(out.changes) == 20 and all(c.marker["after"]["project"] == ME for c in out.changes)
    assert {c.cause for c in out.changes} == {"pending"} and "gains this project's identity" in out.changes[0].reason
    assert not any(counts_as_update(c) for c in out.changes)
    Plan(out.changes, 0, {}).check_safety(20, Safety())  # 20 of 20 markers: does not raise


# --- 2. a state behind the server ----------------------------------------------------------------


def test_a_state_behind_the_server_plans_no_delete_and_says_merge_the_base_branch():
    a = spec("a", client_name="A")
    st = State(clients={"a": record("a", "1", a)}, serial=3)
    lives = [live("1", "a", serial=3, client_name="A"), live("2", "b", serial=4, client_name="B")]
    out = run([a], lives, st, prune=True)
    assert out.changes == [] and out.behind == ["b"]
    assert any("this branch's state is behind: merge the base branch" in w for w in out.warnings)
    # the branch declares the same name as main's new client: never adopted (with a new secret)
    out = run([a, spec("b", client_name="B")], lives, st, prune=True)
    assert out.changes == [] and "this branch's state is behind" in out.conflicts[0]


# --- 4. a hand delete ----------------------------------------------------------------------------


def test_a_client_deleted_by_hand_comes_back_under_its_recorded_client_id():
    s = spec("spa", client_name="SPA")
    st = State(clients={"spa": record("spa", "spa-1", s)})
    (c,) = run([s], [], st).changes
    assert (c.action, c.client_id, c.cause, c.new_client_id) == ("create", "spa-1", "drift", False)
    assert "created again under its recorded client_id" in c.reason and not is_destructive(c)
    # also where the family would name it after the client (Keycloak's default)
    (c,) = run([s], [], st, default_client_id=lambda x: x.name).changes
    assert c.client_id == "spa-1"


def test_where_the_server_chooses_ids_the_new_client_id_is_flagged_for_the_app():
    s = spec("spa", client_name="SPA")
    st = State(clients={"spa": record("spa", "spa-1", s)})
    (c,) = run([s], [], st, chooses_client_id=False, lists=False).changes
    assert c.new_client_id and is_destructive(c) and "the app must be given" in c.reason
    assert (c.fields[0].path, c.fields[0].before, c.fields[0].after) == ("client_id", "spa-1", "(chosen by the server)")
    from dcrsync.render import markdown, text

    md = markdown.render(Plan([c], 0, {"kind": "rfc7592", "url": "u"}), details_url=None)
    assert "Destructive changes (1)" in md and "comes back under a new client_id" in md
    assert '~ client_id: "spa-1" -> "(chosen by the server)"' in text.render(Plan([c], 0, {"kind": "rfc7592", "url": "u"}))


# --- 12. protection, and the delete threshold ----------------------------------------------------


def test_protection_is_recorded_and_guards_a_delete_after_the_file_is_gone():
    s = spec("prod", client_name="P", protected=True)
    st = State(clients={"prod": record("prod", "1", spec("prod", client_name="P"))})
    (c,) = run([s], [live("1", "prod", client_name="P")], st).changes
    assert (c.action, c.records_only, c.protected) == ("update", True, True)
    st.clients["prod"].protected = True
    (d,) = run([], [live("1", "prod", client_name="P")], st, prune=True).changes
    assert d.action == "delete" and d.protected and "--allow-destroy prod" in d.reason
    plan = Plan([d], 0, {})
    with pytest.raises(PlanError, match="--allow-destroy prod"):
        plan.check_protected(set())
    plan.check_protected({"prod"})


def test_the_delete_threshold_counts_the_clients_this_project_owns_however_few():
    delete = Change("delete", "a", "1", "pending")
    plan = Plan([delete], 0, {})
    plan.check_safety(2, Safety(), owned=None)  # below min_existing, as before: no check
    with pytest.raises(TooMuchChange, match="1 of 2 clients this project owns"):
        plan.check_safety(2, Safety(), owned=2)
    plan.check_safety(2, Safety(), owned=4)  # 25%
    plan.check_safety(2, Safety(), force=True, owned=2)


# --- 6. what a refresh accepts -------------------------------------------------------------------


def test_a_refresh_accepts_declared_and_undeclared_server_changes_only():
    s = spec("web", client_name="Web")
    rec = record("web", "1", s, observed={"client_id": "1", "client_name": "Web", "skip_consent": False})
    same = live("1", "web", client_name="Web", skip_consent=False)
    assert accepted(rec, same, default_normalise, default_reader) is None
    edited = live("1", "web", client_name="Hand", skip_consent=True)
    found = accepted(rec, edited, default_normalise, default_reader)
    assert [(f.path, f.before, f.after) for f in found.fields] == [("client_name", "Web", "Hand")]
    assert [(u.path, u.before, u.after) for u in found.undeclared] == [("skip_consent", False, True)]


def test_the_marker_carries_project_and_serial_on_hydra_and_keycloak_and_never_reads_as_a_field():
    from dcrsync.backends import hydra
    from dcrsync.backends.base import Marker
    from dcrsync.backends.keycloak import backend as keycloak
    from dcrsync.backends.keycloak import mapping as kmap

    body = hydra.body_for(spec("web", client_name="Web"), Marker(OWNER, "web", ME, 7))
    got = hydra.to_live({"client_id": "1", **body})
    assert (got.managed_name, got.owner, got.project, got.serial) == ("web", OWNER, ME, 7)
    assert got.fields["hydra.metadata"] == {}
    rep = {"clientId": "1", "attributes": {}}
    kmap.set_marker(rep, OWNER, "web", ME, 7)
    got = keycloak.to_live(rep)
    assert (got.managed_name, got.owner, got.project, got.serial) == ("web", OWNER, ME, 7)
    assert not any(path.startswith("keycloak.attributes.dcrsync") for path in got.fields)
