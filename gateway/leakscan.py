"""The guarantee-1 scan: a second, independent look at released bytes for third parties.

It shares no code with the text minimizer (gateway.release.minimize): it starts from every
person the store knows (`Store.everyone()`, not the release's directory), searches released
text for each identifier of each non-target person with plain regular expressions, and runs
its own crude finders for anything shaped like an e-mail address, a Matrix user or room id,
a resident registration number or a long phone-like number that is not a pseudonym and not a
target's own. Stricter than the minimizer where that is cheap (a phone is compared by its
digits, whatever the grouping); it is meant for tests: every release made through
gateway.testing is scanned, and a finding fails the test.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import unquote

from gateway.model import Person
from gateway.model.names import SURNAMES

_PSEUDONYM = re.compile(r"pseud(?:-[a-z]+)?:[a-z2-7]{24}")
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_MATRIX_USER = re.compile(r"@[a-z0-9._=\-/]+:[a-z0-9.\-]+")
_MATRIX_ROOM = re.compile(r"![a-z0-9]+:[a-z0-9.\-]+")
_RRN = re.compile(r"(?<!\d)\d{6}\s?-?\s?[1-8]\d{6}(?!\d)")
_DIGIT_RUN = re.compile(r"(?<![\w])\+?[\d][\d\s().\-]{7,}\d(?![\w])")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
# A dotted quad is an IPv4 address (a login's, say), not a phone number however many digits.
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


# Characters that render as nothing, and dashes NFKC keeps: "민\u200d수", "010–9876–5432".
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_DASHES = re.compile("[\u2010-\u2015\u2212\ufe58]")
_OTHER_DIGITS = re.compile(r"(?![0-9])\d")  # Arabic-Indic, Devanagari, ...: as ASCII digits


def _fold(text: str) -> str:
    """NFKC, case folded, invisible characters dropped, dashes as "-", other scripts' digits
    as ASCII, percent-encoding undone (a name in a URL: "%EB%AF%BC%EC%88%98" is 민수)."""
    text = unicodedata.normalize("NFKC", text)
    if "%" in text:
        text = unquote(text)
    text = _OTHER_DIGITS.sub(lambda m: str(unicodedata.decimal(m.group())), text)
    return _DASHES.sub("-", _INVISIBLE.sub("", text)).casefold()


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _phone_keys(phone: str) -> set[str]:
    """A phone number's digits as people write them: international, national with its
    trunk 0 (+82 10 ... -> 010...), national without (+1 415... -> 415...)."""
    d = _digits(phone)
    keys = {d}
    if d.startswith("82"):
        keys.add("0" + d[2:])
    if d.startswith("1") and len(d) == 11:
        keys.add(d[1:])
    return {k for k in keys if len(k) >= 8}


def _name_needles(name: str) -> set[str]:
    folded = " ".join(_fold(name).split())
    needles = {folded}
    for token in re.findall(r"[^\W_]+", folded):
        if _HANGUL.match(token) and len(token) == 3:
            needles.add(token[1:])  # 김민수 -> 민수
    return {n for n in needles if len(n) >= 2}


class LeakScanner:
    """Finds third parties' identifiers in text released under a warrant for `targets`."""

    def __init__(self, everyone: Iterable[Person], targets: Iterable[str]) -> None:
        targets = set(targets)
        mine: set[str] = set()
        mine_phones: set[str] = set()
        theirs: dict[str, str] = {}  # folded needle -> "account: kind"
        phones: dict[str, str] = {}
        for person in everyone:
            own = person.account in targets
            needles: list[tuple[str, str]] = [(_fold(person.account), "account id")]
            needles += [(_fold(h), "handle") for h in person.handles]
            needles += [(_fold(e), "e-mail") for e in person.emails]
            needles += [(n, "name") for name in person.names for n in _name_needles(name)]
            needles += [(_fold(label), "contact label") for label in person.labels]
            # A romanized surname alone ("Park") names a fifth of a country, not one person: no
            # finding on its own (the full name, or the label in a contact record, still is).
            needles = [(n, kind) for n, kind in needles if n not in SURNAMES]
            for needle, kind in needles:
                if own:
                    mine.add(needle)
                elif len(needle) >= 2:
                    theirs.setdefault(needle, f"{person.account}'s {kind}")
            for phone in person.phones:
                for key in _phone_keys(phone):
                    if own:
                        mine_phones.add(key)
                    else:
                        phones.setdefault(key, f"{person.account}'s phone")
        self._mine = mine
        self._mine_phones = mine_phones
        self._phones = {k: v for k, v in phones.items() if k not in mine_phones}
        needles_out = {n: w for n, w in theirs.items() if n not in mine and not _inside(n, mine)}
        self._patterns = [
            (re.compile(_bounded(needle)), what) for needle, what in sorted(needles_out.items())
        ]

    def scan(self, text: str) -> list[str]:
        """Every third-party identifier in `text`, each as 'what (as found)'."""
        folded = _PSEUDONYM.sub(" ", _fold(text))
        found = [f"{what} {m.group()!r}" for p, what in self._patterns for m in p.finditer(folded)]
        for m in _EMAIL.finditer(folded):
            if m.group() not in self._mine:
                found.append(f"an e-mail address {m.group()!r}")
        for m in _MATRIX_USER.finditer(folded):
            if m.group() not in self._mine:
                found.append(f"a Matrix user id {m.group()!r}")
        for m in _MATRIX_ROOM.finditer(folded):
            found.append(f"a Matrix room id {m.group()!r}")
        for m in _RRN.finditer(folded):
            found.append(f"a registration number {m.group()!r}")
        for m in _DIGIT_RUN.finditer(folded):
            if _IPV4.fullmatch(m.group()):
                continue
            digits = _digits(m.group())
            if digits in self._mine_phones or _digits(m.group().lstrip("+")) in self._mine_phones:
                continue
            if digits in self._phones:
                found.append(f"{self._phones[digits]} {m.group()!r}")
            elif len(digits) >= 10:
                found.append(f"a phone-like number {m.group()!r}")
        return sorted(set(found))


def _inside(needle: str, mine: set[str]) -> bool:
    """A name part a target's own name contains ("minsu" in the target's "kim minsu") leaves
    with the target's name: not a finding on its own."""
    return any(needle in own for own in mine if " " in own or _HANGUL.match(own))


def _bounded(needle: str) -> str:
    """Latin and digits at word boundaries; Hangul not preceded by Hangul."""
    body = re.escape(needle)
    left = "(?<![\uac00-\ud7a3])" if _HANGUL.match(needle[0]) else r"(?<![a-z0-9])"
    right = "" if _HANGUL.match(needle[-1]) else r"(?![a-z0-9])"
    return left + body + right
