"""Each target's write, and its look at what is there now (`seen`). The I/O edge of delivering.

- `kubernetes-secret`: the manifest encrypted by sops for the delivery's recipients alone, written
  atomically below a delivery root (a symlink out of the roots is refused);
- `external-secret`: the manifest, plain (no secret inside);
- `exec`: the bundle as JSON on the command's stdin, never on its argv.

`seen` reports the hash found at the destination (a manifest's annotation), that
nothing is there, or that the destination cannot be read back (`exec`: the state's record speaks).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dcrsync.deliver import manifests
from dcrsync.deliver.declared import (
    EXEC,
    EXTERNAL_SECRET,
    KUBERNETES_SECRET,
    Settings,
    Target,
    recipients_of,
)
from dcrsync.errors import DcrsyncError
from dcrsync.state.sops import Sops
from dcrsync.state.store import atomic_write

EXEC_TIMEOUT = 120.0


class DeliveryError(DcrsyncError):
    """One delivery failed; the message names the client, the target and what to do."""


@dataclass(frozen=True)
class Seen:
    #: blind: the destination cannot be read back (exec); the state's record of the last delivery speaks
    state: Literal["present", "missing", "unreadable", "blind"]
    #: the hash at the destination, when present
    digest: str | None = None
    #: why it is not current although its hash may match (recipients changed), or how it failed
    note: str | None = None


def file_path(target: Target, settings: Settings) -> Path:
    return settings.base_dir / str(target.settings["path"])


def _inside_roots(path: Path, settings: Settings) -> None:
    """The real folder (symlinks resolved) must be below a real root: no write escapes the roots."""
    real = os.path.realpath(path.parent)
    roots = [os.path.realpath(r) for r in settings.roots]
    if not any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
        raise DeliveryError(f"{target_name(path, settings)} resolves outside the delivery roots (a symlink?): refused")


def target_name(path: Path, settings: Settings) -> str:
    return os.path.relpath(path, settings.base_dir)


def write(target: Target, values: Mapping[str, str], digest: str, settings: Settings, sops: Sops | None) -> None:
    """Deliver `values` to `target`; a DeliveryError says why not."""
    if target.kind == KUBERNETES_SECRET:
        _write_secret(target, values, digest, settings, sops)
    elif target.kind == EXTERNAL_SECRET:
        path = file_path(target, settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        _inside_roots(path, settings)
        atomic_write(path, manifests.dump(manifests.external_secret(target, digest)))
    elif target.kind == EXEC:
        _run_command(target, values)
    else:
        raise DeliveryError(f"{target.client}: {target.kind} is not written (read it with `dcrsync deliver --stdout`)")


def _write_secret(target: Target, values: Mapping[str, str], digest: str, settings: Settings, sops: Sops | None) -> None:
    if sops is None:
        raise DeliveryError("encrypting a Secret manifest needs sops")
    recipients = recipients_of(target, settings)
    if not recipients:
        raise DeliveryError(f"{target.client}: {target.line()} has no recipients: refused")
    path = file_path(target, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    _inside_roots(path, settings)
    plain = manifests.dump(manifests.secret(target, values, digest))
    cipher = sops.encrypt_for(
        recipients, plain, path.name, what=f"{target.client}'s manifest {target.where}",
        encrypted_regex=manifests.ENCRYPTED_REGEX,
    )
    atomic_write(path, cipher)


def _run_command(target: Target, values: Mapping[str, str]) -> None:
    argv = [str(a) for a in target.settings["command"]]
    payload = json.dumps(dict(values)).encode()
    try:
        proc = subprocess.run(argv, input=payload, capture_output=True, timeout=EXEC_TIMEOUT, check=False)
    except FileNotFoundError:
        raise DeliveryError(f"{target.client}: exec `{argv[0]}` is not on PATH: install it or fix `command:`") from None
    except subprocess.TimeoutExpired:
        raise DeliveryError(f"{target.client}: exec `{argv[0]}` ran past {EXEC_TIMEOUT:.0f} s; it was stopped") from None
    if proc.returncode != 0:
        said = [ln.strip() for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
        last = redact(said[-1] if said else "no message", values)
        raise DeliveryError(f"{target.client}: exec `{argv[0]}` exited {proc.returncode}: {last[:300]}")


def redact(text: str, values: Mapping[str, str]) -> str:
    """`text` with every bundle value longer than 3 characters blanked: a command may echo its input."""
    for value in values.values():
        if len(value) > 3:
            text = text.replace(value, "(sensitive)")
    return text


def seen(target: Target, settings: Settings) -> Seen:
    """What the destination holds now, read without any key."""
    if target.kind in (KUBERNETES_SECRET, EXTERNAL_SECRET):
        path = file_path(target, settings)
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            return Seen("missing")
        except OSError as exc:
            return Seen("unreadable", note=f"cannot read {target.where} ({exc.strerror})")
        note = None
        if target.kind == KUBERNETES_SECRET:
            have = manifests.sops_recipients(text)
            if have != sorted(recipients_of(target, settings)):
                note = "encrypted for other recipients than its recipient sets name"
        return Seen("present", manifests.read_annotation(text), note)
    return Seen("blind")
