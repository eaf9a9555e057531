"""Reading a Synapse homeserver's database: the SQL, and read-only connections per dialect.

The queries are written once, with `:name` parameters, against the tables Synapse keeps in both
SQLite and PostgreSQL (schema of matrix-synapse 1.160-1.169; `REQUIRED_TABLES` is checked at
open). For PostgreSQL the parameters become psycopg's `%(name)s` at import time: the SQL is
constant text, only ever bound, never built from data. Every query starts from a user or a
room (indexed: room_memberships_user_id / _room_id, events_room_stream, user_ips_last_seen,
redactions_redacts); none scans the homeserver.

Connections are read-only twice over: SQLite opened with `mode=ro`, PostgreSQL in read-only
REPEATABLE READ transactions, so one release reads one snapshot and cannot write.
"""

from __future__ import annotations

import contextlib
import pathlib
import re
import sqlite3
import urllib.parse
from collections.abc import Iterator
from typing import Any, Protocol

import psycopg

from gateway.db.postgres import one_line, stream_rows
from gateway.errors import FailedPrecondition, Unavailable

MESSAGE_TYPES = ("m.room.message", "m.room.encrypted")

REQUIRED_TABLES = (
    "users",
    "profiles",
    "user_threepids",
    "user_ips",
    "devices",
    "room_memberships",
    "events",
    "event_json",
    "redactions",
    "account_data",
    "room_stats_state",
)

# Timeline events only: not outliers (events outside the room's timeline), not rejected.
_TIMELINE = "NOT e.outlier AND e.rejection_reason IS NULL"

USER = (
    "SELECT u.name, u.creation_ts, u.deactivated, u.user_type, p.displayname"
    " FROM users u LEFT JOIN profiles p ON p.user_id = :localpart WHERE u.name = :user"
)
THREEPIDS = (
    "SELECT medium, address FROM user_threepids WHERE user_id = :user ORDER BY medium, address"
)
RESOLVE_THREEPID = (
    "SELECT user_id FROM user_threepids WHERE medium = :medium"
    " AND address = :address ORDER BY user_id"
)
RESOLVE_USER = "SELECT name FROM users WHERE name = :user"

# Client IPs per (user, access token, ip): when and from where the account was used. The
# token itself is never read; the device's display name comes from devices.
LOGINS_WHERE = "i.user_id = :user AND i.last_seen >= :start AND i.last_seen < :end"
LOGINS = (
    "SELECT i.device_id, i.ip, i.user_agent, i.last_seen, d.display_name FROM user_ips i"
    " LEFT JOIN devices d ON d.user_id = i.user_id AND d.device_id = i.device_id"
    f" WHERE {LOGINS_WHERE} ORDER BY i.last_seen, i.device_id, i.ip, i.user_agent"
)
COUNT_LOGINS = f"SELECT COUNT(*) FROM user_ips i WHERE {LOGINS_WHERE}"

# A user's membership events, in the room's order: joins and leaves (and bans, invites).
_MEMBERSHIP_COLUMNS = (
    "SELECT m.room_id, m.user_id, m.membership, e.stream_ordering, e.origin_server_ts, m.event_id"
)
USER_MEMBERSHIPS = (
    _MEMBERSHIP_COLUMNS + " FROM room_memberships m JOIN events e ON e.event_id = m.event_id"
    f" WHERE m.user_id = :user AND {_TIMELINE} ORDER BY m.room_id, e.stream_ordering"
)
# Everyone's membership events in one room (who was there with the target; direct or group).
ROOM_MEMBERSHIPS = (
    _MEMBERSHIP_COLUMNS + " FROM room_memberships m JOIN events e ON e.event_id = m.event_id"
    f" WHERE m.room_id = :room AND {_TIMELINE} ORDER BY e.stream_ordering"
)
ROOM_NAME = "SELECT name, topic FROM room_stats_state WHERE room_id = :room"
# Who could be named in a room's messages: everyone with a membership event there, with the
# display name each event gave them in the room.
ROOM_PEOPLE = (
    "SELECT DISTINCT m.user_id, m.display_name FROM room_memberships m WHERE m.room_id = :room"
)
PROFILE = "SELECT displayname FROM profiles WHERE user_id = :localpart"
# The sender of the event a reply quotes (m.in_reply_to), in the same room only.
REPLIED_SENDER = "SELECT e.sender FROM events e WHERE e.event_id = :event AND e.room_id = :room"
DIRECT_ROOMS = (
    "SELECT content FROM account_data WHERE user_id = :user AND account_data_type = 'm.direct'"
)

# Message events of one room between two stream positions (a membership) and inside the
# window. A redacted event's content is never read: its json is selected only for unredacted
# m.room.message events, and only when the warrant names message_content.
_REDACTED = "EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = e.event_id)"
MESSAGES_WHERE = (
    "e.room_id = :room AND e.type IN ('m.room.message', 'm.room.encrypted')"
    " AND e.stream_ordering > :after AND e.stream_ordering < :before"
    " AND e.origin_server_ts >= :start AND e.origin_server_ts < :end"
    f" AND e.state_key IS NULL AND {_TIMELINE}"
)
MESSAGES = (
    f"SELECT e.event_id, e.type, e.sender, e.origin_server_ts, {_REDACTED},"
    f" CASE WHEN :body AND e.type = 'm.room.message' AND NOT {_REDACTED}"
    "  THEN (SELECT j.json FROM event_json j WHERE j.event_id = e.event_id) END"
    f" FROM events e WHERE {MESSAGES_WHERE} ORDER BY e.stream_ordering"
)
COUNT_MESSAGES = (
    "SELECT COALESCE(SUM(CASE WHEN e.type = 'm.room.message' THEN 1 ELSE 0 END), 0), COUNT(*)"
    f" FROM events e WHERE {MESSAGES_WHERE}"
)

# Every query by name, for tests (EXPLAIN, and that none is built at run time).
QUERIES: dict[str, str] = {
    name: value
    for name, value in globals().items()
    if name.isupper() and isinstance(value, str) and value.startswith("SELECT")
}

# The whole homeserver's people, for the guarantee-1 scan only (full reads; never a release's).
EVERYONE = {
    "users": "SELECT name FROM users",
    "profiles": "SELECT user_id, displayname FROM profiles",
    "room_names": "SELECT DISTINCT user_id, display_name FROM room_memberships",
    "threepids": "SELECT user_id, medium, address FROM user_threepids",
}

_PARAM = re.compile(r"(?<![:\w]):([a-z_]+)")


def to_pyformat(sql: str) -> str:
    """`:name` -> `%(name)s` for psycopg (applied to the constants above, never to data)."""
    return _PARAM.sub(r"%(\1)s", sql)


_PG_QUERIES = {sql: to_pyformat(sql) for sql in (*QUERIES.values(), *EVERYONE.values())}


class Reader(Protocol):
    """One read-only snapshot: `rows` streams a query's rows, `one` fetches the first."""

    def rows(self, sql: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]: ...

    def one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None: ...


class SqliteReader:
    def __init__(self, path: pathlib.Path) -> None:
        uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
        try:
            self._db = sqlite3.connect(
                uri, uri=True, isolation_level=None, timeout=30, check_same_thread=False
            )
            self._db.execute("BEGIN")  # one snapshot for the whole read
        except sqlite3.Error as e:
            raise Unavailable(f"synapse store {path}: cannot open: {e}") from None
        self._where = path

    def rows(self, sql: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
        try:
            yield from self._db.execute(sql, params)
        except sqlite3.Error as e:
            raise Unavailable(f"synapse store {self._where}: {e}") from None

    def one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        try:
            row: tuple[Any, ...] | None = self._db.execute(sql, params).fetchone()
            return row
        except sqlite3.Error as e:
            raise Unavailable(f"synapse store {self._where}: {e}") from None

    def close(self) -> None:
        self._db.close()


class PostgresReader:
    ITERSIZE = 500

    def __init__(self, conninfo: str, where: str) -> None:
        self._where = where
        try:
            self._db = psycopg.connect(conninfo, connect_timeout=10)
            self._db.read_only = True
            self._db.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        except psycopg.Error as e:
            raise Unavailable(f"synapse store {where}: cannot connect: {one_line(e)}") from None
        self._cursors = 0

    def rows(self, sql: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
        self._cursors += 1
        try:
            yield from stream_rows(
                self._db, f"wsg_{self._cursors}", _PG_QUERIES[sql], params, self.ITERSIZE
            )
        except psycopg.Error as e:
            raise Unavailable(f"synapse store {self._where}: {one_line(e)}") from None

    def one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        try:
            return self._db.execute(_PG_QUERIES[sql], params).fetchone()
        except psycopg.Error as e:
            raise Unavailable(f"synapse store {self._where}: {one_line(e)}") from None

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self._db.rollback()
        self._db.close()


class Database:
    """Where a homeserver's database is: opens Readers, and checks it is Synapse's."""

    def __init__(self, url: str) -> None:
        """`url`: sqlite:///PATH (or sqlite://RELATIVE) or postgresql://... (postgres://)."""
        if url.startswith("sqlite://"):
            path = url.removeprefix("sqlite://")
            if not path:
                raise FailedPrecondition(
                    "store synapse:sqlite://: no database path "
                    "(synapse:sqlite:///path/to/homeserver.db)"
                )
            self.sqlite: pathlib.Path | None = pathlib.Path(path)
            self.conninfo = ""
            self.where = str(self.sqlite)
        elif url.startswith(("postgresql://", "postgres://")):
            self.sqlite = None
            self.conninfo = url
            parts = urllib.parse.urlsplit(url)
            host = parts.hostname or "localhost"
            self.where = f"postgresql://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"
        else:
            raise FailedPrecondition(
                f"store synapse:{url[:60]!r}: the database must be sqlite:///PATH or "
                "postgresql://USER@HOST:PORT/DB"
            )

    def reader(self) -> SqliteReader | PostgresReader:
        if self.sqlite is not None:
            return SqliteReader(self.sqlite)
        return PostgresReader(self.conninfo, self.where)

    def check(self) -> None:
        """Fail closed at start: the database must exist and hold Synapse's tables."""
        if self.sqlite is not None and not self.sqlite.is_file():
            raise FailedPrecondition(f"synapse store {self.sqlite}: no such database file")
        try:
            reader = self.reader()
        except Unavailable as e:
            raise FailedPrecondition(e.message) from None
        try:
            missing = []
            for table in REQUIRED_TABLES:
                sql = (
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :t"
                    if self.sqlite is not None
                    else "SELECT to_regclass(:t)"
                )
                row = _one_raw(reader, sql, {"t": table}, self.where)
                if row is None or row[0] is None:
                    missing.append(table)
        finally:
            reader.close()
        if missing:
            raise FailedPrecondition(
                f"synapse store {self.where}: not a Synapse database (missing tables: "
                f"{', '.join(missing)})"
            )


def _one_raw(
    reader: SqliteReader | PostgresReader, sql: str, params: dict[str, Any], where: str
) -> tuple[Any, ...] | None:
    """A catalogue lookup that is not one of QUERIES (used only by Database.check)."""
    try:
        row: tuple[Any, ...] | None
        if isinstance(reader, SqliteReader):
            row = reader._db.execute(sql, params).fetchone()
        else:
            row = reader._db.execute(to_pyformat(sql), params).fetchone()
        return row
    except (sqlite3.Error, psycopg.Error) as e:
        raise FailedPrecondition(f"synapse store {where}: {one_line(e)}") from None
