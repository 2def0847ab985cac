"""The compiled schema check (dcrsync.load.fastcheck) never accepts what jsonschema refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcrsync.load.clients import load_clients
from dcrsync.load.fastcheck import FastCheck, Unsupported, strip
from dcrsync.load.schemacheck import client_validator, validator
from tests.support.properties import examples
from tests.support.unit_helpers import write

FULL = validator("client").full  # jsonschema itself
FAST = FastCheck(FULL.schema, after=0)

#: values client files hold, right and wrong: the schema's own enums, URIs, text, numbers, booleans
_TEXT = st.sampled_from([
    "authorization_code", "refresh_token", "client_credentials", "implicit", "password", "code", "token",
    "id_token", "none", "client_secret_basic", "private_key_jwt", "web", "native", "public", "pairwise",
    "https://app.example.com/cb", "http://127.0.0.1:8080/cb", "http://app.example.com/cb", "com.example:/cb",
    "openid profile", "", " ", "x\n", "DCR001", "DCR999", "jwt", "opaque", "1h0m0s", "not a uri", "a@example.com",
]) | st.text(max_size=12)
_SCALAR = _TEXT | st.integers(-3, 3) | st.booleans() | st.none() | st.floats(allow_nan=False, width=16)
_VALUE = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
                      max_leaves=8)
_KEYS = st.sampled_from(sorted(FULL.schema["properties"])) | _TEXT
_DOC = st.dictionaries(_KEYS, _VALUE, max_size=8) | _VALUE


@settings(max_examples=examples(1500), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOC)
def test_a_document_the_fast_check_accepts_passes_jsonschema(doc: Any) -> None:
    if FAST(doc):
        assert list(FULL.iter_errors(doc)) == []


_GOOD = st.fixed_dictionaries(
    {"name": st.sampled_from(["web", "svc-1", "a0"])},
    optional={
        "grant_types": st.lists(st.sampled_from(["authorization_code", "refresh_token", "client_credentials"]),
                                min_size=1, max_size=3, unique=True),
        "redirect_uris": st.lists(st.sampled_from(["https://a.example.com/cb", "http://127.0.0.1/cb"]),
                                  min_size=1, max_size=2, unique=True),
        "scope": st.sampled_from(["openid", "openid profile"]),
        "token_endpoint_auth_method": st.sampled_from(["none", "client_secret_basic"]),
        "default_max_age": st.integers(1, 3600),
        "labels": st.dictionaries(st.sampled_from(["team", "tier"]), st.sampled_from(["a", "b"]), max_size=2),
    },
)


@settings(max_examples=examples(300), deadline=None)
@given(_GOOD)
def test_documents_that_pass_take_the_fast_path(doc: dict[str, Any]) -> None:
    assert list(FULL.iter_errors(doc)) == []
    assert FAST(doc)


def test_a_refused_document_is_still_explained_by_jsonschema(tmp_path) -> None:
    write(tmp_path, "c.yaml", "name: web\ngrant_types: [authorization_cod]\n")
    result = load_clients(["c.yaml"], base_dir=tmp_path, environ={})
    [error] = result.errors
    assert (error.location.line, error.rule) == (2, "schema") and "`grant_types[0]` must be a grant type" in error.message
    assert not client_validator().passes({"name": "web", "grant_types": ["authorization_cod"]})


def test_the_schema_is_compiled_only_once_enough_values_were_checked() -> None:
    check = FastCheck(FULL.schema, after=2, keep=False)  # without a folder to keep compiled checks in
    assert [check({"name": "web"}) for _ in range(4)] == [False, False, True, True]


@pytest.mark.parametrize("schema", [
    {"type": "object", "dependentRequired": {"a": ["b"]}},  # a keyword it does not know: not compiled
    {"items": [{"type": "string"}]},  # a list `items` means another thing in 2020-12
    {"enum": [1, "a"]},  # true == 1 in Python
    {"const": True},
])
def test_what_cannot_be_compiled_faithfully_is_not(schema: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        strip(schema)
    assert FastCheck(schema, after=0)("anything") is False  # every value goes to jsonschema


def test_notes_are_left_out_and_the_client_schema_compiles() -> None:
    assert strip({"type": "string", "format": "uri", "description": "d", "errorMessage": "e"}) == {"type": "string"}
    assert FAST({"name": "web"}) is True
    assert FAST({"name": ""}) is False


CONFIG = validator("config").full
CONFIG_FAST = FastCheck(CONFIG.schema, after=0)
_SERVER = st.fixed_dictionaries({"kind": st.sampled_from(["hydra", "rfc7592", "keycloak", "other"])}, optional={
    "admin_url": _TEXT, "registration_url": _TEXT, "url": _TEXT, "realm": _TEXT, "token": _VALUE,
    "admin": st.dictionaries(st.sampled_from(["client_id", "client_secret", "username", "password"]), _VALUE),
})
_CONFIG = st.fixed_dictionaries({}, optional={
    "clients": _VALUE, "state": _VALUE | st.fixed_dictionaries({"kind": st.sampled_from(["postgres", "s3"])}),
    "server": _SERVER | _VALUE, "owner": _TEXT, "prune": _SCALAR, "vars": st.dictionaries(_TEXT, _VALUE),
    "safety": st.dictionaries(st.sampled_from(["max_update_percent", "min_existing"]), _SCALAR),
    "environments": st.dictionaries(_TEXT, st.dictionaries(st.sampled_from(["server", "state", "vars"]), _VALUE)),
}) | st.dictionaries(st.sampled_from(sorted(CONFIG.schema["properties"])), _VALUE, max_size=5)


@settings(max_examples=examples(800), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_CONFIG)
def test_a_config_the_fast_check_accepts_passes_jsonschema(config: Any) -> None:
    """dcrsync.yaml's schema has if/then (the server block by kind): the same in draft 7 and 2020-12."""
    if CONFIG_FAST(config):
        assert list(CONFIG.iter_errors(config)) == []


def test_a_valid_config_takes_the_fast_path() -> None:
    assert CONFIG_FAST({"clients": "clients/", "server": {"kind": "hydra", "admin_url": "http://127.0.0.1:4445"}})
