"""The two GitHub workflows dcrsync runs over the REST client: a sticky pull-request comment
and one drift issue. Ours are found by a hidden marker, the first line of their body
(`<!-- dcrsync-plan -->`, `<!-- dcrsync-drift -->`), so a run updates what an earlier run wrote
instead of adding another.
"""

from __future__ import annotations

import base64
from typing import Any, Literal
from urllib.parse import quote

from dcrsync.errors import DcrsyncError
from dcrsync.github.client import GitHub
from dcrsync.load.yamlsource import parse_text

BODY_LIMIT = 65_536  # GitHub's limit on a comment or issue body, in characters
DRIFT_LABEL = "dcrsync-drift"
DRIFT_TITLE = "dcrsync: clients changed on the server outside dcrsync"
RESOLVED = "The server matches the last apply again."

CommentResult = tuple[Literal["created", "updated"], int]
IssueResult = tuple[Literal["opened", "updated", "closed", "none"], int | None]


def marker_of(body: str) -> str:
    """The hidden marker that identifies our comment or issue: the body's first line."""
    first = body.split("\n", 1)[0].strip()
    if not (first.startswith("<!--") and first.endswith("-->")):
        raise DcrsyncError(
            "the body's first line must be a hidden marker such as `<!-- dcrsync-plan -->` "
            "(write it with `--format markdown`, or pass --marker)"
        )
    return first


def with_marker(body: str, marker: str | None) -> tuple[str, str]:
    """(body, marker): the body starting with `marker` (added when missing) or its own first line."""
    if marker is None:
        return body, marker_of(body)
    marker = marker.strip()
    marker_of(marker)  # validates the shape
    if body.split("\n", 1)[0].strip() == marker:
        return body, marker
    first = body.split("\n", 1)[0].strip()
    if first.startswith("<!--") and first.endswith("-->"):  # swap the renderer's marker for the given one
        body = body.split("\n", 1)[1] if "\n" in body else ""
    return f"{marker}\n{body}", marker


def _is_ours(body: str | None, marker: str) -> bool:
    return bool(body) and body.split("\n", 1)[0].strip() == marker


# -- what a pull request removes ----------------------------------------------------------

#: at most this many removed YAML files are read back (one call each)
REMOVED_FILES_LIMIT = 100


def removed_clients(gh: GitHub, repo: str, pr_number: int) -> dict[str, str]:
    """{client name: file} of the client files this pull request removes, each read as it was at the
    pull request's base: what lets the plan comment say a delete's file went in this pull request."""
    what, permission = f"reading the files of {repo}#{pr_number}", "pull-requests: read"
    pull = gh.request("GET", f"/repos/{repo}/pulls/{pr_number}", what=what, permission=permission).json()
    base = (pull.get("base") or {}).get("sha") if isinstance(pull, dict) else None
    files = gh.paginate(f"/repos/{repo}/pulls/{pr_number}/files", what=what, permission=permission)
    removed = [str(f.get("filename")) for f in files if isinstance(f, dict) and f.get("status") == "removed"
               and str(f.get("filename")).endswith((".yaml", ".yml"))]
    out: dict[str, str] = {}
    for path in removed[:REMOVED_FILES_LIMIT]:
        body = gh.request("GET", f"/repos/{repo}/contents/{quote(path)}", what=what, permission="contents: read",
                          params={"ref": base} if base else None).json()
        try:
            text = base64.b64decode(str(body.get("content") or "")).decode("utf-8")
        except (ValueError, AttributeError):
            continue  # not a text file: it names no client
        docs = [d.value for d in parse_text(text, path).documents]  # the client files' own bounded loader
        out.update({str(d["name"]): path for d in docs if isinstance(d, dict) and isinstance(d.get("name"), str)})
    return out


# -- the sticky pull-request comment ------------------------------------------------------

def upsert_comment(gh: GitHub, repo: str, pr_number: int, body: str, marker: str | None = None) -> CommentResult:
    """Create or update our sticky comment on a pull request: ("created"|"updated", comment id)."""
    body, marker = with_marker(body, marker)
    _check_size(body)
    where = f"{repo}#{pr_number}"
    permission = "pull-requests: write"
    ours = None
    for comment in gh.paginate(
        f"/repos/{repo}/issues/{pr_number}/comments", what=f"reading the comments of {where}", permission=permission
    ):
        if _is_ours(comment.get("body"), marker):
            ours = comment
            break
    if ours is not None:
        gh.request(
            "PATCH", f"/repos/{repo}/issues/comments/{ours['id']}", json={"body": body},
            what=f"updating our comment on {where}", permission=permission,
        )
        return "updated", int(ours["id"])
    response = gh.request(
        "POST", f"/repos/{repo}/issues/{pr_number}/comments", json={"body": body},
        what=f"commenting on {where}", permission=permission,
    )
    return "created", int(response.json()["id"])

# -- the drift issue ----------------------------------------------------------------------

def open_issues(gh: GitHub, repo: str, label: str, marker: str) -> list[dict[str, Any]]:
    found = []
    for issue in gh.paginate(
        f"/repos/{repo}/issues", params={"labels": label, "state": "open"},
        what=f"listing the open `{label}` issues of {repo}", permission="issues: write",
    ):
        if "pull_request" in issue:  # the issues endpoint lists pull requests too
            continue
        if _is_ours(issue.get("body"), marker):
            found.append(issue)
    return sorted(found, key=lambda i: int(i["number"]))

def sync_drift_issue(
    gh: GitHub,
    repo: str,
    body: str,
    drifted: bool,
    title: str = DRIFT_TITLE,
    label: str = DRIFT_LABEL,
    marker: str | None = None,
) -> IssueResult:
    """Open, update or close the one drift issue: ("opened"|"updated"|"closed"|"none", number)."""
    body, marker = with_marker(body, marker)
    _check_size(body)
    permission = "issues: write"
    issues = open_issues(gh, repo, label, marker)
    if drifted and not issues:
        response = gh.request(
            "POST", f"/repos/{repo}/issues", json={"title": title, "body": body, "labels": [label]},
            what=f"opening a drift issue in {repo}", permission=permission,
        )
        issue = response.json()
        labels = {(lab.get("name") if isinstance(lab, dict) else lab) for lab in issue.get("labels") or []}
        if label not in labels:
            gh.warnings.append(
                f"GitHub dropped the label `{label}` from {repo}#{issue['number']} (the token cannot set labels), "
                "so the next run will not find this issue: give the token `issues: write`"
            )
        return "opened", int(issue["number"])
    if drifted:
        number = int(issues[0]["number"])
        gh.request(
            "PATCH", f"/repos/{repo}/issues/{number}", json={"body": body, "title": title},
            what=f"updating drift issue {repo}#{number}", permission=permission,
        )
        return "updated", number
    if not issues:
        return "none", None
    for issue in issues:  # normally one; close any earlier duplicates as well
        number = int(issue["number"])
        gh.request(
            "POST", f"/repos/{repo}/issues/{number}/comments", json={"body": RESOLVED},
            what=f"commenting on drift issue {repo}#{number}", permission=permission,
        )
        gh.request(
            "PATCH", f"/repos/{repo}/issues/{number}", json={"state": "closed", "state_reason": "completed"},
            what=f"closing drift issue {repo}#{number}", permission=permission,
        )
    return "closed", int(issues[0]["number"])


def _check_size(body: str) -> None:
    if len(body) > BODY_LIMIT:
        raise DcrsyncError(
            f"the body is {len(body)} characters and GitHub takes at most {BODY_LIMIT}: "
            "render it with dcrsync's markdown format, which stays under the limit"
        )
