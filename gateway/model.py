"""The gateway's vocabulary: categories, relations, effects, warrant scope and store records.

Kept free of I/O so that the store, the policy and the release pipeline share one meaning of
each word without importing one another.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from collections.abc import Mapping


class Category(enum.StrEnum):
    SUBSCRIBER = "subscriber"
    LOGINS = "logins"
    MESSAGE_METADATA = "message_metadata"
    MESSAGE_CONTENT = "message_content"
    MEMBERSHIPS = "memberships"
    CONTACTS = "contacts"


class Relation(enum.StrEnum):
    """How a record relates to the warrant's targets (DESIGN.md, core concepts)."""

    SELF = "self"  # a target is its subject or author
    DIRECT_PEER = "direct_peer"  # written by a non-target to a target in a one-to-one room
    GROUP_PEER = "group_peer"  # written by a non-target in a group a target belongs to
    UNRELATED = "unrelated"


class Effect(enum.StrEnum):
    RELEASE = "release"
    RELEASE_PSEUDONYMIZED = "release_pseudonymized"
    WITHHOLD = "withhold"


class WindowPosition(enum.StrEnum):
    """Where a record's time falls against the warrant's window."""

    INSIDE = "inside"
    OUTSIDE = "outside"
    TIMELESS = "timeless"  # records with no time of their own (the account record)


class WarrantState(enum.StrEnum):
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


TARGET_KINDS = ("account", "phone", "email", "matrix")

# A Matrix user id, `@localpart:server` (the spec's grammar, historical localparts included):
# a target may be written `matrix:@user:server` or just `@user:server`.
MATRIX_USER_ID = re.compile(r"@[\x21-\x39\x3b-\x7e]+:[A-Za-z0-9.\-\[\]:]+")


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """Half-open UTC interval [start, end)."""

    start: dt.datetime
    end: dt.datetime

    def contains(self, at: dt.datetime) -> bool:
        return self.start <= at < self.end

    def overlaps(self, start: dt.datetime, end: dt.datetime | None) -> bool:
        """Whether [start, end) (end None = still open) shares an instant with the window."""
        return start < self.end and (end is None or end > self.start)


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """What a store is asked for: the target accounts' records in these categories and window."""

    targets: frozenset[str]
    categories: frozenset[Category]
    window: Window
    include_received_direct: bool = False


@dataclasses.dataclass(slots=True)  # not frozen: built once per record on the hot path
class StoreRecord:
    """One record as a store yields it, before any decision.

    `fields` hold values that never name a person. `people` hold account ids (a string or a list
    of strings): the pipeline keeps targets in clear and replaces every other id by a pseudonym.
    `at`/`until` place the record in time (None = timeless; `until` None = still open).
    `withheld` is a store's own reason never to release the record whatever the policy says
    (e.g. "redacted": its author took it back); the pipeline counts and audits it under that
    reason when the policy would have released it. A store can only narrow, never widen.
    """

    id: str
    category: Category
    relation: Relation
    at: dt.datetime | None
    fields: Mapping[str, object]
    people: Mapping[str, str | tuple[str, ...]] = dataclasses.field(default_factory=dict)
    until: dt.datetime | None = None
    withheld: str | None = None

    def window_position(self, window: Window) -> WindowPosition:
        if self.at is None:
            return WindowPosition.TIMELESS
        if self.category is Category.MEMBERSHIPS:
            inside = window.overlaps(self.at, self.until)
        else:
            inside = window.contains(self.at)
        return WindowPosition.INSIDE if inside else WindowPosition.OUTSIDE


def utc(value: dt.datetime) -> dt.datetime:
    """Normalize an aware datetime to UTC; naive datetimes are refused, never guessed."""
    if value.tzinfo is None:
        raise ValueError("timestamp has no time zone; give it in UTC (e.g. 2026-01-01T00:00:00Z)")
    return value.astimezone(dt.UTC)


def parse_time(text: str) -> dt.datetime:
    """Parse an RFC 3339 timestamp that must carry a zone (Z or an offset)."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}") from None
    return utc(value)


def format_time(value: dt.datetime) -> str:
    """RFC 3339 in UTC with a Z, seconds precision unless there are microseconds."""
    value = utc(value)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")
