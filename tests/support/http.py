"""One HTTP client for the tests' own calls to the servers: checks, out-of-band changes, polls.

`httpx.get()` and its kin build a whole client, TLS context included (~20 ms of CPU), at every call; a
poll every few milliseconds or a check of 400 recorded secrets spent seconds of the suite's two cores on
that. One client per test process, thread-safe, with the same defaults those calls have.
"""

from __future__ import annotations

import httpx

http = httpx.Client(timeout=30.0)
