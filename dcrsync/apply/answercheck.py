"""Answers checked before they are recorded: a create or an update whose answer names another client
than the one sent, or a confidential client's create whose answer holds no secret, is a failure of
that client, and nothing of the answer goes into the state.

What stays behind so that the next apply converges (no orphan, no duplicate):
- where dcrsync chose the client_id (Hydra, Keycloak), the create's announced intent stays pending:
  the next plan finds the client by that id or by dcrsync's ownership marker and issues a new secret;
- where the server chose it (RFC 7591), the client the answer names is deleted again at once with
  the answer's own registration token (`undo_create`); if that fails, its id and token are recorded
  as a pending create, so the next plan reads it and says what it is, never an unknown orphan.
"""

from __future__ import annotations

from dcrsync.backends.base import Result
from dcrsync.guards.answers import inert
from dcrsync.model import ClientSpec, uses_secret
from dcrsync.state.records import ClientRecord, Entry, upsert


def _named(result: Result, sent: str | None) -> str | None:
    got = result.live.client_id
    if not got or got == "None":
        return "its answer names no client_id"
    if sent and got != sent:
        return f"its answer names client_id {inert(got)!r}, not {inert(sent)!r} as sent"
    return None


def created_problem(spec: ClientSpec, sent: str | None, result: Result) -> str | None:
    """Why the answer to a create cannot be recorded, or None when it can."""
    wrong = _named(result, sent)
    if wrong:
        return wrong
    confidential = uses_secret(spec.fields) and uses_secret(result.live.fields)
    if confidential and not result.secrets.get("client_secret"):
        return ("its answer has no client_secret (a confidential client's secret comes only in the answer to its "
                "create)")
    return None


def updated_problem(sent: str, result: Result) -> str | None:
    """Why the answer to an update cannot be recorded, or None when it can."""
    return _named(result, sent)


def given_record(name: str, result: Result) -> ClientRecord:
    """A record of what a create's answer gave (its id and registration token), to undo the create."""
    secrets = result.secrets
    return ClientRecord(
        name=name, client_id=result.live.client_id,
        registration_access_token=secrets.get("registration_access_token"),
        registration_client_uri=secrets.get("registration_client_uri"),
    )


def kept_for_later(name: str, result: Result) -> Entry:
    """The pending create the state keeps when an unusable client could not be deleted again."""
    tokens = {k: v for k, v in result.secrets.items() if k in ("registration_access_token", "registration_client_uri")}
    return upsert(name, client_id=result.live.client_id, pending=True, **tokens)
