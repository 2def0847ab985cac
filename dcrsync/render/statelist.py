"""`dcrsync state list`: the state's names and client ids, no secret (read without the key). Pure."""

from __future__ import annotations

import json

from dcrsync.state.records import State


def text(state: State) -> str:
    rows = []
    for name, r in sorted(state.clients.items()):
        pending = "  (create pending)" if r.pending else ""
        rows.append(f"{name}\t{r.client_id or '-'}\t{r.applied_at or '-'}{pending}\n")
    return "".join(rows)


def as_json(state: State) -> str:
    rows = [
        {"name": n, "client_id": r.client_id, "applied_at": r.applied_at}
        for n, r in sorted(state.clients.items())
    ]
    return json.dumps(rows, indent=2) + "\n"
