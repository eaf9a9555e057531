"""The store interface: resolve identities, count and stream a target's records with relation.

Implementations: the reference messenger schema on SQLite (`reference.sqlite.ReferenceStore`)
and on PostgreSQL (`reference.postgres.PgReferenceStore`), and `synapse.store.SynapseStore` (a
Matrix Synapse homeserver's own database, read-only). The release pipeline, policy and audit
know only this protocol.

A store may also split a release into parts (`PartedStore.parts`), each decided as a whole: all
of a part's records share one category list, one relation and one window position, so the
release policy answers once per part, and a part it withholds is counted (an index-only
aggregate), never read. A store without parts is one part decided record by record (`whole`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from gateway.model import (
    Category,
    Person,
    RecordShape,
    Relation,
    Scope,
    StoreRecord,
    WindowPosition,
)

# A record as one dict of its fields and its people (by name, as its RecordShape declares them):
# (id, category, values). What a part's `values` yields: the fast form of StoreRecord.
Values = tuple[str, Category, dict[str, object]]


class Store(Protocol):
    def resolve(self, kind: str, value: str) -> list[str]:
        """Account ids matching a target given as kind 'account', 'phone', 'email' or 'matrix'
        (a Matrix user id, @user:server); a store without such accounts finds none."""
        ...

    def count(self, scope: Scope) -> int:
        """How many records `records(scope)` will yield (for progress); may be approximate."""
        ...

    def records(self, scope: Scope) -> Iterator[StoreRecord]:
        """Every record in scope, each with its relation to scope.targets.

        Reads only what concerns the targets (indexed), never the whole store. Yields the
        targets' own records and the messages others wrote in rooms a target is in.
        """
        ...

    def shapes(self) -> Mapping[Category, RecordShape]:
        """Every field the store's records of each category carry, by kind (safe, free text,
        room id, quote): the pipeline refuses a record with a field its shape does not name."""
        ...

    def directory(self, scope: Scope) -> Iterable[Person]:
        """Every person a release of `scope` could mention, the targets included: everyone who
        shared a room with a target, a target's contacts, the senders of messages a target
        quoted or forwarded. The text minimizer replaces their identifiers in released text."""
        ...

    def everyone(self) -> Iterable[Person]:
        """Every person the store knows (a full read: for the guarantee-1 scan, not releases)."""
        ...

    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class MessageRows:
    """A part of message content as its query's rows, for the release's fast lane
    (gateway.release.lane), which makes released records from them without Values: each row is
    (id, room, sender, sent_at in µs, body, quote, attachment, forwarded_from, quoted sender),
    a record's id is `prefix` + the row's id, and `time_text` writes sent_at as the record's
    time. `room(room, sender)` is (direct, recipient or None), `seen` what it found so far."""

    rows: Callable[[], Iterable[tuple[Any, ...]]]
    room: Callable[[str, str], tuple[bool, str | None]]
    seen: dict[tuple[str, str], tuple[bool, str | None]]
    time_text: Callable[[int], str | None]
    prefix: str


@dataclasses.dataclass(frozen=True)
class Part:
    """One part of a release's records, read from the release's one snapshot.

    Decided whole when `relation` and `position` are set: every record `records()` yields then
    has a category of `categories` (each row gives one record per category, in that order),
    that relation and that window position, and no store veto (`withheld` is None); `count()`
    is exactly how many records it yields. `values()`, when given, yields the same records in
    the same order as `Values` (fields and people in one dict): what the release's fast path
    reads; `messages`, when given, the same records as rows (MessageRows).
    tests/test_store_parts.py holds every part of the reference store to this.
    """

    name: str
    count: Callable[[], int]
    records: Callable[[], Iterator[StoreRecord]]
    categories: tuple[Category, ...] = ()
    relation: Relation | None = None
    position: WindowPosition | None = None
    values: Callable[[], Iterator[Values]] | None = None
    messages: MessageRows | None = None

    @property
    def whole(self) -> bool:
        """Whether the policy may decide this part once, for all of its records."""
        return bool(self.categories) and self.relation is not None and self.position is not None


class PartedStore(Store, Protocol):
    def parts(self, scope: Scope) -> AbstractContextManager[Sequence[Part]]:
        """The release of `scope` in parts, in order, inside one read snapshot that lasts as
        long as the context: counts and records agree, whatever is written meanwhile."""
        ...


@contextlib.contextmanager
def whole(store: Store, scope: Scope) -> Iterator[Sequence[Part]]:
    """A store without parts: its records are one part, each record decided on its own."""
    yield [Part("records", lambda: store.count(scope), lambda: store.records(scope))]


def parts_of(store: Store, scope: Scope) -> AbstractContextManager[Sequence[Part]]:
    """`store.parts(scope)` if the store has parts, else `whole(store, scope)`."""
    parts = getattr(store, "parts", None)
    return whole(store, scope) if parts is None else parts(scope)
