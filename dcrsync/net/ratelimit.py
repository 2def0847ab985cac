"""One limiter per server, shared by every worker: waits out 429 and 503 together, by time.

A 429 (or 503) means the server did not act on the request, so it is sent again, but only after
the wait the server asked for (`Retry-After`, or the `RateLimit-*` / `X-RateLimit-*` headers), or a
doubling backoff when it said nothing. The wait is a pause for every worker at once (they hit the
same bucket), and a 429 halves how many requests may be in flight; each run of successful answers
as long as that limit grows it back by one. `server.rate_limit: {rps, burst}` keeps dcrsync under a
budget the server's owners set (a token bucket), and `max_wait` bounds how long one request is
retried: by time, never by a count.

Pure bookkeeping with a clock: `RetryTransport` (dcrsync.net.http) calls `acquire` before each attempt
and `observe` after it.
"""

from __future__ import annotations

import email.utils
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: what the server surely did not act on, waited out by time
WAITED_STATUSES = frozenset({429, 503})
#: default seconds one request keeps being retried while the server limits it
MAX_WAIT = 120.0
#: first wait when a limiting answer says nothing about when to come back (doubled each time)
FIRST_BACKOFF = 0.5
BACKOFF_CAP = 15.0
#: a pause like the one announced last is not announced again within this many seconds
QUIET = 5.0
#: a reset this large is an epoch timestamp (`X-RateLimit-Reset: 1700000000`), not seconds
EPOCH = 1_000_000_000

_PARAM = re.compile(r"\b(r|remaining|t|reset)\s*=\s*(\d+(?:\.\d+)?)")


def _seconds(value: str | None, now: float) -> float | None:
    """Seconds from a header value: a number of seconds, an epoch timestamp, or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        return max(0.0, when.timestamp() - now)
    if number != number or number < 0:  # NaN, negative
        return None
    return max(0.0, number - now) if number >= EPOCH else number


def server_wait(headers: Mapping[str, str], limited: bool, wall: float | None = None) -> tuple[float | None, str]:
    """(seconds the server asks dcrsync to wait, which header said so); (None, "") when none did.

    On a limiting answer `Retry-After` counts, else a reset header; on any other answer only a
    quota that is used up (remaining 0) does: dcrsync then waits for its reset before sending more.
    """
    wall = time.time() if wall is None else wall
    if limited:
        after = _seconds(headers.get("retry-after"), wall)
        if after is not None:
            return after, f"Retry-After: {headers.get('retry-after', '').strip()[:40]}"
    for prefix in ("ratelimit-", "x-ratelimit-"):
        remaining, reset = headers.get(prefix + "remaining"), headers.get(prefix + "reset")
        if reset is None or (not limited and (remaining or "").strip() != "0"):
            continue
        wait = _seconds(reset, wall)
        if wait is not None:
            return wait, f"{prefix}reset: {reset.strip()[:40]}"
    combined = headers.get("ratelimit")  # the draft's one-header form: `"default";r=0;t=5`
    if combined:
        params = dict(_PARAM.findall(combined.lower()))
        remaining = params.get("r", params.get("remaining"))
        reset = params.get("t", params.get("reset"))
        if reset is not None and (limited or remaining in ("0", "0.0")):
            return float(reset), f"RateLimit: {combined.strip()[:40]}"
    return None, ""


def _say(line: str) -> None:
    sys.stderr.write(f"{line}\n")
    sys.stderr.flush()


@dataclass
class Limiter:
    """Shared by every request to one server: the pause, the in-flight limit, the token bucket."""

    #: most requests in flight (the apply's parallelism); halved on a 429, grown back on success
    concurrency: int = 4
    #: the server owners' budget: requests a second and the burst above it (None: no budget)
    rps: float | None = None
    burst: int | None = None
    #: how long one request keeps being retried while the server limits it
    max_wait: float = MAX_WAIT
    #: where "waiting …" lines go (the progress of a plan or an apply)
    say: Callable[[str], None] = _say
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.concurrency = max(1, int(self.concurrency))
        self.limit = self.concurrency
        self.in_flight = 0
        self.pause_until = 0.0
        self.backoff = FIRST_BACKOFF
        self.successes = 0
        #: one congestion event per generation: the 429s of requests sent before a pause started are
        #: its echoes, and neither halve the limit again nor lengthen the backoff
        self.generation = 0
        self.tokens = float(self.burst or max(1.0, self.rps or 1.0))
        self.refilled = self.clock()
        self.cond = threading.Condition()
        self._said: tuple[float, str] = (float("-inf"), "")
        self._quiet = 0

    @classmethod
    def for_server(cls, server: Mapping[str, Any], concurrency: int) -> Limiter:
        """From `server.rate_limit` in dcrsync.yaml (`rps`, `burst`, `max_wait`)."""
        conf = server.get("rate_limit") or {}
        rps = conf.get("rps")
        return cls(
            concurrency=concurrency,
            rps=float(rps) if rps else None,
            burst=int(conf["burst"]) if conf.get("burst") else None,
            max_wait=float(conf.get("max_wait", MAX_WAIT)),
        )

    # --- before a request ------------------------------------------------------------------
    def acquire(self) -> int:
        """Wait for a slot, the end of any pause, and a token; returns the generation it was sent in."""
        with self.cond:
            while True:
                now = self.clock()
                wait = max(self.pause_until - now, self._token_wait(now))
                if self.in_flight < self.limit and wait <= 0:
                    if self.rps:
                        self.tokens -= 1.0
                    self.in_flight += 1
                    return self.generation
                self.cond.wait(timeout=wait if wait > 0 else None)

    def _token_wait(self, now: float) -> float:
        if not self.rps:
            return 0.0
        cap = float(self.burst or max(1.0, self.rps))
        self.tokens = min(cap, self.tokens + (now - self.refilled) * self.rps)
        self.refilled = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rps

    # --- after it --------------------------------------------------------------------------
    def release(self) -> None:
        """The attempt ended without an answer (a transport error): free its slot."""
        with self.cond:
            self.in_flight -= 1
            self.cond.notify_all()

    def observe(self, status: int, reason: str, headers: Mapping[str, str], generation: int) -> float:
        """Free the attempt's slot and learn from its answer; returns the pause it started (0: none)."""
        limited = status in WAITED_STATUSES
        wait, why = server_wait(headers, limited)
        with self.cond:
            self.in_flight -= 1
            if limited:
                fresh = generation == self.generation  # not the echo of a pause already under way
                if wait is None and fresh:  # an echo without a header: the pause under way covers it
                    wait, why = self.backoff * (0.75 + random.random() / 2), "no Retry-After"
                    self.backoff = min(self.backoff * 2, BACKOFF_CAP)
                if fresh:
                    self.generation += 1
                    if status == 429:
                        self.limit = max(1, self.limit // 2)
                self.successes = 0
            else:
                self.backoff = FIRST_BACKOFF
                self.successes += 1
                if self.successes >= self.limit and self.limit < self.concurrency:
                    self.limit += 1
                    self.successes = 0
            why = f"the server answered {status} {reason} ({why})" if limited else f"its quota is used up ({why})"
            started = self._pause(wait, why)
            self.cond.notify_all()
        return started

    def _pause(self, wait: float | None, why: str) -> float:
        if wait is None or wait <= 0:
            return 0.0
        wait = min(wait, self.max_wait)
        now = self.clock()
        new = self.pause_until <= now
        if now + wait <= self.pause_until:
            return 0.0
        self.pause_until = now + wait
        if new:
            self._announce(now, wait, f"{why}; {self.limit} request(s) at a time from now on")
        return wait

    def _announce(self, now: float, wait: float, what: str) -> None:
        """One line per pause; the same pause again within QUIET seconds is counted, then summed up."""
        if what == self._said[1] and now - self._said[0] < QUIET:
            self._quiet += 1
            return
        more = f" ({self._quiet} more pause(s) like the last one before this)" if self._quiet else ""
        self.say(f"waiting {wait:.1f} s: {what}{more}")
        self._said, self._quiet = (now, what), 0

    def remaining(self) -> float:
        """Seconds until the current pause ends (0 when none)."""
        return max(0.0, self.pause_until - self.clock())
