"""The people one release could mention, as one Aho-Corasick automaton plus exact look-ups.

Built once per release from `Store.directory(scope)`. The automaton holds every name-like
identifier (account ids, handles, display names and their variants, contact labels, e-mail
addresses and Matrix ids as written) in folded form; phone numbers are compared as E.164 and
as digits after the pattern finders found them. Each pattern resolves to one owner: a target
(its identifiers stay in clear, and a pattern a target shares with someone else stays too: it
is the target's own name), one third party (replaced by that person's pseudonym), or several
third parties (replaced by a pseudonym of the name itself, so nobody is misattributed).

The automaton also holds the characters that can start a pattern-found identifier (digits and
`@`): the one pass over a text that looks for names tells whether the costlier finders must run.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

import ahocorasick

from gateway.model import Person
from gateway.model.names import SURNAMES
from gateway.release.minimize.fold import HANGUL, char_class, fold_simple
from gateway.release.minimize.romanize import romanized

TARGET = ""  # the owner of a pattern that stays in clear
AMBIGUOUS = None  # the owner of a pattern several third parties share
CANDIDATE = object()  # the automaton value of a character that starts a pattern-found identifier
CANDIDATE_CHARS = "0123456789@"

_TOKEN = re.compile(r"[^\W_]+")


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One pattern: whose it is, which kind of identifier, and its edge classes."""

    owner: str | None  # TARGET, an account id, or AMBIGUOUS
    kind: str  # name | account | email | matrix | phone
    pattern: str
    first: int
    last: int


def name_variants(name: str) -> set[str]:
    """A display name or label as people write it: the whole, its tokens joined the ways user
    names and file names join them, surname and given name swapped, and the given name alone
    (a Hangul name's syllables after a one-syllable surname; Latin tokens but surnames)."""
    whole = " ".join(fold_simple(name).split())
    out = {whole}
    tokens = _TOKEN.findall(whole)
    if len(tokens) > 1:
        orders = [tokens, tokens[::-1]] if len(tokens) == 2 else [tokens]
        for order in orders:
            out.update(sep.join(order) for sep in ("", " ", ".", "_", "-"))
    for token in tokens:
        if char_class(token[0]) == HANGUL:
            if len(token) in (3, 4):
                out.add(token[len(token) - 2 :])  # 김민수 -> 민수, 남궁민수 -> 민수
            if len(token) >= 2 and len(tokens) > 1:
                out.add(token)
        elif len(tokens) > 1 and len(token) >= 3 and token not in SURNAMES:
            out.add(token)
    return {v for v in out if len(v) >= 2}


def label_variants(label: str) -> set[str]:
    """A contact label names its person whole ("Minsu (work)"), and by its capitalized Latin
    words ("Minsu"); its other words ("work", "my") name nobody."""
    out = {" ".join(fold_simple(label).split())}
    out.update(fold_simple(t) for t in _TOKEN.findall(label) if t[:1].isupper() and len(t) >= 3)
    out.update(v for v in name_variants(label) if v and char_class(v[0]) == HANGUL and " " not in v)
    return {v for v in out if len(v) >= 2 and v not in SURNAMES}


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


class Directory:
    """What one release's minimizer knows of people; built once, then read only."""

    def __init__(self, people: Iterable[Person], targets: frozenset[str]) -> None:
        owners: dict[tuple[str, str], set[str]] = {}  # (pattern, kind) -> accounts
        self.phones: dict[str, str | None] = {}  # E.164 or national digits -> owner
        self.exact: dict[str, str | None] = {}  # folded e-mail / Matrix id -> owner
        for person in people:
            account = person.account
            owner = TARGET if account in targets else account
            patterns: list[tuple[str, str]] = [(fold_simple(account), "account")]
            patterns += [(fold_simple(h), "account") for h in person.handles]
            patterns += [(v, "name") for n in person.names for v in name_variants(n)]
            patterns += [
                (v, "name")
                for n in person.names
                for latin in romanized(fold_simple(n).replace(" ", ""))
                for v in name_variants(latin)
            ]
            patterns += [(v, "name") for n in person.labels for v in label_variants(n)]
            for email in person.emails:
                patterns.append((fold_simple(email), "email"))
                _claim(self.exact, fold_simple(email), owner)
            if account.startswith("@"):
                _claim(self.exact, fold_simple(account), owner)
            for phone in person.phones:
                for form in _phone_forms(phone):
                    _claim(self.phones, form, owner)
            for pattern, kind in patterns:
                if len(pattern) >= 2:
                    owners.setdefault((pattern, kind), set()).add(owner)
        automaton = ahocorasick.Automaton()
        by_pattern: dict[str, Entry] = {}
        # exact ids (account, email) sort before names: an id is never lost to a name variant
        for (pattern, kind), who in sorted(owners.items()):
            resolved = _one(who)
            known = by_pattern.get(pattern)
            if known is not None:  # the same text as two kinds of identifier
                if known.kind != "name" and kind == "name":
                    continue  # someone's exact id beats a name variant derived for another
                resolved = _merge(known.owner, resolved)
            by_pattern[pattern] = Entry(
                resolved, kind, pattern, char_class(pattern[0]), char_class(pattern[-1])
            )
        for pattern, entry in by_pattern.items():
            automaton.add_word(pattern, entry)
        for c in CANDIDATE_CHARS:
            if c not in by_pattern:
                automaton.add_word(c, CANDIDATE)
        automaton.make_automaton()
        self.automaton = automaton
        self.size = len(by_pattern)

    def owner_of_phone(self, e164: str | None, raw_digits: str) -> tuple[bool, str | None]:
        """(known, owner) of a phone number found in text, by E.164 or by its digits."""
        for key in (e164, raw_digits):
            if key and key in self.phones:
                return True, self.phones[key]
        return False, None


def _phone_forms(phone: str) -> list[str]:
    """A stored phone as E.164 and as national digits (+82 10... -> 010...; +1 415... ->
    415...), the ways the finders' findings are looked up."""
    d = digits(phone)
    forms = ["+" + d if phone.strip().startswith("+") else d, d]
    if phone.strip().startswith("+82") and len(d) > 2:
        forms.append("0" + d[2:])
    if phone.strip().startswith("+1") and len(d) == 11:
        forms.append(d[1:])
    return forms


def _claim(table: dict[str, str | None], key: str, owner: str) -> None:
    table[key] = _merge(table[key], owner) if key in table else owner


def _merge(a: str | None, b: str | None) -> str | None:
    if a == TARGET or b == TARGET:
        return TARGET
    return a if a == b else AMBIGUOUS


def _one(owners: set[str]) -> str | None:
    if TARGET in owners:
        return TARGET
    return next(iter(owners)) if len(owners) == 1 else AMBIGUOUS


__all__ = ["AMBIGUOUS", "CANDIDATE", "TARGET", "Directory", "Entry", "name_variants"]
