"""The pure comparison behind `drift`'s undeclared changes, with each family's real reader.

(The same behaviour end to end, against a real Hydra and a real Keycloak: test_drift_undeclared.py.)
"""

from __future__ import annotations

import copy
import json

from dcrsync.backends.hydra import to_live as hydra_read
from dcrsync.backends.keycloak import mapping as kmap
from dcrsync.backends.keycloak.backend import to_live as keycloak_read
from dcrsync.model import SENSITIVE, LiveClient
from dcrsync.plan.drift import detect
from dcrsync.plan.undeclared import UndeclaredChange, changes, default_reader
from dcrsync.render import drift as render
from dcrsync.state.records import ClientRecord, State

HYDRA = {
    "client_id": "c1",
    "client_name": "Svc",
    "grant_types": ["client_credentials"],
    "scope": "openid",
    "owner": "team",
    "metadata": {"dcrsync": {"name": "svc", "owner": "team"}, "cost_centre": "42"},
    "skip_consent": False,
    "allowed_cors_origins": [],
    "audience": None,
    "authorization_code_grant_access_token_lifespan": None,
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
}
KEYCLOAK = {
    "id": "0f0f",
    "clientId": "c1",
    "name": "Web",
    "redirectUris": ["https://a.example.com/cb"],
    "webOrigins": [],
    "consentRequired": False,
    "standardFlowEnabled": True,
    "publicClient": False,
    "clientAuthenticatorType": "client-secret",
    "defaultClientScopes": ["profile"],
    "optionalClientScopes": [],
    "attributes": {"dcrsync.name": "web", "dcrsync.owner": "team", "use.refresh.tokens": "true"},
    "protocolMappers": [
        {"id": "m1", "name": "aud", "protocol": "openid-connect", "protocolMapper": "oidc-audience-mapper",
         "config": {"included.client.audience": "api"}},
    ],
}


def found(before, after, declared, read):
    return [(c.path, c.item, c.change, c.before, c.after) for c in changes(before, after, declared, read)]


def test_hydra_undeclared_fields_are_named_and_declared_ones_are_left_to_drift():
    now = dict(HYDRA, skip_consent=True, allowed_cors_origins=["*"], client_name="Changed",
               authorization_code_grant_access_token_lifespan="720h0m0s", updated_at="2026-02-02T00:00:00Z")
    assert found(HYDRA, now, {"client_name", "grant_types", "scope"}, hydra_read) == [
        ("allowed_cors_origins", None, "added", [], ["*"]),
        ("authorization_code_grant_access_token_lifespan", None, "added", None, "720h"),  # read as written
        ("skip_consent", None, "changed", False, True),
    ]
    # declared in the hydra: block, the same keys are declared drift, not undeclared
    assert found(HYDRA, now, {"client_name", "hydra.skip_consent", "hydra.allowed_cors_origins"}, hydra_read) == [
        ("authorization_code_grant_access_token_lifespan", None, "added", None, "720h"),  # read as written
    ]


def test_hydra_metadata_keys_one_level_deep_and_the_marker_left_out():
    now = copy.deepcopy(HYDRA)
    now["metadata"]["cost_centre"] = "43"
    now["metadata"]["dcrsync"] = {"name": "other", "owner": "team"}
    assert found(HYDRA, now, set(), hydra_read) == [("metadata.cost_centre", None, "changed", "42", "43")]
    assert found(HYDRA, now, {"hydra.metadata"}, hydra_read) == []
    # Hydra's own `owner` column is not dcrsync's marker (that is metadata.dcrsync): a change is named
    assert found(HYDRA, dict(HYDRA, owner="someone"), set(), hydra_read) == [
        ("owner", None, "changed", "team", "someone"),
    ]


def test_null_empty_and_absent_are_the_same_and_set_order_does_not_matter():
    now = dict(HYDRA, allowed_cors_origins=None, audience=[], grant_types=["client_credentials"])
    now.pop("authorization_code_grant_access_token_lifespan")
    assert found(HYDRA, now, set(), hydra_read) == []
    before = dict(HYDRA, audience=["a", "b"])
    assert found(before, dict(HYDRA, audience=["b", "a"]), set(), hydra_read) == []


def test_keycloak_web_origins_consent_lifespan_and_mappers():
    now = copy.deepcopy(KEYCLOAK)
    now["webOrigins"] = ["*"]
    now["consentRequired"] = True
    now["attributes"]["access.token.lifespan"] = "86400"
    now["protocolMappers"].append({"id": "m2", "name": "evil", "protocol": "openid-connect",
                                   "protocolMapper": "oidc-hardcoded-claim-mapper",
                                   "config": {"claim.name": "admin", "claim.value": "true"}})
    now["protocolMappers"][0]["config"] = {"included.client.audience": "other"}
    now["protocolMappers"][0]["id"] = "m1-recreated"
    got = found(KEYCLOAK, now, {"client_name", "redirect_uris"}, keycloak_read)
    assert [(p, item, kind) for p, item, kind, _, _ in got] == [
        ("attributes.access.token.lifespan", None, "added"),
        ("consentRequired", None, "changed"),
        ("protocolMappers", "aud", "changed"),
        ("protocolMappers", "evil", "added"),
        ("webOrigins", None, "added"),
    ]
    evil = got[3][4]
    assert evil["protocolMapper"] == "oidc-hardcoded-claim-mapper" and "id" not in evil
    assert got[0][3:] == (None, "86400") and got[4][3:] == ([], ["*"])


def test_what_keycloak_adds_to_a_mapper_by_itself_is_no_hand_edit():
    """Keycloak writes `multivalued: "true"` into a group-membership mapper when it first issues a
    token: a difference dcrsync's own reading of the client does not see is nobody's edit."""
    before = copy.deepcopy(KEYCLOAK)
    before["protocolMappers"].append({"id": "m2", "name": "groups", "protocol": "openid-connect",
                                      "protocolMapper": "oidc-group-membership-mapper",
                                      "config": {"claim.name": "groups", "full.path": "false"}})
    now = copy.deepcopy(before)
    now["protocolMappers"][1]["config"]["multivalued"] = "true"
    assert found(before, now, set(), keycloak_read) == []
    now["protocolMappers"][1]["config"]["full.path"] = "true"  # a change it does read
    assert [c[:3] for c in found(before, now, set(), keycloak_read)] == [("protocolMappers", "groups", "changed")]


def test_keycloak_server_forms_of_declared_portable_fields_are_left_out():
    now = copy.deepcopy(KEYCLOAK)
    now["redirectUris"] = ["https://evil.example.net/cb"]  # redirect_uris
    now["defaultClientScopes"] = ["profile", "email"]  # scope
    now["attributes"]["use.refresh.tokens"] = "false"  # grant_types
    now["consentRequired"] = True
    declared = {"redirect_uris", "scope", "grant_types"}
    assert found(KEYCLOAK, now, declared, keycloak_read) == [("consentRequired", None, "changed", False, True)]
    # not declared: each is named by its Keycloak key
    assert [c[0] for c in found(KEYCLOAK, now, set(), keycloak_read)] == [
        "attributes.use.refresh.tokens", "consentRequired", "defaultClientScopes", "redirectUris",
    ]
    # a `keycloak:` key or attribute declared is declared drift
    assert found(KEYCLOAK, now, declared | {"keycloak.consentRequired"}, keycloak_read) == []


def test_keycloak_marker_attributes_are_never_undeclared():
    now = copy.deepcopy(KEYCLOAK)
    now["attributes"][kmap.MARKER_NAME] = "stolen"
    del now["attributes"][kmap.MARKER_OWNER]
    assert found(KEYCLOAK, now, set(), keycloak_read) == []


def test_removed_mapper_and_removed_attribute():
    now = copy.deepcopy(KEYCLOAK)
    now["protocolMappers"] = []
    del now["attributes"]["use.refresh.tokens"]
    got = found(KEYCLOAK, now, set(), keycloak_read)
    assert [(p, item, kind) for p, item, kind, _, _ in got] == [
        ("attributes.use.refresh.tokens", None, "removed"),
        ("protocolMappers", "aud", "removed"),
    ]


def test_secret_looking_values_never_show():
    before = {"client_id": "c1", "attributes": {"client.secret.creation.time": "1700000000"}}
    after = {"client_id": "c1", "secret": "s3cr3t-value",
             "attributes": {"client.secret.creation.time": "1800000000", "client.secret.rotated": "old-s3cr3t"}}
    got = changes(before, after, set(), default_reader)
    text = json.dumps([c.__dict__ for c in got])
    assert "s3cr3t" not in text
    assert [(c.path, c.after) for c in got] == [
        ("attributes.client.secret.creation.time", "1800000000"),  # a timestamp, not a secret
        ("attributes.client.secret.rotated", SENSITIVE),
    ]


def _state(observed):
    rec = ClientRecord(name="svc", client_id="c1", desired={"client_name": "Svc"}, applied={"client_name": "Svc"},
                       observed=observed)
    return State(clients={"svc": rec})


def _detect(state, raw):
    live = hydra_read(raw)
    return detect([], [live], state, owner="team", normalise=lambda p, v: v, lists=True,
                  server={"kind": "hydra", "url": "http://x"}, read=hydra_read)


def test_report_exit_codes_and_a_declared_change_reported_once():
    now = dict(HYDRA, skip_consent=True)
    report = _detect(_state(HYDRA), now)
    assert not report.drifted and [u.name for u in report.undeclared] == ["svc"]
    assert (report.exit_code(), report.exit_code(fail_on_undeclared=True)) == (0, 2)
    both = _detect(_state(HYDRA), dict(now, client_name="Hand"))
    (drifted,) = both.clients
    assert [f.path for f in drifted.fields] == ["client_name"]
    assert [c.path for c in both.undeclared[0].changes] == ["skip_consent"]
    assert both.exit_code() == 2
    data = json.loads(both.to_json())
    assert data["undeclared"] == [{
        "name": "svc", "client_id": "c1", "updated_at": HYDRA["updated_at"],
        "changes": [{"path": "skip_consent", "change": "changed", "before": False, "after": True, "item": None}],
    }]
    assert data["unobserved"] == 0


def test_records_without_observed_are_skipped_with_one_note():
    report = _detect(_state(None), dict(HYDRA, skip_consent=True))
    assert report.undeclared == [] and report.unobserved == 1 and report.exit_code(True) == 0
    out = render.text(report)
    assert out.count("note:") == 1 and "skip_consent" not in out
    assert render.markdown(report).count("their next apply") == 1


def test_text_and_markdown_show_the_undeclared_part_apart():
    now = copy.deepcopy(KEYCLOAK)
    now["webOrigins"] = ["*"]
    now["protocolMappers"].append({"name": "evil", "protocolMapper": "oidc-hardcoded-claim-mapper", "config": {}})
    rec = ClientRecord(name="web", client_id="c1", desired={}, applied={}, observed=KEYCLOAK)
    report = detect([], [keycloak_read(now)], State(clients={"web": rec}), owner="team",
                    normalise=kmap.normalise, lists=True, server={"kind": "keycloak", "url": "http://x"},
                    read=keycloak_read)
    text = render.text(report)
    assert "Undeclared fields changed" in text
    assert '+ protocolMappers "evil": added (oidc-hardcoded-claim-mapper)' in text
    assert '+ webOrigins: [] -> ["*"]' in text
    assert text.rstrip().splitlines()[-1].startswith("No drift: declared fields of 1 managed client(s)")
    md = render.markdown(report)
    assert "#### Undeclared fields changed" in md and "<code>webOrigins</code>" in md and '<code>protocolMappers</code> "evil"' in md


def test_default_reader_is_the_representation_itself():
    assert default_reader({"client_id": "x", "a": 1}) == LiveClient("x", {"client_id": "x", "a": 1},
                                                                     {"client_id": "x", "a": 1})
    assert changes({"client_id": "x", "a": 1}, {"client_id": "x", "a": 2}, {"a"}, default_reader) == []
    assert changes({"client_id": "x", "a": 1}, {"client_id": "x", "a": 2}, set(), default_reader) == [
        UndeclaredChange("a", "changed", 1, 2)
    ]


def test_server_owned_keys_are_not_hand_edits():
    # a real Hydra answers a write with its own created_at and a registration_client_uri a read lacks
    before = dict(HYDRA, created_at="2026-01-01T00:00:00.123456789Z", registration_client_uri="http://x/reg/c1")
    assert found(before, HYDRA, set(), hydra_read) == []
