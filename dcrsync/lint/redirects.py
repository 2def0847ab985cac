"""Rules on redirect URIs and post-logout redirect URIs: absolute, no fragment, https (DCR002,
DCR003), no wildcard (DCR011), and Hydra's same-origin rule for post-logout URIs (DCR012)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from dcrsync.lint.common import NO_APPLICATION_TYPE, Finding, listed
from dcrsync.model import ClientSpec

#: Keycloak's post-logout redirect URI meaning "the client's redirect URIs"
KEYCLOAK_SAME_AS_REDIRECTS = "+"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _uri_findings(client: ClientSpec, key: str, label: str, family: str | None) -> Iterator[Finding]:
    native = client.fields.get("application_type") == "native" or family in NO_APPLICATION_TYPE
    for i, uri in enumerate(listed(client, key)):
        if not isinstance(uri, str):
            continue
        if key == "post_logout_redirect_uris" and uri == KEYCLOAK_SAME_AS_REDIRECTS and family == "keycloak":
            continue  # Keycloak: "the same as the redirect URIs", which are checked themselves
        if not uri.strip("*/"):
            continue  # nothing but a wildcard: DCR011 says all there is to say
        where = client.where_item(key, i)
        for rule, message in _check_redirect_uri(uri, native, family):
            if key == "post_logout_redirect_uris" and uri == KEYCLOAK_SAME_AS_REDIRECTS:
                message += (
                    " (`+` means \"the redirect URIs\" only on Keycloak: set `server.kind: keycloak` in "
                    "dcrsync.yaml)"
                )
            yield rule, where, f"{label} `{uri}` {message}"


def _private_scheme_advice(family: str | None) -> str:
    if family is None:
        return (
            "set `application_type: native`, or use https (Hydra and Keycloak cannot store "
            "`application_type`: with `server.kind` hydra or keycloak in dcrsync.yaml none is needed)"
        )
    return "set `application_type: native`, or use https"


def _check_redirect_uri(uri: str, native: bool, family: str | None) -> list[tuple[str, str]]:
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return [("DCR002", "is not a valid URI: write the full URI, e.g. https://app.example.com/callback")]
    found: list[tuple[str, str]] = []
    scheme = parts.scheme.lower()
    if not scheme or (scheme in ("http", "https") and not host):
        what = "has no scheme" if not scheme else "has no host"
        found.append(
            ("DCR002", f"is not absolute ({what}): write the full URI, e.g. https://app.example.com/callback")
        )
        return found
    if "#" in uri:
        found.append(
            ("DCR002", f"has a fragment (`#{parts.fragment}`): remove it, the server must not get one")
        )
    if scheme == "https":
        return found
    if scheme == "http":
        if host not in _LOOPBACK:
            found.append(
                (
                    "DCR003",
                    "uses http: use https (plain http is allowed only for 127.0.0.1, [::1] and localhost)",
                )
            )
        return found
    if not native:
        found.append(
            (
                "DCR003",
                f"uses the private-use scheme `{scheme}:`, which only native apps may use: "
                + _private_scheme_advice(family),
            )
        )
    elif "." not in scheme:
        found.append(
            (
                "DCR003",
                f"uses the scheme `{scheme}:`: a private-use scheme must be a reverse domain name "
                "you own, like `com.example.app:` (RFC 8252 §7.1)",
            )
        )
    return found


def dcr002_003_redirect_uris(client: ClientSpec, family: str | None) -> Iterator[Finding]:
    yield from _uri_findings(client, "redirect_uris", "redirect URI", family)
    yield from _uri_findings(client, "post_logout_redirect_uris", "post-logout redirect URI", family)


def dcr011_wildcards(client: ClientSpec, family: str | None) -> Iterator[Finding]:
    for key, label in (("redirect_uris", "redirect URI"), ("post_logout_redirect_uris", "post-logout redirect URI")):
        for i, uri in enumerate(listed(client, key)):
            if not isinstance(uri, str) or "*" not in uri:
                continue
            if family == "keycloak":
                why = "Keycloak matches `*` as a wildcard, so codes can be sent to any URI it matches"
            elif family is None:
                why = "servers compare redirect URIs exactly (Keycloak alone matches `*` as a wildcard)"
            else:
                why = "the server compares redirect URIs exactly, so `*` matches only itself"
            message = f"{label} `{uri}` has a wildcard: {why}; list each exact URI"
            yield "DCR011", client.where_item(key, i), message


def _origin(uri: str) -> tuple[str, str, str] | None:
    """(scheme, host, port) as Go's net/url gives them (host case and an explicit port kept), the way
    Hydra compares a post-logout redirect URI with the redirect URIs."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    netloc = parts.netloc.rpartition("@")[2]
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = netloc.partition(":")
    return parts.scheme.lower(), host, port


def _shown_origin(origin: tuple[str, str, str]) -> str:
    scheme, host, port = origin
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def dcr012_hydra_post_logout_origin(client: ClientSpec, family: str | None) -> Iterator[Finding]:
    if family != "hydra":
        return
    redirects = [o for u in listed(client, "redirect_uris") if isinstance(u, str) and (o := _origin(u))]
    allowed = set(redirects)
    for i, uri in enumerate(listed(client, "post_logout_redirect_uris")):
        if not isinstance(uri, str):
            continue
        origin = _origin(uri)
        if origin is None or not origin[0] or origin in allowed:
            continue  # no scheme: DCR002 says so
        if redirects:
            known = ", ".join(dict.fromkeys(_shown_origin(o) for o in redirects))
            fix = f"the redirect URIs are on {known}: use one of those, or add a redirect URI on it"
        else:
            fix = "the client has no redirect URI: add one on that origin"
        message = (
            f"post-logout redirect URI `{uri}` is on {_shown_origin(origin)}, and Hydra refuses one that "
            f"shares scheme, host and port with no redirect URI (400 at apply): {fix}"
        )
        yield "DCR012", client.where_item("post_logout_redirect_uris", i), message
