"""Group commit of journal entries: many workers submit, one thread writes a batch at a time.

Works over any store: it calls the `append` it is given (one durable batch per call).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from dcrsync.errors import StateError
from dcrsync.state.records import Entry


class JournalWriter:
    """Group commit: workers `submit` entries; one thread writes everything waiting as one batch.

    `flush()` returns once every entry submitted before it is on disk, encrypted.
    """

    def __init__(self, append: Callable[[list[Entry]], None], interval: float = 0.5) -> None:
        self.append = append
        #: at most one write per interval unless someone waits: each is an fsync (and, for the batch that
        #: carries a new journal key, a ~50 ms sops process)
        self.interval = interval
        self._urgent = 0  # waiters that need their entries on disk now
        self._cond = threading.Condition()
        self._pending: list[Entry] = []
        self._submitted = 0
        self._durable = 0
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="dcrsync-journal", daemon=True)
        self._thread.start()

    def submit(self, *entries: Entry) -> int:
        with self._cond:
            if self._error is not None:
                raise StateError(f"the journal could not be written: {self._error}")
            was_empty = not self._pending
            self._pending.extend(entries)
            self._submitted += len(entries)
            ticket = self._submitted
            if was_empty:  # the writer sleeps until there is work; during its interval it wakes by itself
                self._cond.notify_all()
            return ticket

    def wait(self, ticket: int) -> None:
        with self._cond:
            self._urgent += 1
            self._cond.notify_all()
            try:
                while self._durable < ticket and self._error is None:
                    self._cond.wait()
            finally:
                self._urgent -= 1
            if self._error is not None:
                raise StateError(f"the journal could not be written: {self._error}")

    def flush(self) -> None:
        with self._cond:
            ticket = self._submitted
        self.wait(ticket)

    def close(self) -> None:
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        last = 0.0
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending and self._closed:
                    return
                # gather more while the interval runs, unless someone needs the entries now
                while not self._urgent and not self._closed:
                    left = last + self.interval - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch, self._pending = self._pending, []
            last = time.monotonic()
            try:
                self.append(batch)
            except BaseException as exc:  # noqa: BLE001 - reported to every waiter
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self._durable += len(batch)
                self._cond.notify_all()
