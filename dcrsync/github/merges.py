"""Every merged pull request's reviewed plan, in merge order: the queue `dcrsync github apply-merged` works.

GitHub's `concurrency` keeps at most one pending run of a workflow and cancels it when another
queues: with three quick merges the second merge's run never happens. So a run does not apply
"the plan of the commit that started it" but every merged plan still waiting, which GitHub itself
keeps track of with labels:

- `dcrsync github comment` labels the pull request `dcrsync-plan` (`dcrsync-plan:ENV` per
  environment) when it posts the plan (or the plan's failure);
- a merged pull request still carrying that label is waiting: the queue is those, into the branch,
  in merge order (their merge commits' order on the branch; merge time where that is not known);
- once handled, its label becomes `dcrsync-applied` (`…:ENV`) or `dcrsync-skipped`; a closed,
  unmerged one just loses it.

The pushed commit's own pull request is in the queue even without the label (its plan was never
posted), so that it is reported rather than forgotten. The plan applied is the artifact of the
successful plan run on the pull request's last head commit, the one the reviewers saw.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from dcrsync.github.client import GitHub, GitHubError
from dcrsync.github.sync import open_issues

PLAN_LABEL = "dcrsync-plan"
APPLIED_LABEL = "dcrsync-applied"
SKIPPED_LABEL = "dcrsync-skipped"
ARTIFACT = "dcrsync-plan"
PLAN_WORKFLOW = "plan-on-pull-request.yml"
#: a plan artifact larger than this is not a plan dcrsync wrote
ARTIFACT_LIMIT = 64 * 1024 * 1024
READ = "pull-requests: read"
WRITE = "pull-requests: write"


def label(kind: str, environment: str | None) -> str:
    """`dcrsync-plan`, `dcrsync-applied`, `dcrsync-skipped`, or with `:ENV` for an environment."""
    return f"{kind}:{environment}" if environment else kind


@dataclass(frozen=True)
class Merged:
    """A pull request merged into the branch, whose reviewed plan is to be applied."""

    number: int
    title: str
    head_sha: str
    merge_sha: str
    merged_at: str
    labels: frozenset[str]


def _pull(gh: GitHub, repo: str, number: int) -> dict[str, Any]:
    return gh.request("GET", f"/repos/{repo}/pulls/{number}", what=f"reading {repo}#{number}",
                      permission=READ).json()


def _merged(pull: dict[str, Any], branch: str) -> Merged | None:
    if not pull.get("merged_at") or (pull.get("base") or {}).get("ref") != branch:
        return None
    return Merged(
        number=int(pull["number"]), title=str(pull.get("title") or ""), head_sha=str(pull["head"]["sha"]),
        merge_sha=str(pull.get("merge_commit_sha") or ""), merged_at=str(pull["merged_at"]),
        labels=frozenset(str(lab.get("name")) for lab in pull.get("labels") or [] if isinstance(lab, dict)),
    )


def queue(gh: GitHub, repo: str, branch: str, environment: str | None, pushed: str | None) -> list[Merged]:
    """The merged pull requests whose plan waits, in merge order (see the module docstring)."""
    waiting = label(PLAN_LABEL, environment)
    found: dict[int, Merged] = {}
    for issue in gh.paginate(f"/repos/{repo}/issues", params={"state": "closed", "labels": waiting},
                             what=f"listing the merged pull requests labelled `{waiting}`", permission=READ):
        if "pull_request" not in issue:
            continue
        merged = _merged(_pull(gh, repo, int(issue["number"])), branch)
        if merged is None:  # closed without merging, or into another branch: nothing to apply
            remove_label(gh, repo, int(issue["number"]), waiting)
        else:
            found[merged.number] = merged
    if pushed:
        for pull in gh.request("GET", f"/repos/{repo}/commits/{pushed}/pulls", what=f"finding the pull request of {pushed}",
                               permission=READ).json():
            merged = _merged(pull, branch)
            done = {label(APPLIED_LABEL, environment), label(SKIPPED_LABEL, environment)}
            if merged is not None and not (merged.labels & done):
                found.setdefault(merged.number, merged)
    return _in_merge_order(gh, repo, branch, list(found.values()))


def _in_merge_order(gh: GitHub, repo: str, branch: str, pulls: list[Merged]) -> list[Merged]:
    """By merge time; merges in the same second by their merge commits' order on the branch."""
    if len({m.merged_at for m in pulls}) == len(pulls):
        return sorted(pulls, key=lambda m: m.merged_at)
    history = gh.request("GET", f"/repos/{repo}/commits", params={"sha": branch, "per_page": 100},
                         what=f"reading the history of {branch}", permission="contents: read").json()
    position = {str(c.get("sha")): i for i, c in enumerate(reversed(history)) if isinstance(c, dict)}
    return sorted(pulls, key=lambda m: (m.merged_at, position.get(m.merge_sha, len(position)), m.number))


def pushed_without_pull(gh: GitHub, repo: str, branch: str, pushed: str) -> bool:
    """The pushed commit reached the branch without a merged pull request (a direct push)."""
    pulls = gh.request("GET", f"/repos/{repo}/commits/{pushed}/pulls", what=f"finding the pull request of {pushed}",
                       permission=READ).json()
    return not any(_merged(p, branch) for p in pulls)


def plan_of(gh: GitHub, repo: str, pull: Merged, workflow: str, artifact: str) -> bytes | str:
    """The plan reviewed in `pull` (its artifact's plan.json), or why there is none, in one line."""
    runs = gh.request(
        "GET", f"/repos/{repo}/actions/workflows/{workflow}/runs",
        params={"head_sha": pull.head_sha, "status": "success", "per_page": 20},
        what=f"finding the {workflow} runs of #{pull.number}", permission="actions: read",
    ).json().get("workflow_runs") or []
    if not runs:
        return (f"no successful {workflow} run on its last commit {pull.head_sha[:12]}: its plan was never "
                "reviewed (the plan failed, or the branch changed after it)")
    run = runs[0]
    found = gh.request(
        "GET", f"/repos/{repo}/actions/runs/{run['id']}/artifacts", params={"name": artifact},
        what=f"listing the artifacts of run {run['id']}", permission="actions: read",
    ).json().get("artifacts") or []
    usable = [a for a in found if a.get("name") == artifact and not a.get("expired")]
    if not usable:
        gone = "has expired" if found else "is missing"
        return f"the `{artifact}` artifact of run {run['id']} {gone}: plan it again"
    blob = gh.download(f"/repos/{repo}/actions/artifacts/{usable[0]['id']}/zip",
                       what=f"downloading the plan of #{pull.number}", limit=ARTIFACT_LIMIT)
    return _plan_in_zip(blob, artifact, run["id"])


def _plan_in_zip(blob: bytes, artifact: str, run_id: Any) -> bytes | str:
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            names = [n for n in archive.namelist() if n.endswith(".json")]
            if len(names) != 1:
                return f"the `{artifact}` artifact of run {run_id} holds {len(names)} JSON files, not one plan"
            if archive.getinfo(names[0]).file_size > ARTIFACT_LIMIT:
                return f"the plan in the `{artifact}` artifact of run {run_id} is larger than a plan can be"
            return archive.read(names[0])
    except zipfile.BadZipFile:
        return f"the `{artifact}` artifact of run {run_id} is not a zip archive"


def add_label(gh: GitHub, repo: str, number: int, name: str) -> None:
    gh.request("POST", f"/repos/{repo}/issues/{number}/labels", json={"labels": [name]},
               what=f"labelling {repo}#{number} `{name}`", permission=WRITE)


def remove_label(gh: GitHub, repo: str, number: int, name: str) -> None:
    try:
        gh.request("DELETE", f"/repos/{repo}/issues/{number}/labels/{quote(name, safe='')}",
                   what=f"taking the label `{name}` off {repo}#{number}", permission=WRITE)
    except GitHubError as exc:
        if "answered 404 " not in str(exc):  # already gone
            raise


def settle(gh: GitHub, repo: str, pull: Merged, environment: str | None, applied: bool) -> None:
    """Mark `pull` handled: the waiting label becomes applied or skipped."""
    add_label(gh, repo, pull.number, label(APPLIED_LABEL if applied else SKIPPED_LABEL, environment))
    remove_label(gh, repo, pull.number, label(PLAN_LABEL, environment))


def skipped_issue(gh: GitHub, repo: str, pull: Merged | None, environment: str | None, body: str, what: str) -> int:
    """Open (or update, on a re-run) the issue that says a merged change was not applied."""
    env = f" ({environment})" if environment else ""
    marker = " ".join(["<!-- dcrsync-skipped", str(pull.number) if pull else what.split()[-1], *([environment] if environment else []), "-->"])
    title = f"dcrsync: the plan of #{pull.number} was not applied{env}" if pull else f"dcrsync: {what} was not applied{env}"
    body = f"{marker}\n{body}"
    existing = open_issues(gh, repo, SKIPPED_LABEL, marker)
    if existing:
        number = int(existing[0]["number"])
        gh.request("PATCH", f"/repos/{repo}/issues/{number}", json={"body": body, "title": title},
                   what=f"updating {repo}#{number}", permission="issues: write")
        return number
    issue = gh.request("POST", f"/repos/{repo}/issues", json={"title": title, "body": body, "labels": [SKIPPED_LABEL]},
                       what=f"opening an issue about #{pull.number if pull else what}", permission="issues: write").json()
    return int(issue["number"])
