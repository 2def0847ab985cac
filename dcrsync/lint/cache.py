"""The lint findings of each file the client cache keeps (dcrsync.load.clientcache): a file whose clients
come from the cache, linted before in the same context (server family, profile, project ignores), is
not linted again; its findings, ignored ones included, come back as they were.

Findings are kept in the file's cache entry, so they go with it when the file changes; a change of
context drops them all. Files the cache does not keep (a finding of their own at load) are linted
every time. The organisation policy (`policy:`) is checked every time: its exceptions expire by date.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dcrsync.load.clientcache import ClientCache
from dcrsync.model import ClientSpec, Diagnostic, Ignore, Location

if TYPE_CHECKING:
    from dcrsync.lint import LintResult, Profile, Suppressed


def _diag_out(d: Diagnostic) -> list[Any]:
    return [d.location.line, d.location.col, d.severity, d.rule, d.message]


def _diag_in(file: str, row: list[Any]) -> Diagnostic:
    line, col, severity, rule, message = row
    if severity not in ("error", "warning") or not all(isinstance(x, str) for x in (rule, message)):
        raise TypeError("not a diagnostic")
    if type(line) is not int or type(col) is not int:
        raise TypeError("not a location")
    return Diagnostic(Location(file, line, col), severity, rule, message)


def _suppressed_out(s: Suppressed) -> list[Any]:
    at = [s.at.file, s.at.line, s.at.col]
    return [_diag_out(s.diagnostic), s.reason, at, s.scope, s.approved_by, s.expires]


def _suppressed_in(file: str, row: list[Any]) -> Suppressed:
    from dcrsync.lint import Suppressed

    diag, reason, (at_file, line, col), scope, approved_by, expires = row
    if not all(isinstance(x, str) for x in (reason, at_file, scope)) or type(line) is not int or type(col) is not int:
        raise TypeError("not a suppressed finding")
    return Suppressed(_diag_in(file, diag), reason, Location(at_file, line, col), scope, approved_by, expires)


def lint_context(family: str | None, ignore: Mapping[str, Ignore], profile: Profile) -> str:
    """What a file's lint findings depend on besides its clients."""
    ignores = sorted((rule, i.reason, str(i.at)) for rule, i in ignore.items())
    return json.dumps([family, profile.name, profile.refresh_token_rotation, profile.pkce_enforced, ignores])


def lint_cached(
    cache: ClientCache, clients: Sequence[ClientSpec], family: str | None, ignore: Mapping[str, Ignore],
    profile: Profile,
) -> LintResult:
    """`lint.run` of `clients`, file by file: a file kept in the cache and linted in the same context
    before gives its findings again; the others are linted (and kept, when their file is)."""
    from dcrsync.lint import LintResult, run

    lint_in(cache, lint_context(family, ignore, profile))
    by_file: dict[str, list[ClientSpec]] = {}
    for client in clients:
        by_file.setdefault(client.location.file, []).append(client)
    out = LintResult()
    missing: list[ClientSpec] = []
    for file, group in by_file.items():
        found = lint_of(cache, file)
        if found is None:
            missing.extend(group)
        else:
            out.diagnostics.extend(found.diagnostics)
            out.suppressed.extend(found.suppressed)
    fresh = run(missing, family, ignore, profile)  # one run: the runner's set-up is per call
    per_file: dict[str, LintResult] = {c.location.file: LintResult() for c in missing}
    elsewhere = False  # a finding outside its client's file: nothing of this run is kept
    for diagnostic in fresh.diagnostics:
        elsewhere |= diagnostic.location.file not in per_file
        per_file.get(diagnostic.location.file, LintResult()).diagnostics.append(diagnostic)
    for kept in fresh.suppressed:
        elsewhere |= kept.diagnostic.location.file not in per_file
        per_file.get(kept.diagnostic.location.file, LintResult()).suppressed.append(kept)
    for file, found in per_file.items() if not elsewhere else ():
        keep_lint(cache, file, found)
    out.diagnostics.extend(fresh.diagnostics)
    out.suppressed.extend(fresh.suppressed)
    out.diagnostics.sort(key=lambda d: (d.location, d.rule))
    out.suppressed.sort(key=lambda s: (s.diagnostic.location, s.diagnostic.rule))
    return out


def lint_in(cache: ClientCache, context: str) -> None:
    """Lint findings kept are for `context`: those kept for another are dropped."""
    if context != cache.lint_context:
        for entry in cache.entries.values():
            entry.pop("lint", None)
        cache.lint_context = context
        cache.changed = True


def lint_of(cache: ClientCache, shown: str) -> LintResult | None:
    """The findings kept for a file whose clients came from (or went into) the cache this run."""
    from dcrsync.lint import LintResult

    entry = cache.entries.get(shown)
    lint = entry.get("lint") if entry is not None and shown in cache.used else None
    if lint is None:
        return None
    try:
        diagnostics, suppressed = lint
        return LintResult([_diag_in(shown, r) for r in diagnostics], [_suppressed_in(shown, r) for r in suppressed])
    except (KeyError, TypeError, ValueError):
        return None


def keep_lint(cache: ClientCache, shown: str, found: LintResult) -> None:
    """Keep a file's findings with its entry (only for a file the cache keeps this run)."""
    entry = cache.entries.get(shown)
    if entry is None or shown not in cache.used:
        return  # a file that is not kept (it had a diagnostic of its own)
    entry["lint"] = [[_diag_out(d) for d in found.diagnostics], [_suppressed_out(x) for x in found.suppressed]]
    cache.changed = True
