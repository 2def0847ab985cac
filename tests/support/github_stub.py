"""A STUB of the few GitHub REST endpoints dcrsync uses. It is not GitHub.

GitHub cannot be reached from the test machines, and there is no GitHub server to run locally, so
`dcrsync.github.client` is tested against this small stand-in: stdlib `http.server` in a thread on
127.0.0.1 with a free port. It models only what dcrsync relies on, after GitHub's REST docs
(API version 2022-11-28):

- GET/POST   /repos/{owner}/{repo}/issues/{number}/comments   list (paginated) / create
- PATCH      /repos/{owner}/{repo}/issues/comments/{id}       update a comment
- GET/POST   /repos/{owner}/{repo}/issues                     list (filter `labels`, `state`;
                                                              paginated; PRs included) / create
- PATCH      /repos/{owner}/{repo}/issues/{number}            update body, title, state
- POST       /repos/{owner}/{repo}/issues/{number}/labels     add labels (made on the fly, as GitHub does)
- DELETE     /repos/{owner}/{repo}/issues/{number}/labels/{name}   remove one (404 when absent)

and, for the apply-on-merge queue (issue 17 item 3):

- GET        /repos/{owner}/{repo}/pulls/{number}             a pull request: head, base, merged_at, …
- GET        /repos/{owner}/{repo}/commits/{sha}/pulls        the pull requests a commit belongs to
- GET        /repos/{owner}/{repo}/commits?sha=BRANCH         the branch's history, newest first
- GET        /repos/{owner}/{repo}/actions/workflows/{file}/runs?head_sha=&status=   runs, newest first
- GET        /repos/{owner}/{repo}/actions/runs/{id}/artifacts?name=                  a run's artifacts
- GET        /repos/{owner}/{repo}/actions/artifacts/{id}/zip  302 to a signed storage URL on another
                                                              host name (`localhost`), which refuses a
                                                              request that carries an Authorization
                                                              header, as the real storage does
- GET        /repos/{owner}/{repo}/pulls/{number}/files       the files it changes (paginated; `status`)
- GET        /repos/{owner}/{repo}/contents/{path}?ref=SHA    a file at a commit (base64 `content`)

Lists page with `per_page` / `page` and a `Link` header carrying absolute `next`/`last` URLs, as
GitHub does. Every request must carry `Authorization: Bearer <token>` (or `token <token>`);
anything else gets 401 `Bad credentials`. `read_only = True` answers writes with 403 `Resource not
accessible by integration`, as GitHub does for a token without write permission. Every request
is recorded in `requests`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class GitHubStub:
    token: str = "ghs_stubtoken0123456789"
    repo: str = "octo/clients"
    #: the largest page the stub hands out (GitHub's is 100); lower it to force pagination
    max_per_page: int = 100
    read_only: bool = False
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # issue/PR number -> comments
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[str]] = field(default_factory=dict)  # branch -> commit shas, oldest first
    runs: list[dict[str, Any]] = field(default_factory=list)
    artifacts: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> artifact (with "zip")
    #: merged_at of the next merges, when a test wants several in one second (GitHub's resolution)
    clock: str | None = None
    #: pull request number -> [{filename, status}], and (path, commit) -> the file's text there
    pull_files: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    contents: dict[tuple[str, str], str] = field(default_factory=dict)
    _next_id: int = 1000
    _next_number: int = 1

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> GitHubStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub._handle(self, "GET")

            def do_POST(self) -> None:
                stub._handle(self, "POST")

            def do_PATCH(self) -> None:
                stub._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                stub._handle(self, "DELETE")

            def log_message(self, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="github-stub", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # -- seeding and reading, for tests ---------------------------------------------------------

    def add_pull(self, title: str = "a pull request", base: str = "main", removed: dict[str, str] | None = None) -> int:
        """A pull request; `removed`: {path: its text at the base} of the files it deletes."""
        with self._lock:
            number = self._new_number()
            self.issues[number] = self._issue(number, title, "", [], pull_request=True)
            self.pulls[number] = {"number": number, "title": title, "base": {"ref": base, "sha": f"base-{number}"},
                                  "head": {"sha": _sha(f"head-{number}")}, "merged_at": None, "merge_commit_sha": None}
            self.pull_files[number] = [{"filename": path, "status": "removed"} for path in removed or {}]
            self.contents.update({(path, f"base-{number}"): text for path, text in (removed or {}).items()})
            return number

    def push_head(self, number: int) -> str:
        """A new commit on the pull request's branch: its head moves (its old plan is no longer its last)."""
        with self._lock:
            sha = _sha(f"head-{number}-{len(self.requests)}-{self.pulls[number]['head']['sha']}")
            self.pulls[number]["head"]["sha"] = sha
            return sha

    def merge(self, number: int) -> str:
        """Merge the pull request (squash): a new commit on its base branch; returns its sha."""
        with self._lock:
            pull = self.pulls[number]
            sha = _sha(f"merge-{number}")
            pull.update(merged_at=self.clock or _now(), merge_commit_sha=sha)
            self.issues[number]["state"] = "closed"
            self.history.setdefault(pull["base"]["ref"], []).append(sha)
            return sha

    def close(self, number: int) -> None:
        with self._lock:
            self.issues[number]["state"] = "closed"

    def push(self, branch: str = "main") -> str:
        """A commit pushed straight to the branch, without a pull request."""
        with self._lock:
            sha = _sha(f"direct-{len(self.history.get(branch, []))}")
            self.history.setdefault(branch, []).append(sha)
            return sha

    def add_plan_run(self, number: int, plan: bytes | None, *, workflow: str = "plan-on-pull-request.yml",
                     artifact: str = "dcrsync-plan", conclusion: str = "success", expired: bool = False) -> int:
        """A finished run of the plan workflow on the pull request's current head, with its artifact
        (a zip holding plan.json, as actions/upload-artifact makes it); `plan` None: no artifact."""
        with self._lock:
            self._next_id += 1
            run = {"id": self._next_id, "path": f".github/workflows/{workflow}", "head_sha": self.pulls[number]["head"]["sha"],
                   "status": "completed", "conclusion": conclusion, "event": "pull_request"}
            self.runs.insert(0, run)  # newest first
            if plan is not None:
                self._next_id += 1
                self.artifacts[self._next_id] = {"id": self._next_id, "name": artifact, "expired": expired,
                                                 "run_id": run["id"], "zip": _zip({"plan.json": plan})}
            return run["id"]

    def labels_of(self, number: int) -> set[str]:
        return {lab["name"] for lab in self.issues[number]["labels"]}

    def add_comment(self, number: int, body: str, user: str = "someone") -> dict[str, Any]:
        with self._lock:
            return self._add_comment(number, body, user)

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]

    # -- internals ------------------------------------------------------------------------------

    def _new_number(self) -> int:
        n = self._next_number
        self._next_number += 1
        return n

    def _add_comment(self, number: int, body: str, user: str) -> dict[str, Any]:
        self._next_id += 1
        comment = {
            "id": self._next_id, "body": body, "user": {"login": user},
            "html_url": f"https://github.com/{self.repo}/issues/{number}#issuecomment-{self._next_id}",
        }
        self.comments.setdefault(number, []).append(comment)
        return comment

    def _issue(self, number: int, title: str, body: str, labels: list[str], pull_request: bool = False) -> dict:
        issue = {
            "number": number, "title": title, "body": body, "state": "open", "state_reason": None,
            "labels": [{"name": name} for name in labels],
        }
        if pull_request:
            issue["pull_request"] = {"url": f"{self.url}/repos/{self.repo}/pulls/{number}"}
        return issue

    def _page(self, handler: BaseHTTPRequestHandler, items: list, query: dict[str, str]) -> None:
        per_page = max(1, min(int(query.get("per_page", 30)), self.max_per_page))
        page = max(1, int(query.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []
        path = urlsplit(handler.path).path
        for rel, p in (("next", page + 1), ("last", last)):
            if rel == "next" and page >= last:
                continue
            links.append(f'<{self.url}{path}?{urlencode({**query, "per_page": per_page, "page": p})}>; rel="{rel}"')
        self._send(handler, 200, chunk, {"Link": ", ".join(links)} if links else None)

    def _send(self, handler: BaseHTTPRequestHandler, status: int, data: Any, headers: dict | None = None) -> None:
        blob = json.dumps(data).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(blob)))
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(blob)

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append(Recorded(method, parts.path, query, dict(handler.headers.items()), body))
            if parts.path.startswith("/_blob/"):
                return self._blob(handler, parts.path, query)
            auth = handler.headers.get("Authorization", "")
            if auth not in (f"Bearer {self.token}", f"token {self.token}"):
                return self._send(handler, 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
            if self.read_only and method != "GET":
                return self._send(handler, 403, {"message": "Resource not accessible by integration"})
            return self._route(handler, method, parts.path, query, body)

    def _route(self, handler, method: str, path: str, query: dict[str, str], body: Any) -> None:
        prefix = f"/repos/{self.repo}"
        if not path.startswith(prefix + "/"):
            return self._send(handler, 404, {"message": "Not Found"})
        rest = path[len(prefix):]
        if self._queue_route(handler, method, rest, query, body):
            return None
        if m := re.fullmatch(r"/issues/(\d+)/comments", rest):
            number = int(m.group(1))
            if number not in self.issues:
                return self._send(handler, 404, {"message": "Not Found"})
            if method == "GET":
                return self._page(handler, self.comments.get(number, []), query)
            if method == "POST":
                return self._send(handler, 201, self._add_comment(number, _text(body, "body"), "github-actions[bot]"))
        if m := re.fullmatch(r"/issues/comments/(\d+)", rest):
            found = [c for cs in self.comments.values() for c in cs if c["id"] == int(m.group(1))]
            if not found:
                return self._send(handler, 404, {"message": "Not Found"})
            if method == "PATCH":
                found[0]["body"] = _text(body, "body")
                return self._send(handler, 200, found[0])
        if m := re.fullmatch(r"/pulls/(\d+)(/files)?", rest):
            number = int(m.group(1))
            if number not in self.pull_files or method != "GET":
                return self._send(handler, 404, {"message": "Not Found"})
            if m.group(2):
                return self._page(handler, self.pull_files[number], query)
            return self._send(handler, 200, {"number": number, "base": {"sha": f"base-{number}"}})
        if (m := re.fullmatch(r"/contents/(.+)", rest)) and method == "GET":
            text = self.contents.get((unquote(m.group(1)), query.get("ref", "")))
            if text is None:
                return self._send(handler, 404, {"message": "Not Found"})
            return self._send(handler, 200, {"type": "file", "encoding": "base64",
                                             "content": base64.b64encode(text.encode()).decode()})
        if rest == "/issues":
            if method == "GET":
                state = query.get("state", "open")
                wanted = {x for x in query.get("labels", "").split(",") if x}
                items = [
                    i for _, i in sorted(self.issues.items(), reverse=True)  # newest first, like GitHub
                    if (state == "all" or i["state"] == state) and wanted <= {lab["name"] for lab in i["labels"]}
                ]
                return self._page(handler, items, query)
            if method == "POST":
                if not isinstance(body, dict) or not body.get("title"):
                    return self._send(handler, 422, {"message": "Validation Failed", "errors": [{"code": "missing_field", "field": "title"}]})
                number = self._new_number()
                self.issues[number] = self._issue(number, body["title"], body.get("body") or "", list(body.get("labels") or []))
                return self._send(handler, 201, self.issues[number])
        if m := re.fullmatch(r"/issues/(\d+)", rest):
            issue = self.issues.get(int(m.group(1)))
            if issue is None:
                return self._send(handler, 404, {"message": "Not Found"})
            if method == "PATCH":
                for key in ("title", "body", "state", "state_reason"):
                    if isinstance(body, dict) and key in body:
                        issue[key] = body[key]
                return self._send(handler, 200, issue)
        return self._send(handler, 404, {"message": "Not Found"})

    # -- the apply-on-merge queue: pulls, commits, labels, runs and artifacts --------------------------

    def _pull_view(self, number: int) -> dict[str, Any]:
        return {**self.pulls[number], "state": self.issues[number]["state"], "labels": self.issues[number]["labels"]}

    def _queue_route(self, handler, method: str, rest: str, query: dict[str, str], body: Any) -> bool:
        """Answer a queue endpoint; False when `rest` is none of them."""
        if (m := re.fullmatch(r"/pulls/(\d+)", rest)) and method == "GET":
            number = int(m.group(1))
            found = number in self.pulls
            self._send(handler, 200 if found else 404, self._pull_view(number) if found else {"message": "Not Found"})
        elif (m := re.fullmatch(r"/commits/(\w+)/pulls", rest)) and method == "GET":
            self._send(handler, 200, [self._pull_view(n) for n, p in self.pulls.items() if p["merge_commit_sha"] == m.group(1)])
        elif rest == "/commits" and method == "GET":
            shas = list(reversed(self.history.get(query.get("sha", "main"), [])))[: int(query.get("per_page", 30))]
            self._send(handler, 200, [{"sha": sha} for sha in shas])
        elif m := re.fullmatch(r"/issues/(\d+)/labels(?:/([^/]+))?", rest):
            self._labels(handler, method, int(m.group(1)), unquote(m.group(2)) if m.group(2) else None, body)
        elif (m := re.fullmatch(r"/actions/workflows/([^/]+)/runs", rest)) and method == "GET":
            runs = [r for r in self.runs if r["path"].endswith("/" + m.group(1))
                    and r["head_sha"] == query.get("head_sha", r["head_sha"])
                    and query.get("status", r["conclusion"]) in (r["conclusion"], r["status"])]
            self._send(handler, 200, {"total_count": len(runs), "workflow_runs": runs})
        elif (m := re.fullmatch(r"/actions/runs/(\d+)/artifacts", rest)) and method == "GET":
            found = [{k: v for k, v in a.items() if k != "zip"} for a in self.artifacts.values()
                     if a["run_id"] == int(m.group(1)) and a["name"] == query.get("name", a["name"])]
            self._send(handler, 200, {"total_count": len(found), "artifacts": found})
        elif (m := re.fullmatch(r"/actions/artifacts/(\d+)/zip", rest)) and method == "GET":
            artifact = self.artifacts.get(int(m.group(1)))
            if artifact is None or artifact["expired"]:
                self._send(handler, 410 if artifact else 404, {"message": "Artifact has expired" if artifact else "Not Found"})
            else:
                host, port = self.server.server_address[:2]
                self._send(handler, 302, {}, {"Location": f"http://localhost:{port}/_blob/{artifact['id']}?sig=signed"})
        else:
            return False
        return True

    def _labels(self, handler, method: str, number: int, name: str | None, body: Any) -> None:
        issue = self.issues.get(number)
        if issue is None:
            return self._send(handler, 404, {"message": "Not Found"})
        if method == "POST" and name is None:
            for new in (body or {}).get("labels") or []:
                if new not in self.labels_of(number):
                    issue["labels"].append({"name": new})
            return self._send(handler, 200, issue["labels"])
        if method == "DELETE" and name is not None:
            if name not in self.labels_of(number):
                return self._send(handler, 404, {"message": "Label does not exist"})
            issue["labels"] = [lab for lab in issue["labels"] if lab["name"] != name]
            return self._send(handler, 200, issue["labels"])
        return self._send(handler, 404, {"message": "Not Found"})

    def _blob(self, handler, path: str, query: dict[str, str]) -> None:
        """The signed storage URL an artifact's zip redirects to: no token may come along."""
        artifact = self.artifacts.get(int(path.rsplit("/", 1)[1]))
        if handler.headers.get("Authorization") or query.get("sig") != "signed" or artifact is None:
            return self._send(handler, 403, {"message": "AuthenticationFailed"})
        handler.send_response(200)
        handler.send_header("Content-Type", "application/zip")
        handler.send_header("Content-Length", str(len(artifact["zip"])))
        handler.end_headers()
        handler.wfile.write(artifact["zip"])
        return None


def _sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _text(body: Any, key: str) -> str:
    if not isinstance(body, dict) or not isinstance(body.get(key), str):
        return ""
    return body[key]
