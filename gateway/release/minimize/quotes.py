"""Matrix reply fallbacks: the quoted message a reply's `body` and `formatted_body` may carry.

The rules are the Matrix client-server spec's, "Rich replies" (fallbacks were dropped from new
events in v1.13; clients still strip them from old ones): in `body`, the lines at the start that
begin with `> `, up to the first line that does not; in `formatted_body`, an `<mx-reply>`
element the text begins with, whole. The fallback's first line names the quoted sender
(`> <@bob:example.org> ...`); that id is returned for the marker when the store could not
name the quoted event's sender.
"""

from __future__ import annotations

import re

_SENDER = re.compile(r"> (?:\* )?<(@[^>\s]+)>")
_TAG = re.compile(r"</?mx-reply\s*>", re.IGNORECASE)


def strip_body(body: str) -> tuple[str, str | None, bool]:
    """(the body without its fallback, the quoted sender the fallback names, whether there
    was one)."""
    if not body.startswith("> "):
        return body, None, False
    lines = body.split("\n")
    n = 0
    while n < len(lines) and lines[n].startswith("> "):
        n += 1
    sender = _SENDER.match(lines[0])
    rest = lines[n:]
    if rest and rest[0] == "":  # the blank line that separates the fallback from the reply
        rest = rest[1:]
    return "\n".join(rest), sender.group(1) if sender else None, True


def strip_html(html: str) -> tuple[str, bool]:
    """(the HTML without a leading <mx-reply> element, whether there was one). Nested
    elements (a reply quoting a reply) are removed with it; an unclosed one takes the rest."""
    if not html.lstrip().lower().startswith("<mx-reply"):
        return html, False
    depth = 0
    for tag in _TAG.finditer(html):
        depth += -1 if tag.group().startswith("</") else 1
        if depth == 0:
            return html[tag.end() :], True
    return "", True
