"""The reference messenger store on PostgreSQL: ReferenceStore's twin for replicated deployments.

Same schema (migration 0002_reference_store), the same queries (gateway.stores.reference.queries,
rendered for PostgreSQL) and the same records as the SQLite store; rows become records through
the shared gateway.stores.reference.records. Connections come from the gateway's pool
(gateway.db.postgres.Database), which the gateway owns: this
store never migrates the schema and never closes the pool. Every value is a bound parameter;
the targets travel as one text[] parameter.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from gateway.db.postgres import Database, RowStream, one_line, stream_rows
from gateway.errors import InvalidArgument, Unavailable
from gateway.model import Category, Scope
from gateway.stores.base import Part
from gateway.stores.reference import interchange as ix
from gateway.stores.reference import queries
from gateway.stores.reference import records as rr
from gateway.stores.reference.queries import TABLES
from gateway.stores.reference.reads import ReferenceReads
from gateway.stores.reference.records import from_us, to_us

RELEASE_QUERIES = queries.POSTGRES_QUERIES  # by name; tests EXPLAIN each

# One snapshot for every query of a release (and of its count); nothing is written by reads.
_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
# Imports run one at a time, as SQLite's single writer does: otherwise two imports could each
# validate against a store without the other's rows (duplicate ids, overlapping memberships).
# SHARE ROW EXCLUSIVE conflicts with itself and with other writers, never with readers.
_LOCK_FOR_IMPORT = f"LOCK TABLE {', '.join(TABLES.values())} IN SHARE ROW EXCLUSIVE MODE"
_COPY = {
    kind: sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols))
    )
    for kind, (table, cols) in rr.INSERT_COLUMNS.items()
}
_ITERSIZE = 500  # rows per round trip of a streaming cursor: bounded memory, few round trips


class _PgKnown:
    """interchange.Known answered inside the import transaction (after the import lock).

    Stored accounts and rooms found are remembered: a file's rows ask about the same few again
    and again, each asking is a round trip, and under the lock no other writer can change them.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._accounts: set[str] = set()
        self._rooms: dict[str, bool] = {}

    def _one(self, query: str, value: str) -> tuple[Any, ...] | None:
        return self._conn.execute(query, (value,)).fetchone()

    def account_exists(self, account: str) -> bool:
        if account in self._accounts:
            return True
        if self._one(queries.POSTGRES_KNOWN["account"], account) is None:
            return False
        self._accounts.add(account)
        return True

    def room_direct(self, room: str) -> bool | None:
        if room in self._rooms:
            return self._rooms[room]
        row = self._one(queries.POSTGRES_KNOWN["room_direct"], room)
        if row is None:
            return None
        self._rooms[room] = bool(row[0])
        return self._rooms[room]

    def message_exists(self, message: str) -> bool:
        return self._one(queries.POSTGRES_KNOWN["message"], message) is not None

    def room_memberships(self, room: str) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
        rows = self._conn.execute(queries.POSTGRES_KNOWN["memberships"], (room,))
        return [(a, from_us(j), None if left is None else from_us(left)) for a, j, left in rows]


def _check_storable(number: int, row: ix.Row, params: tuple[Any, ...]) -> None:
    """PostgreSQL text holds neither NUL nor unpaired surrogates (SQLite would): refuse the line
    as bad input instead of failing the write."""
    for value in params:
        if value.__class__ is not str:
            continue
        if "\0" in value:
            problem = "a NUL character"
        elif value.isascii():
            continue
        else:
            try:
                value.encode("utf-8")
                continue
            except UnicodeEncodeError:
                problem = "an unpaired surrogate"
        raise InvalidArgument(
            f"line {number}: {ix.label(row)}: text contains {problem},"
            " which PostgreSQL cannot store"
        )


@contextlib.contextmanager
def _connection(database: Database, failed: str) -> Iterator[psycopg.Connection]:
    """database.connection(), where any psycopg error (a lost server, a missing table, also
    mid-stream) becomes one Unavailable line saying what failed; InvalidArgument passes."""
    try:
        with database.connection() as conn:
            try:
                yield conn
            except psycopg.Error as e:
                raise Unavailable(f"reference store: {failed}: {one_line(e)}") from None
    except psycopg.Error as e:  # the commit or rollback at the end of the block
        raise Unavailable(f"reference store: {failed}: {one_line(e)}") from None


class PgReferenceStore(ReferenceReads):
    """The reference messenger schema in PostgreSQL; implements gateway.stores.base.Store."""

    RELEASE_QUERIES = RELEASE_QUERIES

    def __init__(self, database: Database) -> None:
        self._db: Database | None = database

    def close(self) -> None:
        """Stop serving; the pool stays open (the gateway owns it)."""
        self._db = None

    def _database(self) -> Database:
        if self._db is None:
            raise Unavailable("reference store is closed")
        return self._db

    def _require_open(self) -> None:
        self._database()

    def _query(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        with _connection(self._database(), "read failed") as conn:
            return conn.execute(query, params).fetchall()

    # --- loading ---------------------------------------------------------------------------

    def load(self, rows: Iterable[tuple[int, ix.Row]] | Iterable[ix.Row]) -> dict[str, int]:
        """Validate every row, then copy them all in in one transaction; returns counts per kind.

        Rows as for ReferenceStore.load. Any error rolls the whole transaction back.
        """
        with _connection(self._database(), "cannot write") as conn:
            conn.execute(_LOCK_FOR_IMPORT)
            validator = ix.Validator(_PgKnown(conn))
            batches: dict[str, list[tuple[Any, ...]]] = {kind: [] for kind in ix.KINDS}
            for number, item in enumerate(rows, start=1):
                if isinstance(item, tuple):
                    number, item = item
                validator.check_at(number, item)
                params = rr.insert_params(item)
                _check_storable(number, item, params)
                batches[ix.KIND_OF[type(item)]].append(params)
            with conn.cursor() as cur:
                for kind in ix.KINDS:  # kind by kind, file order: ids as SQLite gives them
                    if batches[kind]:
                        with cur.copy(_COPY[kind]) as copy:
                            for params in batches[kind]:
                                copy.write_row(params)
        return validator.counts

    # --- reading ---------------------------------------------------------------------------

    @staticmethod
    def _params(scope: Scope) -> dict[str, object]:
        return {
            "targets": sorted(scope.targets),
            "start": to_us(scope.window.start),
            "end": to_us(scope.window.end),
            "body": Category.MESSAGE_CONTENT in scope.categories,
        }

    def _reads(
        self,
        conn: psycopg.Connection,
        scope: Scope,
        streams: list[RowStream],
    ) -> rr.Reads:
        params = self._params(scope)

        def rows(name: str) -> RowStream:
            stream = stream_rows(conn, f"wsg_{name}", RELEASE_QUERIES[name], params, _ITERSIZE)
            streams.append(stream)
            return stream

        return rr.Reads(
            rows=rows,
            count=lambda name: rr.count_of(
                conn.execute(RELEASE_QUERIES[f"count_{name}"], params).fetchone()
            ),
            lookup=lambda name, value: conn.execute(RELEASE_QUERIES[name], (value,)).fetchall(),
            members_of=list,
            window=(to_us(scope.window.start), to_us(scope.window.end)),
        )

    @contextlib.contextmanager
    def parts(self, scope: Scope) -> Iterator[Sequence[Part]]:
        """The release of `scope` in parts (see stores.base.Part), all read in one snapshot
        (REPEATABLE READ) on one pooled connection, held until the context ends; records
        stream from server-side cursors _ITERSIZE rows at a time."""
        database = self._database()
        if not scope.targets:
            yield []
            return
        with _connection(database, "read failed") as conn:
            conn.execute(_SNAPSHOT)
            streams: list[RowStream] = []
            try:
                yield rr.parts(scope.categories, self._reads(conn, scope, streams))
            finally:
                # Every stream closed here, while the connection is still this context's
                # (see stream_rows): never by the garbage collector after it went back.
                for stream in streams:
                    with contextlib.suppress(ValueError):  # one running on another thread
                        stream.close()
