"""`validate --format sarif`: the findings as a SARIF 2.1.0 log, for GitHub code scanning
(`github/codeql-action/upload-sarif`) and any other SARIF reader.

One run of the tool `dcrsync`; its rules are the lint rules, the policy file's rules (`policy/ID`,
with the rule's description) and the loader's own kinds (schema, yaml, …) that occur. Each finding
is a result at its file, line and column (a finding about a whole file has no region). Findings set
apart on purpose are results with a suppression: a client file's `lint.ignore` is in source,
dcrsync.yaml's and the policy file's exceptions are external, their reason (and approver and expiry)
its justification. Paths are as `validate` shows them: run it from the repository's root.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dcrsync import __version__
from dcrsync.model import Diagnostic

if TYPE_CHECKING:
    from dcrsync.lint import Suppressed
    from dcrsync.render.diagnostics import Findings

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/dcrsync/dcrsync"
#: what the loader's own diagnostics are about
LOADER_RULES = {
    "yaml": "the file is not valid YAML, or uses what dcrsync refuses (tags, alias bombs, deep nesting)",
    "schema": "the client does not match schemas/client.schema.json",
    "subst": "an undefined `${env:X}` or `${var:x}`",
    "duplicate": "the same client name twice",
    "load": "a file or path that cannot be read",
    "empty": "a file that holds no client",
    "policy/expired": "an exception of the policy file whose expiry has passed",
}


def _uri(file: str) -> str:
    if file.startswith("/"):
        return "file://" + quote(file)
    return quote(file)


def _location(d: Diagnostic) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(d.location.file)}}
    if d.location.line > 0:
        physical["region"] = {"startLine": d.location.line, "startColumn": max(1, d.location.col)}
    return {"physicalLocation": physical}


def _rule(rule_id: str, findings: Findings) -> dict[str, Any]:
    from dcrsync.lint import RULES

    lint = RULES.get(rule_id)
    if lint is not None:
        short, full = lint.summary, lint.why
    elif rule_id in LOADER_RULES:
        short = full = LOADER_RULES[rule_id]
    elif rule_id.startswith("policy/"):
        rule = rule_id[len("policy/"):]
        rules = {r["id"]: r for r in (findings.context.get("policy") or {}).get("rules", [])}
        short = f"organisation policy rule `{rule}`"
        full = (rules.get(rule) or {}).get("description") or short
    else:
        short = full = rule_id
    return {
        "id": rule_id,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "helpUri": f"{INFORMATION_URI}#lint-rules" if lint else f"{INFORMATION_URI}#organisation-policy",
    }


def _suppression(s: Suppressed) -> dict[str, Any]:
    why = s.reason
    if s.scope == "exception":
        why = f"{s.reason} (approved by {s.approved_by}, until {s.expires}; {s.at})"
    return {"kind": "inSource" if s.scope == "client" else "external", "status": "accepted", "justification": why}


def _result(d: Diagnostic, index: dict[str, int], suppressed: Suppressed | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ruleId": d.rule,
        "ruleIndex": index[d.rule],
        "level": "error" if d.severity == "error" else "warning",
        "message": {"text": d.message},
        "locations": [_location(d)],
    }
    if suppressed is not None:
        out["suppressions"] = [_suppression(suppressed)]
    return out


def render(findings: Findings) -> str:
    from dcrsync.render.diagnostics import ordered

    shown = ordered(findings.diagnostics)
    rule_ids = list(dict.fromkeys([d.rule for d in shown] + [s.diagnostic.rule for s in findings.suppressed]))
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    results = [_result(d, index) for d in shown] + [_result(s.diagnostic, index, s) for s in findings.suppressed]
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "dcrsync", "version": __version__, "informationUri": INFORMATION_URI,
                "rules": [_rule(r, findings) for r in rule_ids],
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False)
