"""A small GitHub REST client: requests with one-line errors that say what to do, and pagination.

The workflows that use it (the sticky comment, the drift issue) are in `github.sync`.

Configured like every GitHub Actions step: `GITHUB_API_URL` (default https://api.github.com),
`GITHUB_TOKEN` (or `GH_TOKEN`), `GITHUB_REPOSITORY` (`owner/name`).

Every failure is a `DcrsyncError` of one line saying what to do. The token is sent only to the
API host and never appears in a message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from dcrsync.errors import DcrsyncError
from dcrsync.guards.trust import Trust
from dcrsync.net.http import USER_AGENT, RetryPolicy, error_detail, make_client

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100



class GitHubError(DcrsyncError):
    """GitHub refused or failed a call; the message says what to do."""


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
        # GITHUB_API_URL comes from the runner, not from the repository: not held to the server's rule
        self.client = make_client(self.api_url, token=token, policy=policy, transport=transport, trust=Trust())
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
        return GitHubError(f"{head}; {hint}")

    def download(self, path: str, *, what: str, limit: int) -> bytes:
        """The bytes behind an API URL that redirects to storage (an artifact's zip). The token goes
        to the API only: the storage URL is signed, and is asked without it."""
        response = self.request("GET", path, what=what, permission="actions: read")
        location = response.headers.get("Location") if response.status_code in (301, 302, 303, 307, 308) else None
        if location is None:
            content = response.content
        else:
            try:
                with httpx.Client(timeout=self.client.timeout, follow_redirects=True) as plain:
                    with plain.stream("GET", location, headers={"User-Agent": USER_AGENT}) as stream:
                        if stream.status_code >= 400:
                            raise GitHubError(f"the storage GitHub sent us to answered {stream.status_code} while {what}; try again")
                        buffer = bytearray()
                        for chunk in stream.iter_bytes():
                            buffer += chunk
                            if len(buffer) > limit:
                                raise GitHubError(f"more than {limit} bytes came back while {what}; not a dcrsync plan")
                        content = bytes(buffer)
            except httpx.TransportError as exc:
                raise GitHubError(f"cannot reach the storage GitHub sent us to ({type(exc).__name__}) while {what}; try again") from None
        if len(content) > limit:
            raise GitHubError(f"more than {limit} bytes came back while {what}; not a dcrsync plan")
        return content

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
