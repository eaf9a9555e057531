"""Input validation at the edge: text is normalized, identifiers are checked for tricks.

Everything a caller sends that ends up in the warrant book or the audit log passes here first,
so one rule holds everywhere: Unicode NFC (two spellings of one name are one name), no control
or invisible formatting characters, and no identifier that mixes scripts (a Cyrillic "а" inside
a Latin account id is how a look-alike target is smuggled past a reviewer). Errors are
InvalidArgument naming the field.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from gateway.errors import InvalidArgument

MAX_WINDOW = dt.timedelta(days=366 * 10)  # a window longer than this is a typo, not a warrant


def text(field: str, value: str, max_len: int, multiline: bool = False) -> str:
    """NFC-normalized free text without control or invisible characters."""
    value = unicodedata.normalize("NFC", value)
    if len(value) > max_len:
        raise InvalidArgument(f"{field}: longer than {max_len} characters")
    for ch in value:
        if multiline and ch in "\n\t":
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise InvalidArgument(f"{field}: contains the invisible or control character U+{ord(ch):04X}")
    return value


def identifier(field: str, value: str, max_len: int = 320) -> str:
    """Like text, and the letters must all come from one script (plus digits and punctuation)."""
    value = text(field, value, max_len)
    scripts = {unicodedata.name(ch, "UNKNOWN").split()[0] for ch in value if ch.isalpha()}
    if len(scripts) > 1:
        raise InvalidArgument(
            f"{field}: mixes scripts ({', '.join(sorted(scripts)).lower()}); look-alike "
            "characters are refused in identifiers"
        )
    return value


def window(field: str, start: dt.datetime, end: dt.datetime,
           longest: dt.timedelta = MAX_WINDOW) -> None:
    """Half-open [start, end), both UTC, start before end, and bounded."""
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None or value.utcoffset() != dt.timedelta(0):
            raise InvalidArgument(f"{field}.{name}: must be in UTC")
    if not start < end:
        raise InvalidArgument(f"{field}: start must be before end")
    if end - start > longest:
        raise InvalidArgument(f"{field}: longer than {longest.days} days")
