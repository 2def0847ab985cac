"""Rendering: everything dcrsync prints, in one shape, `render(obj, fmt, options) -> str` (`formats`):
plans as terminal text and pull-request Markdown, drift, diagnostics (text, JSON, annotations, SARIF),
the audit, the state's listing; values shown compactly and never a secret, Markdown that always fits
one comment (`budget`), and colour decided once.

May import: the ground, state, lint, plan, audit.
"""

from typing import Any

#: a plan comment's `details_url` when none is given: read it from the environment
#: (`markdown.details_url_from_env`); here so that `formats` names it without importing markdown
FROM_ENV: Any = object()
