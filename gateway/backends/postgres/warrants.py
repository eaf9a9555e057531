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
    def reading(self) -> Iterator[warrant_rows.Rows]:
        held = audited_connection()
        if held is not None:  # inside the log's transaction: read in its order, on its connection
            yield warrant_rows.Rows(held, warrant_rows.POSTGRES)
            return
        with self._db.connection() as conn:
            try:
                yield warrant_rows.Rows(conn, warrant_rows.POSTGRES)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                raise Unavailable(f"warrant state: {one_line(exc)}") from None

    def write(self, action: Action) -> None:
        self._writes.run(lambda conn: action(warrant_rows.Rows(conn, warrant_rows.POSTGRES)))

    def close(self) -> None:
        """The pool belongs to the gateway."""
