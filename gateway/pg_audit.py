"""The audit log in PostgreSQL, shared by every replica: one linear log, no gaps, forks or duplicates.

Sequencing: an append takes `LOCK TABLE audit_log IN EXCLUSIVE MODE` (readers go on; other
appenders, in this process or another replica, wait until the transaction ends), catches this
replica's Merkle tree up with the rows others committed, then inserts its entries at the next
indexes with `prev` chained to the last committed line, and commits. So the log is one sequence
whatever replica writes, every index is written once (also enforced by the primary key), and the
tree each replica holds is always a prefix of the one true log: checkpoints signed by any replica
are consistent with each other.

Write-ahead: the entry is committed before its caller goes on (a release batch is sent only
after). Warrant actions and policy changes write their rows and entries in the same transaction
(`run_audited`), so a change either happened and is audited, or neither. A database that fails is Unavailable
for that call; unlike the file log this is not final: once PostgreSQL is back, appends resume
(the tree is re-read from what was really committed, so an ambiguous commit is never guessed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg

from gateway.audit import GENESIS, TreeReads, canonical_bytes
from gateway.db import Database, one_line
from gateway.errors import FailedPrecondition, Unavailable
from gateway.merkle import MerkleTree, leaf_hash
from gateway.model import format_time

Entry = tuple[str, dict[str, Any]]
T = TypeVar("T")


class PgAuditLog(TreeReads):
    """The AuditLog interface (gateway.audit) over the audit_log table."""

    path = None  # no file: `wsg audit verify --database URL` reads the table

    def __init__(self, database: Database, clock: Callable[[], dt.datetime]) -> None:
        self._db = database
        self._clock = clock
        self._lock = threading.RLock()  # one appender per process; the table lock across replicas
        self._tree = MerkleTree([])
        self._last_hash = GENESIS
        self.broken: str | None = None  # never set: a database failure is not final
        self.sync()

    @property
    def location(self) -> str:
        return "postgresql table audit_log"

    @property
    def size(self) -> int:
        with self._lock:
            return len(self._tree)

    def on_broken(self, callback: Callable[[str], None]) -> None:
        """Never called back: unlike a failed fsync, a lost database is not final."""

    def require_healthy(self) -> None:
        """Nothing to check up front: every append finds out whether the database is there."""

    def fail(self, why: str) -> None:
        raise Unavailable(f"audit log: {why}")

    # -- appending ------------------------------------------------------------------------

    def append(self, event: str, **fields: Any) -> int:
        return self.append_many([(event, fields)])[0]

    def append_many(self, entries: list[Entry]) -> list[int]:
        """Commit entries in order in one transaction; return their indexes once committed."""
        return self.run_audited(lambda conn: (entries, None))[0]

    def _insert(self, conn: psycopg.Connection, entries: list[Entry]) -> list[bytes]:
        """Inside run_audited's transaction (table lock held): catch up, render, insert."""
        self._catch_up(conn)
        first = len(self._tree)
        last = self._last_hash
        lines: list[bytes] = []
        for offset, (event, fields) in enumerate(entries):
            entry = {"event": event, "index": first + offset, "prev": last,
                     "ts": format_time(self._clock()), **fields}
            line = canonical_bytes(entry)
            lines.append(line)
            last = hashlib.sha256(line).hexdigest()
        if lines:
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO audit_log (idx, line) VALUES (%s, %s)",
                                [(first + i, line) for i, line in enumerate(lines)])
        return lines

    def _committed(self, lines: list[bytes]) -> list[int]:
        """After the commit of `_insert`'s transaction: add the lines to this replica's tree."""
        first = len(self._tree)
        for line in lines:
            self._tree.append(leaf_hash(line))
        if lines:
            self._last_hash = hashlib.sha256(lines[-1]).hexdigest()
        return list(range(first, first + len(lines)))

    def run_audited(self, work: Callable[[psycopg.Connection], tuple[list[Entry], T]]
                    ) -> tuple[list[int], T]:
        """Run `work` and write the entries it returns in one transaction: all commit, or
        nothing does. Returns the entries' indexes and what `work` returned beside them."""
        with self._lock:
            lines: list[bytes] = []
            with self._db.connection() as conn:
                try:
                    # The table lock first: the state `work` reads is the state it changes, with
                    # every other audited change (any replica) ordered before or after it.
                    conn.execute("LOCK TABLE audit_log IN EXCLUSIVE MODE")
                    entries, result = work(conn)
                    lines = self._insert(conn, entries)
                except psycopg.OperationalError:
                    raise  # the connection is gone: Unavailable, from Database.connection
                except psycopg.Error as exc:
                    raise Unavailable(f"audit log: cannot write: {one_line(exc)}") from None
            return self._committed(lines), result

    # -- reading --------------------------------------------------------------------------

    def sync(self) -> None:
        """Catch this replica's tree up with every entry committed by any replica."""
        with self._lock, self._db.connection() as conn:
            self._catch_up(conn)

    def _catch_up(self, conn: psycopg.Connection) -> None:
        size = len(self._tree)
        rows = conn.execute("SELECT idx, line FROM audit_log WHERE idx >= %s ORDER BY idx",
                            (size,)).fetchall()
        for idx, line in rows:
            if idx != len(self._tree):
                raise FailedPrecondition(
                    f"audit log table has a gap: entry {len(self._tree)} is missing before {idx}; "
                    "run `wsg audit verify --database URL` and investigate")
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
        return bytes(row[0])

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """(index, bytes) of every entry this replica knows, fetched a page at a time."""
        return read_rows(self._db, self.size)

    def close(self) -> None:
        """The pool belongs to the gateway, which closes it."""


def read_rows(database: Database, end: int | None = None,
              batch: int = 5000) -> Iterator[tuple[int, bytes]]:
    """(index, bytes) of every entry below `end` (all if None) in index order, a page at a time."""
    next_index = 0
    while end is None or next_index < end:
        limit = batch if end is None else min(batch, end - next_index)
        with database.connection() as conn:
            rows = conn.execute("SELECT idx, line FROM audit_log WHERE idx >= %s ORDER BY idx "
                                "LIMIT %s", (next_index, limit)).fetchall()
        for idx, line in rows:
            next_index = idx + 1
            yield idx, bytes(line)
        if len(rows) < limit:
            return


def read_lines(database: Database) -> Iterator[bytes]:
    """Every entry's bytes in index order (for verification and export)."""
    return (line for _, line in read_rows(database))
