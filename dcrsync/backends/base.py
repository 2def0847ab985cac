"""The small protocol every server family implements, and what its calls return."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from dcrsync.families import ServerWide
from dcrsync.guards.trust import Trust
from dcrsync.model import SECRET_FIELDS, ClientSpec, LiveClient, fingerprint, normalise_value, observed
from dcrsync.state.records import ClientRecord

__all__ = [
    "Backend", "Fetched", "Marker", "Result", "default_normalise", "family_wide", "fingerprint", "observed",
    "server_wide_notes",
    "server_wide_declared", "split_server_wide",
]


@dataclass(frozen=True)
class Marker:
    """The ownership marker dcrsync writes on every client it creates or updates (`ownership`)."""

    owner: str
    name: str
    #: the project's identity; None where the family keeps no marker (or in a test without one)
    project: str | None = None
    #: the serial of the state the writing apply commits: a plan on an older state sees it is behind
    serial: int | None = None


@dataclass
class Result:
    """What a create / update / rotation left on the server."""

    live: LiveClient
    #: what the server gives once, to be journaled before anything else
    secrets: dict[str, Any] = field(default_factory=dict)
    #: what the person applying must know of this answer (printed with the apply's warnings)
    notes: list[str] = field(default_factory=list)


@dataclass
class Fetched:
    clients: list[LiveClient]
    #: secrets rotated while reading (RFC 7592 servers may rotate on any read): journal them
    rotated: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: names in state whose client could not be read with its stored token, with the reason
    unreadable: dict[str, str] = field(default_factory=dict)
    requests: int = 0


class Backend(ServerWide):
    """One server family. Subclass it, set the flags, implement the five calls; the rest has defaults.

    Contract for every family:
    - a backend never plans: it reads, writes and normalises; `diff` decides what changes;
    - `update` keeps what the spec does not declare (a full-replace PUT carries the live client plus
      the declared fields), resets what `spec.unset` names, and writes the ownership marker;
    - `delete` of a client that is already gone (404, or 401 on RFC 7592) is done, not an error;
    - every failure the user can act on is a `BackendError` with a one-line message.
    """

    #: the `server.kind` that selects this family
    family: ClassVar[str]
    #: the server can list every client and holds the ownership marker; else plan reads each by its token
    lists: ClassVar[bool] = True
    #: a list reads more for the state's records it is given (Keycloak: the roles they declare), so the
    #: state must be read before the server is listed
    fetch_reads_records: ClassVar[bool] = False
    #: the caller may choose client_id (so a lost create response never makes a duplicate)
    chooses_client_id: ClassVar[bool] = False
    #: the caller may choose client_secret (so dcrsync can rotate it by sending a new one)
    chooses_secret: ClassVar[bool] = False
    #: a new client secret can be set or regenerated for an existing client
    rotates_secret: ClassVar[bool] = False
    #: an admin can read a client's current secret back (`read_secret`): import and recover record it
    reads_secret: ClassVar[bool] = False
    #: a rotation can leave the old secret valid for a while (`rotate-secret --grace`): see `rotate_with_grace`
    keeps_old_secret: ClassVar[bool] = False
    #: an existing client's client_id can be changed in place (same client, same secret): a changed
    #: declared client_id is then an update, not a delete-and-create
    renames_client_id: ClassVar[bool] = False
    #: what the server fills in for a field never declared: never exported, never a change
    defaults: ClassVar[dict[str, Any]] = {}
    #: fields `export` leaves out (server bookkeeping that is not client metadata)
    export_skip: ClassVar[frozenset[str]] = frozenset()
    #: the token endpoint wants client credentials in the form body (client_secret_post), not basic
    token_auth_post: ClassVar[bool] = False
    #: the `server:` block of dcrsync.yaml (families that read more of it than their connection)
    settings: Mapping[str, Any] = {}
    #: the server's URL, for plans and messages
    url: str = ""
    #: the owner of dcrsync's marker; a family that holds no marker reports it on what it reads
    owner: str = ""
    #: what `check_specs` found worth a warning in the plan (one line each, with file:line)
    notes: Sequence[str] = ()
    #: where this backend may send requests (None: DCRSYNC_TRUSTED_SERVER as the environment sets it)
    trust: Trust | None = None

    def fetch(self, records: Sequence[ClientRecord]) -> Fetched:
        """Every client the plan needs: all of them where the server lists, else each record's."""
        raise NotImplementedError

    def get(self, client_id: str, record: ClientRecord | None) -> tuple[LiveClient | None, dict[str, Any]]:
        """One client, or None when it is gone; the dict holds what the read rotated (RFC 7592 tokens)."""
        raise NotImplementedError

    def create(
        self, spec: ClientSpec, marker: Marker, client_id: str | None, client_secret: str | None
    ) -> Result:
        """Register the client (with `client_id` where the family lets the caller choose it);
        `Result.secrets` holds what the server gave once."""
        raise NotImplementedError

    def update(
        self,
        spec: ClientSpec,
        marker: Marker,
        live: LiveClient,
        record: ClientRecord | None,
        new_secret: str | None = None,
    ) -> Result:
        """Make `live` match `spec` (see the contract above); with `new_secret`, rotate the secret."""
        raise NotImplementedError

    def delete(self, live: LiveClient, record: ClientRecord | None) -> None:
        """Remove the client; one already gone is done."""
        raise NotImplementedError

    def rotate_with_grace(self, live: LiveClient, record: ClientRecord | None, grace: int) -> tuple[Result, int]:
        """A new secret while the old one stays valid at least `grace` seconds (only where
        `keeps_old_secret`): first a `BackendError` if the server would not keep it (nothing changed),
        then (`Result.secrets` with the new secret, when the old one stops working as epoch seconds)."""
        raise NotImplementedError

    def read_secret(self, live: LiveClient) -> str | None:
        """The client's current secret as the server holds it (only where `reads_secret`); None when
        the server has none for it. Never an old secret a rotation keeps."""
        return None

    def with_details(self, clients: Sequence[LiveClient]) -> list[LiveClient]:
        """`clients` with what a listing leaves out read too, for the files `export` and `import` write
        (Keycloak: client roles and service-account roles); the default: as they are."""
        return list(clients)

    def create_after(self, spec: ClientSpec) -> set[str]:
        """client_ids whose clients must exist before this spec's create (apply creates them first)."""
        return set()

    def normalise(self, path: str, value: Any) -> Any:
        """A value in the form `diff` compares with `==` (sets sorted, scope split, secrets hidden)."""
        return default_normalise(path, value)

    def per_client(self, specs: Sequence[ClientSpec]) -> tuple[list[ClientSpec], list[str]]:
        """`specs` without the fields this family enforces server-wide, and one note for each such field."""
        return server_wide_notes(type(self), specs, self.settings)

    def check_specs(self, specs: Sequence[ClientSpec]) -> None:
        """Refuse, at the field's file:line, what this family cannot hold; before anything is sent."""
        return None

    def check_plan(self, specs: Sequence[ClientSpec], renames: Mapping[str, str]) -> None:
        """Refuse, at the field's file:line, what only the whole plan shows (`renames`: the client_ids
        it changes in place, old -> new): a reference the apply would find broken half way."""
        return None

    def new_client_id(self) -> str:
        """A client_id for a create, chosen before it is sent (only where `chooses_client_id`)."""
        return str(uuid.uuid4())

    def reserved(self, live: LiveClient) -> str | None:
        """Why dcrsync must never manage this client (a server's built-in, dcrsync's own admin), or None."""
        return None

    def token_endpoint(self) -> str | None:
        """Where a client's secret can be checked (client_credentials), when the family knows it."""
        return None

    def restores(self, key: str) -> bool:
        """Whether `update` can put a hand-edited raw key back from `ClientSpec.baseline` (`strict: true`).
        Families that send the whole representation can."""
        return True

    def discovery_url(self) -> str | None:
        """Where the server publishes its OpenID Connect discovery document (for the issuer and token
        endpoint a delivery hands to apps), when the family knows it."""
        return None

    def retire_old_secret(self, live: LiveClient) -> None:
        """End the old secret a grace rotation kept valid (only where `keeps_old_secret`)."""
        raise NotImplementedError

    def kept_when_unset(self, path: str) -> bool:
        """True when this family cannot reset `path` to a default once it is no longer declared (its
        value stays as it is; the plan says so). Families reset every field they write."""
        return False

    def no_token_endpoint(self) -> str:
        """What to do when `token_endpoint` is None, said to the user."""
        return f"dcrsync does not know the token endpoint of this {self.family} server"

    def default_client_id(self, spec: ClientSpec) -> str | None:
        """The client_id a create gets when the file declares none, where the family derives it from
        the spec (None: `new_client_id` or the server chooses). Plan shows it and refuses one taken."""
        return None

    def live_of(self, raw: dict[str, Any]) -> LiveClient:
        """The server's representation read as a LiveClient (drift uses it on stored representations)."""
        return LiveClient(client_id=str(raw.get("client_id") or ""), fields=dict(raw), raw=raw)

    def close(self) -> None:
        """Release connections."""
        return None


def default_normalise(path: str, value: Any) -> Any:
    if path in SECRET_FIELDS:
        return None
    return normalise_value(path, value)


def family_wide(
    family: type[Backend], server: Mapping[str, Any]
) -> tuple[dict[str, str], Callable[[ClientSpec, str], bool]]:
    """What `family`, configured with the `server:` block `server`, enforces server-wide, and which
    spec's such field the block says is covered: the arguments of `split_server_wide` and
    `server_wide_declared` (what plan and validate both say)."""
    return family.server_wide_for(server), lambda spec, path: family.covers(server, spec, path)


def server_wide_notes(
    family: type[Backend], specs: Sequence[ClientSpec], server: Mapping[str, Any]
) -> tuple[list[ClientSpec], list[str]]:
    """`split_server_wide` for `family` configured with the `server:` block `server`."""
    return split_server_wide(specs, *family_wide(family, server))


def split_server_wide(
    specs: Sequence[ClientSpec], server_wide: Mapping[str, str],
    covered: Callable[[ClientSpec, str], bool] | None = None,
) -> tuple[list[ClientSpec], list[str]]:
    """(the specs without the fields in `server_wide`, one note per such field that clients declare).

    Such a field is left out of what is compared, planned, sent and recorded, so it never shows as
    a change; the note names the clients and the server setting that enforces it for them all. A
    client the server is said to cover (`covered`) is left out of the note."""
    if not server_wide:
        return list(specs), []
    out: list[ClientSpec] = []
    for spec in specs:
        found = [path for path in server_wide if path in spec.fields]
        out.append(replace(spec, fields={k: v for k, v in spec.fields.items() if k not in found}) if found else spec)
    return out, server_wide_declared(specs, server_wide, covered)


def server_wide_declared(
    specs: Sequence[ClientSpec], server_wide: Mapping[str, str],
    covered: Callable[[ClientSpec, str], bool] | None = None,
) -> list[str]:
    """The notes of `split_server_wide` alone (what validate says), without copying a single spec."""
    declaring: dict[str, list[str]] = {}
    for spec in specs:
        for path in server_wide:
            if path in spec.fields and (covered is None or not covered(spec, path)):
                declaring.setdefault(path, []).append(spec.name)
    notes: list[str] = []
    for path, names in declaring.items():
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        notes.append(f"`{path}` ({len(names)} client(s): {shown}) is not sent: {server_wide[path]}")
    return notes
