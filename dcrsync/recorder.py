"""What an apply keeps: every answer journaled as it arrives, then folded into the state once.

The Applier decides the order of the server calls; the Recorder keeps what they return. It owns
the group-commit writer over the store's `append`, the entries written so far, and the one commit
at the end, so a crash anywhere leaves a journal the next apply converges from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dcrsync.backends.base import Result
from dcrsync.errors import DcrsyncError
from dcrsync.groupcommit import JournalWriter
from dcrsync.model import ClientSpec
from dcrsync.state import Entry, Normalise, State, entries_for
from dcrsync.store import StateStore


@dataclass
class Recorder:
    """Journal entries for one apply over `store`.

    `interval` is the group commit's: 0 writes each answer at once (where a lost answer is lost for
    good: RFC 7592), 1 s batches them (where a lost answer can be recovered by rotating).
    """

    store: StateStore
    normalise: Normalise
    interval: float = 1.0
    entries: list[Entry] = field(default_factory=list)
    #: warnings about values the server stored differently, from every recorded answer
    warnings: list[str] = field(default_factory=list)
    _writer: JournalWriter | None = None

    def __enter__(self) -> Recorder:
        self._writer = JournalWriter(self.store.append, interval=self.interval)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        """Write what is waiting; on an error already under way, a failing write does not hide it."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if exc_type is None:
            writer.close()
            return
        try:
            writer.close()
        except DcrsyncError:
            pass

    def journal(self, *entries: Entry) -> int:
        """Submit entries; the ticket says when they are on disk (see `durable`)."""
        assert self._writer is not None, "journal() outside `with Recorder(...)`"
        self.entries.extend(entries)
        return self._writer.submit(*entries)

    def durable(self, ticket: int) -> None:
        """Hold the caller until its entries are on disk: what only the answer held is then safe."""
        assert self._writer is not None
        self._writer.wait(ticket)

    def flush(self) -> None:
        assert self._writer is not None
        self._writer.flush()

    def answer(self, spec: ClientSpec, result: Result, *before: Entry) -> int:
        """Journal a finished operation in one batch: `before` (a move), its secrets (encrypted), its
        bookkeeping (plain)."""
        entries, warnings = entries_for(spec, result.live, result.secrets, self.normalise)
        self.warnings.extend(warnings)
        return self.journal(*before, *entries)

    def commit(self, state: State) -> None:
        """Fold every entry into `state` and write it with one commit."""
        state.fold(self.entries)
        self.store.commit(state)
