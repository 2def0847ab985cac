"""Issue 17 item 3: no merged change is dropped.

GitHub's `concurrency` cancels a pending run when another queues, so with three quick merges the
second merge's apply run never happens. `dcrsync github apply-merged` (what the apply-on-merge
workflows run) applies every merged plan still waiting, in merge order, or fails loudly and opens
an issue naming the pull request it could not apply.

Written as the team's steps: pull requests planned by the real `dcrsync plan` against a real Hydra
and commented with `dcrsync github comment`, merged on the GitHub stub (GitHub cannot be reached
from here: tests/support/github_stub.py), and the surviving workflow runs played by running
`dcrsync github apply-merged` as the workflow does.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.github_stub import GitHubStub
from tests.support.hydra_api import clients_of, put_client

SERVICE = {"grant_types": ["client_credentials"], "scope": "openid"}


@pytest.fixture
def stub(monkeypatch):
    instance = GitHubStub().start()
    for key, value in {"GITHUB_API_URL": instance.url, "GITHUB_TOKEN": instance.token,
                       "GITHUB_REPOSITORY": instance.repo}.items():
        monkeypatch.setenv(key, value)
    for key in ("GH_TOKEN", "GITHUB_SHA", "GITHUB_EVENT_NAME", "GITHUB_REF_NAME", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(key, raising=False)
    yield instance
    instance.stop()


def dcrsync(p, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dcrsync", *args], capture_output=True, text=True, timeout=600,
                          cwd=p.root)


def open_pull(stub: GitHubStub, p, name: str, *, env: str | None = None, body: dict | None = None) -> int:
    """A pull request that adds (or changes) client NAME: planned, its plan uploaded and commented."""
    number = stub.add_pull(f"Add {name}")
    for other in (p.root / "clients").glob("*.yaml"):
        other.unlink()  # the branch holds only this change; the state is main's
    p.write_client(name, body or {"client_name": name, **SERVICE})
    env_args = ["--env", env] if env else []
    r = dcrsync(p, "plan", "--config", str(p.config), *env_args, "--out", f"plan-{number}.json")
    assert r.returncode == 0, r.stdout + r.stderr
    plan = (p.root / f"plan-{number}.json").read_bytes()
    stub.add_plan_run(number, plan, artifact=f"dcrsync-plan-{env}" if env else "dcrsync-plan")
    r = dcrsync(p, "github", "comment", "--plan", f"plan-{number}.json", "--pr", str(number), *env_args)
    assert r.returncode == 0, r.stdout + r.stderr
    return number


def main_holds(p, *names: str) -> None:
    for other in (p.root / "clients").glob("*.yaml"):
        other.unlink()
    for name in names:
        p.write_client(name, {"client_name": name, **SERVICE})


def apply_merged(p, *args: str) -> subprocess.CompletedProcess:
    return dcrsync(p, "github", "apply-merged", "--config", str(p.config), *args)


def test_three_quick_merges_are_all_applied_in_merge_order(stub, hydra_project, hydra):
    p = hydra_project
    prs = [open_pull(stub, p, f"svc-{i}") for i in (1, 2, 3)]  # three pull requests, planned side by side
    assert all(stub.labels_of(n) == {"dcrsync-plan"} for n in prs)

    first = stub.merge(prs[0])
    main_holds(p, "svc-1")
    r = apply_merged(p, "--sha", first)  # the first merge's run starts at once
    assert r.returncode == 0, r.stdout + r.stderr

    stub.clock = "2030-01-01T00:00:00Z"  # the next two merge within one second
    stub.merge(prs[1])
    third = stub.merge(prs[2])
    main_holds(p, "svc-1", "svc-2", "svc-3")
    # the second merge's run was cancelled by GitHub when the third queued: only the third runs
    r = apply_merged(p, "--sha", third)
    assert r.returncode == 0, r.stdout + r.stderr
    order = [line.split(" ")[0] for line in r.stdout.splitlines() if line.endswith(": applied.")]
    assert order == [f"#{prs[1]}:", f"#{prs[2]}:"], r.stdout

    assert sorted(c["client_name"] for c in clients_of(hydra.admin_url, p.owner)) == ["svc-1", "svc-2", "svc-3"]
    assert sorted(p.state_doc()["clients"]) == ["svc-1", "svc-2", "svc-3"]
    assert all(stub.labels_of(n) == {"dcrsync-applied"} for n in prs)
    assert dcrsync(p, "plan", "--config", str(p.config), "--detailed-exitcode").returncode == 0
    # the signed storage URL was asked without the token (it refuses one)
    blobs = [r for r in stub.requests if r.path.startswith("/_blob/")]
    assert len(blobs) == 3 and not any("Authorization" in r.headers for r in blobs)
    # a re-run (or a later run) finds nothing left to do
    r = apply_merged(p, "--sha", third)
    assert r.returncode == 0 and r.stdout.startswith("0 merged pull request(s) wait"), r.stdout + r.stderr


def test_a_merged_plan_that_cannot_be_applied_is_named_in_an_issue(stub, hydra_project, hydra):
    p = hydra_project
    p.set_config(environments={"staging": {"state": "state/staging.sops.yaml"}})
    a = open_pull(stub, p, "svc-a", env="staging")
    b = open_pull(stub, p, "svc-b", env="staging")
    c = open_pull(stub, p, "svc-c", env="staging")
    stub.push_head(b)  # a last commit pushed after its plan, merged without waiting for the new plan
    for number in (a, b, c):
        last = stub.merge(number)
    main_holds(p, "svc-a", "svc-b", "svc-c")
    r = apply_merged(p, "--env", "staging", "--sha", last)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"error: #{b} was not applied: no successful plan-on-pull-request.yml run on its last commit" in r.stderr

    (issue,) = [i for i in stub.issues.values() if "pull_request" not in i]
    assert issue["title"] == f"dcrsync: the plan of #{b} was not applied (staging)"
    assert issue["body"].startswith(f"<!-- dcrsync-skipped {b} staging -->\nThe plan reviewed in #{b} was merged")
    assert "put the label `dcrsync-plan:staging` back" in issue["body"]
    assert [stub.labels_of(n) for n in (a, b, c)] == [
        {"dcrsync-applied:staging"}, {"dcrsync-skipped:staging"}, {"dcrsync-applied:staging"}]
    # nothing was sent for b (its plan was never reviewed); a and c were applied around it
    assert sorted(c["client_name"] for c in clients_of(hydra.admin_url, p.owner)) == ["svc-a", "svc-c"]


def test_a_failed_apply_stops_the_queue_and_the_next_run_goes_on(stub, hydra_project, hydra):
    p = hydra_project
    x = open_pull(stub, p, "svc-x")
    stub.merge(x)
    main_holds(p, "svc-x")
    assert apply_merged(p).returncode == 0  # (a run started by hand: no pushed commit)

    y = open_pull(stub, p, "svc-x", body={"client_name": "svc-x renamed", **SERVICE})
    z = open_pull(stub, p, "svc-z")
    client_id = p.state_doc()["clients"]["svc-x"]["client_id"]
    client = next(c for c in clients_of(hydra.admin_url, p.owner) if c["client_id"] == client_id)
    put_client(hydra.admin_url, {**client, "client_name": "edited by hand"})  # y's plan is stale now
    stub.merge(y)
    last = stub.merge(z)
    r = apply_merged(p, "--sha", last)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"error: #{y} was not applied: `dcrsync apply` failed: the plan is stale: svc-x (changed on the server " \
           "since)" in r.stderr
    assert f"error: stopped; waiting for the next run: #{z}" in r.stderr
    (issue,) = [i for i in stub.issues.values() if "pull_request" not in i]
    assert f"Waiting for the next run (applied in this order): #{z}." in issue["body"]
    assert "the plan is stale" in issue["body"]  # the apply's own words, in a code block
    assert stub.labels_of(y) == {"dcrsync-skipped"} and stub.labels_of(z) == {"dcrsync-plan"}
    assert not [c for c in clients_of(hydra.admin_url, p.owner) if c["client_name"] == "svc-z"]

    r = apply_merged(p)  # the next run (a merge, or Run workflow by hand)
    assert r.returncode == 0, r.stdout + r.stderr
    assert stub.labels_of(z) == {"dcrsync-applied"}
    assert [c["client_name"] for c in clients_of(hydra.admin_url, p.owner) if c["client_name"] == "svc-z"]


def test_a_direct_push_is_reported_not_ignored(stub, tmp_path):
    (tmp_path / "dcrsync.yaml").write_text("server: {kind: hydra, admin_url: 'http://127.0.0.1:1'}\n")
    sha = stub.push()
    r = subprocess.run([sys.executable, "-m", "dcrsync", "github", "apply-merged", "--sha", sha],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 1
    assert f"error: {sha[:12]} came from no pull request; nothing of it was applied (issue #1)" in r.stderr
    assert stub.issues[1]["title"] == f"dcrsync: commit {sha[:12]} was not applied"
