"""The data the pipeline passes along, and the one table of fields.

`ClientSpec` is what git says (one per YAML document), `LiveClient` is what a server says.
Both carry client metadata in one flat namespace of *paths*: portable RFC 7591 / OpenID Connect
names (``redirect_uris``) and family-specific ones prefixed with their block (``hydra.audience``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from dcrsync.families import BLOCKS, flatten_block
from dcrsync.guards.inert import line as inert_line

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Location:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    @classmethod
    def parse(cls, text: str | None) -> Location:
        """The Location a `str(Location)` wrote (a saved plan's `source`); `plan:0:1` when none."""
        parts = (text or "").rsplit(":", 2)
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            return cls(parts[0], int(parts[1]), int(parts[2]))
        return cls(text or "plan", 0, 1)


@dataclass(frozen=True)
class Diagnostic:
    location: Location
    severity: Severity
    rule: str  # "DCR001"…, or "schema", "yaml", "load"
    message: str

    def __post_init__(self) -> None:
        """One line, whatever it quotes (a key may hold a newline or an escape): `guards.inert`."""
        if not self.message.isprintable():
            object.__setattr__(self, "message", inert_line(self.message))

    def format(self) -> str:
        return f"{self.location}: {self.severity}[{self.rule}]: {self.message}"


class Ignore(NamedTuple):
    """A lint rule ignored on purpose (`lint: {ignore: {RULE: reason}}`): why, and where it is written."""

    reason: str
    at: Location


@dataclass(frozen=True)
class Suppressed:
    """A finding ignored on purpose: kept so that `validate` shows it, with the reason and where."""

    diagnostic: Diagnostic
    reason: str
    at: Location  # where the ignore (or the policy exception) is written
    scope: str  # "project" or "client" (`lint.ignore`), "exception" (the policy file's)
    approved_by: str | None = None  # a policy exception's approver
    expires: str | None = None  # a policy exception's last day (YYYY-MM-DD)


@dataclass
class ClientSpec:
    """One client as declared in git, after `${env:}` / `${var:}` substitution."""

    name: str
    fields: dict[str, Any]  # portable metadata, without name / client_id / family blocks
    location: Location  # where the document starts (its `name` key)
    client_id: str | None = None
    #: the family blocks written (`hydra:`, `keycloak:`: see `families.BLOCKS`), by block name
    blocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    field_locations: dict[str, Location] = field(default_factory=dict)  # top-level key -> value
    #: list-valued field ("redirect_uris", "hydra.audience") -> the Location of each item
    item_locations: dict[str, list[Location]] = field(default_factory=dict)
    #: lint rules this client ignores (its `lint:` block; never sent to a server)
    lint_ignore: dict[str, Ignore] = field(default_factory=dict)
    #: dcrsync's own `labels:` and `description:` (never sent to a server): what a policy selects by
    labels: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    #: the environments (`--env`) this client exists in (its `environments:`); None: every one
    environments: tuple[str, ...] | None = None
    #: paths declared at the last apply and no longer declared: an update resets them to the
    #: server's default (set by apply from the plan, never by the loader)
    unset: frozenset[str] = frozenset()
    #: declared paths whose value was read from the environment -> the variables (see `envrefs`)
    env_refs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: top-level keys (a field or a family block) read from the environment -> the value with its
    #: references kept (`${env:X}`): what a saved plan carries instead of the value
    env_templates: dict[str, Any] = field(default_factory=dict)
    #: `strict:` of the client's file (None: the project's `strict` decides)
    strict: bool | None = None
    #: the server's representation with the hand edits a strict plan resets put back to the last
    #: apply's values: an update builds on it instead of the live one (set by apply, never the loader)
    baseline: dict[str, Any] | None = None
    #: the name this client had before a rename (`moved_from:`, as Terraform's `moved {}`)
    moved_from: str | None = None
    #: `protected: true`: a delete or replace needs `apply --allow-destroy NAME`
    protected: bool = False
    #: `deliver:` as written (dcrsync's own, never sent); None: not declared (the defaults apply)
    deliver: list[dict[str, Any]] | None = None
    #: `rotate: {max_age, grace}` (dcrsync's own, never sent)
    rotate: dict[str, Any] | None = None
    #: `rotation:` a token whose change asks for a new secret (dcrsync's own, never sent)
    rotation: str | None = None

    def declared(self) -> dict[str, Any]:
        """Every declared field as a flat path -> value mapping (family blocks prefixed, and each key
        of `extensions:` compared on its own as `extensions.KEY`)."""
        return flat_paths({**self.fields, **self.blocks})

    def block(self, name: str) -> dict[str, Any]:
        """The family block `name` (`hydra:`, `keycloak:`) as written, or {} when the file has none."""
        return self.blocks.get(name) or {}

    def where(self, path: str) -> Location:
        if path in self.field_locations:  # a key of a block (`extensions.KEY`) where it is known
            return self.field_locations[path]
        top = path.split(".", 1)[0]
        return self.field_locations.get(top, self.location)

    def where_item(self, path: str, index: int) -> Location:
        """Where item `index` of the list at `path` is written (the field itself if unknown)."""
        items = self.item_locations.get(path, ())
        return items[index] if 0 <= index < len(items) else self.where(path)


def flat_paths(payload: dict[str, Any]) -> dict[str, Any]:
    """Declared fields as written in a file (or a saved plan's `desired`) as flat paths: each family
    block's keys as `BLOCK.KEY`, each key of `extensions:` as `extensions.KEY`; `client_id` left out."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key in BLOCKS and isinstance(value, dict):
            out.update(flatten_block(key, value))
        elif key == EXTENSIONS and isinstance(value, dict):
            out.update({f"{EXTENSIONS}.{k}": v for k, v in value.items()})
        elif key != "client_id":
            out[key] = value
    return out


@dataclass
class LiveClient:
    """One client as the server returned it."""

    client_id: str
    fields: dict[str, Any]  # flat path namespace, as the server answered
    raw: dict[str, Any]  # the server's own representation (to build full-replace bodies)
    managed_name: str | None = None  # the dcrsync name in the ownership marker, if any
    owner: str | None = None  # the owner in the ownership marker, if any
    updated_at: str | None = None
    project: str | None = None  # the project identity in the ownership marker, if any
    serial: int | None = None  # the state serial the apply that last wrote the marker committed


# --- the one table of fields -------------------------------------------------------------

#: the client file's block of vendor metadata: sent as-is (RFC 7592 servers), compared per key
EXTENSIONS = "extensions"

#: compared as sets (order never matters); a family block's own are declared with the block
SET_FIELDS: frozenset[str] = frozenset(
    {f"{b.name}.{k}" for b in BLOCKS.values() for k in b.set_keys}
    | {
        "grant_types",
        "response_types",
        "redirect_uris",
        "post_logout_redirect_uris",
        "request_uris",
        "contacts",
        "default_acr_values",
    }
)

#: space-separated token strings compared as sets
TOKEN_FIELDS: frozenset[str] = frozenset({"scope"})

#: never printed, never compared in the open
SECRET_FIELDS: frozenset[str] = frozenset({"client_secret", "registration_access_token"})

#: owned by the server: never declared, never sent in an update body
SERVER_OWNED: frozenset[str] = frozenset(
    {
        "client_id_issued_at",
        "client_secret_expires_at",
        "registration_access_token",
        "registration_client_uri",
        "created_at",
        "updated_at",
    }
)

SENSITIVE = "(sensitive)"

#: token endpoint auth methods that authenticate with a client secret the server issues
SECRET_AUTH_METHODS: frozenset[str] = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})


def uses_secret(fields: dict[str, Any]) -> bool:
    """The client authenticates with a secret (RFC 7591's default method is client_secret_basic)."""
    return fields.get("token_endpoint_auth_method", "client_secret_basic") in SECRET_AUTH_METHODS


def shown(path: str, value: Any) -> Any:
    """A value as a plan or a drift report may show it: secrets never; a software statement as its
    claims, decoded without verifying the signature; a token lifespan as a duration (`5m`)."""
    if path == SOFTWARE_STATEMENT and isinstance(value, str):
        claims = statement_claims(value)
        return {"claims": claims, "signature": NOT_VERIFIED} if claims is not None else value
    if is_lifespan(path):
        return duration_text(value)
    return SENSITIVE if path in SECRET_FIELDS and value is not None else value


#: Hydra's token lifespans (`hydra.client_credentials_grant_access_token_lifespan`, or the raw key):
#: Go durations that plans, drift and exported files all write the same short way
LIFESPAN_SUFFIX = "_token_lifespan"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def is_lifespan(path: str) -> bool:
    return path.endswith(LIFESPAN_SUFFIX) and "." not in path.removeprefix("hydra.")


def duration_seconds(value: Any) -> Any:
    """`1h0m0s`, `60m` and `3600s` as 3600.0; anything that is no Go duration as it is."""
    if not isinstance(value, str) or not value:
        return value
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return value
    return round(sum(float(n) * _UNIT[u] for n, u in parts), 6)


def duration_text(value: Any) -> Any:
    """A duration (a Go duration string, or seconds) written the short way: `5m`, `1h30m`, `720h`,
    `90s`; a value that is none, or not whole seconds, as it is."""
    seconds = duration_seconds(value)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != int(seconds) or seconds <= 0:
        return value
    total, out = int(seconds), ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out


#: a signed JWT of client metadata (RFC 7591 §2.3): sent as-is, compared and shown by its claims
SOFTWARE_STATEMENT = "software_statement"
NOT_VERIFIED = "not verified by dcrsync (the server verifies it)"


def statement_claims(jwt: str) -> dict[str, Any] | None:
    """The claims of a compact JWT, decoded WITHOUT verifying its signature; None when it is not one."""
    parts = jwt.strip().split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def normalise_value(path: str, value: Any) -> Any:
    """A canonical form for comparison: sets sorted, scope split into sorted tokens."""
    if value is None:
        return None
    if path == SOFTWARE_STATEMENT and isinstance(value, str):
        return statement_claims(value) or value  # re-signed with the same claims: no change
    if path in TOKEN_FIELDS and isinstance(value, str):
        return sorted(set(value.split()))
    if path in SET_FIELDS and isinstance(value, list):
        try:
            return sorted(set(value))
        except TypeError:
            return sorted(value, key=repr)
    return value



#: keys of a server representation that never count towards a fingerprint, nor are kept
VOLATILE = frozenset({"client_secret", "registration_access_token", "updated_at"})
#: attributes that can hold a secret inside a representation (Keycloak's secret rotation keeps the
#: old secret in one): never kept in a record, whose sidecar is plain JSON
SECRET_ATTRIBUTES = frozenset({"client.secret.rotated"})


def observed(live: LiveClient) -> dict[str, Any]:
    """The server's whole representation as a record keeps it: no secret, nothing volatile."""
    out = {k: v for k, v in live.raw.items() if k not in VOLATILE}
    attrs = out.get("attributes")
    if isinstance(attrs, dict) and SECRET_ATTRIBUTES & attrs.keys():
        out["attributes"] = {k: v for k, v in attrs.items() if k not in SECRET_ATTRIBUTES}
    return out


def fingerprint(live: LiveClient | None) -> str:
    """What a saved plan checks of a live client it touches ("absent" when there is none)."""
    if live is None:
        return "absent"
    blob = json.dumps(observed(live), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()
