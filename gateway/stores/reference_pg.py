"""The reference messenger store on PostgreSQL: ReferenceStore's twin for replicated deployments.

Same schema (migration 0002_reference_store), same queries and the same records as the SQLite
store (gateway/stores/reference.py); rows become records through the shared reference_records.
Connections come from the gateway's pool (gateway.db.Database), which the gateway owns: this
store never migrates the schema and never closes the pool. Every value is a bound parameter;
the targets travel as one text[] parameter.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import pathlib
from collections.abc import Iterable, Iterator

import psycopg
from psycopg import sql

from gateway.db import Database, one_line, stream_rows
from gateway.errors import InvalidArgument, Unavailable
from gateway.model import Category, Scope, StoreRecord
from gateway.stores import interchange as ix
from gateway.stores import reference_records as rr
from gateway.stores.reference import TABLES
from gateway.stores.reference_records import from_us, to_us

# --- release queries. Parameters: %(targets)s (text[] of account ids), %(start)s, %(end)s (µs),
# %(body)s (bool). Each is reference.py's query of the same name, in PostgreSQL's dialect. ------
_IN_TARGETS = "= ANY(%(targets)s)"

SUBSCRIBER_FROM = f"FROM accounts a WHERE a.id {_IN_TARGETS}"
SUBSCRIBER_SQL = (
    f"SELECT a.id, a.display_name, a.phone, a.email, a.created_at {SUBSCRIBER_FROM} ORDER BY a.id"
)

LOGINS_FROM = (
    f"FROM logins l WHERE l.account {_IN_TARGETS} AND l.at >= %(start)s AND l.at < %(end)s"
)
LOGINS_SQL = f"SELECT l.id, l.account, l.at, l.ip, l.device {LOGINS_FROM}"

# A target's memberships overlapping the window; `members` = the other accounts whose membership
# overlaps the target's, both clipped to the window (data minimization: no one from outside it).
MEMBERSHIPS_FROM = (
    "FROM memberships t JOIN rooms r ON r.id = t.room"
    f" WHERE t.account {_IN_TARGETS} AND t.joined_at < %(end)s"
    " AND (t.left_at IS NULL OR t.left_at > %(start)s)"
)
MEMBERSHIPS_SQL = (
    "SELECT t.id, t.room, t.account, t.joined_at, t.left_at, r.name, r.direct,"
    " (SELECT COALESCE(array_agg(DISTINCT o.account), '{}') FROM memberships o"
    "   WHERE o.room = t.room AND o.account <> t.account"
    "     AND o.joined_at < LEAST(COALESCE(t.left_at, %(end)s), %(end)s)"
    "     AND (o.left_at IS NULL OR o.left_at > GREATEST(t.joined_at, %(start)s))) AS members "
    + MEMBERSHIPS_FROM
)

# The other member of a direct room, seen from the sender.
_RECIPIENT = (
    "CASE WHEN r.direct THEN (SELECT o.account FROM memberships o"
    " WHERE o.room = m.room AND o.account <> m.sender ORDER BY o.account LIMIT 1) END"
)

# Messages a target sent (relation self).
MESSAGES_SELF_FROM = (
    "FROM messages m JOIN rooms r ON r.id = m.room"
    f" WHERE m.sender {_IN_TARGETS} AND m.sent_at >= %(start)s AND m.sent_at < %(end)s"
)
MESSAGES_SELF_SQL = (
    "SELECT m.id, m.room, m.sender, m.sent_at, CASE WHEN %(body)s THEN m.body END, r.direct,"
    f" {_RECIPIENT} {MESSAGES_SELF_FROM}"
)

# Messages others sent in a room while a target was a member, inside the window. A message that
# falls in several targets' memberships is produced once: by the membership with the lowest id.
MESSAGES_PEER_FROM = (
    "FROM memberships t JOIN rooms r ON r.id = t.room"
    " JOIN messages m ON m.room = t.room"
    f" WHERE t.account {_IN_TARGETS} AND t.joined_at < %(end)s"
    " AND (t.left_at IS NULL OR t.left_at > %(start)s)"
    " AND m.sent_at >= GREATEST(t.joined_at, %(start)s)"
    " AND m.sent_at < LEAST(COALESCE(t.left_at, %(end)s), %(end)s)"
    " AND m.sender <> ALL(%(targets)s)"
    " AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.room = t.room AND o.id < t.id"
    f"   AND o.account {_IN_TARGETS} AND o.joined_at <= m.sent_at"
    "   AND (o.left_at IS NULL OR o.left_at > m.sent_at))"
)
MESSAGES_PEER_SQL = (
    "SELECT m.id, m.room, m.sender, m.sent_at, CASE WHEN %(body)s THEN m.body END, r.direct,"
    f" {_RECIPIENT} {MESSAGES_PEER_FROM}"
)

CONTACTS_FROM = (
    f"FROM contacts c WHERE c.owner {_IN_TARGETS}"
    " AND c.added_at >= %(start)s AND c.added_at < %(end)s"
)
CONTACTS_SQL = f"SELECT c.id, c.owner, c.contact, c.added_at {CONTACTS_FROM}"

RESOLVE_PHONE_SQL = "SELECT id FROM accounts WHERE phone = %s ORDER BY id"
RESOLVE_EMAIL_SQL = "SELECT id FROM accounts WHERE email_key = %s ORDER BY id"
RESOLVE_ACCOUNT_SQL = "SELECT id FROM accounts WHERE id = %s"

RELEASE_QUERIES: dict[str, str] = {
    "subscriber": SUBSCRIBER_SQL,
    "logins": LOGINS_SQL,
    "memberships": MEMBERSHIPS_SQL,
    "messages_self": MESSAGES_SELF_SQL,
    "messages_peer": MESSAGES_PEER_SQL,
    "contacts": CONTACTS_SQL,
    "resolve_phone": RESOLVE_PHONE_SQL,
    "resolve_email": RESOLVE_EMAIL_SQL,
    "resolve_account": RESOLVE_ACCOUNT_SQL,
}
# As in SQLite: every message's room exists (the import checks it), so no join for the count.
COUNT_MESSAGES_SELF_FROM = (
    f"FROM messages m WHERE m.sender {_IN_TARGETS}"
    " AND m.sent_at >= %(start)s AND m.sent_at < %(end)s"
)
RELEASE_QUERIES.update(
    {f"count_{name}": f"SELECT COUNT(*) {frm}" for name, frm in [
        ("subscriber", SUBSCRIBER_FROM), ("logins", LOGINS_FROM),
        ("memberships", MEMBERSHIPS_FROM), ("messages_self", COUNT_MESSAGES_SELF_FROM),
        ("messages_peer", MESSAGES_PEER_FROM), ("contacts", CONTACTS_FROM)]}
)

COUNTS_SQL = " UNION ALL ".join(
    f"SELECT '{kind}', COUNT(*) FROM {table}" for kind, table in TABLES.items())
SUGGEST_TARGET_SQL = (
    "SELECT a.id FROM accounts a"
    " ORDER BY"
    "  (EXISTS (SELECT 1 FROM memberships g JOIN rooms r ON r.id = g.room"
    "           WHERE g.account = a.id AND NOT r.direct)"
    "   AND EXISTS (SELECT 1 FROM memberships d JOIN rooms r ON r.id = d.room"
    "           WHERE d.account = a.id AND r.direct)) DESC,"
    "  (SELECT COUNT(*) FROM messages m WHERE m.sender = a.id) DESC, a.id"
    " LIMIT 1"
)

# One snapshot for every query of a release (and of its count); nothing is written by reads.
_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
# Imports run one at a time, as SQLite's single writer does: otherwise two imports could each
# validate against a store without the other's rows (duplicate ids, overlapping memberships).
# SHARE ROW EXCLUSIVE conflicts with itself and with other writers, never with readers.
_LOCK_FOR_IMPORT = (
    f"LOCK TABLE {', '.join(TABLES.values())} IN SHARE ROW EXCLUSIVE MODE")
_COPY = {
    kind: sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols)))
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

    def _one(self, query: str, value: str) -> tuple | None:
        return self._conn.execute(query, (value,)).fetchone()

    def account_exists(self, account: str) -> bool:
        if account in self._accounts:
            return True
        if self._one("SELECT 1 FROM accounts WHERE id = %s", account) is None:
            return False
        self._accounts.add(account)
        return True

    def room_direct(self, room: str) -> bool | None:
        if room in self._rooms:
            return self._rooms[room]
        row = self._one("SELECT direct FROM rooms WHERE id = %s", room)
        if row is None:
            return None
        self._rooms[room] = bool(row[0])
        return self._rooms[room]

    def message_exists(self, message: str) -> bool:
        return self._one("SELECT 1 FROM messages WHERE id = %s", message) is not None

    def room_memberships(self, room: str) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
        rows = self._conn.execute(
            "SELECT account, joined_at, left_at FROM memberships WHERE room = %s", (room,))
        return [(a, from_us(j), None if left is None else from_us(left)) for a, j, left in rows]


def _check_storable(number: int, row: ix.Row, params: tuple) -> None:
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
        raise InvalidArgument(f"line {number}: {ix.label(row)}: text contains {problem},"
                              " which PostgreSQL cannot store")


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


class PgReferenceStore:
    """The reference messenger schema in PostgreSQL; implements gateway.stores.base.Store."""

    def __init__(self, database: Database) -> None:
        self._db: Database | None = database

    def close(self) -> None:
        """Stop serving; the pool stays open (the gateway owns it)."""
        self._db = None

    def _database(self) -> Database:
        if self._db is None:
            raise Unavailable("reference store is closed")
        return self._db

    def _query(self, query: str, params: Iterable | dict = ()) -> list[tuple]:
        with _connection(self._database(), "read failed") as conn:
            return conn.execute(query, params).fetchall()

    # --- loading ---------------------------------------------------------------------------

    def import_jsonl(self, source: pathlib.Path | str | Iterable[str | bytes]) -> dict[str, int]:
        """Load an interchange file (a path, or its lines): all of it, or nothing on a bad line."""
        lines = rr.read_lines(source) if isinstance(source, (str, pathlib.Path)) else source
        return self.load(ix.parse_lines(lines))

    def load(self, rows: Iterable[tuple[int, ix.Row]] | Iterable[ix.Row]) -> dict[str, int]:
        """Validate every row, then copy them all in in one transaction; returns counts per kind.

        Rows as for ReferenceStore.load. Any error rolls the whole transaction back.
        """
        with _connection(self._database(), "cannot write") as conn:
            conn.execute(_LOCK_FOR_IMPORT)
            validator = ix.Validator(_PgKnown(conn))
            batches: dict[str, list[tuple]] = {kind: [] for kind in ix.KINDS}
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

    def counts(self) -> dict[str, int]:
        """How many rows of each kind the whole store holds."""
        return {kind: n for kind, n in self._query(COUNTS_SQL)}

    def resolve(self, kind: str, value: str) -> list[str]:
        """Account ids for a target given as account id, phone number or e-mail address."""
        lookup = rr.resolve_lookup(kind, value)
        rows = [] if lookup is None else self._query(RELEASE_QUERIES[lookup[0]], lookup[1])
        return [r[0] for r in rows]

    @staticmethod
    def _params(scope: Scope) -> dict[str, object]:
        return {
            "targets": sorted(scope.targets),
            "start": to_us(scope.window.start),
            "end": to_us(scope.window.end),
            "body": Category.MESSAGE_CONTENT in scope.categories,
        }

    def count(self, scope: Scope) -> int:
        """Exactly how many records records(scope) yields (same WHERE clauses, COUNT(*))."""
        database = self._database()
        if not scope.targets:
            return 0
        params = self._params(scope)
        with _connection(database, "read failed") as conn:
            conn.execute(_SNAPSHOT)
            return rr.count(scope.categories, lambda name: conn.execute(
                RELEASE_QUERIES[f"count_{name}"], params).fetchone()[0])

    def records(self, scope: Scope) -> Iterator[StoreRecord]:
        """Stream the scope's records, category by category, from one snapshot.

        Returns a generator over server-side cursors: rows arrive _ITERSIZE at a time as the
        caller iterates; the pooled connection goes back when the iteration ends or is abandoned.
        """
        return self._records(self._database(), scope)

    def _records(self, database: Database, scope: Scope) -> Iterator[StoreRecord]:
        if not scope.targets:
            return
        params = self._params(scope)
        with _connection(database, "read failed") as conn:
            conn.execute(_SNAPSHOT)

            yield from rr.records(
                scope.categories,
                lambda name: stream_rows(conn, "wsg_reference_records", RELEASE_QUERIES[name],
                                         params, _ITERSIZE),
                list)

    # --- for the demo ----------------------------------------------------------------------

    def suggest_target(self) -> str | None:
        """A telling demo target: in a group and a direct room, the most messages sent."""
        rows = self._query(SUGGEST_TARGET_SQL)
        return rows[0][0] if rows else None

    def time_span(self) -> tuple[dt.datetime, dt.datetime] | None:
        """Earliest and latest message time (the demo's window), None without messages."""
        low, high = self._query("SELECT MIN(sent_at), MAX(sent_at) FROM messages")[0]
        return None if low is None else (from_us(low), from_us(high))
