"""The pure parts of delivering (issue 18): declarations checked against dcrsync.yaml, presets,
bundle formats, keyed hashes, what a plan delivers, and when a declared rotation is due."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from dcrsync.deliver.bundle import BundleError, as_text, bundle
from dcrsync.deliver.declared import Settings, check, targets_of
from dcrsync.deliver.hashes import delivery_hash
from dcrsync.deliver.planning import due
from dcrsync.deliver.presets import SOURCES, preset_keys
from dcrsync.model import ClientSpec, Location
from dcrsync.plan.plan import Change
from dcrsync.plan.rotation import due as rotation_due
from dcrsync.state.records import ClientRecord, State

BASE = Path("/repo")
SETTINGS = Settings.of({"roots": ["deploy/"], "recipients": {"team": {"age": ["age1abc"]}, "empty": {"age": []}}}, BASE)
K8S = {"target": "kubernetes-secret", "path": "deploy/a.sops.yaml", "recipients": "team", "namespace": "apps",
       "preset": "dotenv"}


def spec(name: str = "billing", deliver=None, **extra) -> ClientSpec:
    return ClientSpec(name=name, fields={"grant_types": ["client_credentials"]}, location=Location("c.yaml", 1, 1),
                      deliver=deliver, **extra)


def problems(*decls, settings=SETTINGS) -> list[str]:
    return [d.message for d in check([spec(deliver=list(decls))], settings)]


def test_a_valid_manifest_target_has_no_problem():
    assert problems(K8S) == []


@pytest.mark.parametrize("path, said", [
    ("../outside/a.sops.yaml", "outside the delivery roots (deploy)"),
    ("deploy/../../a.sops.yaml", "outside the delivery roots"),
    ("/etc/a.sops.yaml", "outside the delivery roots"),
    ("deploy/a.txt", "must name a .yaml file"),
])
def test_a_path_outside_the_roots_is_refused(path, said):
    assert any(said in m for m in problems({**K8S, "path": path})), problems({**K8S, "path": path})


def test_recipients_must_be_a_declared_non_empty_set():
    assert any("no recipients" in m for m in problems({**K8S, "recipients": "empty"}))
    assert any("'nobody' is not in dcrsync.yaml" in m for m in problems({**K8S, "recipients": "nobody"}))
    assert any("needs `recipients:`" in m for m in problems({k: v for k, v in K8S.items() if k != "recipients"}))


def test_no_roots_declared_refuses_every_file_target():
    assert any("declares no `delivery.roots`" in m for m in problems(K8S, settings=Settings.of({}, BASE)))


def test_key_names_the_consumer_cannot_read_are_refused():
    assert any("not a Kubernetes Secret key" in m for m in problems({**K8S, "keys": {"bad key": "client_id"}}))
    assert any("not an environment variable name" in m
               for m in problems({"target": "stdout", "keys": {"1X": "client_id"}}))
    assert problems({"target": "stdout", "format": "json", "keys": {"any key": "client_id"}}) == []


def test_two_clients_cannot_write_one_file():
    found = check([spec("a", [K8S]), spec("b", [K8S])], SETTINGS)
    assert any("written by another delivery (a)" in d.message for d in found)


def test_defaults_apply_with_the_client_name_unless_the_client_declares_its_own():
    settings = Settings.of({"roots": ["deploy/"], "recipients": {"team": {"age": ["age1x"]}},
                            "defaults": [{**K8S, "path": "deploy/{name}.sops.yaml", "secret_name": "{name}-oauth"}]}, BASE)
    [t] = targets_of(spec("web"), settings)
    assert t.settings["path"] == "deploy/web.sops.yaml" and t.settings["secret_name"] == "web-oauth"
    assert targets_of(spec("web", []), settings) == []
    own = targets_of(spec("web", [{"target": "stdout", "preset": "dotenv"}]), settings)
    assert [t.kind for t in own] == ["stdout"]


def test_a_changed_declaration_is_a_new_delivery():
    a = targets_of(spec(deliver=[K8S]), SETTINGS)[0]
    b = targets_of(spec(deliver=[{**K8S, "labels": {"team": "x"}}]), SETTINGS)[0]
    assert a.id != b.id and a.id == targets_of(spec(deliver=[K8S]), SETTINGS)[0].id


def test_presets_never_deliver_the_registration_access_token():
    for preset in ("dotenv", "spring", "oauth2-proxy", "envoy-gateway"):
        keys = preset_keys(preset, "billing-web")
        assert set(keys.values()) <= set(SOURCES) and "registration_access_token" not in keys.values()
    assert "SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_BILLINGWEB_CLIENTSECRET" in preset_keys("spring", "billing-web")
    assert preset_keys("envoy-gateway", "x") == {"client-secret": "client_secret"}


def test_a_bundle_needs_every_value_it_names():
    assert bundle("a", {"ID": "client_id"}, {"client_id": "c1"}) == {"ID": "c1"}
    with pytest.raises(BundleError, match="public client has none"):
        bundle("a", {"S": "client_secret"}, {"client_id": "c1", "client_secret": None})


@pytest.mark.parametrize("value", ["plain-Value_1", "with space", 'quo"te', "dollar$HOME", "back\\slash", "new\nline"])
def test_env_and_dotenv_read_back_as_the_same_values(value, tmp_path):
    values = {"A": value, "B": "https://id.example.com/realms/x"}
    shell = subprocess.run(["bash", "-c", as_text(values, "env") + 'printf "%s\\0%s" "$A" "$B"'],
                           capture_output=True, text=True, check=True)
    assert shell.stdout.split("\0") == [value, values["B"]]
    dotenv = as_text(values, "dotenv")
    assert dotenv.count("\n") == 2  # one line per key, whatever the value holds
    first = dotenv.splitlines()[0].split("=", 1)[1]
    if first.startswith('"'):
        assert json.loads(first) == value  # python-dotenv's double-quote escapes are JSON's here
    else:
        assert first == value and shlex.split(first) == [value]
    assert json.loads(as_text(values, "json")) == values


def test_the_hash_is_keyed_by_the_secret():
    a = delivery_hash("s3cret-one", "t1", {"S": "s3cret-one"})
    assert a == delivery_hash("s3cret-one", "t1", {"S": "s3cret-one"}) and a.startswith("hmac-sha256:")
    assert a != delivery_hash("s3cret-two", "t1", {"S": "s3cret-one"})
    assert a != delivery_hash("s3cret-one", "t2", {"S": "s3cret-one"})
    assert "s3cret" not in a


def test_a_plan_delivers_new_secrets_and_what_was_never_delivered():
    [t] = targets_of(spec(deliver=[K8S]), SETTINGS)
    state = State(clients={"billing": ClientRecord("billing", "id1", client_secret=None)})
    assert [d["reason"] for d in due({"billing": [t]}, state, [])] == ["not delivered yet"]
    state.clients["billing"].deliveries = {t.id: "hmac-sha256:x"}
    assert due({"billing": [t]}, state, []) == []
    rotate = Change("rotate", "billing", "id1", "pending")
    [item] = due({"billing": [t]}, state, [rotate])
    assert item["reason"] == "rotated secret" and item["where"] == "deploy/a.sops.yaml"
    assert "s3cret" not in json.dumps(item)
    assert due({"billing": [t]}, State(), []) == []  # not created yet, and not being created
    # a create an interrupted apply made (its secret journaled, its confirmation lost) is confirmed
    # by this plan's change: its delivery is due with it, not one apply later
    state.clients["billing"] = ClientRecord("billing", "id1", client_secret="s", pending=True)
    assert due({"billing": [t]}, state, []) == []
    recorded = Change("update", "billing", "id1", "pending", recovery=True, records_only=True)
    assert [d["reason"] for d in due({"billing": [t]}, state, [recorded])] == ["not delivered yet"]


def test_a_declared_rotation_is_due_on_a_new_token_or_past_max_age():
    record = ClientRecord("b", "id", rotation="v1", secret_at="2026-01-01T00:00:00Z")
    jan_2 = 1767312000.0  # 2026-01-02T00:00:00Z
    assert rotation_due(spec(rotation="v1"), record, jan_2) == (None, None)
    assert "'v1' -> 'v2'" in rotation_due(spec(rotation="v2"), record, jan_2)[0]
    assert rotation_due(spec(rotation="v1", rotate={"max_age": "2d"}), record, jan_2) == (None, None)
    assert "past rotate.max_age 1d" in rotation_due(spec(rotation="v1", rotate={"max_age": "1d"}), record, jan_2)[0]
    unknown = ClientRecord("b", "id")
    why, note = rotation_due(spec(rotate={"max_age": "1d"}), unknown, jan_2)
    assert why is None and "age of its secret is unknown" in note


@pytest.mark.parametrize("env", [None, "staging"])
def test_the_delivery_example_is_valid(env, monkeypatch):
    from dcrsync.load.config import load_config
    from dcrsync.project.clients import load_project

    root = Path(__file__).resolve().parent.parent / "examples" / "delivery"
    monkeypatch.chdir(root)
    environ = {k: "http://127.0.0.1:1" for k in ("HYDRA_ADMIN_URL", "HYDRA_PUBLIC_URL", "HYDRA_STAGING_ADMIN_URL",
                                                "HYDRA_STAGING_PUBLIC_URL")}
    config = load_config(root / "dcrsync.yaml", env, environ)
    result = load_project(config)
    assert result.diagnostics == [] and len(result.clients) == 3
    kinds = {t.kind for s in result.clients for t in targets_of(s, Settings.of(config.delivery, config.base_dir))}
    assert kinds == {"kubernetes-secret", "external-secret", "stdout", "exec"}
