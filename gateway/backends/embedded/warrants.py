"""The embedded gateway's warrants: DIR/state.db, one writer with group commit, per-thread readers.

A group's entries are fsynced to the audit log file first, then its transaction commits
(write-ahead: an action whose entry is not durable never happened).
"""

from __future__ import annotations

import contextlib
import pathlib
import sqlite3
from collections.abc import Iterator

from gateway.audit.events import Event
from gateway.backends import warrant_rows
from gateway.backends.embedded.audit_log import FileAuditLog
from gateway.backends.group_commit import GroupCommit, Pending
from gateway.datadir import private_file
from gateway.db import migrate
from gateway.db.sqlite import ThreadReaders
from gateway.errors import Unavailable
from gateway.warrants.table import Action


class SqliteGroupCommit(GroupCommit):
    """Savepoint per action in one IMMEDIATE transaction; entries fsynced; then COMMIT."""

    def __init__(self, db: sqlite3.Connection, audit: FileAuditLog) -> None:
        super().__init__()
        self._db = db
        self._audit = audit

    def _commit(self, group: list[Pending]) -> None:
        db = self._db
        entries: list[Event] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for pending in group:
                db.execute("SAVEPOINT action")
                try:
                    entry, refusal = pending.run(db)
                except BaseException as exc:  # noqa: BLE001 - handed to its own caller
                    db.execute("ROLLBACK TO action")
                    db.execute("RELEASE action")
                    pending.error = exc
                    continue
                db.execute("RELEASE action")
                entries.append(entry)
                pending.error = refusal
            # The log's write lock from the entries to the commit: a release's checked batch
            # entry (FileAuditLog.append_checked) comes wholly before this group or after its
            # state is visible, never between a revocation's entry and its commit.
            with self._audit.writing():
                self._audit.append_many(entries)
                db.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - every action of the group fails with it
            if db.in_transaction:
                db.execute("ROLLBACK")
            failure = (
                Unavailable(f"warrant state: {exc}") if isinstance(exc, sqlite3.Error) else exc
            )
            self.fail(group, failure)
        finally:
            for pending in group:
                pending.done = True


def _reader(path: pathlib.Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA query_only = ON")
    return db


class SqliteWarrantTable:
    """The WarrantTable interface (gateway.warrants.table) over DIR/state.db (WAL)."""

    def __init__(self, path: pathlib.Path, audit: FileAuditLog) -> None:
        private_file(path)  # before SQLite makes it (and its side files)
        migrate.upgrade_sqlite(path, migrate.SQLITE_STATE)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._writes = SqliteGroupCommit(self._db, audit)
        self._readers = ThreadReaders(lambda: _reader(path))

    @contextlib.contextmanager
    def reading(self) -> Iterator[warrant_rows.Rows]:
        yield warrant_rows.Rows(self._readers.get(), warrant_rows.SQLITE)

    def write(self, action: Action) -> None:
        self._writes.run(lambda db: action(warrant_rows.Rows(db, warrant_rows.SQLITE)))

    def close(self) -> None:
        self._db.close()
        self._readers.close()
