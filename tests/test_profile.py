"""Lint profiles: `baseline` keeps the rules as they were; `rfc9700` (the OAuth 2.0 Security BCP) makes
the implicit and password grants, authorization-code clients without PKCE, `localhost` redirects and
unprotected public refresh tokens errors, each at its line, unless the file or the project says the
server meets the rule by its own configuration."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from dcrsync.cli import cli
from dcrsync.lint import Profile, lint
from dcrsync.load.clients import load_clients
from tests.support.unit_helpers import lines, one_client, write

ROOT = Path(__file__).resolve().parent.parent
BCP = Profile("rfc9700")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DCRSYNC_CONFIG", raising=False)
    return tmp_path


def found(root: Path, text: str, profile: Profile = BCP, family: str | None = None) -> list[str]:
    return lines(lint([one_client(root, text)], family, profile=profile))


CONFIDENTIAL = (
    "name: web\ngrant_types: [authorization_code]\nresponse_types: [code]\n"
    "redirect_uris: [https://web.example.com/cb]\n"
)
SPA = (
    "name: spa\ngrant_types: [authorization_code, refresh_token]\nresponse_types: [code]\n"
    "redirect_uris: [https://spa.example.com/cb]\ntoken_endpoint_auth_method: none\nrequire_pkce: true\n"
)


# --- the examples under each profile ----------------------------------------------------------


def example_clients(folder: str = "examples/clients", domain: str = "example.com"):
    result = load_clients([ROOT / folder], vars={"domain": domain}, environ={})
    assert result.diagnostics == []
    return result.clients


@pytest.mark.parametrize("profile", ["baseline", "rfc9700"])
def test_the_examples_pass_both_profiles(profile: str) -> None:
    clients = example_clients()
    assert len(clients) == 10
    assert lines(lint(clients, "hydra", profile=Profile(profile))) == []


def test_what_rfc9700_asks_of_clients_written_for_baseline(root: Path) -> None:
    """The examples as they were before the profile: valid under baseline, four errors under rfc9700."""
    shutil.copytree(ROOT / "examples" / "clients", root / "clients")
    for name in ("billing-web", "internal-admin", "support-portal"):
        path = root / "clients" / f"{name}.yaml"
        path.write_text("".join(ln for ln in path.read_text().splitlines(True) if not ln.startswith("require_pkce")))
    spa = root / "clients" / "dashboard-spa.yaml"
    spa.write_text(spa.read_text().replace("http://127.0.0.1:5173", "http://localhost:5173"))
    clients = load_clients(["clients"], vars={"domain": "example.com"}, environ={}).clients
    assert lint(clients, "hydra") == []
    out = lines(lint(clients, "hydra", profile=BCP))
    assert [line.split(": ", 2)[:2] for line in out] == [
        ["clients/billing-web.yaml:7:15", "error[DCR014]"],
        ["clients/dashboard-spa.yaml:11:5", "error[DCR015]"],
        ["clients/internal-admin.yaml:7:15", "error[DCR014]"],
        ["clients/support-portal.yaml:7:15", "error[DCR014]"],
    ]
    assert "use the loopback IP literal `http://127.0.0.1:5173/callback`" in out[1]


# --- each rule ----------------------------------------------------------------------------------


def test_implicit_and_password_grants_are_errors_under_rfc9700_only(root: Path) -> None:
    text = (
        "name: old\ngrant_types: [implicit, password]\nresponse_types: [token]\n"
        "redirect_uris: [https://old.example.com/cb]\n"
    )
    baseline = found(root, text, Profile())
    assert [ln.split(": ")[1] for ln in baseline] == ["warning[DCR007]", "warning[DCR010]"]
    assert [ln.split(": ")[1] for ln in found(root, text)] == ["error[DCR007]", "error[DCR010]"]


def test_confidential_code_client_needs_pkce(root: Path) -> None:
    assert found(root, CONFIDENTIAL) == [
        "c.yaml:2:15: error[DCR014]: authorization-code client without PKCE (RFC 9700 §2.1.1): write "
        "`require_pkce: true` and have the app send a S256 code_challenge (a client secret does not stop an "
        "injected code)"
    ]
    assert found(root, CONFIDENTIAL, Profile()) == []
    assert found(root, CONFIDENTIAL + "require_pkce: true\n") == []
    assert [ln.split(": ")[0] for ln in found(root, CONFIDENTIAL + "require_pkce: false\n")] == ["c.yaml:5:15"]


def test_keycloak_s256_attribute_meets_pkce(root: Path) -> None:
    text = CONFIDENTIAL + "keycloak:\n  attributes: {pkce.code.challenge.method: S256}\n"
    assert found(root, text, family="keycloak") == []
    plain = CONFIDENTIAL + "keycloak:\n  attributes: {pkce.code.challenge.method: plain}\n"
    assert [ln.split(": ")[1] for ln in found(root, plain, family="keycloak")] == ["error[DCR014]"]


def test_public_client_without_pkce_is_an_error(root: Path) -> None:
    text = SPA.replace("require_pkce: true\n", "")
    assert [ln.split(": ")[1] for ln in found(root, text, Profile())] == ["warning[DCR008]"]
    assert [ln.split(": ")[1] for ln in found(root, text, family="hydra")] == ["error[DCR008]"]


def test_localhost_is_refused_loopback_literals_are_not(root: Path) -> None:
    text = CONFIDENTIAL.replace(
        "redirect_uris: [https://web.example.com/cb]",
        "redirect_uris: ['http://localhost:8080/cb', 'http://127.0.0.1:8080/cb', 'http://[::1]:8080/cb']",
    ) + "require_pkce: true\npost_logout_redirect_uris: ['http://localhost:8080/']\n"
    out = found(root, text)
    assert [ln.split(": ")[:2] for ln in out] == [["c.yaml:4:17", "error[DCR015]"], ["c.yaml:6:29", "error[DCR015]"]]
    assert found(root, text, Profile()) == []  # baseline: http://localhost is loopback (DCR003)
    remote = text.replace("http://localhost:8080/cb", "http://app.example.com/cb")
    assert "error[DCR003]" in found(root, remote)[0]


def test_wildcards_are_errors_in_both_profiles(root: Path) -> None:
    text = CONFIDENTIAL.replace("https://web.example.com/cb", "https://*.example.com/cb") + "require_pkce: true\n"
    for profile in (Profile(), BCP):
        assert [ln.split(": ")[1] for ln in found(root, text, profile)] == ["error[DCR011]"]


def test_public_refresh_tokens_need_sender_constraint_or_rotation(root: Path) -> None:
    assert [ln.split(": ")[:2] for ln in found(root, SPA, family="rfc7592")] == [["c.yaml:2:35", "error[DCR016]"]]
    assert found(root, SPA, family="hydra") == []  # Hydra rotates every refresh token
    assert found(root, SPA + "dpop_bound_access_tokens: true\n", family="keycloak") == []
    said = Profile("rfc9700", refresh_token_rotation="oidc-provider: rotateRefreshToken on for public clients")
    assert found(root, SPA, said, family="rfc7592") == []
    confidential = SPA.replace("token_endpoint_auth_method: none\n", "")
    assert found(root, confidential, family="rfc7592") == []


def test_a_profile_rule_can_be_ignored_with_its_reason(root: Path) -> None:
    client = one_client(root, CONFIDENTIAL + "lint:\n  ignore:\n    DCR014: 'the app checks the OIDC nonce'\n")
    from dcrsync.lint import run

    out = run([client], None, profile=BCP)
    assert out.diagnostics == [] and [s.diagnostic.rule for s in out.suppressed] == ["DCR014"]


# --- dcrsync.yaml and the command line ----------------------------------------------------------


def test_profile_from_dcrsync_yaml_and_the_command_line(root: Path) -> None:
    write(root, "clients/web.yaml", CONFIDENTIAL)
    write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: http://127.0.0.1:4445}\n")
    result = CliRunner().invoke(cli, ["validate"])  # rfc9700 is the default
    assert result.exit_code == 1 and "clients/web.yaml:2:15: error[DCR014]" in result.output
    assert CliRunner().invoke(cli, ["validate", "--profile", "baseline"]).exit_code == 0
    write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: http://127.0.0.1:4445}\nlint: {profile: baseline}\n")
    assert CliRunner().invoke(cli, ["validate"]).exit_code == 0
    strict = CliRunner().invoke(cli, ["validate", "--profile", "rfc9700"])
    assert strict.exit_code == 1 and "error[DCR014]" in strict.output


def test_pkce_hydra_enforces_by_its_own_configuration_meets_the_rule(root: Path) -> None:
    write(root, "clients/web.yaml", CONFIDENTIAL)
    write(root, "clients/spa.yaml", SPA.replace("require_pkce: true", "require_pkce: false"))
    rules = lambda: {ln.split(": ")[1] for ln in CliRunner().invoke(cli, ["validate"]).output.splitlines()[:-1]}  # noqa: E731
    write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: http://127.0.0.1:4445}\n")
    assert {"error[DCR008]", "error[DCR014]"} <= rules()
    hydra = "server: {kind: hydra, admin_url: http://127.0.0.1:4445, pkce_enforced: %s}\n"
    write(root, "dcrsync.yaml", hydra % "public")  # public clients only: the confidential one still needs it
    assert "error[DCR008]" not in rules() and "error[DCR014]" in rules()
    write(root, "dcrsync.yaml", hydra % "all")
    assert not {"error[DCR008]", "error[DCR014]"} & rules()


def test_unknown_profile_is_one_line_at_its_place(root: Path) -> None:
    write(root, "clients/web.yaml", CONFIDENTIAL)
    write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: http://x}\nlint: {profile: strict}\n")
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1
    assert result.output == "error: dcrsync.yaml:2:17: `lint.profile` must be `baseline` or `rfc9700` (got \"strict\")\n"


def test_refresh_token_rotation_said_in_dcrsync_yaml(root: Path) -> None:
    write(root, "clients/spa.yaml", SPA)
    write(root, "dcrsync.yaml", "server: {kind: rfc7592, registration_url: http://127.0.0.1:1/reg}\nlint: {profile: rfc9700}\n")
    assert "error[DCR016]" in CliRunner().invoke(cli, ["validate"]).output
    write(root, "dcrsync.yaml", (
        "server: {kind: rfc7592, registration_url: http://127.0.0.1:1/reg}\n"
        "lint: {profile: rfc9700, refresh_token_rotation: 'oidc-provider rotates refresh tokens of public clients'}\n"
    ))
    assert CliRunner().invoke(cli, ["validate"]).exit_code == 0
