"""Group commit for warrant actions: concurrent state changes share one audit write and one commit.

Every action must be in the audit log, durably, before its caller hears it succeeded; done one by
one, that is two fsyncs (audit entry, database commit) per action under one writer lock, and
concurrent callers queue behind each other's disk waits. Here the first caller to arrive leads:
it runs every waiting action in one transaction (each in its own savepoint, so one refused or
failed action does not undo the others), writes all their audit entries with one fsync, commits,
and wakes them. Write-ahead holds for each action: entry durable, then state committed, then
the reply. If the audit write or the commit fails, every action of that group fails with it.

The leader/follower mechanism is one; how a group commits depends on the store: SQLite (entries
fsynced to the log file, then the state committed) or PostgreSQL (state and entries in one
transaction under the shared log's lock, gateway.pg_audit).
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from gateway.audit import AuditLog
from gateway.errors import Unavailable

# What an action does inside the shared transaction: its SQL on the connection it is given
# (sqlite3 or psycopg), and the audit entry (event, fields) to write. A refusal that must be
# audited returns its entry and the error its caller gets; any other error raised rolls back just
# that action, unaudited.
Entry = tuple[str, dict[str, Any]]
Action = Callable[[Any], tuple[Entry, BaseException | None]]


@dataclasses.dataclass(eq=False)
class _Pending:
    action: Action
    done: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Leader/follower: the first caller to arrive commits everyone waiting (see _commit)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: list[_Pending] = []
        self._leading = False

    def run(self, action: Action) -> None:
        """Run `action` in the next group; return once it is durable, or raise its error."""
        mine = _Pending(action)
        with self._cond:
            self._waiting.append(mine)
            while not mine.done:
                if self._leading:
                    self._cond.wait()
                    continue
                self._leading = True
                group, self._waiting = self._waiting, []
                self._cond.release()
                try:
                    self._commit(group)
                finally:
                    self._cond.acquire()
                    self._leading = False
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error

    def _commit(self, group: list[_Pending]) -> None:
        raise NotImplementedError

    @staticmethod
    def _fail(group: list[_Pending], failure: BaseException) -> None:
        """The group's commit failed: a refusal stands whether or not it was logged; anything
        else did not happen."""
        for pending in group:
            if pending.error is None:
                pending.error = failure


class SqliteGroupCommit(GroupCommit):
    """Savepoint per action in one IMMEDIATE transaction; entries fsynced; then COMMIT."""

    def __init__(self, db: sqlite3.Connection, audit: AuditLog) -> None:
        super().__init__()
        self._db = db
        self._audit = audit

    def _commit(self, group: list[_Pending]) -> None:
        db = self._db
        entries: list[Entry] = []
        audited: list[_Pending] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for pending in group:
                db.execute("SAVEPOINT action")
                try:
                    entry, refusal = pending.action(db)
                except BaseException as exc:  # noqa: BLE001 - handed to its own caller
                    db.execute("ROLLBACK TO action")
                    db.execute("RELEASE action")
                    pending.error = exc
                    continue
                db.execute("RELEASE action")
                entries.append(entry)
                audited.append(pending)
                pending.error = refusal
            self._audit.append_many(entries)
            db.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - every action of the group fails with it
            if db.in_transaction:
                db.execute("ROLLBACK")
            failure = Unavailable(f"warrant state: {exc}") if isinstance(exc, sqlite3.Error) else exc
            self._fail(group, failure)
        finally:
            for pending in group:
                pending.done = True


class PgGroupCommit(GroupCommit):
    """A savepoint per action in one transaction that also writes every entry (run_audited):
    state and entries commit together, under the log lock every replica shares."""

    def __init__(self, audit: Any) -> None:
        super().__init__()
        self._audit = audit  # gateway.pg_audit.PgAuditLog

    def _commit(self, group: list[_Pending]) -> None:
        def actions(conn: psycopg.Connection) -> tuple[list[Entry], None]:
            entries: list[Entry] = []
            for pending in group:
                try:
                    with conn.transaction():  # a savepoint: a failed action undoes only itself
                        entry, refusal = pending.action(conn)
                except psycopg.OperationalError:
                    raise  # the connection is gone: the whole group fails
                except Exception as exc:  # noqa: BLE001 - handed to its own caller
                    pending.error = exc
                    continue
                entries.append(entry)
                pending.error = refusal
            return entries, None

        try:
            self._audit.run_audited(actions)
        except BaseException as exc:  # noqa: BLE001 - every action of the group fails with it
            self._fail(group, exc)
        finally:
            for pending in group:
                pending.done = True
