"""The renderers as one table (`render.formats`) and the size budget they share (`render.budget`)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from dcrsync.audit.clients import AuditedClient
from dcrsync.audit.posture import Check
from dcrsync.audit.report import AuditReport
from dcrsync.cli import cli
from dcrsync.model import Diagnostic, Location
from dcrsync.plan.drift import DriftedClient, DriftReport, UndeclaredClient
from dcrsync.plan.plan import DESTRUCTIVE, Change, FieldChange, Plan
from dcrsync.plan.undeclared import UndeclaredChange
from dcrsync.render import budget, drift, markdown
from dcrsync.render.diagnostics import Findings, Summary
from dcrsync.render.formats import FORMATS, UnknownFormat, format_option, render
from dcrsync.state.records import ClientRecord, State

SERVER = {"kind": "hydra", "url": "http://127.0.0.1:4445"}


def a_plan() -> Plan:
    return Plan(
        [
            Change("create", "web", None, "pending", [FieldChange("client_name", None, "Web")], source="clients/web.yaml:1"),
            Change("delete", "old", "id-old", "drift", reason="left git; prune is on"),
        ],
        3, SERVER, warnings=["web: no redirect_uris"], created_at="2025-01-02T03:04:05Z",
    )


def a_report() -> DriftReport:
    return DriftReport(
        SERVER,
        [DriftedClient("web", "id-web", "changed", [FieldChange("client_name", "Web", "Evil")], updated_at="2025-01-01T00:00:00Z")],
        checked=4, pending=0,
        undeclared=[UndeclaredClient("api", "id-api", [UndeclaredChange("webOrigins", "changed", ["a"], ["b"])])],
    )


def some_findings() -> Findings:
    diagnostics = [
        Diagnostic(Location("clients/web.yaml", 3, 5), "error", "schema", "redirect_uris: not a list"),
        Diagnostic(Location("clients/api.yaml", 0, 0), "warning", "DCR001", "no contacts"),
    ]
    return Findings(diagnostics, Summary.of(diagnostics, clients=2, files=2))


def an_audit() -> AuditReport:
    report = AuditReport(SERVER, "rfc9700", None, "2025-01-02T03:04:05Z")
    report.posture = [Check("pkce-plain", False, "discovery still offers PKCE method `plain`")]
    spa = Diagnostic(Location("server:spa-1", 0, 0), "error", "DCR008", "public client without PKCE")
    report.clients = [AuditedClient("spa-1", "spa-1", None, [spa], client_name="SPA\x1b[31m")]
    return report


def a_state() -> State:
    state = State()
    state.clients["web"] = ClientRecord("web", "id-web", applied_at="2025-01-02T03:04:05Z")
    state.clients["new"] = ClientRecord("new", None, pending=True)
    return state


SAMPLES = {"plan": a_plan, "drift": a_report, "diagnostics": some_findings, "state": a_state, "audit": an_audit}
#: what a reader of each (kind, format) must find in it
EXPECTED = {
    ("plan", "text"): "Plan: 1 to create, 0 to update, 0 to replace, 1 to delete, 3 unchanged.",
    ("plan", "markdown"): "<details open><summary>⚠️ <b><code>- delete</code></b> <b>old</b>",
    ("drift", "text"): '~ client_name: "Web" -> "Evil"',
    ("drift", "markdown"): "| <code>web</code> | changed | <code>id-web</code> | 2025-01-01T00:00:00Z |",
    ("diagnostics", "text"): "clients/web.yaml:3:5: error[schema]: redirect_uris: not a list",
    ("state", "text"): "new\t-\t-  (create pending)\nweb\tid-web\t2025-01-02T03:04:05Z\n",
    ("diagnostics", "github"): "::error file=clients/web.yaml,line=3,col=5,title=dcrsync schema::redirect_uris: not a list",
    ("diagnostics", "sarif"): '"uri": "clients/web.yaml"',
    ("audit", "text"): "  SPA␛[31m [client_id spa-1] (not in git)\n    error[DCR008]: public client without PKCE",
    ("audit", "markdown"): "| <code>SPA␛&#91;31m</code> | <code>spa-1</code> | not in git | <code>DCR008</code> | public client without PKCE |",
}
PAIRS = [(kind, fmt) for kind, table in FORMATS.items() for fmt in table]


def test_every_kind_has_a_sample_and_every_pair_is_checked():
    assert set(SAMPLES) == set(FORMATS)
    assert {pair for pair in PAIRS if pair[1] != "json"} == set(EXPECTED)


@pytest.mark.parametrize(("kind", "fmt"), PAIRS)
def test_each_kind_renders_in_each_of_its_formats(kind: str, fmt: str):
    obj = SAMPLES[kind]()
    out = render(obj, fmt)
    assert out.endswith("\n") and not out.endswith("\n\n\n")
    if fmt == "json":
        assert isinstance(json.loads(out), (dict, list))  # the contents: test_json_formats_are_the_machine_contracts
    else:
        assert EXPECTED[(kind, fmt)] in out


def test_json_formats_are_the_machine_contracts():
    plan = a_plan()
    again = Plan.from_json(render(plan, "json"), "plan.json")
    assert [c.name for c in again.changes] == ["web", "old"]
    report = json.loads(render(a_report(), "json"))
    assert [c["name"] for c in report["clients"]] == ["web"]
    assert json.loads(render(a_state(), "json"))[1] == {
        "name": "web", "client_id": "id-web", "applied_at": "2025-01-02T03:04:05Z"}
    findings = json.loads(render(some_findings(), "json"))
    assert findings["valid"] is False and findings["errors"] == 1 and findings["warnings"] == 1
    strict = Findings([], Summary(1, 1, 0, 1), strict=True)
    assert json.loads(render(strict, "json"))["valid"] is False
    assert json.loads(render(Findings([], Summary(1, 1, 0, 1)), "json"))["valid"] is True


def test_a_format_a_kind_does_not_have_is_one_line_naming_the_choices():
    with pytest.raises(UnknownFormat) as err:
        render(a_plan(), "github")
    assert str(err.value) == "--format github: a plan can be shown as text, markdown, json"
    with pytest.raises(UnknownFormat):
        render(some_findings(), "markdown")


@pytest.mark.parametrize(("command", "kind"), [("plan", "plan"), ("drift", "drift"), ("validate", "diagnostics")])
def test_the_cli_offers_exactly_the_formats_of_the_table(command: str, kind: str):
    ctx = cli.make_context("dcrsync", [command, "--help"], resilient_parsing=True)
    option = next(p for p in cli.get_command(ctx, command).params if p.name == "fmt")
    assert list(option.type.choices) == list(FORMATS[kind])
    assert option.default == next(iter(FORMATS[kind]))
    help_text = CliRunner().invoke(cli, [command, "--help"]).output
    assert "[" + "|".join(FORMATS[kind]) + "]" in help_text


def test_format_option_follows_the_table():
    @format_option("diagnostics")
    def command(fmt):  # pragma: no cover - only its option is looked at
        return fmt

    assert list(command.__click_params__[0].type.choices) == ["text", "json", "github", "sarif"]


@pytest.mark.parametrize("args", [["validate", "--format", "markdown"], ["plan", "--format", "github"]])
def test_an_unknown_format_on_the_command_line_is_one_line_and_exit_1(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing to read: the option is refused before anything runs
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Invalid value for '--format'"), r.output
    assert "Usage:" not in r.output


# -- the size budget --------------------------------------------------------------------------------


def mixed_plan(n: int) -> Plan:
    """`n` updates with a delete, a replace and a rotation spread among them, the last one at the end."""
    changes = []
    for i in range(n):
        changes.append(Change(
            "update", f"svc-{i:04d}", f"id-{i}", "pending",
            [FieldChange("redirect_uris", [f"https://{i}.example.com/a"], [f"https://{i}.example.com/b"])],
            source=f"clients/svc-{i:04d}.yaml:1",
        ))
        if i % 97 == 50:
            action = ("delete", "replace", "rotate")[(i // 97) % 3]
            changes.append(Change(action, f"gone-{i:04d}", f"id-g{i}", "pending", reason="test"))
    changes.append(Change("delete", "last-one", "id-last", "pending"))
    return Plan(changes, 0, SERVER, warnings=["svc-0001: something to know"])


@pytest.mark.parametrize("limit", [6_000, 20_000, markdown.LIMIT])
def test_the_budget_never_cuts_a_destructive_change_and_says_how_many_it_cut(limit: int):
    plan = mixed_plan(600)
    text = markdown.render(plan, limit=limit, details_url="https://ci.example.com/run/1")
    assert len(text) <= limit
    destructive = [c for c in plan.changes if c.action in DESTRUCTIVE]
    assert len(destructive) > 6
    for c in destructive:
        assert f"<b>{c.name}</b>" in text
    shown = text.count("<details>")
    hidden = len(plan.changes) - len(destructive) - shown
    assert hidden > 0
    cut = (
        f"\n**{hidden} more change(s) not shown** (comment size limit): "
        "[the full plan](<https://ci.example.com/run/1>) (the plan artifact of this run).\n"
    )
    # the cut comes after the last section shown, and only the warnings and the summary follow it
    assert text.index(cut) > text.rindex("</details>")
    assert re.fullmatch(r"\n\*\*Warnings\*\*\n\n- svc-0001: something to know\n\nPlan: .*\n\nFull plan: .*\n", text[text.index(cut) + len(cut):])
    # what was shown is the start of the plan order: the changes are cut from the end
    others = [c.name for c in plan.changes if c.action not in DESTRUCTIVE]
    assert all(f"<b>{name}</b> —" in text for name in others[:shown])
    assert f"<b>{others[shown]}</b> —" not in text


def test_compose_gives_must_the_room_and_cuts_the_rest_from_the_end():
    seen = []

    def must(room: int) -> str:
        seen.append(room)
        return "M" * 100

    groups = [budget.Group(list(range(20)), lambda i: f"[{i}]" + "x" * 95, "## A\n"), budget.Group([1, 2], str, "## B\n")]
    out = budget.compose("HEAD\n", "TAIL\n", groups, what="thing(s)", where="see all", must=must, limit=2_000)
    assert seen == [2_000 - len("HEAD\n") - len("TAIL\n") - budget.RESERVE]
    assert len(out) <= 2_000 and out.startswith("HEAD\nM") and out.endswith("\nTAIL\n")
    shown = out.count("[")
    assert 0 < shown < 20
    assert f"[{shown - 1}]" in out and f"[{shown}]" not in out
    assert "## B" not in out  # a heading is not written for a group that is wholly cut
    assert f"\n**{20 - shown + 2} more thing(s) not shown** (comment size limit): see all.\n\nTAIL\n" in out


def test_compose_without_a_cut_has_no_truncation_line():
    out = budget.compose("H\n", "T\n", [budget.Group(["a\n", "b\n"], str, "## G\n")], what="x", where="y")
    assert out == "H\n## G\na\nb\n\nT\n"


def test_lines_within_keeps_whole_lines_and_counts_the_rest():
    lines = [f"line {i}" for i in range(10)]
    out = budget.lines_within(lines, 20, lambda n: f"… {n} more")
    assert out == ["line 0", "line 1", "line 2", "… 7 more"]  # joined: exactly 20 characters
    assert budget.lines_within(lines, 1_000, lambda n: "never") == lines


def big_drift(n: int) -> DriftReport:
    clients = [
        DriftedClient(f"client-{i:05d}", f"00000000-0000-4000-8000-{i:012d}", "changed",
                      [FieldChange("redirect_uris", [f"https://{i}.example.com/a"], ["https://evil.example.net/cb"])],
                      updated_at="2025-01-01T22:10:00Z")
        for i in range(n)
    ]
    undeclared = [UndeclaredClient(f"u-{i}", f"id-u{i}", [UndeclaredChange("webOrigins", "changed", ["a"], ["b"])]) for i in range(50)]
    return DriftReport(SERVER, clients, checked=n, pending=0, undeclared=undeclared)


@pytest.mark.parametrize("n", [40, 300, 3_000])
def test_a_drift_issue_fits_with_its_cut_said(n: int):
    report = big_drift(n)
    text = drift.markdown(report)
    assert len(text) <= drift.LIMIT
    assert text.rstrip("\n").endswith(drift.summary_line(report))
    sections = text.count("<details>")
    if sections == n + 50:
        assert "not shown" not in text
        return
    assert f"**{n + 50 - sections} more client(s) not shown** (comment size limit): run `dcrsync drift` for all of them." in text
    if n == 3_000:  # thousands: even the table of who drifted is cut, and says by how much
        rows = text.count("| changed | <code>")
        assert 0 < rows < n and f"| … | {n - rows} more client(s) not shown |" in text
