"""Lint rules: each finding's rule, message and exact line:col; and no finding on good clients."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcrsync.lint import RULES, lint, rules_markdown
from dcrsync.load.clients import load_clients
from tests.support.unit_helpers import lines, lint_text, one_client

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def findings(root: Path, text: str) -> list[str]:
    return lines(lint_text(root, text))


# --- DCR001 ---------------------------------------------------------------------------------


def test_dcr001_default_grant_needs_redirect_uris(root: Path) -> None:
    assert findings(root, "name: a\nclient_name: A\n") == [
        "c.yaml:1:1: error[DCR001]: no `grant_types` means `authorization_code` (RFC 7591), which needs "
        "`redirect_uris`: add them, or declare the grant types the client uses"
    ]


def test_dcr001_declared_grant_at_its_item(root: Path) -> None:
    out = findings(
        root, "name: a\ngrant_types: [refresh_token, authorization_code]\nresponse_types: [code]\n"
    )
    assert out == [
        "c.yaml:2:30: error[DCR001]: grant `authorization_code` needs `redirect_uris`: add the URIs the app "
        "receives the user back on"
    ]


def test_dcr001_empty_redirect_uris_at_the_list(root: Path) -> None:
    out = findings(root, "name: a\ngrant_types: [authorization_code]\nredirect_uris: []\n")
    assert out == [
        "c.yaml:3:16: error[DCR001]: grant `authorization_code` needs `redirect_uris`: add the URIs the app "
        "receives the user back on"
    ]


def test_dcr001_not_for_client_credentials(root: Path) -> None:
    assert findings(root, "name: a\ngrant_types: [client_credentials]\n") == []


# --- DCR002 / DCR003 ------------------------------------------------------------------------


def uri_findings(root: Path, uri: str, extra: str = "") -> list[str]:
    return findings(root, f"name: a\n{extra}redirect_uris:\n  - https://ok.example.com/cb\n  - '{uri}'\n")


def test_dcr002_relative_uri(root: Path) -> None:
    assert uri_findings(root, "/callback") == [
        "c.yaml:4:5: error[DCR002]: redirect URI `/callback` is not absolute (has no scheme): write the full URI, "
        "e.g. https://app.example.com/callback"
    ]


def test_dcr002_https_without_host(root: Path) -> None:
    assert uri_findings(root, "https:///cb") == [
        "c.yaml:4:5: error[DCR002]: redirect URI `https:///cb` is not absolute (has no host): write the full URI, "
        "e.g. https://app.example.com/callback"
    ]


def test_dcr002_fragment(root: Path) -> None:
    assert uri_findings(root, "https://app.example.com/cb#top") == [
        "c.yaml:4:5: error[DCR002]: redirect URI `https://app.example.com/cb#top` has a fragment (`#top`): "
        "remove it, the server must not get one"
    ]


def test_dcr002_invalid_uri(root: Path) -> None:
    assert uri_findings(root, "https://[::1/cb") == [
        "c.yaml:4:5: error[DCR002]: redirect URI `https://[::1/cb` is not a valid URI: write the full URI, "
        "e.g. https://app.example.com/callback"
    ]


def test_dcr003_plain_http(root: Path) -> None:
    assert uri_findings(root, "http://app.example.com/cb") == [
        "c.yaml:4:5: error[DCR003]: redirect URI `http://app.example.com/cb` uses http: use https (plain http is "
        "allowed only for 127.0.0.1, [::1] and localhost)"
    ]


@pytest.mark.parametrize("uri", ["http://127.0.0.1:8080/cb", "http://[::1]/cb", "http://localhost:3000/cb"])
def test_dcr003_loopback_http_is_fine(root: Path, uri: str) -> None:
    assert uri_findings(root, uri) == []


def test_dcr003_private_scheme_needs_native(root: Path) -> None:
    assert uri_findings(root, "com.example.app:/cb") == [
        "c.yaml:4:5: error[DCR003]: redirect URI `com.example.app:/cb` uses the private-use scheme "
        "`com.example.app:`, which only native apps may use: set `application_type: native`, or use https "
        "(Hydra and Keycloak cannot store `application_type`: with `server.kind` hydra or keycloak in "
        "dcrsync.yaml none is needed)"
    ]


def test_dcr003_private_scheme_ok_for_native(root: Path) -> None:
    assert uri_findings(root, "com.example.app:/cb", "application_type: native\n") == []


def test_dcr003_native_scheme_must_be_reverse_domain(root: Path) -> None:
    assert uri_findings(root, "myapp://cb", "application_type: native\n") == [
        "c.yaml:5:5: error[DCR003]: redirect URI `myapp://cb` uses the scheme `myapp:`: a private-use scheme must "
        "be a reverse domain name you own, like `com.example.app:` (RFC 8252 §7.1)"
    ]


def test_post_logout_redirect_uris_follow_the_same_rules(root: Path) -> None:
    text = (
        "name: a\nredirect_uris: [https://a.example.com/cb]\n"
        "post_logout_redirect_uris: [https://a.example.com/, http://a.example.com/bye]\n"
    )
    assert findings(root, text) == [
        "c.yaml:3:53: error[DCR003]: post-logout redirect URI `http://a.example.com/bye` uses http: use https "
        "(plain http is allowed only for 127.0.0.1, [::1] and localhost)"
    ]


# --- DCR004 / DCR005 ------------------------------------------------------------------------


def test_dcr004_public_client_credentials(root: Path) -> None:
    text = "name: a\ntoken_endpoint_auth_method: none\ngrant_types:\n  - client_credentials\n"
    assert findings(root, text) == [
        "c.yaml:4:5: error[DCR004]: grant `client_credentials` needs a client that can authenticate, but "
        "`token_endpoint_auth_method` is `none`: choose an authentication method or drop the grant"
    ]


def test_dcr005_private_key_jwt_without_keys(root: Path) -> None:
    text = "name: a\ngrant_types: [client_credentials]\ntoken_endpoint_auth_method: private_key_jwt\n"
    assert findings(root, text) == [
        "c.yaml:3:29: error[DCR005]: `private_key_jwt` needs the client's public keys: add `jwks_uri` "
        "(or an inline `jwks`)"
    ]


def test_dcr005_both_jwks_and_jwks_uri(root: Path) -> None:
    text = (
        "name: a\ngrant_types: [client_credentials]\njwks: {keys: [{kty: RSA}]}\n"
        "jwks_uri: https://a.example.com/jwks\n"
    )
    assert findings(root, text) == [
        "c.yaml:4:11: error[DCR005]: `jwks` and `jwks_uri` are both set: keep only one (RFC 7591 §2)"
    ]


def test_dcr005_empty_jwks(root: Path) -> None:
    text = "name: a\ngrant_types: [client_credentials]\ntoken_endpoint_auth_method: private_key_jwt\njwks: {keys: []}\n"
    assert findings(root, text) == [
        "c.yaml:4:7: error[DCR005]: `private_key_jwt` needs at least one key in `jwks.keys`: add the client's "
        "public key"
    ]


def test_dcr005_satisfied(root: Path) -> None:
    text = (
        "name: a\ngrant_types: [client_credentials]\ntoken_endpoint_auth_method: private_key_jwt\n"
        "jwks_uri: https://a.example.com/jwks\n"
    )
    assert findings(root, text) == []


# --- DCR006 ---------------------------------------------------------------------------------


def test_dcr006_code_without_authorization_code(root: Path) -> None:
    text = "name: a\ngrant_types: [client_credentials]\nresponse_types: [code]\n"
    assert findings(root, text) == [
        "c.yaml:3:18: error[DCR006]: response type `code` needs grant `authorization_code` in `grant_types`: add it"
    ]


def test_dcr006_authorization_code_without_code(root: Path) -> None:
    text = (
        "name: a\nredirect_uris: [https://a.example.com/cb]\ngrant_types: [authorization_code, implicit]\n"
        "response_types: [id_token]\n"
    )
    out = findings(root, text)
    assert out[0] == (
        "c.yaml:3:15: error[DCR006]: grant `authorization_code` needs response type `code` in `response_types`: add it"
    )
    assert [line.split(": ")[1] for line in out[1:]] == ["warning[DCR007]"]


def test_dcr006_token_without_implicit(root: Path) -> None:
    text = "name: a\nredirect_uris: [https://a.example.com/cb]\nresponse_types: [code, code id_token]\n"
    assert findings(root, text) == [
        "c.yaml:3:24: error[DCR006]: response type `code id_token` needs grant `implicit` in `grant_types`: add it"
    ]


def test_dcr006_implicit_with_default_response_types(root: Path) -> None:
    text = "name: a\nredirect_uris: [https://a.example.com/cb]\ngrant_types: [implicit]\n"
    assert findings(root, text) == [
        "c.yaml:3:15: error[DCR006]: grant `implicit` needs response type `token` or `id_token` "
        "(`response_types` defaults to [code]): add one",
        "c.yaml:3:15: warning[DCR007]: the implicit grant is discouraged (OAuth 2.0 Security BCP): use "
        "authorization_code with PKCE",
    ]


def test_dcr006_service_client_with_no_response_types_is_valid(root: Path) -> None:
    # what the OpenID Connect registration guides recommend for a backend service (issue 10)
    text = (
        "name: reports-job\nclient_name: Reports job\ngrant_types: [client_credentials]\n"
        "response_types: []\ntoken_endpoint_auth_method: client_secret_basic\n"
    )
    assert findings(root, text) == []


def test_dcr006_no_response_types_with_authorization_code_is_refused(root: Path) -> None:
    text = (
        "name: a\nredirect_uris: [https://a.example.com/cb]\ngrant_types: [authorization_code]\n"
        "response_types: []\n"
    )
    assert findings(root, text) == [
        "c.yaml:3:15: error[DCR006]: grant `authorization_code` needs response type `code` in `response_types`: add it"
    ]


def test_dcr006_hybrid_is_consistent(root: Path) -> None:
    text = (
        "name: a\nredirect_uris: [https://a.example.com/cb]\ngrant_types: [authorization_code, implicit]\n"
        "response_types: [code id_token]\n"
    )
    assert [line.split(": ")[1] for line in findings(root, text)] == ["warning[DCR007]"]


# --- DCR007 / DCR008 / DCR009 / DCR010 ------------------------------------------------------


def test_dcr007_implicit_warning(root: Path) -> None:
    text = "name: a\nredirect_uris: [https://a.example.com/cb]\ngrant_types:\n  - implicit\nresponse_types: [token]\n"
    assert findings(root, text) == [
        "c.yaml:4:5: warning[DCR007]: the implicit grant is discouraged (OAuth 2.0 Security BCP): use "
        "authorization_code with PKCE"
    ]


def test_dcr008_public_client_pkce(root: Path) -> None:
    text = "name: spa\nredirect_uris: [https://a.example.com/cb]\ntoken_endpoint_auth_method: none\n"
    assert findings(root, text) == [
        "c.yaml:3:29: warning[DCR008]: public client without PKCE: write `require_pkce: true` (the app must then send a S256 code_challenge)"
    ]


def test_dcr008_not_for_device_flow(root: Path) -> None:
    text = (
        "name: tv\ntoken_endpoint_auth_method: none\n"
        "grant_types: ['urn:ietf:params:oauth:grant-type:device_code']\n"
    )
    assert findings(root, text) == []


def test_dcr009_tls_client_auth_without_subject(root: Path) -> None:
    text = "name: a\ngrant_types: [client_credentials]\ntoken_endpoint_auth_method: tls_client_auth\n"
    assert findings(root, text) == [
        "c.yaml:3:29: error[DCR009]: `tls_client_auth` needs the expected certificate subject: add one "
        "`tls_client_auth_subject_dn` or `_san_*`"
    ]


def test_dcr009_tls_client_auth_with_two_subjects(root: Path) -> None:
    text = (
        "name: a\ngrant_types: [client_credentials]\ntoken_endpoint_auth_method: tls_client_auth\n"
        "tls_client_auth_subject_dn: CN=a\ntls_client_auth_san_dns: a.example.com\n"
    )
    assert findings(root, text) == [
        "c.yaml:5:26: error[DCR009]: `tls_client_auth` takes exactly one certificate subject field, found "
        "`tls_client_auth_subject_dn`, `tls_client_auth_san_dns`: keep one"
    ]


def test_dcr010_password_grant(root: Path) -> None:
    text = "name: a\ngrant_types: [client_credentials, password]\n"
    assert findings(root, text) == [
        "c.yaml:2:35: warning[DCR010]: the password grant is discouraged (OAuth 2.0 Security BCP): use "
        "authorization_code or device_code"
    ]


# --- the table and the examples -------------------------------------------------------------


def test_rules_table_is_complete() -> None:
    assert list(RULES) == [f"DCR{n:03d}" for n in range(1, 17)]
    for rule in RULES.values():
        assert rule.severity in ("error", "warning") and rule.summary and rule.why
    table = rules_markdown()
    assert table.count("\n") == len(RULES) + 1
    assert "| DCR007 | error (baseline: warning) |" in table and "| DCR014 | error (not in baseline) |" in table


def test_lint_output_is_sorted_by_location(root: Path) -> None:
    from tests.support.unit_helpers import write

    write(root, "b.yaml", "name: b\n")
    write(root, "a.yaml", "name: a\n")
    result = load_clients(["b.yaml", "a.yaml"], environ={})
    assert [d.location.file for d in lint(result.clients)] == ["a.yaml", "b.yaml"]


def test_examples_have_only_the_expected_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "examples")
    result = load_clients(["clients"], vars={"domain": "example.com"}, environ={})
    assert result.diagnostics == []
    assert len(result.clients) >= 9
    found = lint(result.clients, "hydra")  # examples/dcrsync.yaml: kind hydra
    assert lines(found) == []  # the public clients declare `require_pkce: true`


# --- the server family ----------------------------------------------------------------------


def family_findings(root: Path, text: str, family: str | None) -> list[str]:
    result = load_clients(["c.yaml"], environ={}, base_dir=write_client(root, text))
    assert not result.diagnostics, lines(result.diagnostics)
    return lines(lint(result.clients, family))


def write_client(root: Path, text: str) -> Path:
    from tests.support.unit_helpers import write

    write(root, "c.yaml", text)
    return root


NATIVE = "name: app\nredirect_uris:\n  - com.example.app:/cb\ntoken_endpoint_auth_method: none\n"


@pytest.mark.parametrize("family", ["hydra", "keycloak"])
def test_dcr003_private_scheme_needs_no_application_type_where_it_cannot_be_stored(root: Path, family: str) -> None:
    assert [f for f in family_findings(root, NATIVE, family) if "DCR008" not in f] == []


def test_dcr003_private_scheme_still_needs_native_on_rfc7592(root: Path) -> None:
    assert family_findings(root, NATIVE, "rfc7592")[0] == (
        "c.yaml:3:5: error[DCR003]: redirect URI `com.example.app:/cb` uses the private-use scheme "
        "`com.example.app:`, which only native apps may use: set `application_type: native`, or use https"
    )


def test_dcr003_reverse_domain_still_checked_on_hydra(root: Path) -> None:
    text = "name: app\ngrant_types: [implicit]\nresponse_types: [token]\nredirect_uris: ['myapp:/cb']\n"
    assert [f for f in family_findings(root, text, "hydra") if "DCR003" in f] == [
        "c.yaml:4:17: error[DCR003]: redirect URI `myapp:/cb` uses the scheme `myapp:`: a private-use scheme must "
        "be a reverse domain name you own, like `com.example.app:` (RFC 8252 §7.1)"
    ]


PLUS = "name: kc\nredirect_uris: [https://a.example.com/cb]\npost_logout_redirect_uris: ['+']\n"


def test_keycloak_plus_post_logout_uri_is_valid_on_keycloak(root: Path) -> None:
    assert family_findings(root, PLUS, "keycloak") == []


def test_plus_post_logout_uri_elsewhere_says_it_is_keycloak_only(root: Path) -> None:
    assert family_findings(root, PLUS, None) == [
        "c.yaml:3:29: error[DCR002]: post-logout redirect URI `+` is not absolute (has no scheme): write the full "
        "URI, e.g. https://app.example.com/callback (`+` means \"the redirect URIs\" only on Keycloak: set "
        "`server.kind: keycloak` in dcrsync.yaml)"
    ]


def test_unknown_kind_lints_as_any_family(root: Path) -> None:
    assert family_findings(root, PLUS, "none") == family_findings(root, PLUS, None)


# --- DCR008 on Keycloak ---------------------------------------------------------------------

SPA = "name: spa\nredirect_uris: [https://a.example.com/cb]\ntoken_endpoint_auth_method: none\n"
KC_PKCE = "keycloak:\n  attributes:\n    pkce.code.challenge.method: {}\n"


@pytest.mark.parametrize("family", ["keycloak", None])
def test_dcr008_met_by_keycloak_s256(root: Path, family: str | None) -> None:
    assert family_findings(root, SPA + KC_PKCE.format("S256"), family) == []


def test_dcr008_keycloak_plain_is_not_enough(root: Path) -> None:
    assert family_findings(root, SPA + KC_PKCE.format("plain"), "keycloak") == [
        "c.yaml:5:3: warning[DCR008]: public client: Keycloak's `pkce.code.challenge.method` is `plain`, which "
        "does not stop a stolen code: write `require_pkce: true` instead (S256)"
    ]


def test_dcr008_keycloak_attribute_means_nothing_on_hydra(root: Path) -> None:
    assert family_findings(root, SPA + KC_PKCE.format("S256"), "hydra") == [
        "c.yaml:3:29: warning[DCR008]: public client without PKCE: write `require_pkce: true` (the app must then send a S256 code_challenge)"
    ]


@pytest.mark.parametrize("family", ["keycloak", "hydra", "rfc7592", None])
def test_dcr008_tells_to_write_require_pkce(root: Path, family: str | None) -> None:
    assert family_findings(root, SPA, family) == [
        "c.yaml:3:29: warning[DCR008]: public client without PKCE: write `require_pkce: true` (the app must then "
        "send a S256 code_challenge)"
    ]


@pytest.mark.parametrize("family", ["keycloak", "hydra", "rfc7592", None])
def test_dcr008_met_by_require_pkce_on_every_family(root: Path, family: str | None) -> None:
    assert family_findings(root, SPA + "require_pkce: true\n", family) == []


@pytest.mark.parametrize("family", ["keycloak", "hydra", None])
def test_dcr008_require_pkce_false_is_named_at_its_line(root: Path, family: str | None) -> None:
    assert family_findings(root, SPA + "require_pkce: false\n", family) == [
        "c.yaml:4:15: warning[DCR008]: public client with `require_pkce: false`: PKCE (S256) is what protects "
        "its codes; write `require_pkce: true`"
    ]


def test_require_pkce_false_wins_over_the_keycloak_attribute(root: Path) -> None:
    # both at once is refused by DCR013 (one attribute written twice); the portable field speaks
    found = family_findings(root, SPA + "require_pkce: false\n" + KC_PKCE.format("S256"), None)
    assert [f for f in found if "DCR008" in f] == [
        "c.yaml:4:15: warning[DCR008]: public client with `require_pkce: false`: PKCE (S256) is what protects "
        "its codes; write `require_pkce: true`"
    ]


def test_require_pkce_and_the_keycloak_attribute_together_is_dcr013(root: Path) -> None:
    found = family_findings(root, SPA + "require_pkce: true\n" + KC_PKCE.format("S256"), "keycloak")
    assert found == [
        "c.yaml:7:33: error[DCR013]: Keycloak cannot hold `keycloak.attributes.pkce.code.challenge.method`: is also "
        "set by a portable field declared here: keep one"
    ]


# --- DCR011 wildcards -----------------------------------------------------------------------


def test_dcr011_wildcard_in_redirect_uri(root: Path) -> None:
    text = "name: a\nredirect_uris:\n  - https://a.example.com/cb\n  - https://*.example.com/cb\n"
    assert family_findings(root, text, "hydra") == [
        "c.yaml:4:5: error[DCR011]: redirect URI `https://*.example.com/cb` has a wildcard: the server compares "
        "redirect URIs exactly, so `*` matches only itself; list each exact URI"
    ]


def test_dcr011_keycloak_wildcard_alone_is_one_finding(root: Path) -> None:
    text = "name: a\nredirect_uris: [https://a.example.com/cb]\npost_logout_redirect_uris: ['*']\n"
    assert family_findings(root, text, "keycloak") == [
        "c.yaml:3:29: error[DCR011]: post-logout redirect URI `*` has a wildcard: Keycloak matches `*` as a "
        "wildcard, so codes can be sent to any URI it matches; list each exact URI"
    ]


def test_dcr011_other_rules_still_check_a_wildcard_uri(root: Path) -> None:
    text = "name: a\nredirect_uris: ['http://a.example.com/*']\n"
    assert [f.split(": ")[1] for f in family_findings(root, text, None)] == ["error[DCR003]", "error[DCR011]"]


# --- DCR012 Hydra post-logout origin --------------------------------------------------------

LOGOUT = "name: a\nredirect_uris:\n  - https://app.example.com/cb\n  - http://127.0.0.1:8080/cb\npost_logout_redirect_uris:\n"


@pytest.mark.parametrize("uri", ["https://app.example.com/bye", "http://127.0.0.1:8080/", "https://app.example.com"])
def test_dcr012_same_origin_is_fine(root: Path, uri: str) -> None:
    assert family_findings(root, LOGOUT + f"  - {uri}\n", "hydra") == []


@pytest.mark.parametrize(
    ("uri", "origin"),
    [
        ("https://www.example.com/bye", "https://www.example.com"),
        ("https://app.example.com:443/bye", "https://app.example.com:443"),  # Hydra compares ports as written
        ("http://app.example.com/bye", "http://app.example.com"),
        ("http://127.0.0.1:9090/bye", "http://127.0.0.1:9090"),
    ],
)
def test_dcr012_other_origin_is_refused_on_hydra(root: Path, uri: str, origin: str) -> None:
    found = [f for f in family_findings(root, LOGOUT + f"  - {uri}\n", "hydra") if "DCR012" in f]
    assert found == [
        f"c.yaml:6:5: error[DCR012]: post-logout redirect URI `{uri}` is on {origin}, and Hydra refuses one that "
        "shares scheme, host and port with no redirect URI (400 at apply): the redirect URIs are on "
        "https://app.example.com, http://127.0.0.1:8080: use one of those, or add a redirect URI on it"
    ]


def test_dcr012_private_use_scheme_and_relative_uri(root: Path) -> None:
    text = (
        "name: a\nredirect_uris: [com.example.app:/cb]\n"
        "post_logout_redirect_uris: [com.example.app:/bye, com.example.other:/bye, /bye]\n"
    )
    assert [f.split(": ", 2)[:2] for f in family_findings(root, text, "hydra")] == [
        ["c.yaml:3:51", "error[DCR012]"],  # another scheme; the same scheme without a host matches, as in Hydra
        ["c.yaml:3:75", "error[DCR002]"],  # not absolute: DCR002 alone
    ]


@pytest.mark.parametrize("family", [None, "rfc7592", "keycloak"])
def test_dcr012_only_on_hydra(root: Path, family: str | None) -> None:
    assert family_findings(root, LOGOUT + "  - https://www.example.com/bye\n", family) == []


# --- DCR013 fields the family cannot hold ---------------------------------------------------


def test_dcr013_application_type_on_hydra(root: Path) -> None:
    text = "name: a\ngrant_types: [client_credentials]\napplication_type: web\n"
    assert family_findings(root, text, "hydra") == [
        "c.yaml:3:19: error[DCR013]: Hydra cannot hold `application_type`: Hydra has no such client field: it "
        "accepts it and keeps nothing, so every plan would show it again; a private-use redirect scheme needs "
        "none on Hydra"
    ]
    assert family_findings(root, text, "rfc7592") == family_findings(root, text, None) == []


def test_dcr013_keycloak_uses_the_backends_own_check(root: Path) -> None:
    text = "name: a\ngrant_types: [client_credentials]\napplication_type: native\ndefault_max_age: 60\n"
    assert family_findings(root, text, "keycloak") == [
        "c.yaml:3:19: error[DCR013]: Keycloak cannot hold `application_type`: Keycloak has no application type; "
        "remove it",
        "c.yaml:4:18: error[DCR013]: Keycloak cannot hold `default_max_age`: Keycloak has no per-client "
        "default max_age; remove it",
    ]


# --- ignoring a rule, with a reason ---------------------------------------------------------

IGNORED = SPA + "lint:\n  ignore:\n    DCR008: PKCE is enforced by Hydra's config\n"


def test_client_ignore_moves_the_finding_aside_with_reason_and_place(root: Path) -> None:
    from dcrsync.lint import run

    client = one_client(root, IGNORED)
    assert "lint" not in client.fields and "lint" not in client.declared()  # never sent to a server
    result = run([client])
    assert result.diagnostics == []
    [s] = result.suppressed
    assert (s.diagnostic.format(), s.reason, str(s.at), s.scope) == (
        "c.yaml:3:29: warning[DCR008]: public client without PKCE: write `require_pkce: true` (the app must then send a S256 code_challenge)",
        "PKCE is enforced by Hydra's config",
        "c.yaml:6:5",
        "client",
    )


def test_project_ignore_applies_to_every_client_and_the_client_wins(root: Path) -> None:
    from dcrsync.lint import run
    from dcrsync.model import Ignore, Location
    from tests.support.unit_helpers import write

    write(root, "a.yaml", SPA)
    write(root, "b.yaml", IGNORED.replace("name: spa", "name: spb"))
    clients = load_clients(["a.yaml", "b.yaml"], environ={}).clients
    project = {"DCR008": Ignore("enforced server-wide", Location("dcrsync.yaml", 4, 5))}
    result = run(clients, "hydra", project)
    assert result.diagnostics == []
    assert [(s.diagnostic.location.file, s.scope, str(s.at)) for s in result.suppressed] == [
        ("a.yaml", "project", "dcrsync.yaml:4:5"),
        ("b.yaml", "client", "b.yaml:6:5"),
    ]


def test_an_ignore_hides_only_its_rule(root: Path) -> None:
    text = IGNORED.replace("redirect_uris: [https://a.example.com/cb]", "redirect_uris: [http://a.example.com/cb]")
    assert [d.rule for d in lint([one_client(root, text)])] == ["DCR003"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("DCR099: because", "c.yaml:6:5: error[schema]: key `DCR099` in `lint.ignore` is not a lint rule that can be "
         "ignored (DCR001, DCR002, DCR003, DCR004, DCR005, DCR006, DCR007, DCR008, DCR009, DCR010, DCR011, DCR012, "
         "DCR014, DCR015, DCR016): see the README's lint rules"),
        ("DCR013: the server copes", "c.yaml:6:5: error[schema]: key `DCR013` in `lint.ignore` is not a lint rule "
         "that can be ignored (DCR001, DCR002, DCR003, DCR004, DCR005, DCR006, DCR007, DCR008, DCR009, DCR010, "
         "DCR011, DCR012, DCR014, DCR015, DCR016): see the README's lint rules"),
        ("DCR008: ''", "c.yaml:6:13: error[schema]: `lint.ignore.DCR008` needs the reason the rule does not apply, "
         "as text (e.g. \"PKCE is enforced server-wide\") (got \"\")"),
        ("DCR008: '   '", "c.yaml:6:13: error[schema]: `lint.ignore.DCR008` needs the reason the rule does not "
         "apply, as text (e.g. \"PKCE is enforced server-wide\") (got \"   \")"),
        ("DCR008:", "c.yaml:6:12: error[schema]: `lint.ignore.DCR008` needs the reason the rule does not apply, "
         "as text (e.g. \"PKCE is enforced server-wide\") (got null)"),
    ],
)
def test_bad_ignore_is_an_error_at_its_line(root: Path, entry: str, expected: str) -> None:
    from tests.support.unit_helpers import load

    result = load(root, SPA + f"lint:\n  ignore:\n    {entry}\n")
    assert lines(result.diagnostics) == [expected] and result.clients == []


def test_schemas_list_exactly_the_ignorable_rules() -> None:
    import json

    from dcrsync.lint import IGNORABLE

    assert IGNORABLE == tuple(r for r in RULES if r != "DCR013")
    for name in ("client", "config"):
        schema = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
        names = schema["properties"]["lint"]["properties"]["ignore"]["propertyNames"]["enum"]
        assert names == list(IGNORABLE), name


def test_readme_rule_list_is_the_table() -> None:
    assert rules_markdown() in (ROOT / "README.md").read_text()


# --- lint agrees with the real Hydra --------------------------------------------------------

HYDRA_LOGOUT_CASES = [
    (["https://app.example.com/cb"], "https://app.example.com/bye"),
    (["https://app.example.com/cb"], "https://app.example.com:443/bye"),
    (["https://app.example.com:8443/cb"], "https://app.example.com:8443/"),
    (["https://app.example.com/cb"], "http://app.example.com/bye"),
    (["https://app.example.com/cb", "http://127.0.0.1:8080/cb"], "http://127.0.0.1:8080/bye"),
    (["http://127.0.0.1:8080/cb"], "http://127.0.0.1:9090/bye"),
    (["com.example.app:/cb"], "com.example.app:/bye"),
    (["com.example.app:/cb"], "com.example.other:/bye"),
]


@pytest.mark.hydra
def test_dcr012_and_dcr013_agree_with_the_real_hydra(hydra, root: Path) -> None:
    import uuid

    import httpx

    from tests.support.unit_helpers import write

    verdicts = []
    for i, (redirects, logout) in enumerate(HYDRA_LOGOUT_CASES):
        uris = "".join(f"  - '{u}'\n" for u in redirects)
        write(root, f"c{i}.yaml", f"name: c{i}\nredirect_uris:\n{uris}post_logout_redirect_uris: ['{logout}']\n")
        [client] = load_clients([f"c{i}.yaml"], environ={}).clients
        linted = "DCR012" in {d.rule for d in lint([client], "hydra")}
        body = {"client_id": f"lint-{uuid.uuid4()}", "redirect_uris": redirects, "post_logout_redirect_uris": [logout]}
        r = httpx.post(f"{hydra.admin_url}/admin/clients", json=body, timeout=30)
        if r.status_code == 201:
            httpx.delete(f"{hydra.admin_url}/admin/clients/{body['client_id']}", timeout=30)
        verdicts.append((redirects, logout, linted, r.status_code))
    assert [(r, lo, linted) for r, lo, linted, status in verdicts] == [
        (r, lo, status == 400) for r, lo, _, status in verdicts
    ]
    assert {status for *_, status in verdicts} == {201, 400}  # both outcomes were exercised
    # DCR013: Hydra accepts application_type and keeps nothing of it
    body = {"client_id": f"lint-{uuid.uuid4()}", "application_type": "native", "grant_types": ["client_credentials"]}
    r = httpx.post(f"{hydra.admin_url}/admin/clients", json=body, timeout=30)
    assert r.status_code == 201, r.text
    stored = httpx.get(f"{hydra.admin_url}/admin/clients/{body['client_id']}", timeout=30).json()
    httpx.delete(f"{hydra.admin_url}/admin/clients/{body['client_id']}", timeout=30)
    assert "application_type" not in stored
