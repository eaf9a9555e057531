"""The warrants table in PostgreSQL: actions and their audit entries commit together, in groups of
those waiting at once, whichever replica runs them (the shared log's lock orders them)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg

from gateway.audit.events import Event
from gateway.backends import warrant_rows
from gateway.backends.group_commit import GroupCommit, Pending
from gateway.backends.postgres.audit_log import PgAuditLog, audited_connection
from gateway.db.postgres import Database, one_line
from gateway.errors import Unavailable
from gateway.warrants.table import Action


class PgRows(warrant_rows.Rows):
    """The rows on a psycopg connection: a frozen copy goes in with one COPY, not a statement a
    line (it is written inside the approval's audited transaction, which every replica's log
    writes wait for: 200,000 lines took 3.3 s with executemany)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        super().__init__(conn, warrant_rows.POSTGRES)

    def insert_records(self, rows: list[tuple[str, int, str]]) -> None:
        with self._conn.cursor() as cur, cur.copy(_COPY_RECORDS) as copy:
            for row in rows:
                copy.write_row(row)


_COPY_RECORDS = "COPY preserved_records (warrant, seq, record) FROM STDIN"


class PgGroupCommit(GroupCommit):
    """A savepoint per action in one transaction that also writes every entry (run_audited):
    state and entries commit together, under the log lock every replica shares."""

    def __init__(self, audit: PgAuditLog) -> None:
        super().__init__()
        self._audit = audit

    def _commit(self, group: list[Pending]) -> None:
        def actions(conn: psycopg.Connection[Any]) -> tuple[list[Event], None]:
            entries: list[Event] = []
            for pending in group:
                try:
                    with conn.transaction():  # a savepoint: a failed action undoes only itself
                        entry, refusal = pending.run(conn)
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
            self.fail(group, exc)
        finally:
            for pending in group:
                pending.done = True


class PgWarrantTable:
    """The WarrantTable interface (gateway.warrants.table) over the warrants table."""

    def __init__(self, database: Database, audit: PgAuditLog) -> None:
        self._db = database
        self._writes = PgGroupCommit(audit)

    @contextlib.contextmanager
    def reading(self) -> Iterator[PgRows]:
        held = audited_connection()
        if held is not None:  # inside the log's transaction: read in its order, on its connection
            yield PgRows(held)
            return
        with self._db.connection() as conn:
            try:
                yield PgRows(conn)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                raise Unavailable(f"warrant state: {one_line(exc)}") from None

    def write(self, action: Action) -> None:
        self._writes.run(lambda conn: action(PgRows(conn)))

    def close(self) -> None:
        """The pool belongs to the gateway."""
