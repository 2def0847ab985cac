"""Hypothesis settings for the property tests, and the hostile text they feed dcrsync.

Profiles: `dev` (the default: a few dozen examples, seconds) and `ci` (hundreds), chosen with
HYPOTHESIS_PROFILE=ci. Strings come from every Unicode category, with the fragments a hostile server
or branch would use mixed in: terminal escapes (colour, window title, OSC 52 clipboard writes),
newlines that would forge a plan line, bidi overrides, lone surrogates, and Markdown that would
break out of a code span or go live (backticks, links, images, HTML, mentions, issue references).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile("dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

#: set by tests/conftest.py when pytest runs only the pure lane (`-m pure`, a contributor's quick loop)
QUICK_LANE = "DCRSYNC_QUICK_PROPERTIES"


def examples(n: int) -> int:
    """How many examples a property with a fixed count runs: all `n` in the whole suite (CI), a fifth
    (at least 50) in the pure lane, which must stay a quick loop. Read when the test module loads."""
    return max(50, n // 5) if os.environ.get(QUICK_LANE) == "1" else n

FRAGMENTS = [
    "\x1b[31m", "\x1b[0m", "\x1b]0;owned\x07", "\x1b]52;c;ZXZpbA==\x07", "\x1b]8;;http://evil/\x1b\\", "\x9b31m",
    "\x07", "\r", "\n", "\n  + create evil  [pending]\n", "\x85", "\u2028", "\u2029", "\u202e", "\u2066", "\u200f",
    "\ufeff", "\ud800", "\U000e0041", "\x00", "\x7f",
    "`", "``", "```", "](http://evil.example/x)", "[click](http://evil.example)", "![i](http://evil.example/i.png)",
    "<img src=x onerror=alert(1)>", "<script>", "</code>", "</details>", "<!--", "&lt;", "&#96;", "|", "\\", "*",
    "_", "~~", "$x$", "@alice", "@octo/team", "#123", "GH-1", "http://evil.example", "www.evil.example",
    "ops@evil.example", ":smile:", "> [!CAUTION]", "- [ ] task", "${env:HYDRA_ADMIN_TOKEN}",
]

hostile = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), min_size=1, max_size=6).map("".join),
)
#: a long value: it is shown clipped, with its length
long_text = st.integers(min_value=2500, max_value=6000).map(lambda n: "\x1b[31m" + "A" * n)
any_text = st.one_of(hostile, hostile, hostile, long_text)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), any_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)),
    max_leaves=8,
)
