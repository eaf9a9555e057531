"""The reference messenger store on SQLite: the embedded default behind `wsg demo` and `wsg serve`.

Times are stored as integer microseconds since the epoch (UTC), so every window is an indexed
range query. The queries are gateway.stores.reference.queries, rendered for SQLite.
Reads open their own connection (WAL lets them run beside a writer and beside each other) and
stream their cursor; writes go through one connection under a lock, one transaction per import.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import pathlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from gateway.datadir import private_file
from gateway.db import migrate
from gateway.db.sqlite import ThreadReaders
from gateway.errors import FailedPrecondition, GatewayError, Unavailable
from gateway.model import Category, Scope
from gateway.stores.base import Part
from gateway.stores.reference import interchange as ix
from gateway.stores.reference import queries
from gateway.stores.reference import records as rr
from gateway.stores.reference.reads import ReferenceReads
from gateway.stores.reference.records import email_key, from_us, to_us
from gateway.stores.reference.records import format_us as _time

__all__ = ["ReferenceStore", "_time", "email_key", "from_us", "to_us"]

RELEASE_QUERIES = queries.SQLITE_QUERIES  # by name; tests EXPLAIN each


class _StoreKnown:
    """interchange.Known answered from the writer connection, inside the import transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def _one(self, sql: str, *args: object) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._db.execute(sql, args).fetchone()
        return row

    def account_exists(self, account: str) -> bool:
        return self._one(queries.SQLITE_KNOWN["account"], account) is not None

    def room_direct(self, room: str) -> bool | None:
        row = self._one(queries.SQLITE_KNOWN["room_direct"], room)
        return None if row is None else bool(row[0])

    def message_exists(self, message: str) -> bool:
        return self._one(queries.SQLITE_KNOWN["message"], message) is not None

    def room_memberships(self, room: str) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
        rows = self._db.execute(queries.SQLITE_KNOWN["memberships"], (room,))
        return [(a, from_us(j), None if left is None else from_us(left)) for a, j, left in rows]


_INSERT = {  # from constant table and column names only; every value is a bound parameter
    kind: f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"  # noqa: S608 - constant names
    for kind, (table, cols) in rr.INSERT_COLUMNS.items()
}


class ReferenceStore(ReferenceReads):
    """The reference messenger schema; implements gateway.stores.base.Store."""

    RELEASE_QUERIES = RELEASE_QUERIES

    def __init__(
        self,
        path: pathlib.Path,
        writer: sqlite3.Connection,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self._writer: sqlite3.Connection | None = writer
        self._write_lock = threading.Lock()
        self._trace = trace
        self._small_readers = ThreadReaders(self._reader)

    # --- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: pathlib.Path, trace: Callable[[str], None] | None = None) -> ReferenceStore:
        """Open (creating file and schema if missing) the store at `path`.

        `trace`, for diagnostics and tests, is called with every SQL statement a read executes.
        """
        path = pathlib.Path(path)
        try:
            private_file(path)  # before SQLite makes it (and its side files)
        except FailedPrecondition as e:
            raise Unavailable(f"reference store {path}: cannot open: {e.message}") from None
        try:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        except sqlite3.Error as e:
            raise Unavailable(f"reference store {path}: cannot open: {e}") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            migrate.upgrade_sqlite(path, migrate.SQLITE_STORE)
        except sqlite3.Error as e:
            db.close()
            raise Unavailable(f"reference store {path}: {e}") from None
        except GatewayError as e:
            db.close()
            raise FailedPrecondition(f"reference store {path}: {e.message}") from None
        return cls(path, db, trace)

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            self._small_readers.close()

    def _require_open(self) -> None:
        if self._writer is None:
            raise Unavailable("reference store is closed")

    def _reader(self) -> sqlite3.Connection:
        """A fresh read-only connection: safe to use from any one thread at a time."""
        self._require_open()
        try:
            db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30
            )
            db.execute("PRAGMA query_only = ON")
            db.set_trace_callback(self._trace)
        except sqlite3.Error as e:
            raise Unavailable(f"reference store {self.path}: {e}") from None
        return db

    def _query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        """A small query (never the release stream) on this thread's cached read connection:
        opening one costs more than the lookups warrant submission makes."""
        db = self._small_readers.get()
        try:
            return db.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            self._small_readers.discard()  # a broken connection is not reused
            raise Unavailable(f"reference store: {e}") from None

    # --- loading ---------------------------------------------------------------------------

    def load(self, rows: Iterable[tuple[int, ix.Row]] | Iterable[ix.Row]) -> dict[str, int]:
        """Validate every row, then insert them all in one transaction; returns counts per kind.

        Rows are (line number, row) pairs from interchange.parse_lines, or bare rows (generated
        data, numbered by position). Import and the seed generator both come through here.
        """
        with self._write_lock:
            db = self._writer
            if db is None:
                raise Unavailable("reference store is closed")
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise Unavailable(f"reference store: {e}") from None
            try:
                validator = ix.Validator(_StoreKnown(db))
                batches: dict[str, list[tuple[Any, ...]]] = {kind: [] for kind in ix.KINDS}
                for number, item in enumerate(rows, start=1):
                    if isinstance(item, tuple):
                        number, item = item
                    validator.check_at(number, item)
                    batches[ix.KIND_OF[type(item)]].append(rr.insert_params(item))
                for kind in ix.KINDS:
                    if batches[kind]:
                        db.executemany(_INSERT[kind], batches[kind])
                db.execute("COMMIT")
            except sqlite3.Error as e:
                db.execute("ROLLBACK")
                raise Unavailable(f"reference store: cannot write: {e}") from None
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return validator.counts

    # --- reading ---------------------------------------------------------------------------

    @staticmethod
    def _params(scope: Scope) -> dict[str, object]:
        return {
            "targets": json.dumps(sorted(scope.targets)),
            "start": to_us(scope.window.start),
            "end": to_us(scope.window.end),
            "body": Category.MESSAGE_CONTENT in scope.categories,
        }

    def _reads(self, db: sqlite3.Connection, scope: Scope) -> rr.Reads:
        params = self._params(scope)
        return rr.Reads(
            rows=lambda name: db.execute(RELEASE_QUERIES[name], params),
            count=lambda name: rr.count_of(
                db.execute(RELEASE_QUERIES[f"count_{name}"], params).fetchone()
            ),
            lookup=lambda name, value: db.execute(RELEASE_QUERIES[name], (value,)).fetchall(),
            members_of=json.loads,
            window=(to_us(scope.window.start), to_us(scope.window.end)),
        )

    @contextlib.contextmanager
    def parts(self, scope: Scope) -> Iterator[Sequence[Part]]:
        """The release of `scope` in parts (see stores.base.Part), all read in one snapshot:
        one read connection and transaction, held until the context ends."""
        self._require_open()
        if not scope.targets:
            yield []
            return
        db = self._reader()
        try:
            db.execute("BEGIN")  # one snapshot for every count and every category
            yield rr.parts(scope.categories, self._reads(db, scope))
        except sqlite3.Error as e:
            raise Unavailable(f"reference store: {e}") from None
        finally:
            db.close()
