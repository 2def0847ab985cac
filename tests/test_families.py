"""The family registry: a family is one backend module plus one line in `dcrsync.families.FAMILIES`,
and the core reads a family's client-file block from that line instead of naming families."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from dcrsync.families import BLOCKS, FAMILIES
from dcrsync.load.clients import load_clients
from dcrsync.model import SET_FIELDS


def test_each_registry_line_names_a_backend_of_that_family():
    for kind, family in FAMILIES.items():
        module, cls = family.backend.split(":")
        backend_cls = getattr(importlib.import_module(module), cls)
        assert backend_cls.family == kind


def test_what_a_family_enforces_server_wide_is_read_without_its_backend():
    """validate's notes read a family's server-wide fields from the registry's light class, never
    importing the backend (its HTTP library): the two must say the same, for every server block."""
    spec = load_clients([]).clients  # none: the rules are asked of specs below
    assert spec == []
    from dcrsync.model import ClientSpec, Location

    public = ClientSpec("p", {"require_pkce": True, "token_endpoint_auth_method": "none"}, Location("f", 1, 1))
    secret = ClientSpec("s", {"require_pkce": True, "token_endpoint_auth_method": "client_secret_basic"},
                        Location("f", 1, 1))
    for family in FAMILIES.values():
        module, cls = family.backend.split(":")
        backend = getattr(importlib.import_module(module), cls)
        rules = backend if family.server_wide is None else getattr(
            importlib.import_module(family.server_wide.split(":")[0]), family.server_wide.split(":")[1])
        if family.server_wide is None:
            assert backend.server_wide_for({}) == {}  # nothing, so validate has nothing to import
        for server in ({}, {"pkce_enforced": "public"}, {"pkce_enforced": "all"}):
            assert rules.server_wide_for(server) == backend.server_wide_for(server)
            for one in (public, secret):
                assert rules.covers(server, one, "require_pkce") == backend.covers(server, one, "require_pkce")
    code = ("import sys; from dcrsync.commands.validate import family_notes; from dcrsync.load.clients import "
            "LoadResult; from dcrsync.model import ClientSpec, Location; "
            "r = LoadResult(clients=[ClientSpec('p', {'require_pkce': True}, Location('f', 1, 1))]); "
            "print(len(family_notes(r, 'hydra', {})), 'httpx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "False"]  # the note, without the HTTP library


def test_the_known_blocks_come_from_the_registry(tmp_path):
    assert set(BLOCKS) == {"hydra", "keycloak"}
    assert {"hydra.audience", "hydra.allowed_cors_origins"} <= SET_FIELDS
    (tmp_path / "a.yaml").write_text(
        "name: a\nclient_name: A\ngrant_types: [client_credentials]\ntoken_endpoint_auth_method: client_secret_basic\n"
        "hydra: {audience: [y, x]}\n"
    )
    result = load_clients([str(tmp_path / "a.yaml")])
    (spec,) = result.clients
    assert "hydra" not in spec.fields and spec.block("hydra") == {"audience": ["y", "x"]}
    assert spec.declared()["hydra.audience"] == ["y", "x"]


def test_the_schemas_know_every_registered_family():
    root = Path(__file__).resolve().parent.parent / "schemas"
    config = json.loads((root / "config.schema.json").read_text())
    assert config["properties"]["server"]["properties"]["kind"]["enum"] == list(FAMILIES)
    client = json.loads((root / "client.schema.json").read_text())
    assert set(BLOCKS) <= set(client["properties"])


# A made-up family registered before the core is imported, as a new module's registry line would be.
NEW_FAMILY = textwrap.dedent("""
    import json, sys
    from dcrsync import families
    families.FAMILIES["acme"] = families.Family(
        "acme_backend:AcmeBackend",
        families.Block("acme", "Acme", set_keys=frozenset({"tags"}), per_key=frozenset({"labels"})))
    families.BLOCKS["acme"] = families.FAMILIES["acme"].block
    from dcrsync.plan.changes import spec_payload
    from dcrsync.load.clients import load_clients
    from dcrsync.model import normalise_value
    from dcrsync.plan.plan import Change
    from dcrsync.project.planning import spec_from_change
    result = load_clients([sys.argv[1]])
    (spec,) = result.clients
    rebuilt = spec_from_change(Change("create", spec.name, None, "pending", desired=spec_payload(spec)))
    print(json.dumps({
        "errors": [d.format() for d in result.errors],
        "fields": sorted(spec.fields),
        "declared": spec.declared(),
        "tags": normalise_value("acme.tags", spec.declared()["acme.tags"]),
        "rebuilt": rebuilt.declared(),
        "misplaced": [d.format() for d in load_clients([sys.argv[2]]).errors],
    }))
""")


def test_a_new_family_block_needs_only_its_registry_line(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(
        "name: a\nclient_name: A\ngrant_types: [client_credentials]\ntoken_endpoint_auth_method: client_secret_basic\n"
        "acme:\n  tags: [b, a]\n  labels: {team: x, tier: gold}\n"
    )
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("name: b\nclient_name: B\nacme: [not, a, mapping]\n")
    out = subprocess.run([sys.executable, "-c", NEW_FAMILY, str(good), str(wrong)],
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["errors"] == []
    assert "acme" not in got["fields"]
    assert got["declared"]["acme.tags"] == ["b", "a"]
    assert got["declared"]["acme.labels.team"] == "x" and "acme.labels" not in got["declared"]
    assert got["tags"] == ["a", "b"]  # compared as a set, as its block declares
    assert got["rebuilt"] == got["declared"]  # a saved plan rebuilds the block
    assert len(got["misplaced"]) == 1 and "wrong.yaml:3" in got["misplaced"][0]
