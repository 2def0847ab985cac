"""Property tests of the YAML loaders (issue 16, "How it is shown"): whatever bytes a branch commits
as a client file or as dcrsync.yaml, loading gives a result or one-line errors at a location, never
an exception; and a client file reads no environment variable dcrsync.yaml does not list for it."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from dcrsync.errors import ConfigError
from dcrsync.load.clients import load_clients
from dcrsync.load.config import load_config
from dcrsync.load.envrefs import ClientEnv
from dcrsync.model import ClientSpec
from tests.support.properties import FRAGMENTS, json_values

SECRET = "admin-token-value-51fe"
ENVIRON = {"HYDRA_ADMIN_TOKEN": SECRET, "LISTED": "listed-value"}
KEYS = ["name", "client_name", "client_id", "redirect_uris", "grant_types", "scope", "contacts", "hydra",
        "keycloak", "extensions", "lint", "software_statement", "token_endpoint_auth_method", "jwks", "<<"]
YAML_BITS = ["&a ", "*a", "!!python/object:os.system ", "!!binary ", "? ", ": ", "- ", "[", "]", "{", "}", "---\n",
             "...\n", "\t", "'", '"', "#", "|\n  ", ">-\n  ", "%YAML 1.1\n", "${env:HYDRA_ADMIN_TOKEN}", "${env:LISTED}",
             "${var:x}", "$${", "${", "\ufeff", "\x00", "\udcff"]

documents = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), json_values, max_size=6)
yaml_texts = st.one_of(
    documents.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.lists(st.sampled_from(YAML_BITS + KEYS + FRAGMENTS) | st.text(max_size=5), max_size=25).map("".join),
)
contents = st.one_of(st.binary(max_size=300), yaml_texts.map(lambda t: t.encode("utf-8", "surrogatepass")))


def _one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message


@given(contents)
def test_any_client_file_loads_to_clients_or_one_line_errors(tmp_path_factory, data: bytes):
    root: Path = tmp_path_factory.mktemp("fuzz")
    (root / "c.yaml").write_bytes(data)
    result = load_clients(["c.yaml"], vars={"x": "y"}, environ=ENVIRON, base_dir=root, root=root,
                          env=ClientEnv(frozenset({"LISTED"}), {"HYDRA_ADMIN_TOKEN": "server"}))
    assert all(isinstance(c, ClientSpec) for c in result.clients)
    for d in result.diagnostics:
        _one_line(d.message)
        assert d.location.file.endswith("c.yaml") and d.location.line >= 0
        assert SECRET not in d.message
    for client in result.clients:
        assert SECRET not in repr(client), "a client file read a variable no one listed for it"


@given(yaml_texts)
def test_any_dcrsync_yaml_loads_or_fails_in_one_line(tmp_path_factory, text: str):
    root: Path = tmp_path_factory.mktemp("cfg")
    path = root / "dcrsync.yaml"
    path.write_bytes(("server: {kind: hydra, admin_url: 'http://127.0.0.1:9'}\n" + text).encode("utf-8", "surrogatepass"))
    try:
        load_config(path, None, ENVIRON)
    except ConfigError as exc:
        _one_line(str(exc))
