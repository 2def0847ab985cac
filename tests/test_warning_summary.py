"""A hundred per-client warnings of one kind read as one line, with the names behind --all-warnings."""

from __future__ import annotations

from dcrsync.model import ClientSpec, Location, normalise_value
from dcrsync.plan.diff import Inputs, compute
from dcrsync.plan.plan import Plan
from dcrsync.render import markdown, text
from dcrsync.render.warnings import FLAG, kind_of, lines
from dcrsync.state.records import ClientRecord, State


def _after_a_crash(n: int) -> Plan:
    """What the planner says after an apply was killed with n creates announced and unconfirmed on a
    server that chooses the client_id (the real producer of these warnings, not a copy of its words)."""
    specs = [ClientSpec(f"app-{i:03d}", {"client_name": f"App {i}", "grant_types": ["client_credentials"]},
                        Location(f"clients/app-{i:03d}.yaml", 1, 1)) for i in range(n)]
    state = State({s.name: ClientRecord(s.name, None, pending=True) for s in specs})
    out = compute(Inputs(specs, [], state, "team", normalise_value, lists=False))
    assert len(out.warnings) == n
    return Plan(out.changes, 0, {"kind": "rfc7592", "url": "http://r"}, warnings=out.warnings + ["state: one unrelated warning"])


def test_a_hundred_unconfirmed_creates_read_as_one_line():
    plan = _after_a_crash(100)
    out = text.render(plan)
    said = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert len(said) == 2, said
    line = said[0]
    assert line.startswith("warning: 100 clients: an interrupted apply sent its registration and lost the answer")
    assert "an orphan client may exist there: look for one named …" in line
    assert "app-000, app-001, app-002, app-003, app-004, … (95 more)" in line and FLAG in line
    assert said[1] == "warning: state: one unrelated warning"  # not about a client: as it is


def test_all_warnings_shows_each_one_in_full():
    plan = _after_a_crash(100)
    said = [line for line in text.render(plan, all_warnings=True).splitlines() if line.startswith("warning: ")]
    assert len(said) == 101
    assert any("app-099 (clients/app-099.yaml:1:1)" in s and "'App 99'" in s for s in said)


def test_a_few_are_shown_as_they_are_and_kinds_stay_apart():
    plan = _after_a_crash(2)
    said = [line for line in text.render(plan).splitlines() if line.startswith("warning: ")]
    assert len(said) == 3 and "app-001 (clients/app-001.yaml:1:1): an interrupted apply" in said[1]
    mixed = [f"c{i}: the server stored scope as 'x{i}' instead of 'y'; accepted" for i in range(3)]
    mixed += [f"d{i} (f.yaml:1:1): client d{i} is gone" for i in range(3)]
    got = lines(mixed)
    assert got == [
        "3 clients: the server stored scope as … instead of …; accepted (c0, c1, c2); rerun with --all-warnings for each one in full",
        "3 clients: client NAME is gone (d0, d1, d2); rerun with --all-warnings for each one in full",
    ]
    assert kind_of("no client here") == (None, "no client here")


def test_the_pull_request_comment_summarises_too_and_the_json_keeps_every_one():
    plan = _after_a_crash(100)
    md = markdown.render(plan, details_url=None)
    assert md.count("an interrupted apply sent its registration") == 1
    assert "100 clients:" in md
    assert len(Plan.from_json(plan.to_json()).warnings) == 101
