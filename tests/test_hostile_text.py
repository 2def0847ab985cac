"""Issue 16 item 5: server-chosen text is inert in every renderer and every format (property tests).

Plans, drift reports, the state list and validate's findings are built with hostile strings in
every slot a server (or a branch) chooses: names, client_ids, paths, values, reasons, warnings,
conflicts, error lines. Whatever Hypothesis generates, the text output holds no raw control
character (dcrsync's own colours aside) and no forged line, the Markdown holds none either and, as
GitHub's own parser (cmark-gfm) renders it, no link, image, HTML, mention or issue reference, and the
JSON holds the exact values, escaped.
"""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from dcrsync.audit.clients import AuditedClient
from dcrsync.audit.posture import Check
from dcrsync.audit.report import AuditReport
from dcrsync.guards import inert
from dcrsync.model import Diagnostic, Location
from dcrsync.plan.drift import DriftedClient, DriftReport, UndeclaredClient
from dcrsync.plan.plan import Change, FieldChange, Plan
from dcrsync.plan.undeclared import UndeclaredChange
from dcrsync.render.diagnostics import Findings, Summary
from dcrsync.render.formats import FORMATS, Options, render
from dcrsync.render.markdown import render_error
from dcrsync.state.records import ClientRecord, State
from tests.support.inert_checks import assert_inert_markdown, assert_no_raw_control
from tests.support.properties import any_text, hostile, json_values

SGR = re.compile(r"\x1b\[[0-9;]*m")

field_changes = st.builds(
    FieldChange,
    path=any_text, before=json_values, after=json_values, kind=st.sampled_from(["change", "declare", "unset"]),
    items_added=st.none() | st.lists(json_values, max_size=2), items_removed=st.none() | st.lists(json_values, max_size=2),
    nested=st.none() | st.lists(st.fixed_dictionaries({"path": any_text, "before": json_values, "after": json_values}), max_size=2),
)
changes = st.builds(
    Change,
    action=st.sampled_from(["create", "update", "move", "rotate", "replace", "delete"]),
    name=any_text, client_id=st.none() | any_text, cause=st.sampled_from(["pending", "drift", "both"]),
    fields=st.lists(field_changes, max_size=3), reason=st.none() | any_text, source=st.none() | any_text,
    moved_from=st.none() | any_text,
    marker=st.none() | st.fixed_dictionaries({"before": json_values, "after": json_values}),
    records_only=st.booleans(),
)
servers = st.fixed_dictionaries({"kind": any_text, "url": any_text})
plans = st.builds(
    Plan, changes=st.lists(changes, max_size=4), unchanged=st.integers(0, 5), server=servers,
    warnings=st.lists(any_text, max_size=4), conflicts=st.lists(any_text, max_size=2),
    environment=st.none() | hostile,
)
drifts = st.builds(
    DriftReport, server=servers, checked=st.integers(0, 5), pending=st.integers(0, 2),
    clients=st.lists(st.builds(
        DriftedClient, name=any_text, client_id=st.none() | any_text,
        kind=st.sampled_from(["changed", "deleted", "unmanaged"]), fields=st.lists(field_changes, max_size=2),
        updated_at=st.none() | any_text, detail=st.none() | any_text,
    ), max_size=3),
    undeclared=st.lists(st.builds(
        UndeclaredClient, name=any_text, client_id=any_text, updated_at=st.none() | any_text,
        changes=st.lists(st.builds(
            UndeclaredChange, path=any_text, change=st.sampled_from(["added", "removed", "changed"]),
            before=json_values, after=json_values, item=st.none() | any_text,
        ), min_size=1, max_size=2),
    ), max_size=2),
    environment=st.none() | hostile,
)
states = st.builds(State, clients=st.dictionaries(any_text, st.builds(
    ClientRecord, name=any_text, client_id=st.none() | any_text, applied_at=any_text, pending=st.booleans(),
), max_size=3))
diagnostics = st.builds(
    Diagnostic, location=st.builds(Location, any_text, st.integers(0, 9), st.integers(1, 9)),
    severity=st.sampled_from(["error", "warning"]), rule=any_text, message=any_text,
)
findings = st.lists(diagnostics, max_size=4).map(lambda ds: Findings(ds, Summary.of(ds, 1, 1)))
audits = st.builds(
    AuditReport, server=servers, profile=any_text, environment=st.none() | hostile, checked_at=any_text,
    posture=st.lists(st.builds(Check, id=any_text, ok=st.booleans(), message=any_text), max_size=2),
    clients=st.lists(st.builds(
        AuditedClient, client_id=any_text, name=any_text, source=st.none() | any_text,
        findings=st.lists(diagnostics, max_size=2), client_name=st.none() | any_text,
    ), max_size=2),
    notes=st.lists(any_text, max_size=2), policy=st.none() | any_text,
)
OBJECTS = {"plan": plans, "drift": drifts, "state": states, "diagnostics": findings, "audit": audits}


@given(st.data())
def test_text_output_never_carries_a_raw_control_or_a_forged_line(data):
    for kind, formats in FORMATS.items():
        obj = data.draw(OBJECTS[kind], label=kind)
        for colour in (False, True):
            out = render(obj, "text", Options(colour=colour, all_warnings=True))
            assert_no_raw_control(SGR.sub("", out) if colour else out)
            assert "text" in formats


@given(plans)
def test_the_plan_comment_renders_nothing_live(plan):
    assert_inert_markdown(render(plan, "markdown", Options(details_url=None)))


@given(drifts)
def test_the_drift_issue_renders_nothing_live(report):
    assert_inert_markdown(render(report, "markdown"))


@given(audits)
def test_the_audit_issue_renders_nothing_live(report):
    assert_inert_markdown(render(report, "markdown"))


@given(st.lists(any_text, max_size=4), st.none() | hostile)
def test_a_failed_plan_comment_renders_nothing_live(lines, environment):
    """The error output's own lines are quoted as they are, in a fenced block: nothing in them is live."""
    assert_inert_markdown(render_error("\n".join(lines), environment, details_url=None), lines=False)


@given(st.data())
def test_json_output_escapes_what_a_terminal_would_interpret_and_keeps_every_value(data):
    for kind, formats in FORMATS.items():
        obj = data.draw(OBJECTS[kind], label=kind)
        out = render(obj, "json")
        assert_no_raw_control(out)
        exact = {"plan": lambda p: p.to_json(), "drift": lambda r: r.to_json()}.get(kind)
        if exact is not None:
            assert json.loads(out) == json.loads(exact(obj))
        assert "json" in formats


def test_the_issue_cases_by_hand():
    """The reported cases: colour, a window title, an OSC 52 clipboard write and a forged plan line in a
    client_id; a backtick that breaks out of the code span, a link and a mention in the comment."""
    cid = "abc\x1b[31mRED\x1b]0;title\x07\x1b]52;c;ZXZpbA==\x07\n  + create evil"
    plan = Plan([Change("update", "web`](http://evil.example) @alice", cid, "drift", reason="x\u202eevil")], 0,
                {"kind": "hydra", "url": "http://h"})
    text = render(plan, "text")
    assert "client_id abc␛[31mRED␛]0;title␇␛]52;c;ZXZpbA==␇␊  + create evil" in text
    assert "# x<U+202E>evil" in text and "\x1b" not in text and len(text.splitlines()) == 6
    body = render(plan, "markdown", Options(details_url=None))
    assert "<b>web&#96;&#93;(http&#58;//evil.example) &#64;&#8288;alice</b>" in body
    assert_inert_markdown(body)
    long = render(Plan([Change("delete", "a", "x" * 5000, "pending")], 0, {"kind": "k", "url": "u"}), "text")
    assert f"client_id {'x' * inert.MAX_CHARS}… (5000 characters)" in long
