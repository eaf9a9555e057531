"""One text in, the same text out with every third party's identifier replaced.

One pass of the release's automaton finds the directory's identifiers (and tells whether the
text holds a digit or an `@`; only then do the pattern finders run). A match counts only at a
word boundary: a Latin or digit edge must not touch a character of its own class ("u1" is not
in "u12", "minsu" is in "minsu_birthday.jpg" and "kim.minsu@"); a Hangul edge must not touch
Hangul on its left, and on its right only particles and endings (민수랑, 지훈이한테, 지수씨는),
so that a name never matches inside a common word (민수기). Overlaps go to the longest match;
a target's own identifier is kept and keeps shorter matches inside it from being replaced.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import unquote

from gateway.release.minimize import finders
from gateway.release.minimize.directory import AMBIGUOUS, CANDIDATE, TARGET, Directory, Entry
from gateway.release.minimize.fold import DIGIT, HANGUL, LETTER, char_class, fold
from gateway.release.pseudonyms import Pseudonymizer

# Korean particles and endings that may follow a name with no space between them.
PARTICLES = [
    "이",
    "가",
    "은",
    "는",
    "을",
    "를",
    "의",
    "도",
    "만",
    "께",
    "와",
    "과",
    "로",
    "랑",
    "야",
    "아",
    "씨",
    "님",
    "네",
    "요",
    "다",
    "형",
    "께서",
    "이랑",
    "하고",
    "한테",
    "에게",
    "에서",
    "으로",
    "까지",
    "부터",
    "보다",
    "처럼",
    "만큼",
    "한테서",
    "에게서",
    "이가",
    "이는",
    "이를",
    "이도",
    "이만",
    "이의",
    "이와",
    "이랑",
    "이한테",
    "이하고",
    "이에게",
    "이야",
    "이네",
    "이다",
    "이요",
    "이지",
    "이었",
    "였",
    "예요",
    "이에요",
    "오빠",
    "누나",
    "언니",
    "형님",
    "쌤",
    "선배",
    "후배",
    "씨가",
    "씨는",
    "씨를",
    "씨한테",
    "님이",
    "님은",
    "님께",
    "네가",
    "네는",
    "들",
    "이들",
    "이었어",
    "였어",
    "이래",
    "래",
    "나",
    "이나",
    "든",
    "이든",
    "든지",
    "이든지",
    "조차",
    "마저",
    "밖에",
    "더러",
    "보고",
    "며",
    "이며",
    "고",
    "이고",
    "라고",
    "이라고",
    "라는",
    "이라는",
    "란",
    "이란",
    "야말로",
    "이야말로",
    "에",
    "잖아",
    "이잖아",
    "니까",
    "이니까",
    "인데",
    "인가",
    "냐",
    "이냐",
    "지",
]
_PARTICLE_SET = frozenset(PARTICLES)
_PARTICLE_LONGEST = max(map(len, PARTICLES))
_PARTICLE_RUNS = frozenset(a + b for a in PARTICLES for b in ("", *PARTICLES))
_PRIORITY = {
    "name": 0,
    "account": 0,
    "email": 1,
    "matrix": 1,
    "phone": 2,
    "rrn": 3,
    "ssn": 3,
    "passport": 3,
    "card": 3,
    "number": 4,
    "handle": 5,
}

_WORD = re.compile(r"\S*%[0-9A-Fa-f]{2}\S*")

# (start, end, priority, replacement or None to keep, kind, resolved)
_Span = tuple[int, int, int, str | None, str, bool]


class TextMinimizer:
    """Replaces identifiers in text for one release; counts what it replaced, by kind."""

    def __init__(
        self,
        directory: Directory,
        pseudonyms: Pseudonymizer,
        regions: Sequence[str] = finders.DEFAULT_REGIONS,
    ) -> None:
        self._directory = directory
        self._iter = directory.automaton.iter
        self._get = directory.automaton.get
        self._pseudonyms = pseudonyms
        self._regions = tuple(regions)
        self._parses = finders.Parses()  # this release's libphonenumber readings
        self.replaced: dict[str, int] = {}

    def __call__(self, text: str) -> tuple[str, bool]:
        """(the text with identifiers replaced, whether one named someone no directory knows)."""
        if "%" in text:
            text, unresolved = self._percent_encoded(text)
            out, more = self._plain(text)
            return out, unresolved or more
        return self._plain(text)

    def _percent_encoded(self, text: str) -> tuple[str, bool]:
        """Identifiers percent-encoded in a URL or a file name (a Hangul name copied from the
        address bar, "%40bob%3Aexample.org" in a matrix.to link): each such word decoded; one
        that names someone leaves decoded, with them replaced."""
        unresolved = False

        def word(m: re.Match[str]) -> str:
            nonlocal unresolved
            encoded = m.group()
            try:
                decoded = unquote(encoded, errors="strict")
            except UnicodeDecodeError:  # not UTF-8: bytes, no name
                return encoded
            if decoded == encoded:
                return encoded
            out, named_stranger = self._plain(decoded)
            if out == decoded:
                return encoded
            unresolved = unresolved or named_stranger
            return out

        return _WORD.sub(word, text), unresolved

    def _plain(self, text: str) -> tuple[str, bool]:
        spans: list[_Span] | None = None
        candidates = False
        original, folded, origin = fold(text)
        for end, entry in self._iter(folded):
            if entry is CANDIDATE:
                candidates = True
                continue
            start = end + 1 - len(entry.pattern)
            if _bounded(folded, start, end + 1, entry):
                if spans is None:
                    spans = []
                spans.append((start, end + 1, 0, self._owner_pseudonym(entry), entry.kind, True))
        if candidates:
            found = self._findings(folded)
            if found:
                spans = found if spans is None else spans + found
        if not spans:
            return text, False
        return self._replace(original, spans, origin)

    def _owner_pseudonym(self, entry: Entry) -> str | None:
        if entry.owner == TARGET:
            return None
        if entry.owner is AMBIGUOUS:
            return self._pseudonyms.of_kind("name", entry.pattern)
        return self._pseudonyms(entry.owner)

    def _findings(self, folded: str) -> list[_Span]:
        spans: list[_Span] = []
        directory = self._directory
        if "@" in folded:
            for start, end, kind, value in finders.addresses(folded):
                if kind == "handle":
                    entry = self._get(value[1:], None)
                    known = isinstance(entry, Entry)
                    owner = entry.owner if isinstance(entry, Entry) else None
                else:
                    known = value in directory.exact
                    owner = directory.exact.get(value)
                spans.append(self._span(start, end, kind, value, known, owner))
        reach = finders.number_reach(folded)
        if not reach:
            return spans
        found = finders.numbers(folded, self._regions, self._known_phone, reach, self._parses)
        for start, end, kind, value in found:
            known, owner = False, None
            if kind in ("phone", "number"):
                raw = finders.raw_digits(folded[start:end])
                known, owner = directory.owner_of_phone(value if kind == "phone" else None, raw)
            spans.append(self._span(start, end, kind, value, known, owner))
        return spans

    def _known_phone(self, raw: str) -> bool:
        """Whether digits found in text are the phone of one person the release knows."""
        return self._directory.phones.get(raw, AMBIGUOUS) is not AMBIGUOUS

    def _span(
        self, start: int, end: int, kind: str, value: str, known: bool, owner: str | None
    ) -> _Span:
        priority = _PRIORITY[kind]
        if not known:
            return (start, end, priority, self._pseudonyms.of_kind(kind, value), kind, False)
        if owner == TARGET:
            return (start, end, priority, None, kind, True)
        if owner is AMBIGUOUS:
            return (start, end, priority, self._pseudonyms.of_kind(kind, value), kind, True)
        return (start, end, priority, self._pseudonyms(owner), kind, True)

    def _replace(self, text: str, spans: list[_Span], origin: list[int] | None) -> tuple[str, bool]:
        spans.sort(key=lambda s: (s[0], s[0] - s[1], s[2]))
        out: list[str] = []
        at = 0  # in folded text: the end of the last span taken
        copied = 0  # in the original: how far it has been copied out
        unresolved = False
        replaced = self.replaced
        for start, end, _, replacement, kind, resolved in spans:
            if start < at:
                continue  # inside (or overlapping) a longer match taken before
            at = end
            if replacement is None:
                continue  # a target's own: stays as written
            if origin is None:
                o_start, o_end = start, end
            else:
                o_start, o_end = origin[start], origin[end - 1] + 1
            out.append(text[copied:o_start])
            out.append(replacement)
            copied = o_end
            replaced[kind] = replaced.get(kind, 0) + 1
            unresolved = unresolved or not resolved
        if not out:
            return text, False
        out.append(text[copied:])
        return "".join(out), unresolved


def _bounded(folded: str, start: int, end: int, entry: Entry) -> bool:
    """Whether folded[start:end] (a match of entry) stands at word boundaries."""
    if start > 0:
        before = char_class(folded[start - 1])
        if before == entry.first and before in (LETTER, DIGIT, HANGUL):
            return False
    if end < len(folded):
        after = char_class(folded[end])
        if after == entry.last and after in (LETTER, DIGIT):
            return False
        if after == HANGUL and entry.last == HANGUL:
            stop = end
            while stop < len(folded) and char_class(folded[stop]) == HANGUL:
                stop += 1
            return _particles(folded[end:stop])
    return True


def _particles(run: str) -> bool:
    """Whether a run of Hangul is particles and endings one after another (민수한테도만): one
    or two from the table's pairs, more by splitting it."""
    if run in _PARTICLE_RUNS:
        return True
    ends = {0}  # the lengths of the run's prefixes that split into particles
    for i in range(len(run)):
        if i in ends:
            for n in range(1, _PARTICLE_LONGEST + 1):
                if run[i : i + n] in _PARTICLE_SET:
                    ends.add(i + n)
    return len(run) in ends
