"""The few GitHub REST calls dcrsync makes: a sticky pull-request comment and one drift issue.

Configured like every GitHub Actions step: `GITHUB_API_URL` (default https://api.github.com),
`GITHUB_TOKEN` (or `GH_TOKEN`), `GITHUB_REPOSITORY` (`owner/name`). Our comment and our issue are
found by a hidden marker, the first line of their body (`<!-- dcrsync-plan -->`,
`<!-- dcrsync-drift -->`), so a run updates what an earlier run wrote instead of adding another.

Every failure is a `DcrsyncError` of one line saying what to do. The token is sent only to the
API host and never appears in a message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from dcrsync.errors import DcrsyncError
from dcrsync.http import RetryPolicy, error_detail, make_client

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
BODY_LIMIT = 65_536  # GitHub's limit on a comment or issue body, in characters
PER_PAGE = 100
DRIFT_LABEL = "dcrsync-drift"
DRIFT_TITLE = "dcrsync: clients changed on the server outside dcrsync"
RESOLVED = "The server matches the last apply again."

CommentResult = tuple[Literal["created", "updated"], int]
IssueResult = tuple[Literal["opened", "updated", "closed", "none"], int | None]


class GitHubError(DcrsyncError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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


def token_from_env(environ: Mapping[str, str]) -> str:
    token = (environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN") or "").strip()
    if not token:
        raise DcrsyncError(
            "no GitHub token: set GITHUB_TOKEN (in a workflow: `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`) or GH_TOKEN"
        )
    return token


def repo_from_env(environ: Mapping[str, str], given: str | None = None) -> str:
    repo = (given or environ.get("GITHUB_REPOSITORY") or "").strip()
    if not repo:
        raise DcrsyncError("no repository: pass --repo OWNER/NAME or set GITHUB_REPOSITORY")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise DcrsyncError(f"repository `{repo}` is not OWNER/NAME")
    return repo


class GitHub:
    """A small GitHub REST client. Use as a context manager, or call close()."""

    def __init__(
        self,
        token: str,
        api_url: str | None = None,
        *,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self._host = urlsplit(self.api_url).netloc
        self.client = make_client(self.api_url, token=token, policy=policy, transport=transport)
        self.client.headers["Accept"] = "application/vnd.github+json"
        self.client.headers["X-GitHub-Api-Version"] = API_VERSION
        #: things worth saying that are not errors (e.g. a label GitHub dropped)
        self.warnings: list[str] = []

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> GitHub:
        environ = os.environ if environ is None else environ
        return cls(token_from_env(environ), environ.get("GITHUB_API_URL") or None, **kwargs)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP ---------------------------------------------------------------------------------

    def request(self, method: str, url: str, *, what: str, permission: str, **kwargs: Any) -> httpx.Response:
        """One call; any failure becomes a one-line GitHubError naming `what` was being done."""
        if url.startswith(("http://", "https://")) and urlsplit(url).netloc != self._host:
            raise GitHubError(f"GitHub sent a link to another host ({urlsplit(url).netloc}) while {what}; not following it")
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise GitHubError(
                f"cannot reach the GitHub API at {self.api_url} ({type(exc).__name__}) while {what}; "
                "check GITHUB_API_URL and the network"
            ) from None
        if response.status_code >= 400:
            raise self._error(response, what, permission)
        return response

    def _error(self, response: httpx.Response, what: str, permission: str) -> GitHubError:
        status = response.status_code
        said = (error_detail(response)[1] or response.reason_phrase)[:300]
        message = said
        head = f"GitHub answered {status} ({said}) while {what}"
        if status == 401:
            hint = "the token is missing, expired or wrong: check GITHUB_TOKEN / GH_TOKEN"
        elif status == 403 and (response.headers.get("x-ratelimit-remaining") == "0" or "rate limit" in message.lower()):
            reset = response.headers.get("x-ratelimit-reset")
            hint = "rate limited: try again later" + (f" (the limit resets at epoch {reset})" if reset else "")
        elif status == 403:
            hint = (
                f"the token lacks `{permission}`: add `permissions: {permission}` to the workflow job "
                "(pull requests from forks get a read-only token)"
            )
        elif status == 404:
            hint = (
                "check GITHUB_REPOSITORY and the number, and that the token can see the repository "
                f"(a fine-grained token needs `{permission}` on it)"
            )
        elif status == 410:
            hint = "issues are turned off for this repository: turn them on in its settings"
        elif status == 422:
            hint = "GitHub refused the content: check the body (at most 65536 characters) and the label name"
        else:
            hint = "try again; if it persists, see https://www.githubstatus.com"
        return GitHubError(f"{head}; {hint}", status)

    def paginate(self, path: str, *, what: str, permission: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, following the `Link: <…>; rel="next"` header."""
        url: str | None = path
        query: dict[str, Any] | None = {"per_page": PER_PAGE, **(params or {})}
        while url:
            response = self.request("GET", url, what=what, permission=permission, params=query)
            items = response.json()
            if not isinstance(items, list):
                raise GitHubError(f"GitHub answered with something other than a list while {what}")
            yield from items
            url = response.links.get("next", {}).get("url")
            query = None  # the next link carries its own query

    # -- the sticky pull-request comment ------------------------------------------------------

    def upsert_comment(self, repo: str, pr_number: int, body: str, marker: str | None = None) -> CommentResult:
        body, marker = with_marker(body, marker)
        _check_size(body)
        where = f"{repo}#{pr_number}"
        permission = "pull-requests: write"
        ours = None
        for comment in self.paginate(
            f"/repos/{repo}/issues/{pr_number}/comments", what=f"reading the comments of {where}", permission=permission
        ):
            if _is_ours(comment.get("body"), marker):
                ours = comment
                break
        if ours is not None:
            self.request(
                "PATCH", f"/repos/{repo}/issues/comments/{ours['id']}", json={"body": body},
                what=f"updating our comment on {where}", permission=permission,
            )
            return "updated", int(ours["id"])
        response = self.request(
            "POST", f"/repos/{repo}/issues/{pr_number}/comments", json={"body": body},
            what=f"commenting on {where}", permission=permission,
        )
        return "created", int(response.json()["id"])

    # -- the drift issue ----------------------------------------------------------------------

    def open_issues(self, repo: str, label: str, marker: str) -> list[dict[str, Any]]:
        found = []
        for issue in self.paginate(
            f"/repos/{repo}/issues", params={"labels": label, "state": "open"},
            what=f"listing the open `{label}` issues of {repo}", permission="issues: write",
        ):
            if "pull_request" in issue:  # the issues endpoint lists pull requests too
                continue
            if _is_ours(issue.get("body"), marker):
                found.append(issue)
        return sorted(found, key=lambda i: int(i["number"]))

    def sync_drift_issue(
        self,
        repo: str,
        body: str,
        drifted: bool,
        title: str = DRIFT_TITLE,
        label: str = DRIFT_LABEL,
        marker: str | None = None,
    ) -> IssueResult:
        body, marker = with_marker(body, marker)
        _check_size(body)
        permission = "issues: write"
        issues = self.open_issues(repo, label, marker)
        if drifted and not issues:
            response = self.request(
                "POST", f"/repos/{repo}/issues", json={"title": title, "body": body, "labels": [label]},
                what=f"opening a drift issue in {repo}", permission=permission,
            )
            issue = response.json()
            labels = {(lab.get("name") if isinstance(lab, dict) else lab) for lab in issue.get("labels") or []}
            if label not in labels:
                self.warnings.append(
                    f"GitHub dropped the label `{label}` from {repo}#{issue['number']} (the token cannot set labels), "
                    "so the next run will not find this issue: give the token `issues: write`"
                )
            return "opened", int(issue["number"])
        if drifted:
            number = int(issues[0]["number"])
            self.request(
                "PATCH", f"/repos/{repo}/issues/{number}", json={"body": body, "title": title},
                what=f"updating drift issue {repo}#{number}", permission=permission,
            )
            return "updated", number
        if not issues:
            return "none", None
        for issue in issues:  # normally one; close any earlier duplicates as well
            number = int(issue["number"])
            self.request(
                "POST", f"/repos/{repo}/issues/{number}/comments", json={"body": RESOLVED},
                what=f"commenting on drift issue {repo}#{number}", permission=permission,
            )
            self.request(
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


def upsert_comment(
    repo: str, pr_number: int, body: str, marker: str | None = None, *, github: GitHub | None = None
) -> CommentResult:
    """Create or update our sticky comment on a pull request. ("created"|"updated", comment id)."""
    if github is not None:
        return github.upsert_comment(repo, pr_number, body, marker)
    with GitHub.from_env() as gh:
        return gh.upsert_comment(repo, pr_number, body, marker)


def sync_drift_issue(
    repo: str,
    body: str,
    drifted: bool,
    title: str = DRIFT_TITLE,
    label: str = DRIFT_LABEL,
    marker: str | None = None,
    *,
    github: GitHub | None = None,
) -> IssueResult:
    """Open, update or close the one drift issue. ("opened"|"updated"|"closed"|"none", number)."""
    if github is not None:
        return github.sync_drift_issue(repo, body, drifted, title, label, marker)
    with GitHub.from_env() as gh:
        return gh.sync_drift_issue(repo, body, drifted, title, label, marker)
