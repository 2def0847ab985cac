"""The plan-time check against a server's published metadata (dcrsync/discovery.py): pure, no server.
The same check against a real oidc-provider is in tests/test_rfc7592.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcrsync.backends.discovery import metadata_urls, unsupported
from tests.support.unit_helpers import one_client

META = {
    "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
    "response_types_supported": ["code", "code id_token", "none"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
    "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
    "id_token_signing_alg_values_supported": ["RS256"],
    "scopes_supported": ["openid", "offline_access"],
}


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def found(root: Path, text: str, meta: dict = META) -> list[tuple[str, str, str]]:
    spec = one_client(root, text)
    return [(f.severity, str(f.location), f.message.split(" (")[0]) for f in unsupported(spec, meta, "META")]


def test_supported_client_has_no_finding(root: Path) -> None:
    text = (
        "name: a\nredirect_uris: [https://a.example.com/cb]\ngrant_types: [authorization_code, refresh_token]\n"
        "response_types: [id_token code, code]\ntoken_endpoint_auth_method: private_key_jwt\n"
        "jwks_uri: https://a.example.com/jwks\ntoken_endpoint_auth_signing_alg: ES256\nscope: openid\n"
    )
    assert found(root, text) == []  # `id_token code` is `code id_token`: word order does not matter


def test_each_unsupported_value_at_its_line(root: Path) -> None:
    text = (
        "name: a\nredirect_uris: [https://a.example.com/cb]\n"
        "grant_types: [authorization_code, implicit]\n"
        "response_types: [code, token]\n"
        "token_endpoint_auth_method: client_secret_jwt\n"
        "id_token_signed_response_alg: HS256\n"
        "scope: openid api:read\n"
    )
    assert found(root, text) == [
        ("error", "c.yaml:5:29", "the server does not support token_endpoint_auth_method `client_secret_jwt`"),
        ("error", "c.yaml:6:31", "the server does not support id_token_signed_response_alg `HS256`"),
        ("error", "c.yaml:3:35", "the server does not support grant type `implicit`"),
        ("error", "c.yaml:4:24", "the server does not support response type `token`"),
        ("warning", "c.yaml:7:8", "the server does not advertise scope `api:read`"),
    ]


def test_subject_type_is_checked_against_what_the_server_lists(root: Path) -> None:
    text = "name: a\nredirect_uris: [https://a.example.com/cb]\nsubject_type: pairwise\n"
    meta = {**META, "subject_types_supported": ["public"]}
    assert found(root, text, meta) == [("error", "c.yaml:3:15", "the server does not support subject_type `pairwise`")]
    assert found(root, text, {**META, "subject_types_supported": ["public", "pairwise"]}) == []


def test_lists_the_server_does_not_publish_are_not_checked(root: Path) -> None:
    text = "name: a\ngrant_types: [client_credentials]\nresponse_types: []\ntoken_endpoint_auth_method: tls_client_auth\n"
    text += "tls_client_auth_subject_dn: CN=a\n"
    assert found(root, text, {"issuer": "https://id.example.com"}) == []
    assert found(root, text, {"token_endpoint_auth_methods_supported": []}) == []


def test_metadata_locations() -> None:
    assert metadata_urls("https://id.example.com/") == [
        "https://id.example.com/.well-known/openid-configuration",
        "https://id.example.com/.well-known/oauth-authorization-server",
    ]
    # an issuer with a path: OpenID Connect appends, RFC 8414 inserts
    assert metadata_urls("https://kc.example.com/realms/apps") == [
        "https://kc.example.com/realms/apps/.well-known/openid-configuration",
        "https://kc.example.com/.well-known/oauth-authorization-server/realms/apps",
    ]
