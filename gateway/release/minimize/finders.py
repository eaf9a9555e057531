"""Identifiers found by their form, whoever they belong to: phone numbers (libphonenumber),
e-mail addresses, Matrix ids, @handles, Korean resident (and foreigner) registration numbers,
Korean passport numbers, US social security numbers, payment card numbers, and any other long
run of digits (bank accounts and the like).

Each finder runs on folded text (gateway.release.minimize.fold) and yields
(start, end, kind, value): `value` is the identifier normalized (E.164, lower case) for the
directory look-up and the pseudonym. They run only on texts that hold a digit or an `@`, and the
number finders only where `may_hold_number` says one could match.

libphonenumber (~20 µs a parse) reads only the numbers it must: a candidate run whose digits are
the phone of someone the release knows (`known`) is theirs, and a run that is a Korean mobile
number as a whole (01X, three or four digits, four digits) is that number; either way without a
parse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

import phonenumbers

from gateway.model import MATRIX_USER_ID

Finding = tuple[int, int, str, str]
Valid = Callable[[str, Sequence[str]], str | None]  # a number's E.164 form, None if invalid
DEFAULT_REGIONS = ("KR", "US")

_EMAIL = re.compile(r"[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}")
_HANDLE = re.compile(r"(?<![\w@.])@[a-z0-9_][a-z0-9_.\-]*[a-z0-9_]")
# Candidate phone numbers: a digit, then digits and separators, at least seven digits in all.
_PHONE_RUN = re.compile(r"(?<![A-Za-z_\d])\+?\(?\d[\d\s().\-]{5,}\d(?![A-Za-z_])")
_RRN = re.compile(
    r"(?<!\d)(\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\s?[-\u2010-\u2015]?\s?[1-8]\d{6}(?!\d)"
)
# Korean passports: a type letter and eight digits (M12345678), as folded (lower case).
_PASSPORT = re.compile(r"(?<![a-z0-9])[mrsodg]\d{8}(?!\d)")
_SSN = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)")
_CARD = re.compile(r"(?<!\d)\d(?:[ \-]?\d){12,18}(?!\d)")
_LONG_NUMBER = re.compile(r"(?<!\d)\d(?:[ \-]?\d){9,}(?!\d)")
# Every number finder needs seven digits with nothing but separators between them, the first not
# glued to a word (phone runs, Korean mobiles), or eight with anything before them (the others):
# what a text must hold for `numbers` to find anything (tests/test_minimize.py).
_DIGIT_RUN = re.compile(r"\d[\d\s().\-\u2010-\u2015]*")
# The digits each finder's match holds at least (its pattern's \d count), all in one such run.
_RRN_DIGITS, _SSN_DIGITS, _PASSPORT_DIGITS, _CARD_DIGITS, _LONG_NUMBER_DIGITS = 13, 9, 8, 13, 10
# Numbers people write that are no phone number whatever libphonenumber reads in them: a date
# (2024-03-15, 2024.3.15, with a time after it), an amount in groups of three (100.000.000,
# 1 000 000), a decimal (3.141592653 and its fraction), and digits glued to a code's letters
# (ORD-2024-000123, #20240315, A1234567890). A known person's phone and a Korean mobile number
# are found before this is asked.
_DATE = re.compile(
    r"(?<!\d)(?:19|20)\d\d([\-./])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])(?!\d)"
)
_AMOUNT = re.compile(r"\d{1,3}(?:\.\d{3}){2,}|\d{1,3}(?: \d{3}){2,}")
_DECIMAL = re.compile(r"\d+\.\d+")
_CODE_BEFORE = re.compile(r"(?:[a-z][\-/]?|#|\d\.)$")
_WORD_EDGE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _luhn(number: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(number)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def addresses(folded: str) -> Iterator[Finding]:
    """E-mail addresses, Matrix ids and @handles (only called when the text holds an `@`)."""
    for m in _EMAIL.finditer(folded):
        yield m.start(), m.end(), "email", m.group()
    for m in MATRIX_USER_ID.finditer(folded):
        yield m.start(), m.end(), "matrix", m.group()
    for m in _HANDLE.finditer(folded):
        yield m.start(), m.end(), "handle", m.group()


def may_hold_number(folded: str) -> bool:
    """Whether `numbers` could find anything in the text: a run of digits and separators with
    eight digits, or seven not glued to a word (a few µs less than running them all)."""
    return number_reach(folded) > 0


def number_reach(folded: str) -> int:
    """The most digits one run of digits and separators holds, or 0 when `numbers` could find
    nothing (see may_hold_number). Every finder's match lies inside one such run and needs a
    number of digits (`numbers` skips those needing more than the text's reach)."""
    reach, may = 0, False
    for run in _DIGIT_RUN.finditer(folded):
        found = sum(map(str.isdigit, run.group()))
        if found > reach:
            reach = found
        if found >= 8 or (found == 7 and folded[run.start() - 1 : run.start()] not in _WORD_EDGE):
            may = True
    return reach if may else 0


def raw_digits(text: str) -> str:
    """A found number's digits as the directory looks them up: "00" (the international call
    prefix) read as "+"."""
    raw = _digits(text)
    return "+" + raw[2:] if raw.startswith("00") else raw


def numbers(
    folded: str,
    regions: Sequence[str],
    known: Callable[[str], bool] | None = None,
    reach: int | None = None,
    valid: Valid | None = None,
) -> list[Finding]:
    """Registration numbers, phone numbers (a known person's, a Korean mobile number, or valid
    in one of `regions`, or international, or a Korean mobile number's digits however they are
    grouped), then card numbers and long digit runs where none of those is (only called when
    the text holds a digit). `known(raw_digits)`: whether those digits are the phone of one
    person the release knows. `reach`: number_reach(folded), if the caller has it. `valid`:
    how a candidate is read (_valid, or a release's remembered Parses)."""
    found: list[Finding] = []
    # A finder whose match needs more digits than any run holds cannot match: not run.
    reach = number_reach(folded) if reach is None else reach
    dates = [(m.start(), m.end()) for m in _DATE.finditer(folded)]
    if reach >= _RRN_DIGITS:
        for m in _RRN.finditer(folded):
            found.append((m.start(), m.end(), "rrn", _digits(m.group())))
    if reach >= _SSN_DIGITS:
        for m in _SSN.finditer(folded):
            found.append((m.start(), m.end(), "ssn", _digits(m.group())))
    if reach >= _PASSPORT_DIGITS:
        for m in _PASSPORT.finditer(folded):
            found.append((m.start(), m.end(), "passport", m.group()))
    taken = [(a, b) for a, b, _, _ in found] + dates
    found += _phones(folded, regions, taken, known, _valid if valid is None else valid)
    other = [(a, b, "", "") for a, b in dates]
    if reach >= _CARD_DIGITS:
        for m in _CARD.finditer(folded):
            d = _digits(m.group())
            if (
                _luhn(d)
                and _free(found, m.start(), m.end())
                and _free(other, m.start(), m.end())
                and not _CODE_BEFORE.search(folded, max(0, m.start() - 2), m.start())
            ):
                found.append((m.start(), m.end(), "card", d))
    if reach >= _LONG_NUMBER_DIGITS:
        for m in _LONG_NUMBER.finditer(folded):
            if (
                _free(found, m.start(), m.end())
                and _free(other, m.start(), m.end())
                and not _CODE_BEFORE.search(folded, max(0, m.start() - 2), m.start())
            ):
                found.append((m.start(), m.end(), "number", _digits(m.group())))
    return found


def _free(found: list[Finding], start: int, end: int) -> bool:
    return not any(a < end and start < b for a, b, _, _ in found)


def _phones(
    folded: str,
    regions: Sequence[str],
    taken: list[tuple[int, int]],
    known: Callable[[str], bool] | None,
    valid: Valid,
) -> list[Finding]:
    """Candidate runs of digits and separators (seven digits at least, not glued to a word:
    "u0000385@" is no phone): a known person's number or a Korean mobile number as a whole,
    else read by libphonenumber group by group; then Korean mobile numbers grouped in a way it
    does not read."""
    found: list[Finding] = []
    blocked = [(a, b, "", "") for a, b in taken]
    for run in _PHONE_RUN.finditer(folded):
        if sum(c.isdigit() for c in run.group()) < 7:
            continue
        whole = _whole(folded, run, known)
        if whole is None and _no_phone(folded, run):
            continue
        taken_here = blocked + found
        for finding in [whole] if whole else _grouped(run, regions, taken_here, valid):
            if _free(found, finding[0], finding[1]) and _free(blocked, finding[0], finding[1]):
                found.append(finding)
    for m in _KR_MOBILE.finditer(folded):
        # grouped in a way libphonenumber does not read, e.g. "(010) 8154-1459"
        if _free(found, m.start(), m.end()) and _free(blocked, m.start(), m.end()):
            found.append((m.start(), m.end(), "phone", "+82" + _digits(m.group())[1:]))
    return found


def _no_phone(folded: str, run: re.Match[str]) -> bool:
    """Whether a candidate run is a number of another kind: an amount, a decimal, or part of a
    code (dates are blocked as spans: a phone may follow one in the same run; amounts and
    decimals are also skipped group by group in _grouped)."""
    return _not_phone_text(run.group()) or bool(
        _CODE_BEFORE.search(folded, max(0, run.start() - 2), run.start())
    )


def _not_phone_text(text: str) -> bool:
    text = text.strip(" .-")
    return bool(_AMOUNT.fullmatch(text) or _DECIMAL.fullmatch(text))


def _whole(folded: str, run: re.Match[str], known: Callable[[str], bool] | None) -> Finding | None:
    """The run as one phone number without libphonenumber, when it is one: a person's the
    release knows (its digits are theirs), or a Korean mobile number standing alone (no digit
    touching it: "+82" and its digits without the leading 0, what libphonenumber makes of it)."""
    start, end = run.start(), run.end()
    text = run.group()
    if text.startswith("(") and ")" not in text:  # as _grouped reads it
        text, start = text[1:], start + 1
    raw = raw_digits(text)
    if known is not None and known(raw):
        return (start, end, "phone", raw)
    if (
        _KR_MOBILE_WHOLE.fullmatch(text)
        and not folded[start - 1 : start].isdigit()
        and not folded[end : end + 1].isdigit()
    ):
        return (start, end, "phone", "+82" + raw[1:])
    return None


def _grouped(
    match: re.Match[str], regions: Sequence[str], taken: list[Finding], valid: Valid
) -> list[Finding]:
    """Phone numbers in a candidate run, which may hold several ("+1 (415) 555-1000
    010-2222-3333"): at each white-space separated group, the longest valid number of up to
    five groups that overlaps nothing `taken` (a registration number before it), left to
    right."""
    run, offset = match.group(), match.start()
    groups = [(m.start(), m.end()) for m in re.finditer(r"\S+", run)]
    found: list[Finding] = []
    i = 0
    while i < len(groups):
        for j in range(min(len(groups), i + 5), i, -1):
            start, end = groups[i][0], groups[j - 1][1]
            text = run[start:end].rstrip(".,")
            if text.endswith(")") and "(" not in text:
                text = text[:-1]
            if text.startswith("(") and ")" not in text:
                text, start = text[1:], start + 1
            if not 7 <= sum(c.isdigit() for c in text) <= 15:
                continue
            if not _free(taken, offset + start, offset + start + len(text)):
                continue
            if _not_phone_text(text):
                continue
            number = valid(text, regions)
            if number is not None:
                found.append((offset + start, offset + start + len(text), "phone", number))
                i = j
                break
        else:
            i += 1
    return found


def _valid(text: str, regions: Sequence[str]) -> str | None:
    """The E.164 form of `text` if libphonenumber reads it as a valid number of one of
    `regions` (tried in order), else None."""
    for region in regions:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


class Parses:
    """_valid, remembered for one release (its TextMinimizer holds it, and it goes with the
    release: no number outlives the release in memory). A parse costs 20-100 µs, and the
    numbers people write recur (the same contact's number in many messages)."""

    LIMIT = 4096  # numbers remembered; past it, each new one is parsed and not kept

    def __init__(self) -> None:
        self._known: dict[tuple[str, tuple[str, ...]], str | None] = {}

    def __call__(self, text: str, regions: Sequence[str]) -> str | None:
        key = (text, tuple(regions))
        if key in self._known:
            return self._known[key]
        found = _valid(text, regions)
        if len(self._known) < self.LIMIT:
            self._known[key] = found
        return found


_KR_MOBILE = re.compile(
    r"(?<![\dA-Za-z_])(?:\(01[016789]\)|01[016789])[\s.\-]?\d{3,4}[\s.\-]?\d{4}(?!\d)"
)
_KR_MOBILE_WHOLE = re.compile(r"(?:\(01[016789]\)|01[016789])[\s.\-]?\d{3,4}[\s.\-]?\d{4}")
