"""The audit log in PostgreSQL, shared by every replica: one linear log, no gaps, forks or copies.

Sequencing: an append takes `LOCK TABLE audit_log IN EXCLUSIVE MODE` (readers go on; other
appenders, in this process or another replica, wait until the transaction ends), catches this
replica's Merkle tree up with the rows others committed, then inserts its entries at the next
indexes with `prev` chained to the last committed line, and commits. So the log is one sequence
whatever replica writes, every index is written once (also enforced by the primary key), and the
tree each replica holds is always a prefix of the one true log: checkpoints signed by any replica
are consistent with each other.

Write-ahead: the entry is committed before its caller goes on (a release batch is sent only
after). Warrant actions and policy changes write their rows and entries in the same transaction
(`run_audited`), so a change either happened and is audited, or neither. A database that fails is
Unavailable
for that call; unlike the file log this is not final: once PostgreSQL is back, appends resume
(the tree is re-read from what was really committed, so an ambiguous commit is never guessed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn, TypeVar

import psycopg

from gateway import tracing
from gateway.audit.entries import GENESIS, render
from gateway.audit.events import Event
from gateway.audit.log import TreeReads, Veto
from gateway.audit.tree import MerkleTree, leaf_hash
from gateway.db.postgres import Database, one_line
from gateway.errors import FailedPrecondition, Unavailable
from gateway.metrics import AUDIT_APPEND_SECONDS, AUDIT_ENTRIES, AUDIT_FSYNC_SECONDS, timed
from gateway.model import format_time

T = TypeVar("T")
_INSERT = "INSERT INTO audit_log (idx, line) VALUES (%s, %s)"


class _Audited(threading.local):
    connection: psycopg.Connection | None = None


_audited = _Audited()


def audited_connection() -> psycopg.Connection | None:
    """The connection of the audited transaction this thread is inside (holding the log's
    table lock), or None: reads made under the lock must be made on it, both to see the
    state in the lock's order and not to take a second pooled connection while holding one."""
    return _audited.connection


class PgAuditLog(TreeReads):
    """The AuditLog interface (gateway.audit.log) over the audit_log table."""

    path = None  # no file: `wsg audit verify --database URL` reads the table

    def __init__(self, database: Database, clock: Callable[[], dt.datetime]) -> None:
        self._db = database
        self._clock = clock
        self._lock = threading.RLock()  # one appender per process; the table lock across replicas
        self._tree = MerkleTree([])
        self._last_hash = GENESIS
        self.sync()

    @property
    def location(self) -> str:
        return "postgresql table audit_log"

    @property
    def broken(self) -> str | None:
        """Never set: a database failure is not final."""
        return None

    @property
    def size(self) -> int:
        with self._lock:
            return len(self._tree)

    def on_broken(self, callback: Callable[[str], None]) -> None:
        """Never called back: unlike a failed fsync, a lost database is not final."""

    def require_healthy(self) -> None:
        """Nothing to check up front: every append finds out whether the database is there."""

    def fail(self, why: str) -> NoReturn:
        raise Unavailable(f"audit log: {why}")

    # -- appending ------------------------------------------------------------------------

    def append(self, event: Event) -> int:
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[Event]) -> list[int]:
        """Commit entries in order in one transaction; return their indexes once committed."""
        return self.run_audited(lambda conn: (list(events), None))[0]

    def append_checked(self, event: Event, veto: Veto) -> int | None:
        """See AuditLog.append_checked: the veto runs inside the transaction, after the table
        lock, and what it reads of the warrants table it reads on that transaction's
        connection (`audited_connection`): a revocation by any replica committed before it
        is seen, one not yet committed waits for the lock and is ordered after the entry."""

        def work(conn: psycopg.Connection) -> tuple[list[Event], bool]:
            instead = veto()
            return ([event], True) if instead is None else ([instead], False)

        indexes, written = self.run_audited(work)
        return indexes[0] if written else None

    def _insert(self, conn: psycopg.Connection, events: Sequence[Event], now: str) -> list[bytes]:
        """Inside run_audited's transaction (table lock held): catch up, render, insert."""
        self._catch_up(conn)
        rendered = render(events, len(self._tree), self._last_hash, now)
        rows = [(rendered.first + i, line) for i, line in enumerate(rendered.lines)]
        if len(rows) == 1:  # a release's batch entry: one statement, no pipeline to sync
            conn.execute(_INSERT, rows[0])
        elif rows:
            with conn.cursor() as cur:
                cur.executemany(_INSERT, rows)
        return rendered.lines

    def _committed(self, lines: list[bytes]) -> list[int]:
        """After the commit of `_insert`'s transaction: add the lines to this replica's tree."""
        first = len(self._tree)
        for line in lines:
            self._tree.append(leaf_hash(line))
        if lines:
            self._last_hash = hashlib.sha256(lines[-1]).hexdigest()
        return list(range(first, first + len(lines)))

    def run_audited(
        self, work: Callable[[psycopg.Connection], tuple[list[Event], T]]
    ) -> tuple[list[int], T]:
        """Run `work` and write the entries it returns in one transaction: all commit, or
        nothing does. Returns the entries' indexes and what `work` returned beside them."""
        with (
            self._lock,
            timed(AUDIT_APPEND_SECONDS, "postgres"),
            tracing.tracer().start_as_current_span("audit.append"),
        ):
            lines: list[bytes] = []
            with self._db.connection() as conn:
                try:
                    # The table lock first: the state `work` reads is the state it changes, with
                    # every other audited change (any replica) ordered before or after it.
                    conn.execute("LOCK TABLE audit_log IN EXCLUSIVE MODE")
                    # The entries' time, read before `work` looks at any state: a check made
                    # in it (a warrant not yet expired) holds at the time the entry states.
                    now = format_time(self._clock())
                    _audited.connection = conn
                    try:
                        entries, result = work(conn)
                    finally:
                        _audited.connection = None
                    lines = self._insert(conn, entries, now)
                    with (
                        timed(AUDIT_FSYNC_SECONDS, "postgres"),
                        tracing.tracer().start_as_current_span("audit.fsync"),
                    ):
                        conn.commit()  # durability: the commit is PostgreSQL's fsync
                except psycopg.OperationalError:
                    raise  # the connection is gone: Unavailable, from Database.connection
                except psycopg.Error as exc:
                    raise Unavailable(f"audit log: cannot write: {one_line(exc)}") from None
            AUDIT_ENTRIES.labels("postgres").inc(len(lines))
            return self._committed(lines), result

    # -- reading --------------------------------------------------------------------------

    def sync(self) -> None:
        """Catch this replica's tree up with every entry committed by any replica."""
        with self._lock, self._db.connection() as conn:
            self._catch_up(conn)

    def _catch_up(self, conn: psycopg.Connection) -> None:
        size = len(self._tree)
        rows = conn.execute(
            "SELECT idx, line FROM audit_log WHERE idx >= %s ORDER BY idx", (size,)
        ).fetchall()
        for idx, line in rows:
            if idx != len(self._tree):
                raise FailedPrecondition(
                    f"audit log table has a gap: entry {len(self._tree)} is missing before {idx}; "
                    "run `wsg audit verify --database URL` and investigate"
                )
            line = bytes(line)
            self._tree.append(leaf_hash(line))
            self._last_hash = hashlib.sha256(line).hexdigest()

    def line(self, index: int) -> bytes:
        with self._lock:
            size = len(self._tree)
        if not 0 <= index < size:
            raise IndexError(f"no audit entry {index}; the log has {size}")
        with self._db.connection() as conn:
            row = conn.execute("SELECT line FROM audit_log WHERE idx = %s", (index,)).fetchone()
        if row is None:
            raise IndexError(f"no audit entry {index} in the database, though the tree has it")
        return bytes(row[0])

    def lines(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        """(index, bytes) of every entry this replica knows from `start` on, a page at a time."""
        return read_rows(self._db, self.size, start=start)

    def close(self) -> None:
        """The pool belongs to the gateway, which closes it."""


def read_rows(
    database: Database, end: int | None = None, batch: int = 5000, start: int = 0
) -> Iterator[tuple[int, bytes]]:
    """(index, bytes) of every entry from `start` below `end` (all if None) in index order, a
    page at a time."""
    next_index = start
    while end is None or next_index < end:
        limit = batch if end is None else min(batch, end - next_index)
        with database.connection() as conn:
            rows = conn.execute(
                "SELECT idx, line FROM audit_log WHERE idx >= %s ORDER BY idx LIMIT %s",
                (next_index, limit),
            ).fetchall()
        for idx, line in rows:
            next_index = idx + 1
            yield idx, bytes(line)
        if len(rows) < limit:
            return


def read_lines(database: Database) -> Iterator[bytes]:
    """Every entry's bytes in index order (for verification and export)."""
    return (line for _, line in read_rows(database))
