"""GitHub integration: sticky plan comment, one drift issue, errors, the Markdown we post, the YAML we ship.

The GitHub API is a stub (tests/support/github_stub.py): GitHub cannot be reached from here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dcrsync.cli import cli
from dcrsync.errors import DcrsyncError
from dcrsync.github.client import GitHub
from dcrsync.github.sync import RESOLVED, upsert_comment
from dcrsync.net.http import RetryPolicy
from dcrsync.plan.drift import DriftedClient, DriftReport
from dcrsync.plan.plan import Change, FieldChange, Plan
from dcrsync.render import drift as render_drift
from dcrsync.render import markdown as render_markdown
from tests.support.github_stub import GitHubStub

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
SERVER = {"kind": "hydra", "url": "http://127.0.0.1:4445"}


@pytest.fixture
def stub():
    instance = GitHubStub().start()
    yield instance
    instance.stop()


@pytest.fixture
def gh_env(stub: GitHubStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The environment a GitHub Actions step sees, pointing at the stub."""
    pr = stub.add_pull()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "number": pr, "pull_request": {"number": pr}}))
    env = {
        "GITHUB_API_URL": stub.url,
        "GITHUB_TOKEN": stub.token,
        "GITHUB_REPOSITORY": stub.repo,
        "GITHUB_EVENT_PATH": str(event),
    }
    monkeypatch.delenv("GH_TOKEN", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {**env, "PR": pr}


@pytest.fixture(autouse=True)
def no_run_url(monkeypatch: pytest.MonkeyPatch):
    """Bodies must not depend on the CI run the tests happen to run in (its URL is the default link)."""
    for key in ("DCRSYNC_DETAILS_URL", "GITHUB_SERVER_URL", "GITHUB_RUN_ID"):
        monkeypatch.delenv(key, raising=False)


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


# -- Markdown bodies built by hand --------------------------------------------------------------


def small_plan(version: str = "a") -> Plan:
    return Plan(
        changes=[
            Change(
                "create", "billing-web", None, "pending",
                [
                    FieldChange("client_name", None, "Billing Web"),
                    FieldChange("redirect_uris", None, ["https://billing.example.com/callback"]),
                    FieldChange("client_secret", None, "(sensitive)"),
                ],
                source="clients/billing-web.yaml:1",
            ),
            Change(
                "update", "dashboard-spa", "0f6c2a1e-5d0b-4c55-9a51-1f3b2f0c9e77", "both",
                [
                    FieldChange("redirect_uris", ["https://dash.example.com/cb"], ["https://dash.example.com/cb", f"https://dash-{version}.example.com/cb"]),
                    FieldChange("client_name", "Dash <old> | v1", "Dash & co"),
                ],
                source="clients/dashboard-spa.yaml:3",
            ),
            Change(
                "replace", "mobile-app", "5b2d1c0e-aaaa-4bbb-8ccc-123456789abc", "pending",
                [FieldChange("token_endpoint_auth_method", "client_secret_basic", "none")],
                reason="token_endpoint_auth_method cannot change in place", source="clients/mobile-app.yaml:1",
            ),
            Change(
                "delete", "old-batch", "9d9d9d9d-0000-4000-8000-000000000001", "drift",
                reason="left git; prune is on",
            ),
        ],
        unchanged=7,
        server=SERVER,
        state_serial=12,
        warnings=["2 client(s) have no redirect_uris"],
        created_at="2025-01-02T03:04:05Z",
    )


def big_plan() -> Plan:
    changes = [
        Change(
            "update", f"client-{i:04d}", f"00000000-0000-4000-8000-{i:012d}", "pending",
            [
                FieldChange("redirect_uris", [f"https://app-{i}.example.com/old"], [f"https://app-{i}.example.com/cb", f"https://app-{i}.example.com/cb2"]),
                FieldChange("scope", "openid", "openid offline_access"),
            ],
            source=f"clients/client-{i:04d}.yaml:1",
        )
        for i in range(400)
    ]
    return Plan(changes=changes, unchanged=3, server=SERVER, created_at="2025-01-02T03:04:05Z")


def drift_report() -> DriftReport:
    return DriftReport(
        server=SERVER,
        clients=[
            DriftedClient(
                "billing-web", "c0ffee00-1111-4222-8333-444455556666", "changed",
                [
                    FieldChange("redirect_uris", ["https://billing.example.com/callback"], ["https://evil.example.net/cb"]),
                    FieldChange("client_secret", "(sensitive)", "(sensitive)"),
                ],
                updated_at="2025-01-01T22:10:00Z",
            ),
            DriftedClient("reports-worker", "abad1dea-0000-4000-8000-000000000002", "deleted", detail="deleted outside dcrsync"),
        ],
        checked=9,
        pending=1,
        pending_names=["support-portal"],
    )


def clean_report() -> DriftReport:
    return DriftReport(server=SERVER, clients=[], checked=9, pending=0)


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file; UPDATE_GOLDEN=1 to accept"


def test_golden_plan_comment():
    golden("plan-small.md", render_markdown.render(small_plan()))


def test_golden_plan_comment_empty():
    golden("plan-empty.md", render_markdown.render(Plan([], 9, SERVER, created_at="2025-01-02T03:04:05Z")))


def test_golden_plan_comment_at_size_limit():
    plan = big_plan()
    text = render_markdown.render(plan)
    assert len(text) <= render_markdown.LIMIT
    shown = text.count("<details>")
    assert 0 < shown < len(plan.changes)
    assert f"**{len(plan.changes) - shown} more change(s) not shown**" in text
    assert text.rstrip().endswith("Plan: 0 to create, 400 to update, 0 to replace, 0 to delete, 3 unchanged.")
    golden("plan-large.md", text)


def review_plan() -> Plan:
    """Every kind of change a reviewer meets, for one environment, with a conflict."""
    plan = small_plan()
    plan.environment = "staging"
    plan.conflicts = ["clients/support.yaml:1: client `support` exists on the server and is not managed by dcrsync: import it"]
    plan.changes[1:1] = [
        Change(
            "move", "billing-api", "7e7e7e7e-0000-4000-8000-000000000003", "pending",
            [
                FieldChange("scope", "openid", "openid billing", "change"),
                FieldChange("audience", None, ["https://billing.example.com"], "declare"),
                FieldChange("contacts", ["ops@example.com"], None, "unset"),
            ],
            source="clients/billing-api.yaml:1", moved_from="billing-backend",
        ),
        Change(
            "rotate", "reports-worker", "abad1dea-0000-4000-8000-000000000002", "pending",
            [FieldChange("client_secret", "(sensitive)", "(sensitive)")],
            reason="rotate_secret_after: 2025-01-01", source="clients/reports-worker.yaml:1",
        ),
    ]
    return plan


def test_golden_review_comment():
    """Environment, conflicts, move, rotate, declared and unset fields, the link to the full plan."""
    text = render_markdown.render(review_plan(), details_url="https://github.com/octo/clients/actions/runs/42")
    golden("plan-review.md", text)
    assert text.startswith("<!-- dcrsync-plan staging -->\n### dcrsync plan for <code>staging</code>\n")
    conflict, first_destructive = text.index("1 conflict(s) stop the apply"), text.index("<details open>")
    assert conflict < first_destructive
    assert "client &#96;support&#96; exists on the server" in text[conflict:first_destructive]
    # destructive first, in plan order, expanded and flagged; then the rest in plan order
    order = [text.index(f"<b>{name}</b> —") for name in ("reports-worker", "mobile-app", "old-batch", "billing-web", "billing-api", "dashboard-spa")]
    assert order == sorted(order)
    assert text.count("<details open>") == 3 and text.count("<details>") == 3
    assert "⚠️ <b><code>! rotate</code></b> <b>reports-worker</b>" in text
    assert "the app must be given the new secret" in text
    assert "<b>billing-backend</b> → <b>billing-api</b>" in text and "no new secret" in text
    assert "| <code>audience</code> <sub>newly declared</sub> | <i>(server default)</i> |" in text
    assert '| <code>contacts</code> <sub>no longer declared</sub> | <code>&#91;"ops&#64;&#8288;example.com"&#93;</code> | <i>(unset)</i> |' in text
    assert "[this run](<https://github.com/octo/clients/actions/runs/42>)" in text


def updates_and_a_delete(updates: int = 201) -> Plan:
    plan = big_plan()
    plan.changes = plan.changes[:updates] + [
        Change("delete", "legacy-sso", "dead0000-0000-4000-8000-000000000001", "pending", reason="left git; prune is on")
    ]
    return plan


def test_201_updates_never_hide_the_one_delete():
    """The reported case: a plan of 201 updates and 1 delete (last in plan order) lost the delete."""
    plan = updates_and_a_delete(201)
    text = render_markdown.render(plan, details_url="https://github.com/octo/clients/actions/runs/7")
    golden("plan-201-updates-1-delete.md", text)
    assert len(text) <= render_markdown.LIMIT
    delete = text.index("<details open><summary>⚠️ <b><code>- delete</code></b> <b>legacy-sso</b>")
    assert delete < text.index("<b>client-0000</b>")
    assert "> **This plan will delete 1 client(s).**" in text
    shown = text.count("<details>")
    assert 0 < shown < 201
    assert (
        f"**{201 - shown} more change(s) not shown** (comment size limit): "
        "[the full plan](<https://github.com/octo/clients/actions/runs/7>) (the plan artifact of this run)."
    ) in text
    # the same plan without a known URL says how to see the rest
    bare = render_markdown.render(plan, details_url=None)
    assert "more change(s) not shown** (comment size limit): run `dcrsync plan` for all of them." in bare
    assert "legacy-sso" in bare


def big_rotations(n: int) -> list[Change]:
    return [
        Change(
            "rotate", f"svc-{i:04d}", f"11111111-0000-4000-8000-{i:012d}", "pending",
            [FieldChange("client_secret", "(sensitive)", "(sensitive)")]
            + [FieldChange(f"metadata.note{j}", "x" * 60, "y" * 60) for j in range(4)],
            source=f"clients/svc-{i:04d}.yaml:1",
        )
        for i in range(n)
    ]


def test_destructive_changes_lose_their_tables_before_they_are_dropped():
    plan = Plan(changes=big_rotations(120) + big_plan().changes[:50], unchanged=0, server=SERVER)
    text = render_markdown.render(plan, details_url=None)
    assert len(text) <= render_markdown.LIMIT
    for i in range(120):  # every rotation keeps its own flagged, expanded section
        assert f"<details open><summary>⚠️ <b><code>! rotate</code></b> <b>svc-{i:04d}</b>" in text
    assert text.count("the app must be given the new secret") == 120
    assert "Field tables of some destructive changes are left out for size" in text
    assert "5 field(s) change; the table is left out for size" in text
    assert "| <code>metadata.note0</code> |" in text  # the first ones that fit keep theirs
    shown = text.count("<details>")  # the updates come after, as far as room is left
    assert shown < 50 and f"**{50 - shown} more change(s) not shown**" in text


@pytest.mark.parametrize("deletes", [2_000, 6_000])
def test_thousands_of_deletes_fall_back_to_their_names(deletes: int):
    changes = [Change("delete", f"c-{i:05d}", None, "pending") for i in range(deletes)]
    text = render_markdown.render(Plan(changes=changes, unchanged=0, server=SERVER), details_url=None)
    assert len(text) <= render_markdown.LIMIT
    assert f"- ⚠️ **delete** ({deletes}): <code>c-00000</code>" in text
    named = text.count("<code>c-")
    if named == deletes:
        assert "more not shown" not in text
    else:  # more names than GitHub can take: the count of the rest is said, never silently dropped
        assert named > 2_000 and f"… and **{deletes - named} more not shown**: see the full plan" in text


def test_details_url_defaults_to_the_github_actions_run(monkeypatch: pytest.MonkeyPatch):
    plan = updates_and_a_delete(201)
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example.com/")
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/clients")
    monkeypatch.setenv("GITHUB_RUN_ID", "9876")
    assert "[the full plan](<https://github.example.com/octo/clients/actions/runs/9876>)" in render_markdown.render(plan)
    monkeypatch.setenv("DCRSYNC_DETAILS_URL", "https://ci.example.com/build/5")
    assert "[the full plan](<https://ci.example.com/build/5>)" in render_markdown.render(plan)
    monkeypatch.setenv("DCRSYNC_DETAILS_URL", "javascript:alert(1)")  # not a web link: no link at all
    assert "run `dcrsync plan` for all of them" in render_markdown.render(plan)


def test_golden_drift_issue():
    golden("drift.md", render_drift.markdown(drift_report()))
    golden("drift-clean.md", render_drift.markdown(clean_report()))


def test_bodies_start_with_their_marker():
    assert render_markdown.render(small_plan()).split("\n", 1)[0] == "<!-- dcrsync-plan -->"
    assert render_drift.markdown(drift_report()).split("\n", 1)[0] == "<!-- dcrsync-drift -->"


# -- the sticky comment ---------------------------------------------------------------------------


def test_second_plan_updates_the_same_comment(stub: GitHubStub, gh_env, tmp_path: Path):
    pr = gh_env["PR"]
    stub.add_comment(pr, "LGTM", "a-human")
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    first.write_text(render_markdown.render(small_plan("a")))
    second.write_text(render_markdown.render(small_plan("b")))

    r1 = run("github", "comment", "--body-file", str(first))
    assert r1.exit_code == 0, r1.output
    assert r1.output.startswith(f"Created the dcrsync comment on {stub.repo}#{pr} (comment ")
    r2 = run("github", "comment", "--body-file", str(second))
    assert r2.exit_code == 0, r2.output
    assert r2.output.startswith(f"Updated the dcrsync comment on {stub.repo}#{pr} (comment ")

    comments = stub.comments[pr]
    ours = [c for c in comments if c["body"].startswith("<!-- dcrsync-plan -->")]
    assert len(ours) == 1 and len(comments) == 2
    assert ours[0]["body"] == second.read_text()
    assert "dash-b.example.com" in ours[0]["body"] and "dash-a.example.com" not in ours[0]["body"]
    assert comments[0]["body"] == "LGTM"
    writes = stub.writes()
    assert [(w.method, w.path) for w in writes] == [
        ("POST", f"/repos/{stub.repo}/issues/{pr}/comments"),
        ("POST", f"/repos/{stub.repo}/issues/{pr}/labels"),  # what `github apply-merged` finds it by
        ("PATCH", f"/repos/{stub.repo}/issues/comments/{ours[0]['id']}"),
        ("POST", f"/repos/{stub.repo}/issues/{pr}/labels"),
    ]
    assert stub.labels_of(pr) == {"dcrsync-plan"}
    for req in stub.requests:
        assert req.headers["Accept"] == "application/vnd.github+json"
        assert req.headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert req.headers["User-Agent"].startswith("dcrsync/")
    assert stub.token not in r1.output + r2.output


def test_pagination_finds_our_comment_on_page_two(stub: GitHubStub, gh_env, tmp_path: Path):
    pr = gh_env["PR"]
    stub.max_per_page = 3
    for i in range(4):
        stub.add_comment(pr, f"comment {i}", "a-human")
    ours = stub.add_comment(pr, "<!-- dcrsync-plan -->\nold plan\n", "github-actions[bot]")
    stub.add_comment(pr, "later comment", "a-human")
    body = tmp_path / "plan.md"
    body.write_text(render_markdown.render(small_plan()))

    result = run("github", "comment", "--body-file", str(body), "--pr", str(pr))
    assert result.exit_code == 0, result.output
    assert result.output == f"Updated the dcrsync comment on {stub.repo}#{pr} (comment {ours['id']}).\n"
    assert len(stub.comments[pr]) == 6
    assert ours["body"] == body.read_text()
    pages = [r.query.get("page", "1") for r in stub.requests if r.method == "GET"]
    assert pages == ["1", "2"]  # stopped at the page that held ours


def test_marker_option_keeps_one_comment_per_environment(stub: GitHubStub, gh_env, tmp_path: Path):
    pr = gh_env["PR"]
    body = tmp_path / "plan.md"
    body.write_text(render_markdown.render(small_plan()))
    for env in ("staging", "production", "staging"):
        result = run("github", "comment", "--body-file", str(body), "--marker", f"<!-- dcrsync-plan {env} -->")
        assert result.exit_code == 0, result.output
    firsts = sorted(c["body"].split("\n", 1)[0] for c in stub.comments[pr])
    assert firsts == ["<!-- dcrsync-plan production -->", "<!-- dcrsync-plan staging -->"]


def test_each_environment_keeps_its_own_comment_by_default(stub: GitHubStub, gh_env, tmp_path: Path):
    pr = gh_env["PR"]
    for env, version in (("staging", "a"), ("production", "a"), ("staging", "b")):
        plan = small_plan(version)
        plan.environment = env
        body = tmp_path / f"{env}.md"
        body.write_text(render_markdown.render(plan))
        result = run("github", "comment", "--body-file", str(body))
        assert result.exit_code == 0, result.output
    bodies = {c["body"].split("\n", 1)[0]: c["body"] for c in stub.comments[pr]}
    assert sorted(bodies) == ["<!-- dcrsync-plan production -->", "<!-- dcrsync-plan staging -->"]
    assert "### dcrsync plan for <code>staging</code>" in bodies["<!-- dcrsync-plan staging -->"]
    assert "dash-b.example.com" in bodies["<!-- dcrsync-plan staging -->"]
    assert "dash-a.example.com" in bodies["<!-- dcrsync-plan production -->"]


def test_failed_plan_replaces_the_old_plan_with_the_error(stub: GitHubStub, gh_env, tmp_path: Path, monkeypatch):
    pr = gh_env["PR"]
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_RUN_ID", "555")
    for env in ("staging", "production"):
        plan = small_plan()
        plan.environment = env
        saved = tmp_path / f"{env}.json"
        saved.write_text(plan.to_json())
        result = run("github", "comment", "--plan", str(saved))
        assert result.exit_code == 0, result.output
    staging = next(c for c in stub.comments[pr] if c["body"].startswith("<!-- dcrsync-plan staging -->"))
    production_before = next(c["body"] for c in stub.comments[pr] if "production" in c["body"].split("\n", 1)[0])
    assert "<b>old-batch</b>" in staging["body"]
    assert f"[this run](<https://github.com/{stub.repo}/actions/runs/555>)" in staging["body"]

    err = tmp_path / "plan.err"
    err.write_text("error: cannot reach the Hydra admin API at http://127.0.0.1:4445 (ConnectError); is it running?\n")
    result = run("github", "comment", "--error-file", str(err), "--error-file", str(tmp_path / "never-written"), "--env", "staging")
    assert result.exit_code == 0, result.output
    assert f"Updated the failure on {stub.repo}#{pr} (comment {staging['id']})." in result.output
    assert "never-written does not exist" in result.output  # a warning; the failure is posted anyway
    assert len(stub.comments[pr]) == 2
    body = staging["body"]
    assert body.startswith("<!-- dcrsync-plan staging -->\n### ❌ dcrsync plan for <code>staging</code> failed\n")
    assert "There is no plan to review." in body and "old-batch" not in body and "Plan: " not in body
    assert "```text\nerror: cannot reach the Hydra admin API at http://127.0.0.1:4445 (ConnectError); is it running?\n```" in body
    assert f"[the failed run](<https://github.com/{stub.repo}/actions/runs/555>)" in body
    production = next(c["body"] for c in stub.comments[pr] if "production" in c["body"].split("\n", 1)[0])
    assert production == production_before  # another environment's plan is left alone


def test_failed_validation_is_posted_readably(stub: GitHubStub, gh_env, tmp_path: Path):
    out = tmp_path / "validate.out"
    out.write_text(
        "::error file=clients/a%2Cb.yaml,line=3,col=5,title=dcrsync schema::redirect_uris must be a list%0Asee docs\n"
        "1 error, 0 warnings in 4 file(s)\n"
    )
    result = run("github", "comment", "--error-file", str(out), "--error-file", str(tmp_path / "empty.err"))
    assert result.exit_code == 0, result.output
    body = stub.comments[gh_env["PR"]][0]["body"]
    assert body.startswith("<!-- dcrsync-plan -->\n### ❌ dcrsync plan failed\n")
    assert "clients/a,b.yaml:3:5: error: redirect_uris must be a list\nsee docs\n1 error, 0 warnings" in body
    assert "::error" not in body


def test_failure_without_any_error_text_still_replaces_the_plan(stub: GitHubStub, gh_env, tmp_path: Path):
    pr = gh_env["PR"]
    stub.add_comment(pr, render_markdown.render(small_plan()), "github-actions[bot]")
    empty = tmp_path / "plan.err"
    empty.write_text("")
    result = run("github", "comment", "--error-file", str(empty))
    assert result.exit_code == 0, result.output
    (comment,) = stub.comments[pr]
    assert "The step failed without an error message" in comment["body"] and "old-batch" not in comment["body"]


def test_comment_from_a_saved_plan_checks_it(stub: GitHubStub, gh_env, tmp_path: Path):
    plan = small_plan()
    plan.environment = "staging"
    saved = tmp_path / "plan.json"
    saved.write_text(plan.to_json())
    wrong = CliRunner().invoke(cli, ["github", "comment", "--plan", str(saved), "--env", "production"])
    assert wrong.exit_code == 1 and "planned for environment `staging`, not `production`" in wrong.output
    saved.write_text(saved.read_text().replace("old-batch", "new-batch"))
    tampered = CliRunner().invoke(cli, ["github", "comment", "--plan", str(saved)])
    assert tampered.exit_code == 1 and "checksum mismatch" in tampered.output
    both = CliRunner().invoke(cli, ["github", "comment", "--plan", str(saved), "--error-file", str(saved)])
    assert both.exit_code == 1 and "exactly one of --body-file FILE, --plan FILE or --error-file FILE" in both.output
    none = CliRunner().invoke(cli, ["github", "comment"])
    assert none.exit_code == 1 and "exactly one of" in none.output
    bad_url = CliRunner().invoke(cli, ["github", "comment", "--error-file", str(saved), "--details-url", "file:///etc"])
    assert bad_url.exit_code == 1 and "give an http(s) URL" in bad_url.output
    assert not stub.requests


def test_pr_number_comes_from_the_event(stub: GitHubStub, gh_env, tmp_path: Path, monkeypatch):
    body = tmp_path / "plan.md"
    body.write_text(render_markdown.render(small_plan()))
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main"}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(push))
    result = CliRunner().invoke(cli, ["github", "comment", "--body-file", str(body)])
    assert result.exit_code == 1
    assert "not about a pull request" in result.output and "--pr N" in result.output
    assert not stub.requests


def test_body_without_marker_is_refused(stub: GitHubStub, gh_env, tmp_path: Path):
    body = tmp_path / "plan.txt"
    body.write_text("Plan: 1 to create\n")
    result = CliRunner().invoke(cli, ["github", "comment", "--body-file", str(body)])
    assert result.exit_code == 1
    assert "hidden marker" in result.output and "Traceback" not in result.output
    assert not stub.requests


# -- the drift issue ------------------------------------------------------------------------------


def test_drift_opens_updates_and_closes_one_issue(stub: GitHubStub, gh_env, tmp_path: Path):
    drifted, clean = tmp_path / "drift.md", tmp_path / "clean.md"
    drifted.write_text(render_drift.markdown(drift_report()))
    clean.write_text(render_drift.markdown(clean_report()))
    stub.issues[99] = stub._issue(99, "unrelated", "<!-- dcrsync-drift -->\nsomeone else's", ["bug"])

    r1 = run("github", "drift-issue", "--body-file", str(drifted), "--exit-code", "2")
    assert r1.exit_code == 0, r1.output
    ours = [n for n, i in stub.issues.items() if any(lab["name"] == "dcrsync-drift" for lab in i["labels"])]
    assert len(ours) == 1
    number = ours[0]
    assert r1.output == f"Opened drift issue {stub.repo}#{number}.\n"
    issue = stub.issues[number]
    assert issue["state"] == "open" and issue["body"] == drifted.read_text()

    drifted.write_text(drifted.read_text().replace("evil.example.net", "worse.example.net"))
    r2 = run("github", "drift-issue", "--body-file", str(drifted), "--drifted")
    assert r2.exit_code == 0, r2.output
    assert r2.output == f"Updated drift issue {stub.repo}#{number}.\n"
    assert "worse.example.net" in issue["body"]

    r3 = run("github", "drift-issue", "--body-file", str(clean), "--exit-code", "0")
    assert r3.exit_code == 0, r3.output
    assert r3.output == f"Closed drift issue {stub.repo}#{number}: the server matches the last apply again.\n"
    assert issue["state"] == "closed" and issue["state_reason"] == "completed"
    assert [c["body"] for c in stub.comments[number]] == [RESOLVED]

    r4 = run("github", "drift-issue", "--body-file", str(clean), "--clean")
    assert r4.output == f"No drift and no open drift issue in {stub.repo}: nothing to do.\n"
    assert len([i for i in stub.issues.values() if "pull_request" not in i]) == 2  # ours + the unrelated one
    assert stub.issues[99]["state"] == "open"

    r5 = run("github", "drift-issue", "--body-file", str(drifted), "--exit-code", "2")  # drift again: a new issue
    assert r5.output.startswith("Opened drift issue")
    assert stub.issues[number]["state"] == "closed"


def test_each_environment_keeps_its_own_drift_issue(stub: GitHubStub, gh_env, tmp_path: Path):
    """A nightly matrix over staging and production: one issue each, and one closing leaves the other."""
    bodies = {}
    for env in ("staging", "production"):
        report = drift_report()
        report.environment = env
        bodies[env] = tmp_path / f"{env}.md"
        bodies[env].write_text(render_drift.markdown(report))
        assert bodies[env].read_text().startswith(f"<!-- dcrsync-drift {env} -->\n### dcrsync drift: <code>{env}</code>")
        assert run("github", "drift-issue", "--body-file", str(bodies[env]), "--drifted").output.startswith("Opened")
    ours = {i["title"]: n for n, i in stub.issues.items() if "pull_request" not in i}
    assert set(ours) == {"dcrsync: clients changed on the server outside dcrsync (staging)",
                         "dcrsync: clients changed on the server outside dcrsync (production)"}
    clean = clean_report()
    clean.environment = "staging"
    bodies["staging"].write_text(render_drift.markdown(clean))
    assert run("github", "drift-issue", "--body-file", str(bodies["staging"]), "--clean").output.startswith("Closed")
    states = {title: stub.issues[n]["state"] for title, n in ours.items()}
    assert sorted(states.values()) == ["closed", "open"]
    assert states["dcrsync: clients changed on the server outside dcrsync (production)"] == "open"


def test_failed_drift_run_leaves_the_issue_alone(stub: GitHubStub, gh_env, tmp_path: Path):
    body = tmp_path / "drift.md"
    body.write_text(render_drift.markdown(drift_report()))
    result = CliRunner().invoke(cli, ["github", "drift-issue", "--body-file", str(body), "--exit-code", "1"])
    assert result.exit_code == 1
    assert result.output.startswith("error: `dcrsync drift` failed (exit 1)")
    assert not stub.requests


def test_drift_issue_is_found_across_pages(stub: GitHubStub, gh_env, tmp_path: Path):
    stub.max_per_page = 2
    body = tmp_path / "drift.md"
    body.write_text(render_drift.markdown(drift_report()))
    assert run("github", "drift-issue", "--body-file", str(body), "--drifted").output.startswith("Opened")
    for i in range(5):  # newer issues with our label but not ours push it to the last page
        number = stub._new_number()
        stub.issues[number] = stub._issue(number, f"other {i}", "no marker", ["dcrsync-drift"])
    result = run("github", "drift-issue", "--body-file", str(body), "--drifted")
    assert result.output.startswith("Updated drift issue"), result.output
    assert sum(1 for i in stub.issues.values() if i["body"].startswith("<!-- dcrsync-drift -->")) == 1


# -- errors ---------------------------------------------------------------------------------------


def test_bad_token_is_one_line_without_traceback(stub: GitHubStub, gh_env, tmp_path: Path, monkeypatch):
    body = tmp_path / "plan.md"
    body.write_text(render_markdown.render(small_plan()))
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrongwrongwrong")
    result = CliRunner().invoke(cli, ["github", "comment", "--body-file", str(body)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: GitHub answered 401 (Bad credentials)")
    assert "GITHUB_TOKEN" in lines[0]
    assert "ghp_wrongwrongwrong" not in result.output and "Traceback" not in result.output


def test_bad_token_in_a_real_process(stub: GitHubStub, gh_env, tmp_path: Path):
    body = tmp_path / "drift.md"
    body.write_text(render_drift.markdown(drift_report()))
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN",)}
    env.update({k: str(v) for k, v in gh_env.items() if k != "PR"})
    env["GITHUB_TOKEN"] = "ghp_secretsecretsecret"
    proc = subprocess.run(
        [sys.executable, "-m", "dcrsync", "github", "drift-issue", "--body-file", str(body), "--exit-code", "2"],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: GitHub answered 401")
    assert "Traceback" not in proc.stderr and "ghp_secretsecretsecret" not in proc.stderr


def test_read_only_token_names_the_permission(stub: GitHubStub, gh_env, tmp_path: Path):
    stub.read_only = True
    plan_body, drift_body = tmp_path / "plan.md", tmp_path / "drift.md"
    plan_body.write_text(render_markdown.render(small_plan()))
    drift_body.write_text(render_drift.markdown(drift_report()))
    r1 = CliRunner().invoke(cli, ["github", "comment", "--body-file", str(plan_body)])
    assert r1.exit_code == 1 and "403 (Resource not accessible by integration)" in r1.output
    assert "`permissions: pull-requests: write`" in r1.output
    r2 = CliRunner().invoke(cli, ["github", "drift-issue", "--body-file", str(drift_body), "--drifted"])
    assert r2.exit_code == 1 and "`permissions: issues: write`" in r2.output


def test_unknown_pull_request_is_404(stub: GitHubStub, gh_env, tmp_path: Path):
    body = tmp_path / "plan.md"
    body.write_text(render_markdown.render(small_plan()))
    result = CliRunner().invoke(cli, ["github", "comment", "--body-file", str(body), "--pr", "4242"])
    assert result.exit_code == 1
    assert "404" in result.output and f"{stub.repo}#4242" in result.output and "GITHUB_REPOSITORY" in result.output


def test_missing_token_and_repo(gh_env, tmp_path: Path, monkeypatch):
    body = tmp_path / "plan.md"
    body.write_text(render_markdown.render(small_plan()))
    monkeypatch.delenv("GITHUB_TOKEN")
    result = CliRunner().invoke(cli, ["github", "comment", "--body-file", str(body)])
    assert result.exit_code == 1 and "no GitHub token" in result.output
    monkeypatch.setenv("GITHUB_TOKEN", "x")
    monkeypatch.delenv("GITHUB_REPOSITORY")
    result = CliRunner().invoke(cli, ["github", "comment", "--body-file", str(body)])
    assert result.exit_code == 1 and "GITHUB_REPOSITORY" in result.output


def test_unreachable_api_is_one_clear_error(tmp_path: Path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gh = GitHub("tok", f"http://127.0.0.1:{port}", policy=RetryPolicy(attempts=1))
    with gh, pytest.raises(DcrsyncError) as info:
        upsert_comment(gh, "octo/clients", 1, "<!-- dcrsync-plan -->\nx\n")
    assert str(info.value).startswith(f"cannot reach the GitHub API at http://127.0.0.1:{port} (ConnectError)")
    assert "GITHUB_API_URL" in str(info.value)


def test_oversized_body_is_refused_before_sending(stub: GitHubStub):
    with GitHub(stub.token, stub.url) as gh, pytest.raises(DcrsyncError, match="at most 65536"):
        upsert_comment(gh, stub.repo, 1, "<!-- dcrsync-plan -->\n" + "x" * 70_000)
    assert not stub.requests


def test_next_link_to_another_host_is_not_followed(stub: GitHubStub):
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[], headers={"Link": '<https://evil.example.net/x?page=2>; rel="next"'})

    with GitHub("tok", "https://api.github.com", transport=httpx.MockTransport(handler)) as gh:
        with pytest.raises(DcrsyncError, match="another host"):
            upsert_comment(gh, "octo/clients", 1, "<!-- dcrsync-plan -->\nx\n")


# -- the YAML we ship -----------------------------------------------------------------------------

WORKFLOWS = [
    ROOT / ".github/workflows/ci.yml",
    ROOT / "examples/workflows/plan-on-pull-request.yml",
    ROOT / "examples/workflows/apply-on-merge.yml",
    ROOT / "examples/workflows/apply-on-merge-shared-state.yml",
    ROOT / "examples/workflows/nightly-drift.yml",
    ROOT / "examples/workflows/nightly-audit.yml",
    ROOT / "examples/workflows/plan-on-pull-request-environments.yml",
    ROOT / "examples/workflows/apply-on-merge-environments.yml",
]
EXAMPLES = ROOT / "examples/workflows"


def test_composite_action_parses():
    action = yaml.safe_load((ROOT / ".github/actions/dcrsync/action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert {"command", "config", "environment", "sops-age-key", "python-version", "sops-version", "sops-sha256", "error-file"} <= set(action["inputs"])
    assert {"exit-code", "output-file", "error-file"} <= set(action["outputs"])
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert step.get("shell") == "bash", step.get("name")
            assert "${{ inputs.sops-age-key }}" not in step["run"], "the key goes through env, never into a script"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_parses(path: Path):
    doc = yaml.safe_load(path.read_text())
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert on, f"{path.name} has no `on`"
    assert doc["jobs"], f"{path.name} has no jobs"
    for job in doc["jobs"].values():
        assert job.get("runs-on") and job.get("steps")


ACTION_REF = re.compile(r"^dcrsync/dcrsync/\.github/actions/dcrsync@v\d[\w.]*$")


def _steps(doc: dict) -> list[tuple[str, dict]]:
    return [(job_id, step) for job_id, job in doc["jobs"].items() for step in job["steps"]]


@pytest.mark.parametrize("path", sorted((ROOT / "examples/workflows").glob("*.yml")), ids=lambda p: p.name)
def test_example_workflows_work_when_copied(path: Path):
    """`./.github/actions/dcrsync` exists only in dcrsync's own repository: examples use the published action."""
    text = path.read_text()
    assert "./.github/actions/dcrsync" not in text
    uses = [step["uses"] for _, step in _steps(yaml.safe_load(text)) if "dcrsync" in step.get("uses", "")]
    assert uses, f"{path.name} does not use the dcrsync action"
    assert all(ACTION_REF.match(u) for u in uses), uses


def test_plan_workflow_skips_forks_and_replaces_a_failed_plan():
    doc = yaml.safe_load((ROOT / "examples/workflows/plan-on-pull-request.yml").read_text())
    same = "github.event.pull_request.head.repo.full_name == github.repository"
    assert doc["jobs"]["plan"]["if"] == same
    fork = doc["jobs"]["fork"]
    assert fork["if"] == same.replace("==", "!=")
    notice = fork["steps"][0]["run"]
    assert notice.startswith("echo \"::notice title=dcrsync plan skipped::") and "gets no secrets" in notice
    assert all("secrets." not in json.dumps(step) for step in fork["steps"])
    steps = {step.get("id") or step.get("name"): step for _, step in _steps({"jobs": {"plan": doc["jobs"]["plan"]}})}
    assert steps["Comment the plan on the pull request"]["with"]["command"] == "github comment --plan plan.json"
    failed = {name: step for name, step in steps.items() if "failure()" in str(step.get("if", ""))}
    assert set(failed) == {"Replace the plan comment with the validation errors", "Replace the plan comment with the plan's error"}
    plan_error = failed["Replace the plan comment with the plan's error"]
    assert plan_error["if"] == "failure() && steps.plan.outcome == 'failure'"
    assert plan_error["with"]["command"] == f'github comment --error-file "{steps["plan"]["with"]["error-file"]}"'
    validate_error = failed["Replace the plan comment with the validation errors"]["with"]["command"]
    for key in ("output-file", "error-file"):
        assert f'--error-file "{steps["validate"]["with"][key]}"' in validate_error


def _dcrsync_steps(doc: dict) -> list[tuple[str, dict]]:
    return [(job, s) for job, s in _steps(doc) if "dcrsync/.github/actions/dcrsync" in s.get("uses", "")]


@pytest.mark.parametrize("name", ["plan-on-pull-request.yml", "plan-on-pull-request-environments.yml"])
def test_pull_request_jobs_get_no_key_and_only_read_only_credentials(name: str):
    """Issue 16 item 10: a branch author can change the workflow a pull request runs, so its jobs
    reach nothing that writes: no age key, no write token, no protected environment."""
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    text = json.dumps(doc)  # what runs, comments left out
    assert "DCRSYNC_AGE_KEY" not in text and "sops-age-key" not in text
    assert "secrets.HYDRA_ADMIN_TOKEN" not in text and "secrets.HYDRA_READONLY_TOKEN" in text
    assert all("environment" not in job for job in doc["jobs"].values())
    for _, step in _dcrsync_steps(doc):
        if step["with"]["command"].startswith("plan"):
            assert step["with"]["trusted-server"] == "${{ vars.DCRSYNC_TRUSTED_SERVER }}"


@pytest.mark.parametrize("name", ["apply-on-merge.yml", "apply-on-merge-shared-state.yml",
                                  "apply-on-merge-environments.yml", "nightly-drift.yml"])
def test_the_key_and_write_credentials_live_in_a_protected_environment(name: str):
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    for job in doc["jobs"].values():
        assert job["environment"].startswith("dcrsync-"), name
    for _, step in _dcrsync_steps(doc):
        if step["with"].get("sops-age-key") or "secrets." in json.dumps(step.get("env", {})):
            assert step["with"]["trusted-server"] == "${{ vars.DCRSYNC_TRUSTED_SERVER }}", (name, step)


@pytest.mark.parametrize("name", ["apply-on-merge.yml", "apply-on-merge-shared-state.yml", "apply-on-merge-environments.yml"])
def test_apply_workflows_apply_every_merged_plan_through_dcrsync(name: str):
    """Issue 17 item 3: the queue is dcrsync's (tested in test_merge_queue.py), not shell in YAML."""
    text = (EXAMPLES / name).read_text()
    doc = yaml.safe_load(text)
    assert "gh run" not in text and "gh api" not in text
    commands = [s["with"]["command"] for _, s in _dcrsync_steps(doc)]
    assert any(c.startswith("github apply-merged --plan-workflow plan-on-pull-request") for c in commands), commands
    on = doc.get("on", doc.get(True))
    assert "workflow_dispatch" in on  # the queue can be run again by hand
    assert doc["permissions"]["pull-requests"] == "write" and doc["permissions"]["issues"] == "write"


def test_the_environment_workflows_are_a_matrix_with_an_artifact_and_an_apply_per_environment():
    plan = yaml.safe_load((EXAMPLES / "plan-on-pull-request-environments.yml").read_text())
    apply = yaml.safe_load((EXAMPLES / "apply-on-merge-environments.yml").read_text())
    envs = plan["jobs"]["plan"]["strategy"]["matrix"]["environment"]
    assert envs == apply["jobs"]["apply"]["strategy"]["matrix"]["environment"] and len(envs) >= 2
    upload = next(s for _, s in _steps(plan) if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["name"] == "dcrsync-plan-${{ matrix.environment }}"  # apply-merged --env's default
    for _, step in _dcrsync_steps({"jobs": {"plan": plan["jobs"]["plan"]}}) + _dcrsync_steps(apply):
        assert step["with"]["environment"] == "${{ matrix.environment }}", step
    assert apply["jobs"]["apply"]["environment"] == "dcrsync-${{ matrix.environment }}"
    assert apply["jobs"]["apply"]["concurrency"]["group"] == "dcrsync-apply-${{ matrix.environment }}"


def _action_step(name: str) -> dict:
    action = yaml.safe_load((ROOT / ".github/actions/dcrsync/action.yml").read_text())
    return next(s for s in action["runs"]["steps"] if s.get("id") == name or s.get("name") == name)


@pytest.mark.parametrize(
    ("command", "code", "passes", "argv"),
    [
        ("plan --format markdown --out 'my plan.json'", 2, True,
         ["plan", "--format", "markdown", "--out", "my plan.json", "--config", "dcrsync.yaml", "--env", "prod"]),
        ("validate --format github", 0, True, ["validate", "--format", "github", "--config", "dcrsync.yaml", "--env", "prod"]),
        ("apply plan.json $(touch pwned)", 1, False,
         ["apply", "plan.json", "$(touch", "pwned)", "--config", "dcrsync.yaml", "--env", "prod"]),
        ('github comment --body-file "/tmp/x y.md"', 0, True, ["github", "comment", "--body-file", "/tmp/x y.md", "--env", "prod"]),
        ("github drift-issue --body-file d.md --drifted", 0, True, ["github", "drift-issue", "--body-file", "d.md", "--drifted"]),
        ("github apply-merged --lock-timeout 600", 0, True,
         ["github", "apply-merged", "--lock-timeout", "600", "--config", "dcrsync.yaml", "--env", "prod"]),
    ],
)
def test_action_run_step(tmp_path: Path, command: str, code: int, passes: bool, argv: list[str]):
    """The composite action's run step, with a fake `dcrsync` that prints its argv and exits `code`."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "dcrsync"
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n"
        f"print('error: exit {code}', file=sys.stderr)\nsys.exit({code})\n"
    )
    fake.chmod(0o755)
    (tmp_path / "temp").mkdir()
    outputs = tmp_path / "github_output"
    env = {
        "PATH": f"{bindir}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "RUNNER_TEMP": str(tmp_path / "temp"),
        "GITHUB_OUTPUT": str(outputs),
        "DCRSYNC_COMMAND": command,
        "DCRSYNC_CONFIG_INPUT": "dcrsync.yaml",
        "DCRSYNC_ENV_INPUT": "prod",
        "DCRSYNC_OUTPUT": "",
        "GITHUB_TOKEN": "t",
    }
    script = _action_step("run")["run"]
    proc = subprocess.run(["bash", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (proc.returncode == 0) is passes, proc.stdout + proc.stderr
    assert not (tmp_path / "pwned").exists()
    got = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert got["exit-code"] == str(code)
    assert json.loads(Path(got["output-file"]).read_text()) == argv
    assert Path(got["error-file"]).read_text() == f"error: exit {code}\n"  # kept for `github comment --error-file`
    assert f"error: exit {code}" in proc.stderr  # and still shown in the log


@pytest.mark.parametrize(("trusted", "warned"), [("", True), ("https://hydra-admin.example.com:4445", False)])
def test_action_warns_when_no_trusted_server_is_set(tmp_path: Path, trusted: str, warned: bool):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "dcrsync").write_text(f"#!{sys.executable}\nimport os\nprint(os.environ.get('DCRSYNC_TRUSTED_SERVER'))\n")
    (bindir / "dcrsync").chmod(0o755)
    env = {"PATH": f"{bindir}:{Path(sys.executable).parent}:/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path),
           "GITHUB_OUTPUT": str(tmp_path / "out"), "DCRSYNC_COMMAND": "plan", "DCRSYNC_CONFIG_INPUT": "",
           "DCRSYNC_ENV_INPUT": "", "DCRSYNC_OUTPUT": "", "DCRSYNC_TRUSTED_SERVER": trusted}
    proc = subprocess.run(["bash", "-c", _action_step("run")["run"]], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert ("::warning title=dcrsync::trusted-server is not set" in proc.stdout) is warned
    assert proc.stdout.rstrip().endswith(trusted or "")
    step = _action_step("run")["env"]
    assert step["DCRSYNC_TRUSTED_SERVER"] == "${{ inputs.trusted-server || env.DCRSYNC_TRUSTED_SERVER }}"


def test_action_writes_the_age_key_privately(tmp_path: Path):
    key = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
    genv = tmp_path / "github_env"
    env = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), "GITHUB_ENV": str(genv),
           "AGE_KEY": f"# created: 2025-01-01\n# public key: age1xyz\n{key}"}
    script = _action_step("Install the age key")["run"]
    proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"::add-mask::{key}\n"  # the only place the key is printed: a mask command
    path = Path(genv.read_text().strip().split("=", 1)[1])
    assert path.read_text().endswith(key + "\n")
    assert path.stat().st_mode & 0o777 == 0o600
