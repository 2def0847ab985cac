"""One httpx client factory: timeouts and an overall deadline, a cap on what an answer may weigh,
retries (429 and 503 waited out by time through the server's shared `Limiter`, transport errors and
other 5xx a few times with backoff), auth, user agent."""

from __future__ import annotations

import functools
import random
import ssl
import time
import zlib
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from dcrsync import __version__
from dcrsync.errors import BackendError, BadAnswer
from dcrsync.guards.answers import came_back, inert, loads
from dcrsync.guards.trust import Trust
from dcrsync.net.connect import Backend, set_deadline
from dcrsync.net.gate import GuardTransport, Resolver, server_trust
from dcrsync.net.ratelimit import WAITED_STATUSES, Limiter, server_wait

USER_AGENT = f"dcrsync/{__version__}"
#: answered again a few times, by count: the server may have acted on the request
RETRY_STATUSES = frozenset({500, 502, 504})
RETRY_ERRORS = (httpx.TransportError,)  # connect / read / write errors, timeouts, dropped connections
#: the most one answer may weigh, decompressed (a Hydra page of 500 clients is about 1 MB)
MAX_BODY = 32 * 1024 * 1024
ACCEPT_ENCODING = "gzip, deflate"
#: how the body came (undone by `read_capped`): not passed on with the answer it read
_FRAMING = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})


@dataclass
class RetryPolicy:
    #: attempts for transport errors and 500/502/504 (429 and 503 are waited out by time instead)
    attempts: int = 5
    backoff: float = 0.2  # first wait, doubled each time
    max_wait: float = 30.0


def retry_after(response: httpx.Response) -> float | None:
    wait, _ = server_wait(response.headers, limited=True)
    return wait


class DeadlineExceeded(httpx.ReadTimeout):
    """The server took longer than the request's overall deadline (e.g. it trickled its answer)."""


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client of the process (each costs ~0.1-0.3 s to build)."""
    return httpx.create_ssl_context()


def _transport(max_connections: int, trust: Trust | None = None, resolve: Resolver | None = None
               ) -> httpx.HTTPTransport:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    transport = httpx.HTTPTransport(verify=_ssl_context(), limits=limits)
    # the same pool httpx builds, over sockets that honour the deadline and connect only to vetted
    # addresses (`dcrsync.net.connect`; httpx takes no network backend)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=_ssl_context(), max_connections=max_connections,
        max_keepalive_connections=max_connections, keepalive_expiry=limits.keepalive_expiry,
        network_backend=Backend(trust, resolve),
    )
    return transport


# --- the body, read with a cap ---------------------------------------------------------------
class _Where:
    """A request's URL without its query (which may hold a token), worded only when a message names it:
    building it for every request cost two URL parses each."""

    __slots__ = ("url",)

    def __init__(self, url: httpx.URL) -> None:
        self.url = url

    def __str__(self) -> str:
        return str(self.url.copy_with(query=None))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class _Inflate:
    """Decompresses gzip / deflate as it is read, never more than the cap."""

    def __init__(self, encoding: str, url: object) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self.z = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self.z = zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS)
        else:
            raise BadAnswer(f"{url} answered in the `{encoding[:40]}` encoding, which dcrsync did not ask for "
                            f"(it asks for {ACCEPT_ENCODING}); a proxy in between may have changed it")

    def feed(self, data: bytes, room: int) -> bytes:
        if self.z is None:
            return data
        out = bytearray()
        while data and len(out) <= room:
            out += self.z.decompress(data, room - len(out) + 1)
            data = self.z.unconsumed_tail
        return bytes(out)


def read_capped(response: httpx.Response, cap: int, url: object) -> bytes:
    """The whole body of a streamed response, decompressed, refusing more than `cap` bytes."""
    def too_large() -> BadAnswer:
        return BadAnswer(f"{url} answered more than {cap // (1024 * 1024)} MB (HTTP {response.status_code}); "
                         "dcrsync stopped reading: check that the URL in dcrsync.yaml is the server's API")

    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap and not response.headers.get("content-encoding"):
        raise too_large()
    inflate = _Inflate(response.headers.get("content-encoding", ""), url)
    body = bytearray()
    try:
        for chunk in response.stream:
            body += inflate.feed(chunk, cap - len(body))
            if len(body) > cap:
                raise too_large()
    except zlib.error:
        raise BadAnswer(f"{url} answered a body that does not decompress (HTTP {response.status_code})") from None
    return bytes(body)


class RetryTransport(httpx.BaseTransport):
    """Every attempt under an overall deadline with its body read (capped) before it returns; 429 and
    503 waited out together with the other workers through the shared `Limiter`, for up to its
    `max_wait`; transport errors and 500/502/504 retried `policy.attempts` times with backoff."""

    def __init__(
        self, inner: httpx.BaseTransport, policy: RetryPolicy, sleep=time.sleep, *,  # noqa: ANN001
        limiter: Limiter | None = None, deadline: float = 30.0, max_body: int = MAX_BODY, waits: bool = True,
    ) -> None:
        self.inner = inner
        self.policy = policy
        self.sleep = sleep
        self.limiter = limiter or Limiter()
        self.deadline = deadline
        self.max_body = max_body
        #: False: a 429 or 503 is the answer, at once (a state store: its caller keeps the journal locally)
        self.waits = waits

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        counted, limited_since = 0, None
        while True:
            generation = self.limiter.acquire()
            try:
                response = self._attempt(request)
            except RETRY_ERRORS as exc:
                self.limiter.release()
                counted += 1
                if counted >= self.policy.attempts or isinstance(exc, DeadlineExceeded):
                    raise  # a server that trickled its answer for the whole deadline is not asked again
                self._wait(counted, None)
                continue
            except BaseException:
                self.limiter.release()
                raise
            status = response.status_code
            if not self.waits and status in WAITED_STATUSES:
                self.limiter.release()
                return response
            self.limiter.observe(status, response.reason_phrase, response.headers, generation)
            if status in WAITED_STATUSES:
                now = time.monotonic()
                limited_since = limited_since if limited_since is not None else now
                asked = max(self.limiter.remaining(), retry_after(response) or 0.0)  # "an hour": fail now
                if now + asked - limited_since <= self.limiter.max_wait:
                    continue  # the limiter holds every worker until the pause is over
                response.extensions["dcrsync_waited"] = self.limiter.max_wait
                return response
            counted += 1
            if status not in RETRY_STATUSES or counted >= self.policy.attempts:
                return response
            self._wait(counted, retry_after(response))

    def _attempt(self, request: httpx.Request) -> httpx.Response:
        url = _Where(request.url)
        deadline = time.monotonic() + self.deadline
        set_deadline(deadline)
        try:
            response = self.inner.handle_request(request)
            try:
                content = read_capped(response, self.max_body, url) if request.method != "HEAD" else b""
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            if time.monotonic() < deadline or isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
                raise
            raise DeadlineExceeded(f"no whole answer within {self.deadline:g} s", request=request) from exc
        finally:
            set_deadline(None)
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _FRAMING]
        return httpx.Response(response.status_code, headers=headers, content=content, request=request,
                              extensions=response.extensions)

    def _wait(self, attempt: int, hint: float | None) -> None:
        if hint is None:
            hint = self.policy.backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
        self.sleep(min(hint, self.policy.max_wait))

    def close(self) -> None:
        self.inner.close()


class _NoCookies(httpx.Cookies):
    """dcrsync keeps no cookies: every request carries its own credentials, so a server's `Set-Cookie`
    is neither stored nor sent back (and reading it cost each answer a cookie jar's parse)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


class _Client(httpx.Client):
    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("dcrsync's HTTP clients keep no cookies")

    def send(self, request: httpx.Request, *, stream: bool = False, **kwargs: Any) -> httpx.Response:
        """httpx's send; an answer read whole then drops its spent stream, which points back at it: that
        cycle made every answer garbage only the cyclic collector could free (27 objects a request,
        most of an apply's collections)."""
        response = super().send(request, stream=stream, **kwargs)
        if not stream:
            response.stream = _SPENT
        return response


_NO_COOKIES = _NoCookies()
#: the stream of an answer already read and closed (httpx never reads it again)
_SPENT = httpx.ByteStream(b"")


def make_client(
    base_url: str = "",
    *,
    token: str | None = None,
    timeout: float = 30.0,
    max_connections: int = 16,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    trust: Trust | None = None,
    limiter: Limiter | None = None,
    deadline: float | None = None,
    max_body: int = MAX_BODY,
    waits: bool = True,
) -> httpx.Client:
    """The one way dcrsync talks HTTP. `timeout` bounds each whole attempt (connect, send, every byte
    of the answer) unless `deadline` sets that apart (`timeout` then bounds each wait on the socket);
    `max_body`: the most an answer may weigh; `limiter` is shared by every client that talks to the same
    server (`waits`=False: 429 and 503 are answers, not waited out); `trust`: where requests may go
    (default: `DCRSYNC_TRUSTED_SERVER`), every request passes it."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    trust = trust or server_trust()
    inner = GuardTransport(transport or _transport(max_connections, trust), trust)
    return _Client(
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        transport=RetryTransport(inner, policy or RetryPolicy(), limiter=limiter or Limiter(max_connections),
                                 deadline=timeout if deadline is None else deadline, max_body=max_body, waits=waits),
        follow_redirects=False,
    )


def describe_error(exc: httpx.TransportError, url: str) -> str:
    if isinstance(exc, DeadlineExceeded):
        where = str(exc.request.url.copy_with(query=None))
        return f"{where} did not finish answering within its deadline ({exc}); check that the server is healthy"
    kind = type(exc).__name__
    return f"cannot reach {url} ({kind}); check the server URL in dcrsync.yaml and that the server is up"


def unreachable(exc: httpx.TransportError, url: str) -> BackendError:
    """A transport failure (after retries) as the one-line error every family raises."""
    return BackendError(describe_error(exc, url))


def limited_hint(response: httpx.Response) -> str:
    """What to do after a 429 / 503 that outlasted the wait (empty for any other answer)."""
    waited = response.extensions.get("dcrsync_waited")
    if response.status_code not in WAITED_STATUSES or waited is None:
        return ""
    return (f"the server kept refusing past server.rate_limit.max_wait ({waited:g} s; rate limited or "
            "unavailable): try again later, or raise it in dcrsync.yaml")
def error_detail(response: httpx.Response) -> tuple[str | None, str]:
    """(error code, description) from an error answer, whatever the server's dialect: OAuth's
    `error`/`error_description` (RFC 6749, 7591), Ory's envelope and `error_hint`, Keycloak's
    `errorMessage`, GitHub's `message` and `errors[]`; else the body's first line or the reason."""
    try:
        body = loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if not response.content.strip():
            return None, response.reason_phrase
        if came_back(response).startswith("an HTML page"):
            return None, came_back(response)
        text = response.content[:2048].decode("utf-8", "replace").strip().splitlines()
        return None, inert(text[0], 200) if text else response.reason_phrase
    err = body.get("error")
    desc = (
        body.get("error_description") or body.get("errorMessage") or body.get("error_hint")
        or body.get("message") or ""
    )
    if isinstance(err, dict):  # Ory's generic envelope
        desc = err.get("reason") or err.get("message") or desc
        err = err.get("status") or err.get("code")
    errors = body.get("errors") if isinstance(body.get("errors"), list) else []
    extra = [str(e.get("message") or e.get("code") or "") if isinstance(e, dict) else str(e) for e in errors if e]
    if any(extra):
        desc = f"{desc}: {'; '.join(x for x in extra if x)}" if desc else "; ".join(x for x in extra if x)
    return (str(err) if err else None), " ".join(str(desc).split())
