"""Deadline clocks (issue 15): what is due and overdue, per warrant, from the clock.

Each clock is derived, never stored, like EXPIRED: from a warrant, its instrument's catalogue
entry (gateway.policy.instruments) and now. Kinds:

  response             an approved request must be answered within its instrument's
                       `response_days` of approval (a warrant naming no instrument has none)
  emergency_follow_up  an approved emergency disclosure needs follow-up legal process within
                       the catalogue's `emergency_follow_up_hours`
  preservation         an approved preservation holds for the catalogue's `preservation_days`
  nondisclosure        the non-disclosure order ends (the person named may then be told)
  expiry               the warrant stops releasing

A clock whose time has passed has a transition: one audit entry (`clock.passed`), written once
whichever replica or call sees it first (the clock_transitions table's key decides, in the
same transaction as the entry).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

from gateway.model import Tier, Warrant, WarrantState
from gateway.policy.instruments import Catalogue

DUE_SOON = dt.timedelta(days=7)  # a clock this close is "due"; further off "pending"


@dataclasses.dataclass(frozen=True)
class Deadline:
    warrant: str
    case_number: str
    instrument: str | None
    clock: str  # response | emergency_follow_up | preservation | nondisclosure | expiry
    due_at: dt.datetime
    status: str  # pending | due | overdue

    @property
    def passed(self) -> bool:
        return self.status == "overdue"


def _status(due_at: dt.datetime, now: dt.datetime) -> str:
    if now >= due_at:
        return "overdue"
    return "due" if due_at - now <= DUE_SOON else "pending"


def clocks_of(
    warrant: Warrant,
    catalogue: Catalogue,
    now: dt.datetime,
    followed: frozenset[str] = frozenset(),
    holds: Mapping[str, dt.datetime] | None = None,
) -> list[Deadline]:
    """Every clock `warrant` runs now; an instrument the catalogue no longer knows runs only
    the clocks that need none."""
    live = warrant.live_state(now)
    if live in (WarrantState.REJECTED, WarrantState.REVOKED):
        return []
    spec = warrant.spec
    found: list[tuple[str, dt.datetime]] = []
    known = spec.instrument is None or spec.instrument in catalogue.instruments
    tier = catalogue.tier_of(spec.instrument) if known else None
    approved_at = warrant.decided_at if warrant.state is WarrantState.APPROVED else None
    if approved_at is not None and known and spec.instrument is not None:
        days = catalogue.get(spec.instrument).response_days
        if tier is not Tier.PRESERVATION:
            found.append(("response", approved_at + dt.timedelta(days=days)))
    if approved_at is not None and tier is Tier.EMERGENCY and warrant.id not in followed:
        found.append(("emergency_follow_up", approved_at + catalogue.emergency_follow_up))
    if approved_at is not None and tier is Tier.PRESERVATION:
        # The hold's own expiry where one was kept (an extension moves it).
        held = (holds or {}).get(warrant.id)
        found.append(("preservation", held or approved_at + catalogue.preservation))
    if spec.nondisclosure_until is not None:
        found.append(("nondisclosure", spec.nondisclosure_until))
    found.append(("expiry", spec.expires_at))
    return [
        Deadline(warrant.id, spec.case_number, spec.instrument, name, at, _status(at, now))
        for name, at in found
    ]


def deadlines(
    warrants: Iterable[Warrant],
    catalogue: Catalogue,
    now: dt.datetime,
    holds: Mapping[str, dt.datetime] | None = None,
) -> list[Deadline]:
    """Every clock of `warrants`, soonest first; a warrant's passed expiry and non-disclosure
    stay listed (their transitions are audited once)."""
    warrants = list(warrants)
    # An emergency request's follow-up clock stops once a request naming it is submitted.
    followed = frozenset(w.spec.follows_up for w in warrants if w.spec.follows_up is not None)
    every = [d for w in warrants for d in clocks_of(w, catalogue, now, followed, holds)]
    return sorted(every, key=lambda d: (d.due_at, d.warrant, d.clock))
