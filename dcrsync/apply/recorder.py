"""What an apply keeps: every answer journaled as it arrives, then folded into the state once.

The Applier decides the order of the server calls; the Recorder keeps what they return and decides
when it must be on disk. It owns the group-commit writer over the store's `append` (how long
entries may wait to share one batch), the entries written so far, and the one commit at the
end, so a crash anywhere leaves a journal the next apply converges from.

The Applier's side of it, all of it:
- `announce(*entries)`: journal entries and hold until they are on disk (the create intents,
  before anything is sent);
- `answer(spec, result, *before, created=...)`: one finished create/update/move/rotation, in one
  batch; it returns once the answer is as safe as it must be (on disk at once when it holds what
  the server gives only once and a lost one cannot be had again, otherwise within `interval`);
- `note(*entries)`: bookkeeping that need not wait (a rotation under way, a delivery made);
- `forget(name)`: a delete, or a create the server refused;
- `commit(state)`: fold everything into the state and write it.
Anything that must happen once a server's answer is kept (handing a new secret to its app, say)
goes right after `answer` returns, in the Applier.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dcrsync.backends.base import Backend, Result
from dcrsync.errors import DcrsyncError
from dcrsync.model import ClientSpec
from dcrsync.state.groupcommit import JournalWriter
from dcrsync.state.records import Entry, Normalise, State, entries_for, forget
from dcrsync.state.store import StateStore


@dataclass
class Recorder:
    """Journal entries for one apply over `store`.

    `interval` is the group commit's: 0 writes each answer at once, 1 s batches them.
    `chooses_client_id`: the client_id of a create was chosen up front, so a lost create answer
    leaves no orphan (the next apply finds the client by its id).
    """

    store: StateStore
    normalise: Normalise
    interval: float = 1.0
    chooses_client_id: bool = True
    entries: list[Entry] = field(default_factory=list)
    #: warnings about values the server stored differently, from every recorded answer
    warnings: list[str] = field(default_factory=list)
    _writer: JournalWriter | None = None

    @classmethod
    def for_backend(cls, store: StateStore, backend: Backend) -> Recorder:
        """Where a lost answer can be recovered (the id was ours, the secret can be rotated), batch
        journal writes; where it cannot (RFC 7592), write each answer as soon as it arrives."""
        recoverable = backend.chooses_client_id and backend.rotates_secret
        return cls(store, backend.normalise, interval=1.0 if recoverable else 0.0,
                   chooses_client_id=backend.chooses_client_id)

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

    def _journal(self, *entries: Entry) -> int:
        assert self._writer is not None, "the Recorder is used outside `with recorder:`"
        self.entries.extend(entries)
        return self._writer.submit(*entries)

    def announce(self, *entries: Entry) -> None:
        """Journal entries and hold until they are on disk."""
        assert self._writer is not None, "the Recorder is used outside `with recorder:`"
        self._writer.wait(self._journal(*entries))

    def forget(self, name: str) -> None:
        self._journal(forget(name))

    def note(self, *entries: Entry) -> None:
        """Journal bookkeeping (a rotation under way, a delivery made): on disk within `interval`."""
        self._journal(*entries)

    def answer(
        self, spec: ClientSpec, result: Result, *before: Entry, created: bool = False, hold: bool = False
    ) -> None:
        """Journal a finished operation in one batch: `before` (a move), its secrets (encrypted), its
        bookkeeping. Holds the caller until it is on disk when losing it would lose something for
        good: a new registration token (the old one is dead), or a create whose client_id the server
        chose (a lost answer is an orphan: at most one per worker); and when `hold` says the caller acts
        on the answer next (delivers its secret to an app)."""
        entries, warnings = entries_for(spec, result.live, result.secrets, self.normalise)
        self.warnings.extend(warnings)
        ticket = self._journal(*before, *entries)
        if hold or "registration_access_token" in result.secrets or (created and not self.chooses_client_id):
            assert self._writer is not None
            self._writer.wait(ticket)

    def commit(self, state: State) -> None:
        """Fold every entry into `state` and write it with one commit."""
        state.fold(self.entries)
        self.store.commit(state)
