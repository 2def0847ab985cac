"""What "inert" means, as tests check it: no raw control in text, nothing live in Markdown as GitHub
renders it (cmark-gfm, GitHub's own parser, with raw HTML let through as GitHub lets it through
before sanitising)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import cmarkgfm
from cmarkgfm.cmark import Options as CmarkOptions

from dcrsync.guards import inert

#: the line the hostile strings try to forge
FORGED = "  + create evil"


def assert_no_raw_control(text: str, lines: bool = True) -> None:
    """Newlines and tabs (the state list's columns) are dcrsync's own; strings have none left."""
    bad = sorted({f"U+{ord(c):04X}" for c in text if c not in "\n\t" and inert.unsafe(c)})
    assert not bad, f"raw control or invisible characters in the output: {bad}"
    if lines:  # every line is dcrsync's own: none may come from a string
        assert not any(line.startswith(FORGED) for line in text.split("\n")), "a server string forged a line"


class _Html(HTMLParser):
    """What GitHub's renderer made of a body: its tags and attributes, and its text outside code."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.in_code = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        self.in_code += tag in ("code", "pre")

    def handle_endtag(self, tag):
        self.in_code -= tag in ("code", "pre") and self.in_code > 0

    def handle_data(self, data):
        if not self.in_code:  # GitHub links no mention or issue reference inside code
            self.text.append(data)


#: what dcrsync's own Markdown produces; anything else came alive from a string
OWN_TAGS = {"p", "h3", "h4", "code", "b", "i", "sub", "br", "details", "summary", "table", "thead", "tbody", "tr",
            "th", "td", "blockquote", "strong", "em", "ul", "li", "pre"}
OWN_ATTRIBUTES = {("details", "open"), ("th", "align"), ("td", "align"), ("pre", "lang")}


def assert_inert_markdown(body: str, lines: bool = True) -> None:
    """`lines` False: the body quotes lines of text as they are (a failed step's error output)."""
    assert_no_raw_control(body, lines)
    html = cmarkgfm.github_flavored_markdown_to_html(body, options=CmarkOptions.CMARK_OPT_UNSAFE)
    parsed = _Html()
    parsed.feed(html)
    tags = {tag for tag, _ in parsed.tags}
    assert tags <= OWN_TAGS, f"live markup from a string: {sorted(tags - OWN_TAGS)}"
    attrs = {name for tag, attrs in parsed.tags for name, _ in attrs if (tag, name) not in OWN_ATTRIBUTES}
    assert not attrs, f"attributes from a string: {attrs}"
    text = "".join(parsed.text)
    assert not re.search(r"(?<![\w@])@[A-Za-z0-9]", text), "a live @mention"
    assert not re.search(r"(?<![\w#&])#[0-9]", text), "a live issue reference"
