"""A journal batch's entries sealed under the state's journal key: AES-256-GCM, in process.

Whoever can read the state can read its journal key (a sops value of the state), so a batch sealed
under a key derived from it has exactly the state's readers, as a sops file to the state's recipients
would, without a sops process (~50 ms of CPU) per batch. The batch's whole header is bound in, so its
entries cannot be moved under another header. `cryptography` is imported only here, on first use.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

#: the `journal` field of a sealed batch (its MAC is that of format 2, `dcrsync.state.batches`)
SEALED = 3
NONCE = 12


class Unopened(ValueError):
    """Sealed entries that do not open with this key (another key, or altered)."""


def _aead(key: bytes):  # noqa: ANN202 - cryptography's AESGCM
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(hmac.new(key, b"dcrsync journal encryption", hashlib.sha256).digest())


def _bound(header: dict[str, Any]) -> bytes:
    """What the encryption binds besides the entries: the batch's whole header."""
    return "dcrsync journal {journal}\n{serial}\n{base}\n{seq}\n{prev}\n{mac}".format(**header).encode()


def seal_blob(header: dict[str, Any], blob: str, key: bytes) -> bytes:
    """The nonce and ciphertext of `blob` under `key`, bound to `header` (whose `journal` is SEALED)."""
    nonce = os.urandom(NONCE)
    return nonce + _aead(key).encrypt(nonce, blob.encode(), _bound(header))


def open_blob(header: dict[str, Any], box: bytes, key: bytes) -> str:
    """The blob `seal_blob` sealed; `Unopened` when it does not open with `key` under `header`."""
    from cryptography.exceptions import InvalidTag

    try:
        return _aead(key).decrypt(box[:NONCE], box[NONCE:], _bound(header)).decode()
    except (InvalidTag, ValueError):
        raise Unopened("does not open") from None
