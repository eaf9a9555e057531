"""Text as the matchers see it: NFKC, case-folded, invisible characters dropped, with a map back.

Matching runs on the folded text; replacements are made in the original, so each folded
character must say which original character it came from. ASCII text (most of it) folds one to
one with `lower()`; so does normalized text whose case folding keeps its length. Anything else
is folded character by character after NFC (canonically equivalent text: the same text by
Unicode's definition), and the map is kept.
"""

from __future__ import annotations

import re
import unicodedata

# Format characters that render as nothing (zero-width space and joiners, word joiner, BOM,
# soft hyphen): "Min\u200bsu" is still Minsu.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")

# Dashes NFKC keeps as they are ("010–9876–5432" with en dashes is still a phone number): as
# the ASCII hyphen, one character for one, so the map back is unchanged.
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58", "-"))
# Decimal digits of other scripts (Arabic-Indic, Devanagari, ...), which NFKC keeps: a phone
# number written in them is one all the same, and the finders (and the automaton's look-out
# for digits) read ASCII digits.
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
# Any of these: a text without them (nearly all) folds by casefold alone.
_SPECIAL = re.compile(
    "[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u2010-\u2015\u2212\ufe58]"
    r"|(?![0-9])\d"
)


def _ascii_digits(text: str) -> str:
    return _OTHER_DIGIT.sub(lambda m: str(unicodedata.decimal(m.group(), 0)), text)


HANGUL, DIGIT, LETTER, OTHER = 1, 2, 3, 0


def char_class(c: str) -> int:
    """Hangul, digit, other letter, or anything else: what a word boundary compares."""
    o = ord(c)
    if 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return HANGUL
    if c.isdigit():
        return DIGIT
    if c.isalpha():
        return LETTER
    return OTHER


def fold_simple(text: str) -> str:
    """The folded form of a pattern (a name, an id): no map needed."""
    folded = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()
    return _ascii_digits(folded.translate(_DASHES))


def fold(text: str) -> tuple[str, str, list[int] | None]:
    """(text, folded, origin): `origin[i]` is the index in `text` of folded character i, or
    None when they correspond one to one. `text` is the input, or its NFC form."""
    if text.isascii():
        return text, text.lower(), None
    if unicodedata.is_normalized("NFKC", text) and not _SPECIAL.search(text):
        folded = text.casefold()
        if len(folded) == len(text):
            return text, folded, None
    text = unicodedata.normalize("NFC", text)
    pieces: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(text):
        piece = (
            ""
            if _INVISIBLE.match(c)
            else _ascii_digits(unicodedata.normalize("NFKC", c).casefold().translate(_DASHES))
        )
        pieces.append(piece)
        origin.extend([i] * len(piece))
    return text, "".join(pieces), origin
