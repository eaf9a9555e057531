"""The text minimizer's shortcuts find what the full finders find.

`may_hold_number` decides whether the number finders run at all: it must say yes to every text
they would find something in; `numbers` skips each finder needing more digits than the text's
longest run holds (`number_reach`): it must find what running them all finds. A candidate run
that is a known person's phone, or a Korean mobile number standing alone, is read without
libphonenumber: it must come out as the full reading would have it.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.model import Person
from gateway.release.minimize import Directory, TextMinimizer, finders
from gateway.release.minimize.directory import CANDIDATE_CHARS
from gateway.release.minimize.fold import fold
from gateway.release.pseudonyms import Pseudonymizer

REGIONS = finders.DEFAULT_REGIONS
SEPARATOR = st.sampled_from(["", "", " ", "-", ".", "(", ")", "\u2010", "  ", "-\u2015"])
NUMBERISH = st.lists(
    st.one_of(st.text("0123456789", min_size=1, max_size=5), SEPARATOR), max_size=10
).map("".join)
# Around the numbers: words glued or not, @ and +, Hangul, other digits.
TEXTS = st.lists(
    st.one_of(NUMBERISH, st.sampled_from(["u", "m", "x_", "ab", " ", "@", "+", "이야", "٣", "\n"])),
    max_size=8,
).map("".join)

LONG_NUMBERISH = st.lists(
    st.one_of(st.text("0123456789", min_size=1, max_size=8), SEPARATOR), max_size=12
).map("".join)


class TestMayHoldNumber:
    @settings(max_examples=2000, deadline=None)
    @given(TEXTS)
    def test_says_yes_wherever_a_finder_finds_a_number(self, text: str) -> None:
        """What the number finders find in a text, they find only if the prefilter passes it."""
        if finders.numbers(text, REGIONS):
            assert finders.may_hold_number(text), text

    @settings(max_examples=2000, deadline=None)
    @given(st.one_of(TEXTS, LONG_NUMBERISH, st.tuples(TEXTS, LONG_NUMBERISH).map("".join)))
    def test_skipping_by_reach_finds_what_every_finder_finds(self, text: str) -> None:
        """Registration, card and long numbers included: the finders a text's reach skips
        would have found nothing in it."""
        assert finders.number_reach(text) == 0 or finders.numbers(text, REGIONS) == (
            finders.numbers(text, REGIONS, reach=1000)
        ), text
        assert finders.may_hold_number(text) == (finders.number_reach(text) > 0)

    @pytest.mark.parametrize(
        "text",
        ["900101-1234567", "4111 1111 1111 1111", "123-45-6789", "m12345678", "1234567890"],
    )
    def test_reach_runs_the_finder_a_number_needs(self, text: str) -> None:
        assert finders.numbers(text, REGIONS) == finders.numbers(text, REGIONS, reach=1000)
        assert finders.numbers(text, REGIONS)

    def test_a_remembered_parse_is_the_parse(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A release's Parses give what libphonenumber gives, asking it once per number."""
        parses = finders.Parses()
        texts = ("+1 415 555 1000", "0100-4636-872", "12345", "(02) 312 3456")
        first = [parses(text, REGIONS) for text in texts]
        assert first == [finders._valid(text, REGIONS) for text in texts]
        assert first[0] == "+14155551000" and first[1] is not None and first[2] is None
        monkeypatch.setattr(phonenumbers, "parse", _no_parse)
        assert [parses(text, list(REGIONS)) for text in texts] == first
        text = "call 0100-4636-872 or +1 415 555 1000"
        assert finders.numbers(text, REGIONS, valid=parses) == [
            (5, 18, "phone", first[1]),
            (22, 37, "phone", "+14155551000"),
        ]

    @pytest.mark.parametrize(
        "text",
        [
            "call 010-5555-6666",
            "x900101-1234567",  # a registration number glued to a word: still one
            "m12345678",  # a passport
            "(212) 555-0199",
            "0100-1985-711",
        ],
    )
    def test_yes(self, text: str) -> None:
        assert finders.may_hold_number(text) and finders.numbers(text, REGIONS)

    @pytest.mark.parametrize("text", ["@u0000159 soon", "u0000334@example.org", "no digits", ""])
    def test_no(self, text: str) -> None:
        """An account id's seven digits glued to its letter are no number anyone writes."""
        assert not finders.may_hold_number(text) and not finders.numbers(text, REGIONS)


def _slow(text: str, known: Any = None) -> list[finders.Finding]:
    """numbers() with every run read by libphonenumber (no shortcut)."""
    saved = finders._whole
    finders._whole = lambda *args: None  # type: ignore[assignment]
    try:
        return finders.numbers(text, REGIONS, known)
    finally:
        finders._whole = saved


KR_MOBILE = st.tuples(
    st.sampled_from(["010", "011", "016", "017", "018", "019", "(010)"]),
    st.sampled_from(["", "-", " ", "."]),
    st.text("0123456789", min_size=3, max_size=4),
    st.sampled_from(["", "-", " ", "."]),
    st.text("0123456789", min_size=4, max_size=4),
).map("".join)


class TestKoreanMobileShortcut:
    @settings(max_examples=300, deadline=None)
    @given(
        st.sampled_from(["", "call ", "번호 ", "(", "x "]),
        KR_MOBILE,
        st.sampled_from(["", " ok", "이야", ".", ", then"]),
    )
    def test_as_libphonenumber_reads_it(self, before: str, number: str, after: str) -> None:
        """A Korean mobile number standing alone: the same finding as the full reading (which
        is libphonenumber's, or the Korean-mobile fallback's where it finds the number invalid)."""
        text = before + number + after
        assert finders.numbers(text, REGIONS) == _slow(text), text

    def test_no_parse_for_one(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The common case costs no libphonenumber parse at all."""
        monkeypatch.setattr(phonenumbers, "parse", _no_parse)
        assert finders.numbers("call 010-2516-6842 now", REGIONS) == [
            (5, 18, "phone", "+821025166842")
        ]

    def test_a_digit_touching_it_leaves_it_to_the_full_reading(self) -> None:
        text = "5010-2516-6842"
        assert finders.numbers(text, REGIONS) == _slow(text)


def _no_parse(*args: object) -> None:
    raise AssertionError("libphonenumber parsed a number the shortcut should have read")


PEOPLE = [
    Person("u1", names=("Minsu Kim",), phones=("+821012345678",)),
    Person("u2", names=("Jiwoo Park",), phones=("+821087654321",)),
    Person("u3", names=("Twin A",), phones=("+821055554444",)),
    Person("u4", names=("Twin B",), phones=("+821055554444",)),  # one phone, two people
]


class TestKnownPhoneShortcut:
    def minimizer(self) -> TextMinimizer:
        return TextMinimizer(Directory(PEOPLE, frozenset({"u1"})), Pseudonymizer(b"s" * 32, "w"))

    @pytest.mark.parametrize("written", ["0108-7654-321", "+82 10 8765 4321", "821087654321"])
    def test_a_known_persons_phone_in_any_grouping_is_theirs_without_a_parse(
        self, written: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Their pseudonym, the one their account has, and libphonenumber never asked."""
        m = self.minimizer()
        monkeypatch.setattr(phonenumbers, "parse", _no_parse)
        out, unresolved = m(f"call {written} now")
        assert out == f"call {Pseudonymizer(b's' * 32, 'w')('u2')} now" and not unresolved

    def test_the_targets_own_phone_stays(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(phonenumbers, "parse", _no_parse)
        assert self.minimizer()("mine: 0101-2345-678") == ("mine: 0101-2345-678", False)

    def test_a_phone_two_people_share_is_read_in_full(self) -> None:
        """Nobody is misattributed: the full reading gives the number's own pseudonym."""
        out, _ = self.minimizer()("call 0105-5554-444")
        assert "pseud-phone:" in out and "0105" not in out


# Text as people type it, and as fold's fast paths might get it wrong: ASCII, Hangul (also
# decomposed), full-width forms, other scripts' digits, dashes NFKC keeps, invisible characters,
# letters whose case folding changes their length.
_WILD_CHARS = [
    *"az AZ09@.-+()%_:",
    *"민수\u1106\u1175\u11ab０１Ａ＠٠٣३৯²",
    *"\u2013\u2212\u200b\u200d\u00adßﬁİΣ\u00a0",
]
WILD = st.text(st.sampled_from(_WILD_CHARS), max_size=24)


def _fold_slowly(text: str) -> str:
    """fold() character by character, the path its shortcuts stand in for."""
    folded = fold(text + "\u200b")  # an invisible character takes the full path
    return folded[1]


class TestFold:
    @settings(max_examples=3000, deadline=None)
    @given(WILD)
    def test_its_shortcuts_fold_as_the_full_path_does(self, text: str) -> None:
        original, folded, origin = fold(text)
        assert folded == _fold_slowly(text), text
        if origin is not None:
            assert len(origin) == len(folded) and origin == sorted(origin)
            assert all(0 <= i < len(original) for i in origin)

    @settings(max_examples=3000, deadline=None)
    @given(WILD)
    def test_whatever_a_finder_finds_the_automaton_is_told_of(self, text: str) -> None:
        """The finders run only on texts where the automaton saw an ASCII digit or an `@`:
        every text they find something in, folded, holds one."""
        folded = fold(text)[1]
        if finders.numbers(folded, REGIONS) or list(finders.addresses(folded)):
            assert any(c in CANDIDATE_CHARS for c in folded), text

    @pytest.mark.parametrize(
        "text", ["call ٠١٠-٩٨٧٦-٥٤٣٢", "call ০১০-৯৮৭৬-৫৪৩২", "call ०१०-९८७६-५४३२"]
    )
    def test_a_phone_in_another_scripts_digits_is_found(self, text: str) -> None:
        m = TextMinimizer(Directory(PEOPLE, frozenset({"u1"})), Pseudonymizer(b"s" * 32, "w"))
        assert m(text)[0] == "call pseud-phone:" + m("call 010-9876-5432")[0].split(":")[1]
