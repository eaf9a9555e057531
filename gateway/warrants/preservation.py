"""Preservation (legal hold): the copy a preservation request freezes, and the store a later
request releases from.

An approved preservation request (tier `preservation`) keeps the target's in-scope records as
they were at that moment in the gateway's own state, whatever the messenger's store deletes
afterwards (Synapse purges and redacts; users delete). Nothing leaves by it. A later request that
names it (`spec.preserved_by`) is released from that copy, through the same pipeline, policy and
minimization as any release: `FrozenStore` is a Store over the copy, so the release cannot tell
it apart except by the evidence, which names the copy (its warrant and content hash).

The copy holds the records (as StoreRecord, one canonical JSON line each) and the directory of
people the release could mention (the text minimizer's list: without it, a name in frozen text
whose account the store has since deleted would leave unreplaced). Its content hash, over every
line in order, is in the approval's audit entry and in each release from it.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from gateway.model import (
    Category,
    Person,
    RecordShape,
    Relation,
    Scope,
    StoreRecord,
    WindowPosition,
    format_time,
    parse_time,
)
from gateway.stores.base import Store

PERSON_FIELDS = tuple(f.name for f in dataclasses.fields(Person) if f.name != "account")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_line(record: StoreRecord) -> str:
    """One record as the copy keeps it: every field, times in RFC 3339, lists for tuples."""
    return _canonical(
        {
            "id": record.id,
            "category": record.category.value,
            "relation": record.relation.value,
            "at": None if record.at is None else format_time(record.at),
            "until": None if record.until is None else format_time(record.until),
            "withheld": record.withheld,
            "fields": dict(record.fields),
            "people": {k: v if isinstance(v, str) else list(v) for k, v in record.people.items()},
        }
    )


def record_from_line(line: str) -> StoreRecord:
    raw = json.loads(line)
    return StoreRecord(
        id=raw["id"],
        category=Category(raw["category"]),
        relation=Relation(raw["relation"]),
        at=None if raw["at"] is None else parse_time(raw["at"]),
        until=None if raw["until"] is None else parse_time(raw["until"]),
        withheld=raw["withheld"],
        fields=raw["fields"],
        people={k: v if isinstance(v, str) else tuple(v) for k, v in raw["people"].items()},
    )


def directory_text(people: Iterable[Person]) -> str:
    return _canonical(
        [{"account": p.account, **{f: list(getattr(p, f)) for f in PERSON_FIELDS}} for p in people]
    )


def directory_from_text(text: str) -> tuple[Person, ...]:
    return tuple(
        Person(account=raw["account"], **{f: tuple(raw[f]) for f in PERSON_FIELDS})
        for raw in json.loads(text)
    )


@dataclasses.dataclass(frozen=True)
class FrozenCopy:
    """What a preservation froze: the records in its scope and who they could mention."""

    lines: tuple[str, ...]  # record_line of each record, in the store's order
    directory: str  # directory_text

    @property
    def content_sha256(self) -> str:
        """sha256 over every record line, then the directory, each ending in a newline."""
        digest = hashlib.sha256()
        for line in self.lines:
            digest.update(line.encode() + b"\n")
        digest.update(self.directory.encode() + b"\n")
        return digest.hexdigest()

    def records(self) -> Iterator[StoreRecord]:
        return (record_from_line(line) for line in self.lines)

    def people(self) -> tuple[Person, ...]:
        return directory_from_text(self.directory)

    def by_category(self) -> dict[str, int]:
        return dict(collections.Counter(json.loads(line)["category"] for line in self.lines))

    def summary(self) -> dict[str, Any]:
        """What the approval's audit entry says of the copy."""
        return {
            "records": len(self.lines),
            "by_category": self.by_category(),
            "people": len(json.loads(self.directory)),
            "content_sha256": self.content_sha256,
        }


def freeze(store: Store, scope: Scope) -> FrozenCopy:
    """The store's records in `scope`, and its directory for it, as they are now."""
    records = store.records(scope)
    try:
        lines = tuple(record_line(r) for r in records)
    finally:
        close = getattr(records, "close", None)  # a generator: its connection goes back now
        if close is not None:
            close()
    return FrozenCopy(lines, directory_text(store.directory(scope)))


@dataclasses.dataclass(frozen=True)
class Hold:
    """A preservation's copy as the gateway keeps it (the copy itself is read on its own)."""

    warrant: str
    frozen_at: dt.datetime
    expires_at: dt.datetime
    records: int
    content_sha256: str
    extended_by: str | None = None
    extended_at: dt.datetime | None = None
    purged_at: dt.datetime | None = None

    def live(self, now: dt.datetime) -> bool:
        """Whether a release may still come from it: not purged, not past its expiry."""
        return self.purged_at is None and now < self.expires_at


class FrozenStore:
    """The Store interface over a frozen copy: what a release from a preservation reads.

    A request releasing from a preservation names the same target accounts, so each record's
    relation is the one the store gave when it froze. Its categories and window may be narrower:
    records of other categories are left out, and so are those that were inside the frozen
    window but fall outside this one (the store would not have read them for this window)."""

    def __init__(
        self, copy: FrozenCopy, frozen: Scope, shapes: Mapping[Category, RecordShape]
    ) -> None:
        self._copy = copy
        self._frozen = frozen
        self._shapes = shapes
        self._records: list[StoreRecord] | None = None  # decoded once: count, then records

    def _decoded(self) -> list[StoreRecord]:
        if self._records is None:
            self._records = list(self._copy.records())
        return self._records

    def resolve(self, kind: str, value: str) -> list[str]:
        return []  # targets resolve against the live store, at submission

    def _kept(self, record: StoreRecord, scope: Scope) -> bool:
        if record.category not in scope.categories:
            return False
        now = record.window_position(scope.window)
        return (
            now is not WindowPosition.OUTSIDE
            or record.window_position(self._frozen.window) is WindowPosition.OUTSIDE
        )

    def records(self, scope: Scope) -> Iterator[StoreRecord]:
        return (r for r in self._decoded() if self._kept(r, scope))

    def count(self, scope: Scope) -> int:
        return sum(1 for _ in self.records(scope))

    def shapes(self) -> Mapping[Category, RecordShape]:
        return self._shapes

    def directory(self, scope: Scope) -> list[Person]:
        return list(self._copy.people())

    def everyone(self) -> list[Person]:
        return list(self._copy.people())

    def close(self) -> None:
        pass
