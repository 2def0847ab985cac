"""Diffs a reviewer can read: a changed kid inside a key set, one key of an object, and items added to
or removed from a set-like field are shown at their own path, in text, Markdown and the JSON plan."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from dcrsync.model import ClientSpec, LiveClient, Location, normalise_value
from dcrsync.plan.describe import describe
from dcrsync.plan.fields import field_changes
from dcrsync.plan.plan import Change, FieldChange, Plan
from dcrsync.render import markdown, text

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "plan.schema.json").read_text())
N = "x" * 700  # a realistic RSA modulus is long: the point is that it is never printed


def _key(kid: str, n: str = N) -> dict:
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": "AQAB"}


def _plan(*fields: FieldChange) -> Plan:
    change = Change("update", "billing", "id1", "pending", list(fields), source="clients/billing.yaml:1:1")
    return Plan([change], 0, {"kind": "hydra", "url": "http://h"}, created_at="2025-01-01T00:00:00Z")


def _changes(declared: dict, live: dict) -> list[FieldChange]:
    spec = ClientSpec("billing", {k: v for k, v in declared.items() if "." not in k}, Location("c.yaml", 1, 1),
                      blocks={"hydra": {k.split(".", 1)[1]: v for k, v in declared.items() if k.startswith("hydra.")}})
    got, _ = field_changes(spec, LiveClient("id1", live, live), None, normalise_value)
    return got


def test_a_changed_kid_is_one_line_not_the_key_set_twice():
    changes = _changes({"jwks": {"keys": [_key("k2"), _key("other", "y" * 700)]}},
                       {"jwks": {"keys": [_key("other", "y" * 700), _key("k1")]}})
    (f,) = changes
    assert f.nested == [{"path": "jwks.keys[kid=k1].kid", "before": "k1", "after": "k2"}]
    out = text.render(_plan(f))
    assert '~ jwks.keys[kid=k1].kid: "k1" -> "k2"' in out
    assert N not in out  # neither the changed key nor its neighbour is printed whole
    md = markdown.render(_plan(f), details_url=None)
    assert "<code>jwks.keys&#91;kid=k1&#93;.kid</code>" in md and N not in md


def test_one_changed_key_of_hydra_metadata_shows_at_its_path():
    (f,) = _changes({"hydra.metadata": {"tier": "silver", "team": "payments", "big": N}},
                    {"hydra.metadata": {"tier": "gold", "team": "payments", "big": N}})
    assert f.path == "hydra.metadata"
    out = text.render(_plan(f))
    assert '~ hydra.metadata.tier: "gold" -> "silver"' in out
    assert N not in out


def test_keys_added_and_removed_inside_an_object():
    f = describe(FieldChange("hydra.metadata", {"a": 1, "gone": True}, {"a": 1, "new key": [1]}))
    assert f.nested == [
        {"path": "hydra.metadata.gone", "before": True, "after": None},
        {"path": 'hydra.metadata["new key"]', "before": None, "after": [1]},
    ]
    out = text.field_line(f, "update")
    assert '+ hydra.metadata["new key"]: [1]' in out
    assert "- hydra.metadata.gone: true -> (absent)" in out


def test_a_rotated_key_reads_as_one_key_removed_and_one_added():
    old, new = {"keys": [_key("k1"), _key("k2", "z" * 700)]}, {"keys": [_key("k2", "z" * 700), {"kty": "EC", "kid": "k3", "crv": "P-256", "x": "a", "y": "b"}]}
    f = describe(FieldChange("jwks", old, new))
    paths = [(p["path"], p["before"] is None, p["after"] is None) for p in f.nested or []]
    assert paths == [("jwks.keys[kid=k1]", False, True), ("jwks.keys[kid=k3]", True, False)]


def test_set_like_fields_list_the_items_added_and_removed():
    (f,) = _changes({"redirect_uris": ["https://app/cb", "https://new/cb"]},
                    {"redirect_uris": ["https://old/cb", "https://app/cb"]})
    assert (f.items_added, f.items_removed) == (["https://new/cb"], ["https://old/cb"])
    out = text.render(_plan(f))
    assert "~ redirect_uris:\n          + \"https://new/cb\"\n          - \"https://old/cb\"" in out
    assert "https://app/cb" not in out  # what stays is not repeated
    md = markdown.render(_plan(f), details_url=None)
    assert "− <code>\"https&#58;//old/cb\"</code>" in md
    assert "https://app/cb" not in md


def test_scope_tokens_are_items_too():
    f = describe(FieldChange("scope", "openid api:read", "openid api:write"))
    assert (f.items_added, f.items_removed) == (["api:write"], ["api:read"])


def test_the_json_plan_carries_the_description_and_matches_the_schema():
    set_change = describe(FieldChange("redirect_uris", ["https://old/cb"], ["https://new/cb"]))
    nested = describe(FieldChange("jwks", {"keys": [_key("k1")]}, {"keys": [_key("k2")]}))
    plain = describe(FieldChange("client_name", "A", "B"))
    plan = _plan(set_change, nested, plain)
    data = json.loads(plan.to_json())
    jsonschema.validate(data, SCHEMA)
    fields = data["changes"][0]["fields"]
    assert fields[0]["items_added"] == ["https://new/cb"] and fields[0]["items_removed"] == ["https://old/cb"]
    assert fields[1]["nested"] == [{"path": "jwks.keys[kid=k1].kid", "before": "k1", "after": "k2"}]
    assert set(fields[2]) == {"path", "before", "after", "kind"}  # a plain change reads as before
    assert fields[1]["before"] == {"keys": [_key("k1")]}  # path/before/after stay for compatibility
    again = Plan.from_json(plan.to_json())
    assert again.changes[0].fields[1].nested == fields[1]["nested"]


def test_nothing_is_described_for_secrets_creates_or_unsets():
    assert describe(FieldChange("client_secret", "(sensitive)", "(sensitive)")).nested is None
    unset = describe(FieldChange("jwks", {"keys": []}, None, "unset"))
    assert unset.nested is None and unset.items_added is None
    create = Plan([Change("create", "b", None, "pending", [FieldChange("redirect_uris", None, ["https://a/cb"])])],
                  0, {"kind": "hydra", "url": "http://h"})
    assert '+ redirect_uris: ["https://a/cb"]' in text.render(create)


def test_a_declared_set_field_lists_the_items_against_the_server_default():
    f = describe(FieldChange("grant_types", ["authorization_code"], ["authorization_code", "refresh_token"], "declare"))
    line = text.field_line(f, "update")
    assert line.startswith("+ grant_types: (newly declared; against the server default)")
    assert '+ "refresh_token"' in line and '"authorization_code"' not in line


def test_golden_pull_request_comment_with_nested_and_set_changes():
    from tests.test_github import golden

    fields = [
        describe(FieldChange("jwks", {"keys": [_key("k1"), _key("k0")]}, {"keys": [_key("k0"), _key("k2")]})),
        describe(FieldChange("redirect_uris", ["https://old/cb", "https://app/cb"], ["https://app/cb", "https://new/cb"])),
        describe(FieldChange("hydra.metadata", {"tier": "gold", "team": "payments"}, {"tier": "silver", "team": "payments"})),
        describe(FieldChange("scope", "openid api:read", "openid api:read api:write", "declare")),
    ]
    golden("plan-readable-diff.md", markdown.render(_plan(*fields), details_url=None))
