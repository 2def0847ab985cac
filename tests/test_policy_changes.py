"""The policy's rules on changes, against a real Ory Hydra: a plan that breaks one is stopped (its
conflicts say why), an exception naming its approver lets it through, and `apply` checks a saved plan
again against the policy it finds: an exception that expired since the plan, or a rule added since,
refuses the plan with nothing sent to the server."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dcrsync.plan.plan import Plan
from dcrsync.policy.model import today
from dcrsync.render.formats import render
from tests.support.hydra_api import clients_of

pytestmark = pytest.mark.hydra

LATER = (today() + dt.timedelta(days=10)).isoformat()
YESTERDAY = (today() - dt.timedelta(days=1)).isoformat()
CRITICAL = {
    "client_name": "Ledger", "grant_types": ["client_credentials"], "scope": "ledger.read",
    "labels": {"team": "billing", "tier": "critical"},
}
RULES = """\
version: 1
changes:
  - id: keep-critical
    description: critical clients are never deleted by a plan
    when: {labels: {tier: critical}}
    forbid: {actions: [delete, replace]}
  - id: production-scopes
    description: in production a client gains a scope only with a named approval
    when: {environment: production}
    forbid: {additions: [scope]}
"""


def exception(rule: str, client: str, expires: str, values: str = "") -> str:
    return (
        f"  - rule: {rule}\n    clients: [{client}]\n{values}    reason: approved in SEC-42\n"
        f"    approved_by: security@example.com\n    expires: {expires}\n"
    )


@pytest.fixture
def project(hydra_project):
    p = hydra_project
    p.set_config(policy="policy.yaml", prune=True, environments={"production": {"vars": {}}})
    (p.root / "policy.yaml").write_text(RULES)
    p.write_client("metrics", {"client_name": "Metrics", "grant_types": ["client_credentials"]})
    return p


def names_on(hydra, owner: str) -> set[str]:
    return {c["metadata"]["dcrsync"]["name"] for c in clients_of(hydra.admin_url, owner)} - {"metrics"}


def test_deleting_a_critical_client_is_stopped_at_plan_and_at_apply(project, hydra):
    p = project
    p.write_client("ledger", CRITICAL)
    assert p.run("apply", "--auto-approve").exit_code == 0
    assert p.run("state", "show", "ledger").exit_code == 0
    p.remove_client("ledger")  # its labels are gone from git: the state still knows them

    r = p.run_sub("plan", "--out", "plan.json")
    assert r.returncode == 1
    assert (
        "error: ledger: change rule `keep-critical` (policy.yaml:3) forbids `delete` (critical clients are never "
        "deleted by a plan): drop the change, or add an exception for `ledger` with the reason, who approved it "
        "and an expiry to policy.yaml"
    ) in r.stderr.splitlines()
    plan = Plan.from_json((p.root / "plan.json").read_text())
    assert plan.changes[0].labels == {"team": "billing", "tier": "critical"}
    assert p.run_sub("apply", "--auto-approve").returncode == 1
    assert names_on(hydra, p.owner) == {"ledger"}

    # an approved exception lets the plan through; the plan records it, the comment shows it
    (p.root / "policy.yaml").write_text(RULES + "lint: {only_by_exception: [DCR010]}\nexceptions:\n"
                                        + exception("keep-critical", "ledger", LATER))
    r = p.run_sub("plan", "--out", "plan.json")
    assert r.returncode == 0, r.stderr
    plan = Plan.from_json((p.root / "plan.json").read_text())
    assert plan.policy["exceptions"][0]["expires"] == LATER and plan.policy["exceptions"][0]["days_left"] == 10
    assert plan.policy["only_by_exception"] == ["DCR010"]  # the rules no ignore in the branch silences
    comment = render(plan, "markdown")
    assert "**Policy** (<code>policy.yaml</code>" in comment
    assert "Lint rules only its exceptions set aside: <code>DCR010</code>." in comment
    assert (
        f"| <code>keep-critical</code> | <code>ledger</code> | security@example.com | ⚠️ {LATER} (in 10 days) | "
        "approved in SEC-42 |"
    ) in comment

    # the exception is withdrawn (or expires) before the merge: apply refuses the reviewed plan
    (p.root / "policy.yaml").write_text(RULES + "exceptions:\n" + exception("keep-critical", "ledger", YESTERDAY))
    r = p.run_sub("apply", "plan.json")
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == (
        "error: 1 change(s) of the plan break the policy's change rules (listed above); nothing was sent to the server"
    )
    assert "error: ledger: change rule `keep-critical`" in r.stderr
    assert names_on(hydra, p.owner) == {"ledger"}

    (p.root / "policy.yaml").write_text(RULES + "exceptions:\n" + exception("keep-critical", "ledger", LATER))
    assert p.run_sub("apply", "plan.json", "--force").returncode == 0  # 1 of the project's 2 clients: over 30 %
    assert names_on(hydra, p.owner) == set()


def test_scope_added_in_production_needs_a_named_approval_for_that_scope(project, hydra):
    p = project
    p.write_client("reports", {"client_name": "Reports", "grant_types": ["client_credentials"], "scope": "reports.read"})
    r = p.run_sub("plan", "--env", "production")
    assert r.returncode == 1 and "forbids adding `reports.read` to `scope`" in r.stderr  # a new client adds its scopes
    assert p.run_sub("plan").returncode == 0, p.run_sub("plan").stderr  # other environments: no such rule
    approved = exception("production-scopes", "reports", LATER, "    values: [reports.read]\n")
    (p.root / "policy.yaml").write_text(RULES + "exceptions:\n" + approved)
    assert p.run_sub("apply", "--env", "production", "--auto-approve").returncode == 0

    p.write_client("reports", {"client_name": "Reports", "grant_types": ["client_credentials"],
                               "scope": "reports.read invoices.write"})
    r = p.run_sub("plan", "--env", "production", "--out", "plan.json")
    assert r.returncode == 1
    assert "reports: change rule `production-scopes` (policy.yaml:7) forbids adding `invoices.write` to `scope`" in r.stderr
    body = json.loads((p.root / "plan.json").read_text())
    assert "labels" not in body["changes"][0]  # a client without labels: the plan file says nothing


def test_a_rule_added_after_the_plan_refuses_it_at_apply(project, hydra):
    p = project
    (p.root / "policy.yaml").write_text("version: 1\n")
    p.write_client("ledger", CRITICAL)
    assert p.run("apply", "--auto-approve").exit_code == 0
    p.write_client("ledger", {**CRITICAL, "client_id": "ledger-2"})  # client_id is immutable: a replace
    assert p.run_sub("plan", "--out", "plan.json").returncode == 0
    assert [c["action"] for c in json.loads((p.root / "plan.json").read_text())["changes"]] == ["replace"]
    (p.root / "policy.yaml").write_text(RULES)
    r = p.run_sub("apply", "plan.json")
    assert r.returncode == 1 and "forbids `replace`" in r.stderr
    assert "ledger-2" not in [c["client_id"] for c in clients_of(hydra.admin_url, p.owner)]
