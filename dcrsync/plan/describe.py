"""What exactly differs inside one changed field, for a reviewer: items added and removed for set-like
fields, and nested `path: before -> after` pairs for objects and lists of objects.

Pure, and only a description: whether a field changed is decided before, with `==` on normalised
values (`diff.field_changes`). DeepDiff only describes the pairs that differ, with list order ignored,
so a key set whose one `kid` changed reads as that one `kid` and not as the whole set twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from dcrsync.model import SENSITIVE, SET_FIELDS, TOKEN_FIELDS
from dcrsync.plan.plan import FieldChange

#: keys that name an item of a list of objects, in order of preference (`keys[kid=k1]`)
IDENTITY_KEYS: tuple[str, ...] = ("kid", "id", "name", "clientId", "alias", "uri")
#: at most this many nested pairs are listed; beyond, the field is shown whole
NESTED_LIMIT = 50
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_:-]*$")


def describe(change: FieldChange, compared: tuple[Any, Any] | None = None) -> FieldChange:
    """The change with `items_added`/`items_removed` (set-like fields) or `nested` (objects, lists of
    objects) filled in where that reads better than the whole values; unchanged otherwise.

    `compared`: (before, after) as they were compared (normalised by the family): what differs inside
    an object is read from them, so a value the server keeps in another form (Keycloak's mapper
    config `"true"` for a YAML `true`) is not shown as changed."""
    before, after = change.before, change.after
    if before is None or after is None or SENSITIVE in (before, after):
        return change
    if change.path in SET_FIELDS or change.path in TOKEN_FIELDS:
        old, new = _items(change.path, before), _items(change.path, after)
        if old is None or new is None:
            return change
        return replace(change, items_added=_sorted(new - old), items_removed=_sorted(old - new))
    if not (isinstance(before, dict) and isinstance(after, dict)) and not (_objects(before) and _objects(after)):
        return change
    if compared is not None and all(isinstance(v, dict) or _objects(v) for v in compared):
        before, after = compared
    nested = nested_pairs(change.path, before, after)
    if not nested or len(nested) > NESTED_LIMIT:
        return change
    return replace(change, nested=nested)


def nested_pairs(path: str, before: Any, after: Any) -> list[dict[str, Any]]:
    """[{path, before, after}] for each value that differs inside `before`/`after` (None: absent)."""
    from deepdiff import DeepDiff  # here: importing it loads threads and locks the pure core must not
    from deepdiff.helper import notpresent

    out: list[dict[str, Any]] = []
    for ignore_order in (True, False):  # order only where nothing else differs
        tree = DeepDiff(before, after, ignore_order=ignore_order, view="tree", verbose_level=2)
        for levels in tree.values():
            for level in levels:
                old = None if level.t1 is notpresent else level.t1
                new = None if level.t2 is notpresent else level.t2
                if isinstance(old, dict | list) and isinstance(new, dict | list):
                    # an item replaced whole (no pair close enough): one removed, one added
                    out.append({"path": path + _label(before, level.path(output_format="list")), "before": old, "after": None})
                    old = None
                root = before if old is not None else after
                steps = level.path(output_format="list", use_t2=old is None)
                out.append({"path": path + _label(root, steps), "before": old, "after": new})
        if out:
            break
    return sorted(out, key=lambda p: p["path"])


def _label(root: Any, steps: list[Any]) -> str:
    """`.key` / `["odd key"]` for dict keys, `[kid=k1]` for an item that names itself, else `[3]`."""
    text, node = "", root
    for step in steps:
        if isinstance(step, int) and isinstance(node, list):
            item = node[step] if 0 <= step < len(node) else None
            ident = next((k for k in IDENTITY_KEYS if isinstance(item, dict) and isinstance(item.get(k), str)), None)
            text += f"[{ident}={item[ident]}]" if ident and isinstance(item, dict) else f"[{step}]"
            node = item
        else:
            key = str(step)
            text += f".{key}" if _PLAIN_KEY.match(key) else f"[{json.dumps(key)}]"
            node = node.get(step) if isinstance(node, dict) else None
    return text


def _items(path: str, value: Any) -> set[Any] | None:
    if path in TOKEN_FIELDS and isinstance(value, str):
        return set(value.split())
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        return set(value)
    return None


def _sorted(items: set[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def _objects(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
