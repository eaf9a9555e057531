"""What the reference store's SQLite and PostgreSQL implementations share: time encoding, the
row -> insert parameters mapping, the row -> StoreRecord mapping, and which named query answers
a target lookup, a count or a category.

Kept in one place so both backends hand the release pipeline byte-identical records; each backend
only supplies rows from its own SQL. The builders are generators over a cursor (one call per
query, not per row) because they sit on the release hot path.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gateway.errors import InvalidArgument
from gateway.model import Category, Relation, StoreRecord
from gateway.stores import interchange as ix

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)

MESSAGE_CATEGORIES = (Category.MESSAGE_METADATA, Category.MESSAGE_CONTENT)

# kind -> (table, inserted columns); ids of logins, memberships and contacts are generated.
INSERT_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "account": ("accounts", ("id", "display_name", "phone", "email", "email_key", "created_at")),
    "login": ("logins", ("account", "at", "ip", "device")),
    "room": ("rooms", ("id", "name", "direct")),
    "membership": ("memberships", ("room", "account", "joined_at", "left_at")),
    "message": ("messages", ("id", "room", "sender", "sent_at", "body")),
    "contact": ("contacts", ("owner", "contact", "added_at")),
}


def to_us(value: dt.datetime) -> int:
    return (value - _EPOCH) // _US


def from_us(value: int) -> dt.datetime:
    return _EPOCH + value * _US


def format_us(value: int | None) -> str | None:
    """format_time(from_us(value)), without building a datetime: called for every record."""
    if value is None:
        return None
    seconds, micro = divmod(value, 1_000_000)
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % time.gmtime(seconds)[:6]
    return f"{text}.{micro:06d}Z" if micro else text + "Z"


def email_key(email: str | None) -> str | None:
    """E-mail addresses match case-insensitively (what users expect of them)."""
    return None if email is None else email.strip().lower()


def read_lines(source: pathlib.Path | str) -> Iterator[bytes]:
    """The lines of an interchange file; an unreadable file is the caller's bad input."""
    path = pathlib.Path(source)
    try:
        with path.open("rb") as f:
            yield from f
    except OSError as e:
        raise InvalidArgument(f"{path}: cannot read: {e.strerror or e}") from None


def insert_params(row: ix.Row) -> tuple:
    """The values for INSERT_COLUMNS[kind of row], in that order."""
    match row:
        case ix.Account():
            return (row.id, row.display_name, row.phone, row.email, email_key(row.email),
                    to_us(row.created_at))
        case ix.Login():
            return (row.account, to_us(row.at), row.ip, row.device)
        case ix.Room():
            return (row.id, row.name, row.direct)  # SQLite stores a bool as 1 or 0
        case ix.Membership():
            return (row.room, row.account, to_us(row.joined_at),
                    None if row.left_at is None else to_us(row.left_at))
        case ix.Message():
            return (row.id, row.room, row.sender, to_us(row.sent_at), row.body)
        case ix.Contact():
            return (row.owner, row.contact, to_us(row.added_at))
    raise AssertionError(row)


# --- rows of the release queries -> records. Each takes the rows of the query of that name. ----

def subscribers(rows: Iterable[tuple]) -> Iterator[StoreRecord]:
    """(id, display_name, phone, email, created_at) rows."""
    for account, name, phone, email, created in rows:
        yield StoreRecord(
            id=f"subscriber:{account}", category=Category.SUBSCRIBER,
            relation=Relation.SELF, at=None,
            fields={"display_name": name, "phone": phone, "email": email,
                    "created_at": format_us(created)},
            people={"account": account},
        )


def logins(rows: Iterable[tuple]) -> Iterator[StoreRecord]:
    """(id, account, at, ip, device) rows."""
    for rowid, account, at, ip, device in rows:
        yield StoreRecord(
            id=f"logins:{rowid}", category=Category.LOGINS, relation=Relation.SELF,
            at=from_us(at), fields={"at": format_us(at), "ip": ip, "device": device},
            people={"account": account},
        )


def memberships(rows: Iterable[tuple],
                members_of: Callable[[Any], Iterable[str]]) -> Iterator[StoreRecord]:
    """(id, room, account, joined_at, left_at, room name, direct, members) rows; `members_of`
    turns the backend's members value (JSON text, an array) into account ids."""
    for rowid, room, account, joined, left, name, direct, members in rows:
        yield StoreRecord(
            id=f"memberships:{rowid}", category=Category.MEMBERSHIPS, relation=Relation.SELF,
            at=from_us(joined), until=None if left is None else from_us(left),
            fields={
                "room": room,
                # a direct room's name often is the peer's name: never hand it out
                "room_name": None if direct else name,
                "direct": bool(direct),
                "joined_at": format_us(joined),
                "left_at": format_us(left),
            },
            # sorted here, not in SQL, so both backends agree whatever their collation
            people={"account": account, "members": tuple(sorted(members_of(members)))},
        )


def messages(rows: Iterable[tuple], wanted: list[Category],
             self_: bool) -> Iterator[StoreRecord]:
    """(id, room, sender, sent_at, body or NULL, direct, recipient) rows; one record per
    wanted message category."""
    for mid, room, sender, sent, body, direct, recipient in rows:
        if self_:
            relation = Relation.SELF
        else:
            relation = Relation.DIRECT_PEER if direct else Relation.GROUP_PEER
        people: dict[str, str] = {"sender": sender}
        if direct and recipient is not None:
            people["recipient"] = recipient
        at = from_us(sent)
        base = {"room": room, "direct": bool(direct), "sent_at": format_us(sent)}
        for category in wanted:
            fields = dict(base, body=body) if category is Category.MESSAGE_CONTENT else base
            yield StoreRecord(f"{category.value}:{mid}", category, relation, at, fields, people)


def contacts(rows: Iterable[tuple]) -> Iterator[StoreRecord]:
    """(id, owner, contact, added_at) rows."""
    for rowid, owner, contact, added in rows:
        yield StoreRecord(
            id=f"contacts:{rowid}", category=Category.CONTACTS,
            relation=Relation.SELF, at=from_us(added),
            fields={"added_at": format_us(added)},
            people={"owner": owner, "contact": contact},
        )


# --- which named query (RELEASE_QUERIES in either backend) answers what ----------------------

_COUNTED_ONCE = {Category.SUBSCRIBER: "subscriber", Category.LOGINS: "logins",
                 Category.MEMBERSHIPS: "memberships", Category.CONTACTS: "contacts"}


def resolve_lookup(kind: str, value: str) -> tuple[str, tuple[str]] | None:
    """The named query and parameter that resolve a target, or None when no account of the
    reference schema can match (Matrix user ids)."""
    if kind == "account":
        return "resolve_account", (value,)
    if kind == "phone":
        return "resolve_phone", (value,)
    if kind == "email":
        return "resolve_email", (email_key(value),)  # type: ignore[return-value]
    if kind == "matrix":
        return None
    raise InvalidArgument(f"unknown target kind {kind!r} (known: account, phone, email, matrix)")


def count(categories: frozenset[Category], run_count: Callable[[str], int]) -> int:
    """How many records `records` yields, from `run_count(name)` running count_<name>."""
    total = sum(run_count(name) for category, name in _COUNTED_ONCE.items()
                if category in categories)
    per_message = sum(c in categories for c in MESSAGE_CATEGORIES)
    if per_message:
        total += per_message * sum(run_count(name) for name in ("messages_self", "messages_peer"))
    return total


def records(categories: frozenset[Category], rows: Callable[[str], Iterable[tuple]],
            members_of: Callable[[Any], Iterable[str]]) -> Iterator[StoreRecord]:
    """Every record of the categories, category by category, from `rows(name)` running the
    named release query."""
    if Category.SUBSCRIBER in categories:
        yield from subscribers(rows("subscriber"))
    if Category.LOGINS in categories:
        yield from logins(rows("logins"))
    if Category.MEMBERSHIPS in categories:
        yield from memberships(rows("memberships"), members_of)
    wanted = [c for c in MESSAGE_CATEGORIES if c in categories]
    if wanted:
        yield from messages(rows("messages_self"), wanted, self_=True)
        yield from messages(rows("messages_peer"), wanted, self_=False)
    if Category.CONTACTS in categories:
        yield from contacts(rows("contacts"))
