"""The RFC 7591 <-> Keycloak ClientRepresentation mapping, both ways, without a server."""

from __future__ import annotations

import copy

import pytest

from dcrsync.backends.keycloak import mapping as kmap
from dcrsync.backends.keycloak import objects as kobj
from dcrsync.backends.keycloak.limits import unsupported
from dcrsync.model import ClientSpec, Location

LOC = Location("clients/x.yaml", 3, 1)
JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                  "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "use": "sig", "kid": "k1"}]}

#: every portable field the mapping holds, with values to write and read back
SAMPLES: list[tuple[str, object]] = [
    ("client_name", "Billing"),
    ("redirect_uris", ["https://a.example.com/cb", "https://a.example.com/cb2"]),
    ("redirect_uris", []),
    ("client_uri", "https://a.example.com"),
    ("grant_types", ["authorization_code"]),
    ("grant_types", ["authorization_code", "refresh_token"]),
    ("grant_types", ["implicit"]),
    ("grant_types", ["password", "refresh_token"]),
    ("grant_types", ["client_credentials"]),
    ("grant_types", ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]),
    ("grant_types", ["urn:ietf:params:oauth:grant-type:token-exchange", "client_credentials"]),
    ("grant_types", ["urn:openid:params:grant-type:ciba"]),
    ("response_types", ["code"]),
    ("response_types", ["code", "none"]),
    ("response_types", ["id_token", "id_token token"]),
    ("response_types", ["code id_token"]),
    ("token_endpoint_auth_method", "none"),
    ("token_endpoint_auth_method", "client_secret_basic"),
    ("token_endpoint_auth_method", "client_secret_post"),
    ("token_endpoint_auth_method", "client_secret_jwt"),
    ("token_endpoint_auth_method", "private_key_jwt"),
    ("token_endpoint_auth_method", "tls_client_auth"),
    ("token_endpoint_auth_signing_alg", "ES256"),
    ("jwks_uri", "https://a.example.com/jwks.json"),
    ("jwks", JWKS),
    ("post_logout_redirect_uris", ["https://a.example.com/bye", "https://a.example.com/bye2"]),
    ("request_uris", ["https://a.example.com/r1"]),
    ("default_acr_values", ["gold", "silver"]),
    ("contacts", ["ops@example.com", "sec@example.com"]),
    ("logo_uri", "https://a.example.com/logo.png"),
    ("policy_uri", "https://a.example.com/privacy"),
    ("tos_uri", "https://a.example.com/tos"),
    ("backchannel_logout_uri", "https://a.example.com/bc"),
    ("frontchannel_logout_uri", "https://a.example.com/fc"),
    ("id_token_signed_response_alg", "PS256"),
    ("id_token_encrypted_response_alg", "RSA-OAEP"),
    ("id_token_encrypted_response_enc", "A256GCM"),
    ("userinfo_signed_response_alg", "RS256"),
    ("userinfo_signed_response_alg", "none"),
    ("userinfo_encrypted_response_alg", "RSA-OAEP-256"),
    ("userinfo_encrypted_response_enc", "A128CBC-HS256"),
    ("request_object_signing_alg", "RS256"),
    ("request_object_encryption_alg", "RSA-OAEP"),
    ("request_object_encryption_enc", "A256GCM"),
    ("tls_client_auth_subject_dn", "CN=billing,O=Example"),
    ("software_id", "billing"),
    ("software_version", "2.1.0"),
    ("subject_type", "public"),
    ("require_pkce", True),
    ("require_pkce", False),
]


def fresh() -> dict:
    """What Keycloak answers for a client created with only a clientId."""
    return {
        "id": "00000000-0000-0000-0000-000000000001", "clientId": "c1", "enabled": True,
        "clientAuthenticatorType": "client-secret", "secret": "s3cret", "redirectUris": [], "webOrigins": [],
        "standardFlowEnabled": True, "implicitFlowEnabled": False, "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False, "publicClient": False, "frontchannelLogout": False,
        "protocol": "openid-connect", "attributes": {"realm_client": "false"}, "fullScopeAllowed": True,
        "defaultClientScopes": ["web-origins", "acr", "profile", "roles", "basic", "email"],
        "optionalClientScopes": ["address", "phone", "organization", "offline_access", "microprofile-jwt"],
        "access": {"view": True},
    }


@pytest.mark.parametrize(("field", "value"), SAMPLES, ids=[f"{f}={v}"[:60] for f, v in SAMPLES])
def test_field_round_trip(field, value):
    rep = kmap.write(fresh(), {field: value}, {})
    back = kmap.to_fields(rep)
    assert kmap.normalise(field, back[field]) == kmap.normalise(field, value)


@pytest.mark.parametrize(("field", "value"), SAMPLES, ids=[f"{f}={v}"[:60] for f, v in SAMPLES])
def test_writing_what_was_read_changes_nothing(field, value):
    """Keycloak -> fields -> Keycloak: the representation comes back as it was (lossless both ways)."""
    rep = kmap.write(fresh(), {field: value}, {})
    again = kmap.write(copy.deepcopy(rep), {field: kmap.to_fields(rep)[field]}, {})
    assert again == rep


def test_all_fields_together_round_trip():
    fields = {f: v for f, v in SAMPLES}  # the last sample of each field
    fields["grant_types"] = ["authorization_code", "refresh_token", "client_credentials"]
    fields["response_types"] = ["code"]
    fields["token_endpoint_auth_method"] = "client_secret_jwt"
    fields.pop("jwks")  # jwks and jwks_uri: one or the other (lint DCR005)
    rep = kmap.write(fresh(), fields, {})
    back = kmap.to_fields(rep)
    for field, value in fields.items():
        assert kmap.normalise(field, back[field]) == kmap.normalise(field, value), field


def test_write_touches_nothing_undeclared():
    live = fresh()
    live["attributes"].update({"access.token.lifespan": "120", "logoUri": "https://x/logo.png"})
    live.update(description="console", rootUrl="https://x", consentRequired=True)
    rep = kmap.write(copy.deepcopy(live), {"client_name": "New"}, {})
    assert rep == {**live, "name": "New"}


def test_grant_types_switch_every_flow():
    rep = fresh()
    rep["directAccessGrantsEnabled"] = True
    rep["attributes"]["oauth2.device.authorization.grant.enabled"] = "true"
    kmap.write(rep, {"grant_types": ["client_credentials"]}, {})
    assert (rep["standardFlowEnabled"], rep["implicitFlowEnabled"], rep["directAccessGrantsEnabled"],
            rep["serviceAccountsEnabled"]) == (False, False, False, True)
    assert rep["attributes"]["oauth2.device.authorization.grant.enabled"] == "false"
    assert rep["attributes"]["use.refresh.tokens"] == "false"
    assert "standard.token.exchange.enabled" not in rep["attributes"]  # never there: left out
    assert kmap.grant_types_of(rep) == ["client_credentials"]


def test_refresh_tokens_are_on_unless_switched_off():
    assert "refresh_token" in kmap.grant_types_of(fresh())
    rep = fresh()
    rep["attributes"]["use.refresh.tokens"] = "false"
    assert "refresh_token" not in kmap.grant_types_of(rep)


def test_response_types_follow_grants_when_both_are_declared():
    rep = kmap.write(fresh(), {"grant_types": ["client_credentials"], "response_types": ["code"]}, {})
    assert rep["standardFlowEnabled"] is False  # grant_types decide (lint DCR006 keeps them in line)
    rep = kmap.write(fresh(), {"response_types": ["id_token"]}, {})
    assert (rep["standardFlowEnabled"], rep["implicitFlowEnabled"]) == (False, True)


def test_auth_methods():
    for method, kind in kmap.AUTHENTICATORS.items():
        rep = kmap.write(fresh(), {"token_endpoint_auth_method": method}, {})
        assert rep["clientAuthenticatorType"] == kind and rep["publicClient"] is False
    rep = kmap.write(fresh(), {"token_endpoint_auth_method": "none"}, {})
    assert rep["publicClient"] is True and kmap.auth_method_of(rep) == "none"
    # Keycloak's client-secret takes basic and post: the two compare equal
    assert kmap.normalise("token_endpoint_auth_method", "client_secret_post") == "client_secret_basic"


def test_jwks_and_jwks_uri_switch_each_other_off():
    rep = kmap.write(fresh(), {"jwks": JWKS}, {})
    rep = kmap.write(rep, {"jwks_uri": "https://a/jwks"}, {})
    assert rep["attributes"]["use.jwks.url"] == "true" and rep["attributes"]["use.jwks.string"] == "false"
    back = kmap.to_fields(rep)
    assert back["jwks"] is None and back["jwks_uri"] == "https://a/jwks"


def test_frontchannel_logout_needs_the_switch():
    rep = kmap.write(fresh(), {"frontchannel_logout_uri": "https://a/fc"}, {})
    assert rep["frontchannelLogout"] is True
    rep["frontchannelLogout"] = False  # switched off in the console: drift
    assert kmap.to_fields(rep)["frontchannel_logout_uri"] is None


def test_list_attributes_use_double_hash_and_empty_removes():
    rep = kmap.write(fresh(), {"post_logout_redirect_uris": ["https://a/1", "https://a/2"]}, {})
    assert rep["attributes"]["post.logout.redirect.uris"] == "https://a/1##https://a/2"
    rep = kmap.write(rep, {"post_logout_redirect_uris": []}, {})
    assert "post.logout.redirect.uris" not in rep["attributes"]
    assert kmap.to_fields(rep)["post_logout_redirect_uris"] == []


def test_scope_reads_every_assigned_client_scope_and_openid():
    rep = fresh()
    rep["defaultClientScopes"].append("service_account")
    scope = kmap.to_fields(rep)["scope"]
    assert scope.split()[0] == "openid" and "service_account" not in scope
    assert kmap.normalise("scope", scope) == sorted(
        {"web-origins", "acr", "profile", "roles", "basic", "email", "address", "phone", "organization",
         "offline_access", "microprofile-jwt"}
    )
    assert kmap.normalise("scope", "openid") == [] == kmap.normalise("scope", "")


def spec(fields=None, keycloak=None) -> ClientSpec:
    return ClientSpec("x", dict(fields or {}), LOC, blocks={"keycloak": dict(keycloak)} if keycloak else {})


def test_scope_plan_keeps_defaults_default_and_adds_optional():
    s = spec({"scope": "openid profile offline_access email phone"})
    default, optional = kobj.scope_plan(s, ["profile", "roles", "service_account"], ["offline_access"], ["email"])
    assert default == {"profile", "email", "service_account"}  # service_account is Keycloak's own
    assert optional == {"offline_access", "phone"}
    assert kobj.scope_plan(spec({"client_name": "x"}), ["a"], ["b"], []) is None
    exact = kobj.scope_plan(spec(keycloak={"defaultClientScopes": ["roles"]}), ["profile"], ["phone"], [])
    assert exact == ({"roles"}, {"phone"})


def test_keycloak_block_written_and_read_flat():
    s = spec({"client_name": "x"}, {"fullScopeAllowed": False,
                                    "attributes": {"access.token.lifespan": 300, "x.flag": True}})
    declared = s.declared()
    assert declared["keycloak.attributes.access.token.lifespan"] == 300
    assert "keycloak.attributes" not in declared
    rep = kmap.write(fresh(), s.fields, s.block("keycloak"))
    assert rep["attributes"]["access.token.lifespan"] == "300" and rep["attributes"]["x.flag"] == "true"
    back = kmap.to_fields(rep)
    for path, value in declared.items():
        assert kmap.normalise(path, back[path]) == kmap.normalise(path, value), path


def test_marker_is_an_attribute_and_never_a_field():
    rep = fresh()
    kmap.set_marker(rep, "team", "billing")
    assert kmap.marker_of(rep) == ("billing", "team")
    assert not any("dcrsync" in p for p in kmap.to_fields(rep))


def test_secret_never_becomes_a_field():
    fields = kmap.to_fields(fresh())
    assert "s3cret" not in repr(fields)
    assert kmap.normalise("client_secret", "s3cret") is None


@pytest.mark.parametrize(
    ("fields", "keycloak", "path"),
    [
        ({"application_type": "web"}, {}, "application_type"),
        ({"default_max_age": 60}, {}, "default_max_age"),
        ({"require_auth_time": True}, {}, "require_auth_time"),
        ({"initiate_login_uri": "https://a/login"}, {}, "initiate_login_uri"),
        ({"sector_identifier_uri": "https://a/s.json"}, {}, "sector_identifier_uri"),
        ({"subject_type": "pairwise"}, {}, "subject_type"),
        ({"tls_client_auth_san_dns": "a.example.com"}, {}, "tls_client_auth_san_dns"),
        ({"token_endpoint_auth_method": "self_signed_tls_client_auth"}, {}, "token_endpoint_auth_method"),
        ({"grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"]}, {}, "grant_types"),
        ({}, {"secret": "x"}, "keycloak.secret"),
        ({}, {"clientId": "x"}, "keycloak.clientId"),
        ({}, {"protocolMappers": [{"name": "a"}]}, "keycloak.protocolMappers"),
        ({}, {"protocolMappers": [{"name": "a", "protocolMapper": "x"}, {"name": "a", "protocolMapper": "y"}]},
         "keycloak.protocolMappers"),
        ({}, {"authorizationSettings": {}}, "keycloak.authorizationSettings"),
        ({}, {"attributes": {"dcrsync.owner": "x"}}, "keycloak.attributes.dcrsync.owner"),
        ({"scope": "openid"}, {"optionalClientScopes": ["x"]}, "scope"),
        ({"grant_types": ["client_credentials"]}, {"serviceAccountsEnabled": True}, "keycloak.serviceAccountsEnabled"),
        ({"logo_uri": "https://a/l.png"}, {"attributes": {"logoUri": "https://b"}}, "keycloak.attributes.logoUri"),
    ],
)
def test_what_keycloak_cannot_hold_is_named(fields, keycloak, path):
    problems = unsupported(spec(fields, keycloak))
    assert path in [p for p, _ in problems], problems


def test_supported_fields_raise_nothing():
    fields = {f: v for f, v in SAMPLES if f != "jwks"}
    assert unsupported(spec(fields, {"fullScopeAllowed": False, "attributes": {"a.b": "1"}})) == []


def test_normalise_quirks():
    n = kmap.normalise
    assert n("keycloak.attributes.x", True) == "true" == n("keycloak.attributes.x", "true")
    assert n("keycloak.attributes.x", 300) == "300"
    assert n("keycloak.attributes.x", "") is None
    assert n("redirect_uris", None) == [] == n("redirect_uris", [])
    assert n("contacts", ["b", "a"]) == ["a", "b"]
    assert n("response_types", ["code", "none"]) == ["code"] == n("response_types", ["code"])
    assert n("response_types", ["id_token", "token", "id_token token"]) == ["implicit"]
    assert n("jwks", '{"keys": []}') == {"keys": []}
    assert n("logo_uri", "") is None
    assert n("keycloak.defaultClientScopes", ["b", "a", "service_account"]) == ["a", "b"]


def test_protocol_mappers_read_as_declared_and_compare_by_name_and_config():
    declared = [{"name": "tenant", "protocolMapper": "oidc-hardcoded-claim-mapper",
                 "config": {"claim.name": "tenant", "access.token.claim": True, "claim.value": "acme"}}]
    rep = {"clientId": "x", "protocolMappers": [
        {"id": "m1", "name": "tenant", "protocol": "openid-connect", "protocolMapper": "oidc-hardcoded-claim-mapper",
         "consentRequired": False, "config": {"claim.name": "tenant", "access.token.claim": "true", "claim.value": "acme"}},
        {"id": "m2", "name": "pairwise", "protocol": "openid-connect", "protocolMapper": kobj.PAIRWISE_MAPPER,
         "config": {}},
    ]}
    live = kmap.to_fields(rep)["keycloak.protocolMappers"]
    assert live == [{"name": "tenant", "protocolMapper": "oidc-hardcoded-claim-mapper",
                     "config": {"access.token.claim": "true", "claim.name": "tenant", "claim.value": "acme"}}]
    path = "keycloak.protocolMappers"
    assert kmap.normalise(path, declared) == kmap.normalise(path, live) == kmap.normalise(path, rep["protocolMappers"])
    changed = [dict(declared[0], config={**declared[0]["config"], "claim.value": "evil"})]
    assert kmap.normalise(path, changed) != kmap.normalise(path, live)
    assert kmap.normalise(path, None) == kmap.normalise(path, []) == []
    # never written into the representation: the backend uses the mapper endpoints
    assert "protocolMappers" not in kmap.write({}, {}, {"protocolMappers": declared})


def test_scope_is_read_beyond_the_realm_defaults_and_minus_names_a_missing_one():
    realm = {"acr", "basic", "email", "profile", "roles", "web-origins"}
    rep = {"defaultClientScopes": sorted(realm - {"acr"}) + ["service_account"], "optionalClientScopes": ["offline_access"]}
    assert kobj.scope_text(rep, realm) == "openid offline_access -acr"
    assert kmap.normalise("scope", "openid offline_access -acr", realm) == ["-acr", "offline_access"]
    # naming a realm default is the same as leaving it out
    assert kmap.normalise("scope", "openid profile offline_access -acr", realm) == ["-acr", "offline_access"]
    spec = ClientSpec("x", {"scope": "openid offline_access -acr"}, LOC)
    default, optional = kobj.scope_plan(spec, [], [], realm)
    assert default == realm - {"acr"} and optional == {"offline_access"}


def test_role_fields_compare_as_sets_and_leave_the_realm_default_role_out():
    path = "keycloak.serviceAccountRoles"
    declared = {"realm": ["b", "a"], "clients": {"api": ["x"], "empty": []}}
    live = {"realm": ["a", "default-roles-apps", "b"], "clients": {"api": ["x"]}}
    assert kmap.normalise(path, declared) == kmap.normalise(path, live) == {"realm": ["a", "b"], "clients": {"api": ["x"]}}
    assert kmap.normalise(path, None) == kmap.normalise(path, {"realm": ["default-roles-apps"]}) == {}
    assert kmap.normalise("keycloak.clientRoles", ["b", "a"]) == ["a", "b"]
    # assigned through their own endpoints, never written into the representation
    assert not {"serviceAccountRoles", "clientRoles"} & set(kmap.write({}, {}, {"clientRoles": ["a"],
                                                                               "serviceAccountRoles": declared}))
    assert kmap.reset({}, ["keycloak.clientRoles", "keycloak.serviceAccountRoles"]) == []


# --- require_pkce ---------------------------------------------------------------------------
@pytest.mark.parametrize(("attr", "read"), [("S256", True), ("plain", False), ("", False), (None, False)])
def test_require_pkce_reads_true_only_for_s256(attr, read):
    rep = fresh()
    if attr is not None:
        rep["attributes"]["pkce.code.challenge.method"] = attr
    assert kmap.normalise("require_pkce", kmap.to_fields(rep)["require_pkce"]) is read


def test_require_pkce_writes_s256_or_clears_and_reset_clears():
    assert kmap.write(fresh(), {"require_pkce": True}, {})["attributes"]["pkce.code.challenge.method"] == "S256"
    live = fresh()
    live["attributes"]["pkce.code.challenge.method"] = "plain"
    assert kmap.write(live, {"require_pkce": False}, {})["attributes"]["pkce.code.challenge.method"] == ""
    live["attributes"]["pkce.code.challenge.method"] = "S256"
    assert kmap.reset(live, ["require_pkce"]) == []
    assert live["attributes"]["pkce.code.challenge.method"] == ""


def test_require_pkce_and_its_attribute_together_is_refused():
    spec = ClientSpec("x", {"require_pkce": True}, LOC,
                      blocks={"keycloak": {"attributes": {"pkce.code.challenge.method": "S256"}}})
    assert ("keycloak.attributes.pkce.code.challenge.method",
            "is also set by a portable field declared here: keep one") in unsupported(spec)


# --- secret rotation policies (rotate-secret --grace) --------------------------------------
ROT_PROFILE = {"name": "keep", "executors": [{"executor": "secret-rotation",
                                              "configuration": {"rotated-expiration-period": "172800"}}]}
CONFIDENTIAL = {"clientId": "svc", "publicClient": False, "attributes": {"dcrsync.owner": "team"}}


def _policy(*conditions, enabled=True):
    return {"name": "p", "enabled": enabled, "conditions": list(conditions), "profiles": ["keep"]}


def test_rotation_coverage_votes_the_way_keycloak_does():
    from dcrsync.backends.keycloak import rotation as krot

    access = {"condition": "client-access-type", "configuration": {"type": ["confidential"]}}
    attrs = {"condition": "client-attributes",
             "configuration": {"attributes": '[{"key":"dcrsync.owner","value":"team"}]'}}
    roles = {"condition": "client-roles", "configuration": {"roles": ["x"]}}
    assert [c.rotated_period for c in krot.coverage([_policy(access)], [ROT_PROFILE], CONFIDENTIAL).covered] == [172800]
    assert krot.coverage([_policy(attrs)], [ROT_PROFILE], CONFIDENTIAL).covered
    # client-roles abstains on a regeneration: alone it covers nothing, beside a yes it is no obstacle
    assert not krot.coverage([_policy(roles)], [ROT_PROFILE], CONFIDENTIAL).covered
    assert krot.coverage([_policy(roles, access)], [ROT_PROFILE], CONFIDENTIAL).covered
    negative = {**access, "configuration": {"type": ["confidential"], "is-negative-logic": True}}
    assert not krot.coverage([_policy(negative)], [ROT_PROFILE], CONFIDENTIAL).covered
    assert not krot.coverage([_policy(access, enabled=False)], [ROT_PROFILE], CONFIDENTIAL).covered
    assert not krot.coverage([_policy(access)], [{"name": "keep", "executors": []}], CONFIDENTIAL).covered
    unknown = krot.coverage([_policy({"condition": "client-scopes"})], [ROT_PROFILE], CONFIDENTIAL)
    assert unknown.unknown == [("p", "client-scopes")]
    assert "cannot tell" in krot.refusal(unknown, 3600, "svc")
    verdict = krot.coverage([_policy(access)], [ROT_PROFILE], CONFIDENTIAL)
    assert krot.refusal(verdict, 86400, "svc") is None
    assert "2d" in krot.refusal(verdict, 3 * 86400, "svc")


def test_rotation_attributes_never_reach_fields_or_raw():
    from dcrsync.backends.keycloak.backend import to_live

    rep = {"id": "1", "clientId": "svc", "attributes": {"client.secret.rotated": "old-one",
                                                        "client.secret.expiration.time": "1", "tosUri": "https://t"}}
    live = to_live(rep)
    assert "old-one" not in repr(live.raw) + repr(live.fields)
    assert live.fields["tos_uri"] == "https://t"


def test_rotation_attributes_are_refused_in_the_keycloak_block():
    from dcrsync.backends.keycloak.backend import KeycloakBackend

    backend = KeycloakBackend({"url": "http://127.0.0.1:9", "realm": "r", "admin": {"client_id": "a", "client_secret": "s"}})
    try:
        s = ClientSpec(name="svc", fields={}, location=LOC,
                       blocks={"keycloak": {"attributes": {"client.secret.rotated": "x"}}})
        (line,) = backend._local_problems([s])
        assert "client.secret.rotated" in line and "remove it" in line
    finally:
        backend.close()


def test_a_kept_old_secret_blocks_a_second_rotation_until_it_expires():
    from dcrsync.backends.keycloak import rotation as krot

    attrs = {krot.ROTATED_SECRET_ATTR: "x", krot.ROTATED_EXPIRY_ATTR: "2000"}
    assert "until 1970-01-01 00:33 UTC" in krot.still_kept(attrs, "svc", now=1000)
    assert krot.still_kept(attrs, "svc", now=2000) is None  # expired: nothing left to protect
    assert krot.still_kept({krot.ROTATED_EXPIRY_ATTR: "2000"}, "svc", now=1000) is None
