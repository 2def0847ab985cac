"""Where dcrsync may send requests: the trusted server and store, and the addresses never asked. Pure.

A pull request can change `dcrsync.yaml`, so the URLs in it are not proof of where the CI job's
credentials may go. Two environment variables, set by the workflow from outside the repository's
files (a secret or a repository variable), say it instead:

- `DCRSYNC_TRUSTED_SERVER`: the authorization server's URLs (Hydra's admin and public URLs, Keycloak's
  base URL, the RFC 7591 registration endpoint or issuer), separated by spaces or commas;
- `DCRSYNC_TRUSTED_STORE`: the shared state store's (`https://minio.example.com/acme-dcrsync` for an S3
  bucket, `postgresql://db.example.com:5432/dcrsync` for a PostgreSQL database).

They are two because they guard different credentials: the admin token never goes to the store's
endpoint (an S3 endpoint may serve every customer's buckets), nor the store's keys to the server.
Setting either one turns the rule on for both: a store (or a server) its variable does not name is
then refused, so forgetting the second variable fails closed.

A URL is covered by a trusted one when scheme, host and port are equal and its path lies under the
trusted path, segment by segment (`/realm` covers `/realm/x`, not `/realm-evil`); a path with a dot
segment (`..`, also percent-encoded) is never covered. The server's public metadata under
`/.well-known/` at a trusted origin is covered too (RFC 8414 puts it before the issuer's path).

Link-local and cloud-metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, Alibaba's
100.100.100.200, and the metadata host names) are refused whether or not a variable is set, unless
dcrsync.yaml says `allow_link_local: true` or a trusted URL names the address itself.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SERVER_VAR = "DCRSYNC_TRUSTED_SERVER"
STORE_VAR = "DCRSYNC_TRUSTED_STORE"
DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432}
WELL_KNOWN = "/.well-known/"

#: never asked unless the project says so: instance metadata services hand out cloud credentials
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
                            "instance-data.ec2.internal"})
_NUMERIC_V4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")


class UntrustedURL(ValueError):
    """A trusted-URL list that cannot be read; the message says which entry and why."""


@dataclass(frozen=True)
class Origin:
    """One trusted URL: scheme, host, port and path prefix."""

    scheme: str
    host: str
    port: int
    path: str  # without a trailing slash; "" covers every path

    def __str__(self) -> str:
        return f"{self.scheme}://{_bracketed(self.host)}:{self.port}{self.path}"


@dataclass(frozen=True)
class Target:
    """A URL split for matching (None when it is not an absolute URL dcrsync understands)."""

    scheme: str
    host: str
    port: int
    path: str


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _host(raw: str | None) -> str:
    return (raw or "").lower().rstrip(".")


def split(url: str) -> Target | None:
    """scheme, host, port and path of an absolute URL; None when it has no scheme or host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    scheme = "postgresql" if scheme == "postgres" else scheme
    host = _host(parts.hostname)
    if not scheme or not host:
        return None
    return Target(scheme, host, port or DEFAULT_PORTS.get(scheme, 0), parts.path or "/")


def shown(url: str) -> str:
    """`url` as it may appear in a message: no user, password or query (they may hold secrets)."""
    target = split(url)
    if target is None:
        return "(not a URL)"
    return f"{target.scheme}://{_bracketed(target.host)}:{target.port}{target.path}"


def parse_list(value: str, variable: str) -> tuple[Origin, ...]:
    """The URLs a trusted-URL variable names (spaces or commas between them)."""
    out: list[Origin] = []
    for entry in re.split(r"[\s,]+", value.strip()):
        if not entry:
            continue
        target = split(entry)
        if target is None or target.port == 0:
            raise UntrustedURL(
                f"{variable}: `{shown(entry) if target else entry[:80]}` is not a URL with a scheme and host "
                "(e.g. https://hydra-admin.example.com:4445): fix the variable"
            )
        if _dotted(target.path):
            raise UntrustedURL(f"{variable}: `{shown(entry)}` has a `.` or `..` path segment: write the path plainly")
        out.append(Origin(target.scheme, target.host, target.port, target.path.rstrip("/")))
    return tuple(out)


def _dotted(path: str) -> bool:
    return any(unquote(seg) in (".", "..") for seg in path.split("/"))


def covers(origin: Origin, target: Target) -> bool:
    """Does the trusted `origin` cover `target`? Same scheme, host and port, and a path under its path."""
    if (origin.scheme, origin.host, origin.port) != (target.scheme, target.host, target.port):
        return False
    if _dotted(target.path):
        return False
    if not origin.path or target.path.startswith(WELL_KNOWN):
        return True
    return target.path == origin.path or target.path.startswith(origin.path + "/")


@functools.lru_cache(maxsize=256)
def link_local(host: str) -> bool:
    """A link-local or cloud-metadata address or host name (literal; resolving is the caller's).
    Memoised: every request asks it of the same few hosts."""
    host = _host(host)
    if host in METADATA_HOSTS:
        return True
    address = _address(host)
    return address is not None and any(address in net for net in METADATA_NETWORKS)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a literal host means, legacy IPv4 forms (`2852039166`, `0xa9.254.169.254`) too."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        if not _NUMERIC_V4.match(host):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))  # how the resolver reads them
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class Trust:
    """Where one kind of credential may go. `trusted` None: no variable is set (no rule but link-local)."""

    trusted: tuple[Origin, ...] | None = None
    variable: str = SERVER_VAR
    allow_link_local: bool = False

    def refusal(self, url: str, what: str = "") -> str | None:
        """Why a request to `url` must not be sent, in one line; None when it may be."""
        target = split(url)
        if target is None:
            return f"{what or 'the URL'} is not an absolute http(s) URL"
        return self.refusal_of(target, f"{what} {shown(url)}" if what else shown(url))

    def refusal_of(self, target: Target, name: str) -> str | None:
        """Why `target` (shown as `name`) must not be asked; None when it may be."""
        if self.trusted is not None and not any(covers(o, target) for o in self.trusted):
            if not self.trusted:
                return (
                    f"{name}: {self.variable} is not set while {_other(self.variable)} is, so nothing is "
                    f"trusted for it: set {self.variable} to this URL in the workflow (outside the repository's files)"
                )
            listed = " ".join(str(o) for o in self.trusted)
            return (
                f"{name} is not under {self.variable} ({listed}): credentials go only there; "
                f"point dcrsync.yaml at it, or have whoever sets {self.variable} add this URL"
            )
        if link_local(target.host) and not self.allow_link_local and not self.names(target.host):
            return self.link_local_refusal(name)
        return None

    def link_local_refusal(self, name: str) -> str:
        return (
            f"{name} is a link-local or cloud-metadata address, which dcrsync never asks: "
            "if this really is your server, say `allow_link_local: true` in dcrsync.yaml"
        )

    def names(self, host: str) -> bool:
        """A trusted URL names this host itself (an explicit choice, link-local or not)."""
        return bool(self.trusted) and any(o.host == _host(host) for o in self.trusted or ())


def _other(variable: str) -> str:
    return STORE_VAR if variable == SERVER_VAR else SERVER_VAR


def from_env(environ: Mapping[str, str], *, allow_link_local: bool = False) -> tuple[Trust, Trust]:
    """(the server's Trust, the store's Trust) the environment sets. Raises UntrustedURL for a bad list."""
    server_value = (environ.get(SERVER_VAR) or "").strip()
    store_value = (environ.get(STORE_VAR) or "").strip()
    if not server_value and not store_value:
        return Trust(None, SERVER_VAR, allow_link_local), Trust(None, STORE_VAR, allow_link_local)
    return (
        Trust(parse_list(server_value, SERVER_VAR), SERVER_VAR, allow_link_local),
        Trust(parse_list(store_value, STORE_VAR), STORE_VAR, allow_link_local),
    )


def url_keys(server: Mapping[str, object]) -> list[str]:
    """The keys of a `server:` block whose values are URLs dcrsync sends requests to."""
    return [k for k in server if k.endswith("url") or k == "issuer"]


def s3_url(endpoint: str, bucket: str) -> str:
    """Where an S3 store's requests go (path style): every key lies under it."""
    return f"{endpoint.rstrip('/')}/{bucket}/"


def postgres_targets(info: Mapping[str, str], environ: Mapping[str, str]) -> list[Target] | str:
    """Every server a libpq connection string (parsed by libpq: `conninfo_to_dict`) may connect to,
    as `postgresql://host:port/dbname`, or why it cannot be told. `hostaddr` is where libpq really
    connects (`host` then only names it for TLS), so it is what is matched. A Unix socket (a host
    that is a path) stays on the machine and is not listed."""
    if info.get("service") or environ.get("PGSERVICE"):
        return "names a connection service (`service=`), whose host dcrsync cannot see: write host, port and dbname in it"
    hosts = (info.get("host") or environ.get("PGHOST") or "").split(",")
    addrs = (info.get("hostaddr") or environ.get("PGHOSTADDR") or "").split(",")
    ports = (info.get("port") or environ.get("PGPORT") or "").split(",")
    dbname = info.get("dbname") or environ.get("PGDATABASE") or ""
    out: list[Target] = []
    for i in range(max(len(hosts), len(addrs))):
        addr = addrs[i] if i < len(addrs) else ""
        where = (addr or (hosts[i] if i < len(hosts) else "")).strip()
        if not where or where.startswith(("/", "@")):
            continue  # a Unix socket: no network
        port_text = (ports[i] if len(ports) > 1 and i < len(ports) else ports[0]).strip() or "5432"
        if not port_text.isdigit():
            return f"has the port `{port_text[:20]}`, which is not a number"
        out.append(Target("postgresql", _host(where.strip("[]")), int(port_text), "/" + dbname))
    return out
