"""What the reference store answers the same way on either backend, once its dialect's
queries, parameters and snapshot are given: a backend's class says how to run a query and how
to open a release's parts; everything built on those (counts, resolution, the release stream,
the directory, the demo's target) is written here once."""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
import pathlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from gateway.model import Category, Person, RecordShape, Scope, StoreRecord
from gateway.stores.base import Part
from gateway.stores.reference import interchange as ix
from gateway.stores.reference import queries
from gateway.stores.reference import records as rr
from gateway.stores.reference.records import from_us


class ReferenceReads(abc.ABC):
    """The store's reads over the backend's `_query`, `_params` and `parts`."""

    RELEASE_QUERIES: ClassVar[Mapping[str, str]]  # the release queries in this dialect, by name

    @abc.abstractmethod
    def _query(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        """A small query's rows (Unavailable when the store is closed or unreachable)."""

    @abc.abstractmethod
    def _require_open(self) -> None:
        """Unavailable unless the store is open."""

    @abc.abstractmethod
    def load(self, rows: Iterable[tuple[int, ix.Row]] | Iterable[ix.Row]) -> dict[str, int]:
        """Validate every row, then write them all in one transaction (or nothing)."""

    @abc.abstractmethod
    def parts(self, scope: Scope) -> contextlib.AbstractContextManager[Sequence[Part]]:
        """The release of `scope` in parts (see stores.base.Part), read in one snapshot."""

    @staticmethod
    @abc.abstractmethod
    def _params(scope: Scope) -> dict[str, object]:
        """The release queries' named parameters for `scope`, in this dialect's types."""

    # --- loading ---------------------------------------------------------------------------

    def import_jsonl(self, source: pathlib.Path | str | Iterable[str | bytes]) -> dict[str, int]:
        """Load an interchange file (a path, or its lines): all of it, or nothing on a bad line."""
        lines = rr.read_lines(source) if isinstance(source, (str, pathlib.Path)) else source
        return self.load(ix.parse_lines(lines))

    # --- reading ---------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """How many rows of each kind the whole store holds."""
        return dict(self._query(queries.COUNTS))

    def resolve(self, kind: str, value: str) -> list[str]:
        """Account ids for a target given as account id, phone number or e-mail address."""
        lookup = rr.resolve_lookup(kind, value)
        rows = [] if lookup is None else self._query(self.RELEASE_QUERIES[lookup[0]], lookup[1])
        return [r[0] for r in rows]

    def count(self, scope: Scope) -> int:
        """Exactly how many records records(scope) yields (same WHERE clauses, COUNT(*))."""
        with self.parts(scope) as parts:
            return sum(part.count() for part in parts)

    def records(self, scope: Scope) -> Iterator[StoreRecord]:
        """Stream the scope's records, part by part, from one snapshot.

        Returns a generator: rows are read as the caller iterates, never collected, and the
        connection goes back when the iteration ends or is abandoned. A closed store is
        Unavailable now, not at the first record.
        """
        self._require_open()
        return self._records(scope)

    def _records(self, scope: Scope) -> Iterator[StoreRecord]:
        with self.parts(scope) as parts:
            for part in parts:
                yield from part.records()

    # --- who a release could mention -------------------------------------------------------

    def shapes(self) -> Mapping[Category, RecordShape]:
        return rr.SHAPES

    def directory(self, scope: Scope) -> list[Person]:
        """Everyone a release of `scope` could mention (see Store.directory), targets included."""
        if not scope.targets:
            return []
        params = self._params(scope)
        return rr.people(
            self._query(self.RELEASE_QUERIES["directory"], params),
            self._query(self.RELEASE_QUERIES["directory_labels"], params),
        )

    def everyone(self) -> list[Person]:
        return rr.people(self._query(queries.EVERYONE), self._query(queries.EVERYONE_LABELS))

    # --- for the demo ----------------------------------------------------------------------

    def suggest_target(self) -> str | None:
        """A telling demo target: in a group and a direct room, the most messages sent."""
        rows = self._query(queries.SUGGEST_TARGET)
        return rows[0][0] if rows else None

    def time_span(self) -> tuple[dt.datetime, dt.datetime] | None:
        """Earliest and latest message time (the demo's window), None without messages."""
        low, high = self._query(queries.TIME_SPAN)[0]
        return None if low is None else (from_us(low), from_us(high))
