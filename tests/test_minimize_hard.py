"""The minimizer against a reviewer's corpus (tests/minimizer_corpus_hard.py), through the
record minimizer the release pipeline calls, checked by finders of this file's own and by the
guarantee-1 leak scan: neither shares code with the minimizer.

Recall per kind is the share of planted identifiers of which nothing is left in clear (and, for a
person the store knows, that their pseudonym stands in the record); ordinary words changed is
the share of words of ordinary messages that did not leave as written.
"""

from __future__ import annotations

import collections
import copy
import re
import unicodedata
from urllib.parse import unquote

import pytest
from minimizer_corpus_hard import WORDS_EN, WORDS_KO, Record, corpus

from gateway.leakscan import LeakScanner
from gateway.model import Category, Person, TextMode
from gateway.release.minimize import RecordMinimizer, plans
from gateway.release.pseudonyms import Pseudonymizer
from gateway.stores.synapse.store import SHAPES

SECRET = b"r" * 32
PLAN = plans(SHAPES)[Category.MESSAGE_CONTENT]
FIELDS = ("body", "formatted_body", "filename")
GOAL = 1.0  # every kind: names, Matrix ids, mentions, e-mails, phones, resident numbers, quotes
ORDINARY_GOAL = 0.005

# This file's own view of text: compatibility forms, case, invisible characters, dashes,
# percent-encoding all undone, pseudonyms blanked out.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_DASH = re.compile("[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")
_PSEUDONYM = re.compile(r"pseud(?:-[a-z]+)?:[a-z2-7]{24}")
_NUMBER_RUN = re.compile(r"[\d+][\d\s().\-+]*")
_TRAPS = sorted({w.casefold() for w in WORDS_KO + WORDS_EN}, key=len, reverse=True)
_TRAP_WORDS = re.compile("|".join(re.escape(w) for w in WORDS_KO if not w.isascii()))


def _view(text: str) -> str:
    text = unquote(_INVISIBLE.sub("", unicodedata.normalize("NFKC", text)))
    return _PSEUDONYM.sub(" ", _DASH.sub("-", text).casefold())


def _digit_runs(view: str) -> list[str]:
    return ["".join(c for c in m.group() if c.isdigit()) for m in _NUMBER_RUN.finditer(view)]


def _left_in_clear(kind: str, surface: str, view: str) -> bool:
    if kind in ("phone", "rrn"):
        digits = "".join(c for c in _view(surface) if c.isdigit())
        key = digits[-10:] if kind == "phone" else digits  # national significant digits
        return any(key in run for run in _digit_runs(view))
    needle = _view(surface)
    for trap in _TRAPS:  # ordinary words the filler put there (민수기 holds 민수)
        if needle in trap and needle != trap:
            view = view.replace(trap, " ")
    if needle.isascii():
        return re.search(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])", view) is not None
    return needle in view


@pytest.fixture(scope="module")
def world() -> tuple[Person, list[Person], list[Record]]:
    return corpus()


def _released(
    target: Person, others: list[Person], records: list[Record], warrant: str
) -> tuple[list[dict[str, object]], RecordMinimizer, Pseudonymizer]:
    pseudonyms = Pseudonymizer(SECRET, warrant)
    m = RecordMinimizer(
        lambda: [target, *others], frozenset({target.account}), pseudonyms, ("KR", "US")
    )
    out = []
    for record in records:
        payload = copy.deepcopy(record.payload)
        m.apply(payload, record.people, PLAN, TextMode.PSEUDONYMIZE)
        out.append(payload)
    return out, m, pseudonyms


def test_recall_per_kind_and_ordinary_words_kept(world: tuple) -> None:
    target, others, records = world
    assert len(records) >= 2000
    released, m, pseudonyms = _released(target, others, records, "w-hard")
    scanner = LeakScanner([target, *others], {target.account})
    planted: collections.Counter[str] = collections.Counter()
    caught: collections.Counter[str] = collections.Counter()
    misses: list[tuple[str, str, str]] = []
    scan_findings: list[str] = []
    words = changed = 0
    for record, payload in zip(records, released, strict=True):
        if record.ordinary:
            before, after = str(record.payload["body"]).split(), str(payload["body"]).split()
            words += len(before)
            changed += (
                sum(a != b for a, b in zip(before, after, strict=True))
                if len(before) == len(after)
                else len(before)
            )
            continue
        out = "\n".join(str(payload[f]) for f in FIELDS if payload.get(f) is not None)
        # The scan reads a Hangul name with no right boundary and any ten digits as a phone:
        # not the filler's words (민수기) nor its dates, decimals and codes.
        scanned = _TRAP_WORDS.sub(" ", out)
        for number in record.numbers:
            scanned = scanned.replace(number, " ")
        scan_findings += scanner.scan(scanned)
        view = _view(out)
        for p in record.planted:
            planted[p.kind] += 1
            if p.kind == "quote":
                ok = not _left_in_clear("name", p.surface, view) and (
                    f"[quote of {pseudonyms(p.owner)} withheld]" in out if p.owner else True
                )
            else:
                ok = not _left_in_clear(p.kind, p.surface, view) and (
                    p.owner is None or pseudonyms(p.owner) in out or "pseud-name:" in out
                )
            if ok:
                caught[p.kind] += 1
            else:
                misses.append((p.kind, p.surface, out))
    recall = {kind: caught[kind] / n for kind, n in planted.items()}
    share = changed / words
    print(f"\nhard corpus: {len(records)} records, {sum(planted.values())} planted")
    for kind in sorted(planted):
        print(f"  recall {kind:8} {recall[kind]:.4f} ({caught[kind]}/{planted[kind]})")
    print(f"  ordinary words changed {share:.4%} ({changed}/{words})")
    print(f"  leak-scan findings in planted records: {len(scan_findings)}")
    print(f"  replaced by kind {dict(sorted(m.replaced.items()))}, quotes {m.quotes_withheld}")
    for miss in misses[:80]:
        print("  MISS", repr(miss)[:260])
    assert not misses[:8], misses[:8]
    assert all(r >= GOAL for r in recall.values()), recall
    assert share < ORDINARY_GOAL, share
    assert not scan_findings[:8], scan_findings[:8]


def test_ordinary_numbers_and_the_targets_own_leave_as_written(world: tuple) -> None:
    """Dates, times, amounts, decimals, order codes, and the target's own name, e-mail and
    phone: not one of them is replaced."""
    target, others, records = world
    ordinary = [r for r in records if r.ordinary]
    released, m, _ = _released(target, others, ordinary, "w-hard")
    changed = [
        (r.payload["body"], p["body"])
        for r, p in zip(ordinary, released, strict=True)
        if p["body"] != r.payload["body"]
    ]
    assert not changed[:5], changed[:5]
    assert not m.replaced


def test_two_warrants_share_no_pseudonym(world: tuple) -> None:
    """The same corpus under two warrants: no pseudonym of the one appears in the other."""
    target, others, records = world
    sample = [r for r in records if not r.ordinary][:300]
    a, _, _ = _released(target, others, sample, "w-one")
    b, _, _ = _released(target, others, sample, "w-two")

    def found(released: list[dict[str, object]]) -> set[str]:
        return {
            p.group()
            for payload in released
            for value in payload.values()
            if isinstance(value, str)
            for p in _PSEUDONYM.finditer(value)
        }

    one, two = found(a), found(b)
    assert one and two and one.isdisjoint(two)
