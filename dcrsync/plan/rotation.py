"""When a declared rotation is due: `rotate: {max_age: 90d}` against the age of the state's secret,
or a `rotation:` token that differs from the one the current secret was issued under. Pure.
"""

from __future__ import annotations

import datetime as dt

from dcrsync.model import ClientSpec
from dcrsync.state.records import ClientRecord

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int:
    """`90d`, `24h`, `1h30m`, `3600s` or `3600` as seconds; ValueError otherwise."""
    text = str(text).strip().lower()
    if text.isdigit():
        return int(text)
    total, number = 0, ""
    for ch in text:
        if ch.isdigit():
            number += ch
        elif ch in _UNITS and number:
            total, number = total + int(number) * _UNITS[ch], ""
        else:
            raise ValueError(text)
    if number or not total:
        raise ValueError(text)
    return total


def _age(record: ClientRecord, now: float) -> float | None:
    if not record.secret_at:
        return None
    try:
        issued = dt.datetime.strptime(record.secret_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return now - issued.timestamp()


def due(spec: ClientSpec, record: ClientRecord, now: float) -> tuple[str | None, str | None]:
    """(why a rotation is due, a note when it cannot be told): the token changed, or the secret is
    older than `rotate.max_age`."""
    if spec.rotation is not None and spec.rotation != record.rotation:
        was = f"{record.rotation!r}" if record.rotation is not None else "none recorded"
        return f"`rotation:` changed ({was} -> {spec.rotation!r}): a new secret is asked for", None
    max_age = (spec.rotate or {}).get("max_age")
    if max_age is None:
        return None, None
    age = _age(record, now)
    if age is None:
        return None, (f"{spec.name}: rotate.max_age {max_age}: the age of its secret is unknown (issued before "
                      "dcrsync kept it, or recorded by set-secret); change its `rotation:` token to rotate it now")
    if age >= parse_duration(max_age):
        return f"its secret is {int(age // 86400)} day(s) old, past rotate.max_age {max_age}", None
    return None, None


def grace_of(spec: ClientSpec) -> int | None:
    grace = (spec.rotate or {}).get("grace")
    return parse_duration(grace) if grace is not None else None


def human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
