"""One httpx client factory: timeouts, retries with backoff honouring Retry-After, auth, user agent."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import httpx

from dcrsync import __version__
from dcrsync.errors import BackendError
from dcrsync.guard import GuardTransport, server_trust
from dcrsync.trust import Trust

USER_AGENT = f"dcrsync/{__version__}"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_ERRORS = (httpx.TransportError,)  # connect / read / write errors, timeouts, dropped connections


@dataclass
class RetryPolicy:
    attempts: int = 5
    backoff: float = 0.2  # first wait, doubled each time
    max_wait: float = 30.0


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RetryTransport(httpx.BaseTransport):
    """Retries 429 / 5xx answers and transport errors with exponential backoff and jitter."""

    def __init__(self, inner: httpx.BaseTransport, policy: RetryPolicy, sleep=time.sleep) -> None:
        self.inner = inner
        self.policy = policy
        self.sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.inner.handle_request(request)
            except RETRY_ERRORS:
                if attempt >= self.policy.attempts:
                    raise
                self._wait(attempt, None)
                continue
            if response.status_code not in RETRY_STATUSES or attempt >= self.policy.attempts:
                return response
            hint = retry_after(response)
            response.close()
            self._wait(attempt, hint)

    def _wait(self, attempt: int, hint: float | None) -> None:
        if hint is None:
            hint = self.policy.backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
        self.sleep(min(hint, self.policy.max_wait))

    def close(self) -> None:
        self.inner.close()


def make_client(
    base_url: str = "",
    *,
    token: str | None = None,
    timeout: float = 30.0,
    max_connections: int = 16,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    trust: Trust | None = None,
) -> httpx.Client:
    """`trust`: where requests may go (default: `DCRSYNC_TRUSTED_SERVER`); every request passes it."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    inner = GuardTransport(transport or httpx.HTTPTransport(limits=limits), trust or server_trust())
    return httpx.Client(
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        transport=RetryTransport(inner, policy or RetryPolicy()),
        follow_redirects=False,
    )


def describe_error(exc: httpx.TransportError, url: str) -> str:
    kind = type(exc).__name__
    return f"cannot reach {url} ({kind}); check the server URL in dcrsync.yaml and that the server is up"


def unreachable(exc: httpx.TransportError, url: str) -> BackendError:
    """A transport failure (after retries) as the one-line error every family raises."""
    return BackendError(describe_error(exc, url))


def error_detail(response: httpx.Response) -> tuple[str | None, str]:
    """(error code, description) from an error answer, whatever the server's dialect: OAuth's
    `error`/`error_description` (RFC 6749, 7591), Ory's envelope and `error_hint`, Keycloak's
    `errorMessage`, GitHub's `message` and `errors[]`; else the body's first line or the reason."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = (response.text or "").strip().splitlines()
        return None, text[0][:200] if text else response.reason_phrase
    err = body.get("error")
    desc = (
        body.get("error_description") or body.get("errorMessage") or body.get("error_hint")
        or body.get("message") or ""
    )
    if isinstance(err, dict):  # Ory's generic envelope
        desc = err.get("reason") or err.get("message") or desc
        err = err.get("status") or err.get("code")
    extra = [str(e.get("message") or e.get("code") or "") if isinstance(e, dict) else str(e)
             for e in body.get("errors") or [] if e]
    if any(extra):
        desc = f"{desc}: {'; '.join(x for x in extra if x)}" if desc else "; ".join(x for x in extra if x)
    return (str(err) if err else None), " ".join(str(desc).split())
