"""The journal key's life: the batch that gives a state its key, sealed ahead; and a new key whenever
the state stops going to one of its recipients.

On a state without a journal key (a new project, or after `state rekey`) the journal's first batch
carries a new key, sops-encrypted (`dcrsync.state.batches.seal`): a ~50 ms process before apply's
first server write. `key_batch_soon` seals that batch, with no entries, on another thread while the
plan is made; the store's first `append` writes it (`ahead`) before its own batch.

The key signs every batch and seals those that hold a secret, and whoever could read the state knew
it: so a commit that no longer encrypts the state for one of the recipients it had (one removed from
dcrsync.yaml or .sops.yaml without `state rekey`) replaces the key too (`encrypted`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING

from dcrsync.state.batches import Chain, Sealed, new_key, seal
from dcrsync.state.records import State
from dcrsync.state.sops import recipients

if TYPE_CHECKING:
    from dcrsync.state.sops import Sops


def key_batch_soon(chain: Chain, sops: Sops | None, name: str, after: Callable[[], object] | None = None) -> None:
    """On a chain without a journal key, seal the batch that will carry one now, on another thread.
    `name`: the state's file name (sops's creation rules); `after`: what it waits for first (another
    sops process, so that the two do not both take a core from the plan)."""
    if chain.key is not None or chain.seq or chain.ahead is not None or sops is None:
        return
    start = replace(chain, ahead=None)
    done: Future[Sealed] = Future()

    def run() -> None:
        try:
            if after is not None:
                after()
            done.set_result(seal([], start, sops, name))
        except BaseException as exc:  # noqa: BLE001 - handed to `ahead`, which seals it again inline
            done.set_exception(exc)

    chain.ahead = done
    threading.Thread(target=run, name="dcrsync-journal-key", daemon=True).start()


def ahead(chain: Chain) -> list[Sealed]:
    """The key batch `key_batch_soon` sealed for this chain, to be written before its first batch;
    none when the chain has moved on, or when sealing it failed (the first batch then carries the key
    itself, and says what went wrong)."""
    done, chain.ahead = chain.ahead, None
    if done is None or chain.key is not None or chain.seq:
        return []
    try:
        return [done.result()]
    except Exception:  # noqa: BLE001
        return []


def encrypted(state: State, sops: Sops, name: str, what: str, before: list[str] | None, fresh: bool) -> tuple[bytes, bytes]:
    """The state's sops document (sops started while its files are made) and sidecar. When the
    document no longer goes to an age recipient the state it replaces went to (`before`), and the
    journal key is not new already (`fresh`), the key is replaced and the document made again."""
    with sops.encrypt_soon(name, what=what) as encrypting:
        plain, sidecar = state.to_files()
        cipher = encrypting.finish(plain)
    if before and not fresh and set(before) - set(recipients(cipher)):
        state.journal_key = new_key()
        plain, sidecar = state.to_files()
        cipher = sops.encrypt(plain, name, what=what)
    return cipher, sidecar
