"""The text minimizer: no third party in clear in any released text (DESIGN guarantee 1).

fold        text as the matchers see it (NFKC, case folded), with a map back
directory   the release's people as one Aho-Corasick automaton, built once per release
finders     identifiers found by their form: phones (libphonenumber), e-mail, Matrix ids,
            handles, registration, card and other long numbers
quotes      Matrix reply fallbacks (the spec's stripping rules)
text        one text in, the same text with identifiers replaced out
record      a released record's fields, by the store's RecordShape and the policy's text mode
"""

from __future__ import annotations

from gateway.release.minimize.directory import Directory
from gateway.release.minimize.record import (
    TEXT_WITHHELD,
    UNRESOLVED_WITHHELD,
    Plan,
    RecordMinimizer,
    plans,
)
from gateway.release.minimize.text import TextMinimizer

__all__ = [
    "TEXT_WITHHELD",
    "UNRESOLVED_WITHHELD",
    "Directory",
    "Plan",
    "RecordMinimizer",
    "TextMinimizer",
    "plans",
]
