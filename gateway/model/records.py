"""What a store is asked for (Scope, Window) and what it answers (StoreRecord)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping

from gateway.model.vocabulary import Category, Relation, Tier, WindowPosition


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
    tier: Tier = Tier.SEARCH_WARRANT  # the instrument's tier: what the policy lets it reach


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


class FieldKind(enum.Enum):
    """What a value in StoreRecord.fields is, so the pipeline knows how it may leave."""

    SAFE = "safe"  # names nobody: times, enums, flags, counts, the record's own technical ids
    TEXT = "text"  # free text (a string or a list of strings): through the text minimizer
    ROOM = "room"  # a room id: always a per-warrant pseudonym
    QUOTE = "quote"  # someone's words the record quotes or forwards: withheld unless a target's
    LABEL = "label"  # the name a target gave the record's `contact` person: it names them whole,
    # so for a third party it leaves as their pseudonym (whatever the text matcher would find)
    MATRIX_BODY = "matrix_body"  # text that may start with a Matrix reply fallback (`> ` lines)
    MATRIX_HTML = "matrix_html"  # HTML that may start with a Matrix <mx-reply> fallback


@dataclasses.dataclass(frozen=True)
class RecordShape:
    """Every field a store's records of one category may carry, by kind, and its people fields.

    Stores declare one per category (`Store.shapes`); the pipeline refuses a record carrying a
    field its shape does not name, so a new field can never leave without a decision on how.
    """

    fields: Mapping[str, FieldKind]
    people: frozenset[str] = frozenset()

    def names(self, kind: FieldKind) -> tuple[str, ...]:
        return tuple(sorted(name for name, k in self.fields.items() if k is kind))


def shape(people: tuple[str, ...] = (), **fields: FieldKind) -> RecordShape:
    return RecordShape(dict(fields), frozenset(people))


@dataclasses.dataclass(frozen=True, slots=True)
class Person:
    """Everything a store knows that names one person: what the text minimizer looks for.

    `account` is the store's account id (a Matrix user id on Synapse). `names` are display
    names (a profile's, per room); `labels` the names a target saved them under as a contact;
    `handles` other ids of the platform (a Matrix id's localpart).
    """

    account: str
    names: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
