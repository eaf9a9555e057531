"""The reference messenger store on SQLite: the embedded default behind `wsg demo` and `wsg serve`.

Times are stored as integer microseconds since the epoch (UTC), so every window is an indexed
range query. Every release query starts from the targets (accounts, their memberships) and reaches
other rows only through indexes; the SQL is kept in module constants so tests can EXPLAIN it.
Reads open their own connection (WAL lets them run beside a writer and beside each other) and
stream their cursor; writes go through one connection under a lock, one transaction per import.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator

from gateway.errors import FailedPrecondition, GatewayError, Unavailable
from gateway.model import Category, Scope, StoreRecord
from gateway.sqlite_readers import ThreadReaders
from gateway.stores import interchange as ix
from gateway.stores import reference_records as rr
from gateway.stores.reference_records import email_key, from_us, to_us
from gateway.stores.reference_records import format_us as _time

__all__ = ["ReferenceStore", "_time", "email_key", "from_us", "to_us"]

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, display_name TEXT, phone TEXT, email TEXT,
    email_key TEXT, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS accounts_phone ON accounts(phone);
CREATE INDEX IF NOT EXISTS accounts_email ON accounts(email_key);
CREATE TABLE IF NOT EXISTS logins (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, at INTEGER NOT NULL,
    ip TEXT NOT NULL, device TEXT);
CREATE INDEX IF NOT EXISTS logins_account_at ON logins(account, at);
CREATE TABLE IF NOT EXISTS rooms (id TEXT PRIMARY KEY, name TEXT, direct INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS memberships (
    id INTEGER PRIMARY KEY, room TEXT NOT NULL, account TEXT NOT NULL,
    joined_at INTEGER NOT NULL, left_at INTEGER);
CREATE INDEX IF NOT EXISTS memberships_account ON memberships(account, joined_at);
CREATE INDEX IF NOT EXISTS memberships_room ON memberships(room, account);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, room TEXT NOT NULL, sender TEXT NOT NULL,
    sent_at INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_sender ON messages(sender, sent_at);
CREATE INDEX IF NOT EXISTS messages_room ON messages(room, sent_at);
CREATE INDEX IF NOT EXISTS messages_sent_at ON messages(sent_at);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY, owner TEXT NOT NULL, contact TEXT NOT NULL, added_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS contacts_owner ON contacts(owner, added_at);
"""

TABLES = {"account": "accounts", "login": "logins", "room": "rooms",
          "membership": "memberships", "message": "messages", "contact": "contacts"}

# --- release queries. Parameters: :targets (JSON array of account ids), :start, :end (µs). ---
_TARGETS = "(SELECT value FROM json_each(:targets))"

SUBSCRIBER_FROM = f"FROM accounts a WHERE a.id IN {_TARGETS}"
SUBSCRIBER_SQL = (
    f"SELECT a.id, a.display_name, a.phone, a.email, a.created_at {SUBSCRIBER_FROM} ORDER BY a.id"
)

LOGINS_FROM = (
    f"FROM logins l WHERE l.account IN {_TARGETS} AND l.at >= :start AND l.at < :end"
)
LOGINS_SQL = f"SELECT l.id, l.account, l.at, l.ip, l.device {LOGINS_FROM}"

# A target's memberships overlapping the window; `members` = the other accounts whose membership
# overlaps the target's, both clipped to the window (data minimization: no one from outside it).
MEMBERSHIPS_FROM = (
    "FROM memberships t CROSS JOIN rooms r ON r.id = t.room"
    f" WHERE t.account IN {_TARGETS} AND t.joined_at < :end"
    " AND (t.left_at IS NULL OR t.left_at > :start)"
)
MEMBERSHIPS_SQL = (
    "SELECT t.id, t.room, t.account, t.joined_at, t.left_at, r.name, r.direct,"
    " (SELECT json_group_array(account) FROM (SELECT DISTINCT o.account FROM memberships o"
    "   WHERE o.room = t.room AND o.account <> t.account"
    "     AND o.joined_at < MIN(COALESCE(t.left_at, :end), :end)"
    "     AND (o.left_at IS NULL OR o.left_at > MAX(t.joined_at, :start))"
    "   ORDER BY o.account)) AS members "
    + MEMBERSHIPS_FROM
)

# The other member of a direct room, seen from the sender.
_RECIPIENT = (
    "CASE WHEN r.direct THEN (SELECT o.account FROM memberships o"
    " WHERE o.room = m.room AND o.account <> m.sender ORDER BY o.account LIMIT 1) END"
)

# Messages a target sent (relation self).
MESSAGES_SELF_FROM = (
    "FROM messages m CROSS JOIN rooms r ON r.id = m.room"
    f" WHERE m.sender IN {_TARGETS} AND m.sent_at >= :start AND m.sent_at < :end"
)
MESSAGES_SELF_SQL = (
    "SELECT m.id, m.room, m.sender, m.sent_at, CASE WHEN :body THEN m.body END, r.direct,"
    f" {_RECIPIENT} {MESSAGES_SELF_FROM}"
)

# Messages others sent in a room while a target was a member, inside the window. A message that
# falls in several targets' memberships is produced once: by the membership with the lowest id.
MESSAGES_PEER_FROM = (
    "FROM memberships t CROSS JOIN rooms r ON r.id = t.room"
    " CROSS JOIN messages m ON m.room = t.room"
    f" WHERE t.account IN {_TARGETS} AND t.joined_at < :end"
    " AND (t.left_at IS NULL OR t.left_at > :start)"
    " AND m.sent_at >= MAX(t.joined_at, :start)"
    " AND m.sent_at < MIN(COALESCE(t.left_at, :end), :end)"
    f" AND m.sender NOT IN {_TARGETS}"
    " AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.room = t.room AND o.id < t.id"
    f"   AND o.account IN {_TARGETS} AND o.joined_at <= m.sent_at"
    "   AND (o.left_at IS NULL OR o.left_at > m.sent_at))"
)
MESSAGES_PEER_SQL = (
    "SELECT m.id, m.room, m.sender, m.sent_at, CASE WHEN :body THEN m.body END, r.direct,"
    f" {_RECIPIENT} {MESSAGES_PEER_FROM}"
)

CONTACTS_FROM = (
    f"FROM contacts c WHERE c.owner IN {_TARGETS} AND c.added_at >= :start AND c.added_at < :end"
)
CONTACTS_SQL = f"SELECT c.id, c.owner, c.contact, c.added_at {CONTACTS_FROM}"

RESOLVE_PHONE_SQL = "SELECT id FROM accounts WHERE phone = ? ORDER BY id"
RESOLVE_EMAIL_SQL = "SELECT id FROM accounts WHERE email_key = ? ORDER BY id"
RESOLVE_ACCOUNT_SQL = "SELECT id FROM accounts WHERE id = ?"

# Every query a release runs, by name, for EXPLAIN QUERY PLAN in tests.
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
# The target's own messages, counted from the index alone: every message's room exists (the
# import checks it), so the join with rooms the release query needs changes no count.
COUNT_MESSAGES_SELF_FROM = (
    f"FROM messages m WHERE m.sender IN {_TARGETS} AND m.sent_at >= :start AND m.sent_at < :end"
)
RELEASE_QUERIES.update(
    {f"count_{name}": f"SELECT COUNT(*) {frm}" for name, frm in [
        ("subscriber", SUBSCRIBER_FROM), ("logins", LOGINS_FROM),
        ("memberships", MEMBERSHIPS_FROM), ("messages_self", COUNT_MESSAGES_SELF_FROM),
        ("messages_peer", MESSAGES_PEER_FROM), ("contacts", CONTACTS_FROM)]}
)

_MESSAGE_CATEGORIES = rr.MESSAGE_CATEGORIES


class _StoreKnown:
    """interchange.Known answered from the writer connection, inside the import transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def _one(self, sql: str, *args: object) -> tuple | None:
        return self._db.execute(sql, args).fetchone()

    def account_exists(self, account: str) -> bool:
        return self._one("SELECT 1 FROM accounts WHERE id = ?", account) is not None

    def room_direct(self, room: str) -> bool | None:
        row = self._one("SELECT direct FROM rooms WHERE id = ?", room)
        return None if row is None else bool(row[0])

    def message_exists(self, message: str) -> bool:
        return self._one("SELECT 1 FROM messages WHERE id = ?", message) is not None

    def room_memberships(self, room: str) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
        rows = self._db.execute(
            "SELECT account, joined_at, left_at FROM memberships WHERE room = ?", (room,))
        return [(a, from_us(j), None if left is None else from_us(left)) for a, j, left in rows]


_INSERT = {
    kind: f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    for kind, (table, cols) in rr.INSERT_COLUMNS.items()
}


class ReferenceStore:
    """The reference messenger schema; implements gateway.stores.base.Store."""

    def __init__(self, path: pathlib.Path, writer: sqlite3.Connection,
                 trace: Callable[[str], None] | None = None) -> None:
        self.path = path
        self._writer: sqlite3.Connection | None = writer
        self._write_lock = threading.Lock()
        self._trace = trace
        self._small_readers = ThreadReaders(self._reader)

    # --- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: pathlib.Path,
             trace: Callable[[str], None] | None = None) -> ReferenceStore:
        """Open (creating file and schema if missing) the store at `path`.

        `trace`, for diagnostics and tests, is called with every SQL statement a read executes.
        """
        path = pathlib.Path(path)
        try:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        except sqlite3.Error as e:
            raise Unavailable(f"reference store {path}: cannot open: {e}") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise FailedPrecondition(
                    f"reference store {path}: schema version {version}, this gateway knows"
                    f" {SCHEMA_VERSION}"
                )
            db.executescript(f"BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        except sqlite3.Error as e:
            db.close()
            raise Unavailable(f"reference store {path}: {e}") from None
        except GatewayError:
            db.close()
            raise
        return cls(path, db, trace)

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            self._small_readers.close()

    def _reader(self) -> sqlite3.Connection:
        """A fresh read-only connection: safe to use from any one thread at a time."""
        if self._writer is None:
            raise Unavailable("reference store is closed")
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                 timeout=30)
            db.execute("PRAGMA query_only = ON")
            db.set_trace_callback(self._trace)
        except sqlite3.Error as e:
            raise Unavailable(f"reference store {self.path}: {e}") from None
        return db

    def _query(self, sql: str, params: Iterable | dict = ()) -> list[tuple]:
        """A small query (never the release stream) on this thread's cached read connection:
        opening one costs more than the lookups warrant submission makes."""
        db = self._small_readers.get()
        try:
            return db.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            self._small_readers.discard()  # a broken connection is not reused
            raise Unavailable(f"reference store: {e}") from None

    # --- loading ---------------------------------------------------------------------------

    def import_jsonl(self, source: pathlib.Path | str | Iterable[str | bytes]) -> dict[str, int]:
        """Load an interchange file (a path, or its lines): all of it, or nothing on a bad line."""
        lines = rr.read_lines(source) if isinstance(source, (str, pathlib.Path)) else source
        return self.load(ix.parse_lines(lines))

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
                batches: dict[str, list[tuple]] = {kind: [] for kind in ix.KINDS}
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

    def counts(self) -> dict[str, int]:
        """How many rows of each kind the whole store holds."""
        sql = " UNION ALL ".join(
            f"SELECT '{kind}', COUNT(*) FROM {table}" for kind, table in TABLES.items())
        return {kind: n for kind, n in self._query(sql)}

    def resolve(self, kind: str, value: str) -> list[str]:
        """Account ids for a target given as account id, phone number or e-mail address."""
        lookup = rr.resolve_lookup(kind, value)
        rows = [] if lookup is None else self._query(RELEASE_QUERIES[lookup[0]], lookup[1])
        return [r[0] for r in rows]

    @staticmethod
    def _params(scope: Scope) -> dict[str, object]:
        return {
            "targets": json.dumps(sorted(scope.targets)),
            "start": to_us(scope.window.start),
            "end": to_us(scope.window.end),
            "body": Category.MESSAGE_CONTENT in scope.categories,
        }

    def count(self, scope: Scope) -> int:
        """Exactly how many records records(scope) yields (same WHERE clauses, COUNT(*))."""
        if not scope.targets:
            return 0
        params = self._params(scope)
        total = 0
        db = self._reader()
        try:
            db.execute("BEGIN")
            total = rr.count(scope.categories, lambda name: db.execute(
                RELEASE_QUERIES[f"count_{name}"], params).fetchone()[0])
        except sqlite3.Error as e:
            raise Unavailable(f"reference store: {e}") from None
        finally:
            db.close()
        return total

    def records(self, scope: Scope) -> Iterator[StoreRecord]:
        """Stream the scope's records, category by category, from one consistent snapshot.

        Returns a generator: rows are read from the cursor as the caller iterates, never
        collected, and the connection closes when the iteration ends or is abandoned.
        """
        if self._writer is None:
            raise Unavailable("reference store is closed")
        return self._records(scope)

    def _records(self, scope: Scope) -> Iterator[StoreRecord]:
        if not scope.targets:
            return
        params = self._params(scope)
        db = self._reader()
        try:
            db.execute("BEGIN")  # one snapshot for every category
            yield from rr.records(scope.categories,
                                  lambda name: db.execute(RELEASE_QUERIES[name], params),
                                  json.loads)
        except sqlite3.Error as e:
            raise Unavailable(f"reference store: {e}") from None
        finally:
            db.close()

    # --- for the demo ----------------------------------------------------------------------

    def suggest_target(self) -> str | None:
        """A telling demo target: in a group and a direct room, the most messages sent."""
        rows = self._query(
            "SELECT a.id FROM accounts a"
            " ORDER BY"
            "  (EXISTS (SELECT 1 FROM memberships g JOIN rooms r ON r.id = g.room"
            "           WHERE g.account = a.id AND r.direct = 0)"
            "   AND EXISTS (SELECT 1 FROM memberships d JOIN rooms r ON r.id = d.room"
            "           WHERE d.account = a.id AND r.direct = 1)) DESC,"
            "  (SELECT COUNT(*) FROM messages m WHERE m.sender = a.id) DESC, a.id"
            " LIMIT 1"
        )
        return rows[0][0] if rows else None

    def time_span(self) -> tuple[dt.datetime, dt.datetime] | None:
        """Earliest and latest message time (the demo's window), None without messages."""
        low, high = self._query("SELECT MIN(sent_at), MAX(sent_at) FROM messages")[0]
        return None if low is None else (from_us(low), from_us(high))
