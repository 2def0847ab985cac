"""Read a policy file: YAML with line marks, `schemas/policy.schema.json`, then what the schema cannot
say (unique rule ids, exceptions that name a known rule, real dates). Every problem is one
ConfigError at its `FILE:LINE:COL`, before any client is checked."""

from __future__ import annotations

import datetime as dt
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

from dcrsync.errors import ConfigError
from dcrsync.lint import IGNORABLE
from dcrsync.load.schemacheck import schema_diagnostics, validator
from dcrsync.load.yamlsource import Document, load_file
from dcrsync.model import Diagnostic
from dcrsync.policy.model import ChangeRule, ClientRule, Exemption, Policy, Scope, as_list

CHECKS = ("redirect_hosts", "require", "allowed_scopes", "allowed_grants", "allowed_auth_methods", "max_token_lifetime")


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _fail(diagnostics: list[Diagnostic], what: str) -> ConfigError:
    first = sorted(diagnostics, key=lambda d: d.location)[0]
    more = f" (and {len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
    return ConfigError(f"{first.location}: {first.message}{more}{what}")


def _document(path: Path) -> Document:
    shown = _shown(path)
    if not path.is_file():
        raise ConfigError(f"{shown}: the policy file (`policy:` in dcrsync.yaml) does not exist: fix the path")
    parsed = load_file(path, shown)
    if parsed.diagnostics:
        raise _fail(parsed.diagnostics, "")
    if len(parsed.documents) != 1 or not isinstance(parsed.documents[0].value, dict):
        raise ConfigError(f"{shown}: a policy file is one YAML mapping (`version: 1`, `rules: …`)")
    doc = parsed.documents[0]
    problems = schema_diagnostics(validator("policy"), doc)
    if problems:
        raise _fail(problems, " (see schemas/policy.schema.json)")
    return doc


def _rules(doc: Document) -> tuple[tuple[ClientRule, ...], tuple[ChangeRule, ...]]:
    seen: dict[str, str] = {}
    rules: list[ClientRule] = []
    changes: list[ChangeRule] = []
    for kind in ("rules", "changes"):
        for i, raw in enumerate(doc.value.get(kind) or []):
            at = doc.key_loc((kind, i, "id"))
            if raw["id"] in seen:
                raise ConfigError(f"{at}: rule id `{raw['id']}` is already used at {seen[raw['id']]}: ids must be unique")
            seen[raw["id"]] = str(at)
            when = Scope.of(raw)
            if kind == "rules":
                checks = {k: raw[k] for k in CHECKS if k in raw}
                if not checks:
                    raise ConfigError(f"{at}: rule `{raw['id']}` checks nothing: add one of {', '.join(CHECKS)}")
                rules.append(ClientRule(raw["id"], at, when, raw.get("severity", "error"), raw.get("description"), checks))
            else:
                forbid = raw["forbid"]
                changes.append(ChangeRule(
                    raw["id"], at, when, tuple(forbid.get("actions") or ()), tuple(forbid.get("additions") or ()),
                    raw.get("description"),
                ))
    return tuple(rules), tuple(changes)


def _exemptions(doc: Document, known: set[str]) -> tuple[Exemption, ...]:
    out = []
    for i, raw in enumerate(doc.value.get("exceptions") or []):
        at = doc.key_loc(("exceptions", i, "rule"))
        rule = raw["rule"]
        if rule not in known and rule not in IGNORABLE:
            names = ", ".join(sorted(known)) or "none"
            raise ConfigError(
                f"{at}: exception for `{rule}`, which is neither a rule of this file ({names}) nor a lint rule "
                "that can be ignored: fix the rule id"
            )
        try:
            expires = dt.date.fromisoformat(raw["expires"])
        except ValueError:
            where = doc.loc(("exceptions", i, "expires"))
            raise ConfigError(f"{where}: `{raw['expires']}` is not a date: write YYYY-MM-DD") from None
        out.append(Exemption(
            rule, tuple(as_list(raw["clients"])), raw["reason"], raw["approved_by"], expires, at,
            tuple(raw.get("values") or ()),
        ))
    return tuple(out)


def _only_by_exception(doc: Document) -> tuple[str, ...]:
    """`lint.only_by_exception`: each id or glob must name a lint rule that can be ignored."""
    patterns = tuple((doc.value.get("lint") or {}).get("only_by_exception") or ())
    for i, pattern in enumerate(patterns):
        if not any(fnmatchcase(rule, pattern) for rule in IGNORABLE):
            raise ConfigError(
                f"{doc.loc(('lint', 'only_by_exception', i))}: `{pattern}` names no lint rule that can be ignored "
                f"({', '.join(sorted(IGNORABLE))}): fix the rule id"
            )
    return patterns


def build(doc: Document) -> Policy:
    rules, changes = _rules(doc)
    known = {r.id for r in (*rules, *changes)}
    only = _only_by_exception(doc)
    return Policy(doc.file, rules, changes, _exemptions(doc, known), only,
                  doc.key_loc(("lint", "only_by_exception")) if only else None)


@cache
def _cached(path: Path, mtime: float, size: int, cwd: str) -> Policy:
    return build(_document(path))  # `cwd`: messages name the file relative to it


def load_policy(path: Path) -> Policy:
    """The policy file at `path`, read once per process while unchanged."""
    try:
        st = path.stat()
    except OSError:
        raise ConfigError(
            f"{_shown(path)}: the policy file (`policy:` in dcrsync.yaml) does not exist: fix the path"
        ) from None
    return _cached(path, st.st_mtime, st.st_size, str(Path.cwd()))


def summary(policy: Policy, today: dt.date) -> dict[str, Any]:
    """The policy as machine output shows it: the file, its rules, and every exception with whether
    it is in force on `today`."""
    return {
        "file": policy.file,
        "rules": [{"id": r.id, "description": r.description, "at": str(r.at)} for r in policy.rules],
        "changes": [{"id": r.id, "description": r.description, "at": str(r.at)} for r in policy.changes],
        "exceptions": [{**e.as_dict(), "in_force": not e.expired(today)} for e in policy.exemptions],
        "only_by_exception": list(policy.only_by_exception),
    }
