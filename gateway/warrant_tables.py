"""Where warrants are kept: the SQLite file of the embedded gateway, or PostgreSQL for replicas.

The warrant book (gateway.warrants) decides; a table only stores, and runs each action under
write-ahead auditing: the action's row change and its audit entry are durable together or not
at all. Both do it with group commit (gateway.group_commit): on SQLite the group's entries are
fsynced, then its transaction committed; on PostgreSQL the group's row changes and entries are
one transaction.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from gateway.audit import AuditLog
from gateway.db import Database, one_line
from gateway.errors import Unavailable
from gateway.group_commit import Entry, PgGroupCommit, SqliteGroupCommit
from gateway.model import Category, WarrantState, Window, format_time, parse_time
from gateway.sqlite_readers import ThreadReaders

COLUMNS = ("id, spec, state, target_accounts, submitted_by, submitted_at, decided_by, decided_at,"
           " revoked_by, revoked_at, reason")

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS warrants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    target_accounts TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    decided_by TEXT, decided_at TEXT,
    revoked_by TEXT, revoked_at TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS warrants_state ON warrants(state);
"""


def spec_to_json(spec: Any) -> str:
    return json.dumps(
        {
            "case_number": spec.case_number,
            "authority": spec.authority,
            "legal_basis": spec.legal_basis,
            "targets": list(spec.targets),
            "window": {"start": format_time(spec.window.start), "end": format_time(spec.window.end)},
            "categories": [c.value for c in spec.categories],
            "expires_at": format_time(spec.expires_at),
            "nondisclosure_until": format_time(spec.nondisclosure_until)
            if spec.nondisclosure_until
            else None,
            "include_received_direct": spec.include_received_direct,
            "document_sha256": spec.document_sha256,
        },
        sort_keys=True,
    )


def _opt_time(text: str | None) -> Any:
    return parse_time(text) if text else None


def from_row(row: tuple) -> Any:  # type: ignore[type-arg]
    from gateway.warrants import Warrant, WarrantSpec

    (wid, spec_text, state, accounts, sub_by, sub_at, dec_by, dec_at, rev_by, rev_at, reason) = row
    raw = json.loads(spec_text)
    spec = WarrantSpec(
        case_number=raw["case_number"],
        authority=raw["authority"],
        legal_basis=raw["legal_basis"],
        targets=tuple(raw["targets"]),
        window=Window(parse_time(raw["window"]["start"]), parse_time(raw["window"]["end"])),
        categories=tuple(Category(c) for c in raw["categories"]),
        expires_at=parse_time(raw["expires_at"]),
        nondisclosure_until=_opt_time(raw["nondisclosure_until"]),
        include_received_direct=raw["include_received_direct"],
        document_sha256=raw["document_sha256"],
    )
    return Warrant(id=wid, spec=spec, state=WarrantState(state),
                   target_accounts=tuple(json.loads(accounts)), submitted_by=sub_by,
                   submitted_at=parse_time(sub_at), decided_by=dec_by, decided_at=_opt_time(dec_at),
                   revoked_by=rev_by, revoked_at=_opt_time(rev_at), reason=reason)


def _insert_params(w: Any) -> tuple:  # type: ignore[type-arg]
    return (w.id, spec_to_json(w.spec), w.state.value, json.dumps(w.target_accounts),
            w.submitted_by, format_time(w.submitted_at))


# The statements, from constant text only; `mark` is the driver's placeholder (sqlite3: ?,
# psycopg: %s), the one difference between the two dialects here.
def _statements(mark: str) -> dict[str, str]:
    return {
        "insert": "INSERT INTO warrants (id, spec, state, target_accounts, submitted_by,"
                  f" submitted_at) VALUES ({', '.join([mark] * 6)})",
        "get": f"SELECT {COLUMNS} FROM warrants WHERE id = {mark}",
        "decided": f"UPDATE warrants SET state = {mark}, decided_by = {mark}, decided_at = {mark},"
                   f" reason = {mark} WHERE id = {mark} AND state = {mark}",
        "revoked": f"UPDATE warrants SET state = {mark}, revoked_by = {mark}, revoked_at = {mark},"
                   f" reason = {mark} WHERE id = {mark} AND state = {mark}",
        "newest_first": f"SELECT {COLUMNS} FROM warrants ORDER BY seq DESC",
    }


SQLITE_STATEMENTS = _statements("?")
PG_STATEMENTS = _statements("%s")


class Rows:
    """The warrant rows as one connection sees them (in one transaction, for writes): a
    DB-API connection, sqlite3 or psycopg (both have execute -> cursor), and its dialect's
    statements."""

    def __init__(self, conn: Any, statements: dict[str, str]) -> None:
        self._conn = conn
        self._sql = statements

    def insert(self, warrant: Any) -> None:
        self._conn.execute(self._sql["insert"], _insert_params(warrant))

    def get(self, warrant_id: str) -> Any | None:
        row = self._conn.execute(self._sql["get"], (warrant_id,)).fetchone()
        return None if row is None else from_row(row)

    def set_state(self, warrant_id: str, source: WarrantState, target: WarrantState, who: str,
                  principal: str, at: str, reason: str | None) -> bool:
        cur = self._conn.execute(self._sql[who],  # who: "decided" or "revoked", never input
                                 (target.value, principal, at, reason, warrant_id, source.value))
        return cur.rowcount == 1

    def newest_first(self) -> list[Any]:
        return [from_row(r) for r in self._conn.execute(self._sql["newest_first"])]


# An action runs on the rows inside the write transaction and returns the audit entry to write,
# plus the refusal its caller gets (a refusal is audited too); see gateway.group_commit.
Action = Callable[[Rows], tuple[Entry, BaseException | None]]


# -- SQLite ---------------------------------------------------------------------------------


def _sqlite_reader(path: pathlib.Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA query_only = ON")
    return db


class SqliteWarrantTable:
    """DIR/state.db: one writer with group commit, per-thread readers (WAL)."""

    def __init__(self, path: pathlib.Path, audit: AuditLog) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SQLITE_SCHEMA)
        self._writes = SqliteGroupCommit(self._db, audit)
        self._readers = ThreadReaders(lambda: _sqlite_reader(path))

    @contextlib.contextmanager
    def reading(self) -> Iterator[Rows]:
        yield Rows(self._readers.get(), SQLITE_STATEMENTS)

    def write(self, action: Action) -> None:
        self._writes.run(lambda db: action(Rows(db, SQLITE_STATEMENTS)))

    def close(self) -> None:
        self._db.close()
        self._readers.close()


# -- PostgreSQL -----------------------------------------------------------------------------


class PgWarrantTable:
    """The warrants table in PostgreSQL: actions and their audit entries commit together, in
    groups of those waiting at once, whichever replica runs them (the log's lock orders them)."""

    def __init__(self, database: Database, audit: Any) -> None:
        self._db = database
        self._writes = PgGroupCommit(audit)  # audit: gateway.pg_audit.PgAuditLog

    @contextlib.contextmanager
    def reading(self) -> Iterator[Rows]:
        with self._db.connection() as conn:
            try:
                yield Rows(conn, PG_STATEMENTS)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                raise Unavailable(f"warrant state: {one_line(exc)}") from None

    def write(self, action: Action) -> None:
        self._writes.run(lambda conn: action(Rows(conn, PG_STATEMENTS)))

    def close(self) -> None:
        """The pool belongs to the gateway."""
