"""The batch that gives a state its journal key, sealed ahead.

On a state without a journal key (a new project, or after `state rekey`) the journal's first batch
carries a new key, sops-encrypted (`dcrsync.state.batches.seal`): a ~50 ms process before apply's
first server write. `key_batch_soon` seals that batch, with no entries, on another thread while the
plan is made; the store's first `append` writes it (`ahead`) before its own batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING

from dcrsync.state.batches import Chain, Sealed, seal

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
