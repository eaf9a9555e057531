"""The catalogue of legal instruments (policies/instruments.yaml): local names -> tiers.

A request names its instrument by a catalogue key (`kr.search_warrant`, `us.subpoena`, ...);
the release policy decides by the instrument's tier, never by its name, so a new local name is
one entry here and no rule. A request without an instrument is a search warrant, as every
request was before instruments existed (`DEFAULT_TIER`). The file also sets the clocks (the
emergency follow-up, the preservation hold) and the overbreadth thresholds at which approval
needs a second reviewer. An instrument may require a participation step (`participation:
required`, gateway.warrants.participation): its message content is withheld until the person
searched has been given notice and has attended, objected or waived.

Fail closed: `load` raises FailedPrecondition with one line naming the file and what is wrong.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
import re
from collections.abc import Mapping
from typing import Any

import yaml

from gateway.errors import FailedPrecondition, InvalidArgument
from gateway.model import Tier

CATALOGUE_FILE = "instruments.yaml"
DEFAULT_TIER = Tier.SEARCH_WARRANT
_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9][a-z0-9_]*)*$")
_MAX_DAYS = 3660


@dataclasses.dataclass(frozen=True)
class Instrument:
    key: str
    tier: Tier
    label: str
    legal_basis: str
    response_days: int
    # Message content is withheld until a participation step completes (notice, then
    # attendance, objection or waiver: gateway.warrants.participation).
    participation: bool = False


PARTICIPATION = {"required": True, "not_required": False}


@dataclasses.dataclass(frozen=True)
class Review:
    """Above any of these, approval needs a second reviewer."""

    third_parties: int = 100
    window_days: int = 366
    content: bool = False


@dataclasses.dataclass(frozen=True)
class Catalogue:
    instruments: Mapping[str, Instrument]
    emergency_follow_up: dt.timedelta = dt.timedelta(hours=48)
    preservation: dt.timedelta = dt.timedelta(days=90)
    review: Review = Review()

    def tier_of(self, instrument: str | None) -> Tier:
        """The tier of `instrument` (None: a search warrant); InvalidArgument if unknown."""
        return DEFAULT_TIER if instrument is None else self.get(instrument).tier

    def get(self, instrument: str) -> Instrument:
        found = self.instruments.get(instrument)
        if found is None:
            known = ", ".join(sorted(self.instruments))
            raise InvalidArgument(
                f"spec.instrument: unknown instrument {instrument[:80]!r} (known: {known})"
            )
        return found

    def crossed(self, review: Any, window_days: float, content: bool) -> tuple[str, ...]:
        """The review thresholds a request crosses (empty: one reviewer is enough)."""
        limits = self.review
        crossed = []
        if review.third_parties > limits.third_parties:
            crossed.append(
                f"{review.third_parties} third parties touched (more than {limits.third_parties})"
            )
        if window_days > limits.window_days:
            crossed.append(f"a window of {window_days:g} days (more than {limits.window_days})")
        if content and limits.content:
            crossed.append("message content requested")
        return tuple(crossed)

    def of_warrant(self, warrant_id: str, instrument: str | None) -> Instrument | None:
        """The entry of an accepted warrant's instrument (None: it names none); a catalogue that
        no longer knows it is FailedPrecondition: whatever depends on it (the tier, whether
        participation is required) fails closed, never to a default."""
        if instrument is None:
            return None
        try:
            return self.get(instrument)
        except InvalidArgument as exc:
            raise FailedPrecondition(
                f"warrant {warrant_id}: {exc.message}", reason="UNKNOWN_INSTRUMENT"
            ) from None

    def participation_required(self, instrument: str | None) -> bool:
        """Whether a request under `instrument` withholds message content until a participation
        step completes (None: a search warrant naming no instrument, which does not)."""
        return instrument is not None and self.get(instrument).participation

    def response_days(self, instrument: str | None) -> int | None:
        """Days to answer once approved; None for a request naming no instrument."""
        return None if instrument is None else self.get(instrument).response_days


def _fail(path: pathlib.Path, what: str) -> FailedPrecondition:
    return FailedPrecondition(f"instrument catalogue not loadable: {path}: {what}")


def _mapping(path: pathlib.Path, value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _fail(path, f"{where}: a mapping of names")
    return value


def _text(path: pathlib.Path, value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, f"{where}: a non-empty string")
    return value


def _number(path: pathlib.Path, value: object, where: str, most: int = _MAX_DAYS) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= most:
        raise _fail(path, f"{where}: a whole number from 1 to {most}")
    return value


def _only(path: pathlib.Path, raw: Mapping[str, object], where: str, keys: set[str]) -> None:
    unknown = sorted(set(raw) - keys)
    if unknown:
        raise _fail(path, f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(keys))})")


def _instrument(path: pathlib.Path, key: str, value: object) -> Instrument:
    where = f"instruments.{key}"
    if not _KEY.match(key) or len(key) > 64:
        raise _fail(path, f"{where}: a key is lowercase words joined by dots (kr.search_warrant)")
    raw = _mapping(path, value, where)
    _only(path, raw, where, {"tier", "label", "legal_basis", "response_days", "participation"})
    tier = raw.get("tier")
    if tier not in {t.value for t in Tier}:
        raise _fail(path, f"{where}.tier: one of {', '.join(t.value for t in Tier)}")
    participation = raw.get("participation", "not_required")
    if not isinstance(participation, str) or participation not in PARTICIPATION:
        raise _fail(path, f"{where}.participation: {' or '.join(PARTICIPATION)}")
    return Instrument(
        key=key,
        tier=Tier(str(tier)),
        label=_text(path, raw.get("label"), f"{where}.label"),
        legal_basis=_text(path, raw.get("legal_basis"), f"{where}.legal_basis"),
        response_days=_number(path, raw.get("response_days"), f"{where}.response_days"),
        participation=PARTICIPATION[participation],
    )


def parse(path: pathlib.Path, text: str) -> Catalogue:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(path, f"not YAML ({str(exc).splitlines()[0]})") from None
    top = _mapping(path, raw, "the file")
    _only(path, top, "the file", {"instruments", "clocks", "review"})
    entries = _mapping(path, top.get("instruments"), "instruments")
    instruments = {key: _instrument(path, key, value) for key, value in entries.items()}
    if not instruments:
        raise _fail(path, "instruments: at least one")
    clocks = _mapping(path, top.get("clocks", {}), "clocks")
    _only(path, clocks, "clocks", {"emergency_follow_up_hours", "preservation_days"})
    review = _mapping(path, top.get("review", {}), "review")
    _only(path, review, "review", {"third_parties", "window_days", "content"})
    content = review.get("content", False)
    if not isinstance(content, bool):
        raise _fail(path, "review.content: true or false")
    return Catalogue(
        instruments=instruments,
        emergency_follow_up=dt.timedelta(
            hours=_number(
                path,
                clocks.get("emergency_follow_up_hours", 48),
                "clocks.emergency_follow_up_hours",
            )
        ),
        preservation=dt.timedelta(
            days=_number(path, clocks.get("preservation_days", 90), "clocks.preservation_days")
        ),
        review=Review(
            third_parties=_number(
                path, review.get("third_parties", 100), "review.third_parties", 10**9
            ),
            window_days=_number(path, review.get("window_days", 366), "review.window_days"),
            content=content,
        ),
    )


def load(policy_dir: pathlib.Path) -> Catalogue:
    """The catalogue in `policy_dir`, or FailedPrecondition naming what is wrong."""
    path = pathlib.Path(policy_dir) / CATALOGUE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(path, "file is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot be read ({exc})") from None
    return parse(path, text)
