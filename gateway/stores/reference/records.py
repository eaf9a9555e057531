"""What the reference store's SQLite and PostgreSQL implementations share: time encoding, the
row -> insert parameters mapping, the row -> StoreRecord mapping, and which named query answers
a target lookup, a count or a category.

Kept in one place so both backends hand the release pipeline byte-identical records; each backend
only supplies rows from its own SQL. The builders are generators over a cursor (one call per
query, not per row) because they sit on the release hot path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import pathlib
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gateway.errors import InvalidArgument, Unavailable
from gateway.model import (
    Category,
    Person,
    RecordShape,
    Relation,
    StoreRecord,
    WindowPosition,
    shape,
)
from gateway.model import FieldKind as K
from gateway.stores.base import MessageRows, Part, Values
from gateway.stores.reference import interchange as ix

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)

MESSAGE_CATEGORIES = (Category.MESSAGE_METADATA, Category.MESSAGE_CONTENT)

# kind -> (table, inserted columns); ids of logins, memberships and contacts are generated.
INSERT_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "account": ("accounts", ("id", "display_name", "phone", "email", "email_key", "created_at")),
    "login": ("logins", ("account", "at", "ip", "device")),
    "room": ("rooms", ("id", "name", "direct", "topic")),
    "membership": ("memberships", ("room", "account", "joined_at", "left_at")),
    "message": (
        "messages",
        (
            "id",
            "room",
            "sender",
            "sent_at",
            "body",
            "reply_to",
            "quote",
            "forwarded_from",
            "attachment",
        ),
    ),
    "contact": ("contacts", ("owner", "contact", "added_at", "label")),
}


def to_us(value: dt.datetime) -> int:
    return (value - _EPOCH) // _US


def from_us(value: int) -> dt.datetime:
    return _EPOCH + value * _US


_DAYS: dict[int, str] = {}  # days since the epoch -> "YYYY-MM-DD"; a release sees few
_HOURS_MINUTES = [f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECONDS = [f"{s:02d}" for s in range(60)]
_ORDINAL_1970 = dt.date(1970, 1, 1).toordinal()


def format_us(value: int | None) -> str | None:
    """format_time(from_us(value)), without building a datetime: called for every record (its
    day from a small memo, its time of day from tables; tests/test_hot_path.py proves it)."""
    if value is None:
        return None
    seconds, micro = divmod(value, 1_000_000)
    minutes, second = divmod(seconds, 60)
    days, minute = divmod(minutes, 1440)
    day = _DAYS.get(days)
    if day is None:
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        day = _DAYS[days] = dt.date.fromordinal(_ORDINAL_1970 + days).isoformat()
    if micro:
        return f"{day}{_HOURS_MINUTES[minute]}{_SECONDS[second]}.{micro:06d}Z"
    return f"{day}{_HOURS_MINUTES[minute]}{_SECONDS[second]}Z"


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@typing.overload
def email_key(email: str) -> str: ...
@typing.overload
def email_key(email: None) -> None: ...
def email_key(email: str | None) -> str | None:
    """How an e-mail address is compared: as stored, with surrounding spaces dropped and ASCII
    letters in either case (what users expect of addresses). Nothing else is folded or
    normalized: Unicode case folding and even NFC merge different addresses (the Kelvin sign
    K becomes K, then k), so a look-alike address would resolve to another person's account.
    Targets with such characters are refused (gateway.warrants.validation.target)."""
    if email is None:
        return None
    return email.strip(" ").translate(_ASCII_LOWER)


def read_lines(source: pathlib.Path | str) -> Iterator[bytes]:
    """The lines of an interchange file; an unreadable file is the caller's bad input."""
    path = pathlib.Path(source)
    try:
        with path.open("rb") as f:
            yield from f
    except OSError as e:
        raise InvalidArgument(f"{path}: cannot read: {e.strerror or e}") from None


def insert_params(row: ix.Row) -> tuple[Any, ...]:
    """The values for INSERT_COLUMNS[kind of row], in that order."""
    match row:
        case ix.Account():
            return (
                row.id,
                row.display_name,
                row.phone,
                row.email,
                email_key(row.email),
                to_us(row.created_at),
            )
        case ix.Login():
            return (row.account, to_us(row.at), row.ip, row.device)
        case ix.Room():
            return (row.id, row.name, row.direct, row.topic)  # SQLite: a bool as 1 or 0
        case ix.Membership():
            return (
                row.room,
                row.account,
                to_us(row.joined_at),
                None if row.left_at is None else to_us(row.left_at),
            )
        case ix.Message():
            return (
                row.id,
                row.room,
                row.sender,
                to_us(row.sent_at),
                row.body,
                row.reply_to,
                row.quote,
                row.forwarded_from,
                row.attachment,
            )
        case ix.Contact():
            return (row.owner, row.contact, to_us(row.added_at), row.label)
    raise AssertionError(row)


# --- rows of the release queries -> records. Each takes the rows of the query of that name. ----


def subscribers(rows: Iterable[tuple[Any, ...]]) -> Iterator[StoreRecord]:
    """(id, display_name, phone, email, created_at) rows."""
    for account, name, phone, email, created in rows:
        yield StoreRecord(
            id=f"subscriber:{account}",
            category=Category.SUBSCRIBER,
            relation=Relation.SELF,
            at=None,
            fields={
                "display_name": name,
                "phone": phone,
                "email": email,
                "created_at": format_us(created),
            },
            people={"account": account},
        )


def logins(rows: Iterable[tuple[Any, ...]]) -> Iterator[StoreRecord]:
    """(id, account, at, ip, device) rows."""
    for rowid, account, at, ip, device in rows:
        yield StoreRecord(
            id=f"logins:{rowid}",
            category=Category.LOGINS,
            relation=Relation.SELF,
            at=from_us(at),
            fields={"at": format_us(at), "ip": ip, "device": device},
            people={"account": account},
        )


def memberships(
    rows: Iterable[tuple[Any, ...]],
    members_of: Callable[[Any], Iterable[str]],
    start: int,
    end: int,
) -> Iterator[StoreRecord]:
    """(id, room, account, joined_at, left_at, room name, direct, members, topic) rows;
    `members_of` turns the backend's members value (JSON text, an array) into account ids.
    The released times are clipped to the window [start, end): a join before it reads as its
    start, a leave after it (or none yet) as null."""
    for rowid, room, account, joined, left, name, direct, members, topic in rows:
        yield StoreRecord(
            id=f"memberships:{rowid}",
            category=Category.MEMBERSHIPS,
            relation=Relation.SELF,
            at=from_us(joined),
            until=None if left is None else from_us(left),
            fields={
                "room": room,
                # a direct room's name often is the peer's name: never hand it out
                "room_name": None if direct else name,
                "room_topic": None if direct else topic,
                "direct": bool(direct),
                "joined_at": format_us(max(joined, start)),
                "left_at": format_us(left) if left is not None and left < end else None,
            },
            # sorted so both backends agree; the release re-sorts them by pseudonym
            people={"account": account, "members": tuple(sorted(members_of(members)))},
        )


class Rooms:
    """Whether a message's room is direct, and a direct room's other member seen from a sender
    (the first other account in order: a direct room has one), read once per room a release
    meets, not once per message. A room the store does not hold (the import never writes one)
    reads as a group."""

    def __init__(
        self, direct: Callable[[str], object], members: Callable[[str], Iterable[str]]
    ) -> None:
        self._direct = direct
        self._members = members
        self.seen: dict[tuple[str, str], tuple[bool, str | None]] = {}  # what __call__ found

    def __call__(self, room: str, sender: str) -> tuple[bool, str | None]:
        """(direct, recipient or None) of a message `sender` wrote in `room`."""
        known = self.seen.get((room, sender))
        if known is None:
            direct = bool(self._direct(room))
            recipient = None
            if direct:
                recipient = next((a for a in self._members(room) if a != sender), None)
            known = self.seen[room, sender] = (direct, recipient)
        return known


def messages(
    rows: Iterable[tuple[Any, ...]], wanted: list[Category], relation: Relation, rooms: Rooms
) -> Iterator[StoreRecord]:
    """(id, room, sender, sent_at, body or NULL, quote or NULL, attachment or NULL,
    forwarded_from, quoted sender) rows; one record per wanted message category. A forwarded
    message's body is its first author's words: it leaves as a quote."""
    for row in rows:
        mid, room, sender, sent, body, quote, attachment, fwd, quoted = row
        direct, recipient = rooms(room, sender)
        people: dict[str, str] = {"sender": sender}
        if recipient is not None:
            people["recipient"] = recipient
        quoted_by = fwd if fwd is not None else quoted
        if quoted_by is not None:
            people["quoted"] = quoted_by
        at = from_us(sent)
        base = {
            "room": room,
            "direct": direct,
            "sent_at": format_us(sent),
            "reply": quoted is not None and fwd is None,
            "forwarded": fwd is not None,
        }
        for category in wanted:
            if category is Category.MESSAGE_CONTENT:
                fields = dict(base, attachment=attachment)
                if fwd is not None:
                    fields["body"], fields["quote"] = None, body
                else:
                    fields["body"], fields["quote"] = body, quote
            else:
                fields = base
            yield StoreRecord(f"{category.value}:{mid}", category, relation, at, fields, people)


def message_values(
    rows: Iterable[tuple[Any, ...]], wanted: list[Category], rooms: Rooms
) -> Iterator[Values]:
    """What `messages` yields, as Values: one dict per record, made for the release to take
    over (the release's hot path: no StoreRecord, no datetime)."""
    content = Category.MESSAGE_CONTENT in wanted
    metadata = Category.MESSAGE_METADATA in wanted
    content_prefix = f"{Category.MESSAGE_CONTENT.value}:"
    metadata_prefix = f"{Category.MESSAGE_METADATA.value}:"
    seen = rooms.seen
    values: dict[str, object]
    if content and not metadata:  # what a warrant for content asks: one dict, made at once
        for mid, room, sender, sent, body, quote, attachment, fwd, quoted in rows:
            direct, recipient = seen.get((room, sender)) or rooms(room, sender)
            if fwd is None:
                values = {
                    "room": room,
                    "direct": direct,
                    "sent_at": format_us(sent),
                    "reply": quoted is not None,
                    "forwarded": False,
                    "sender": sender,
                    "attachment": attachment,
                    "body": body,
                    "quote": quote,
                }
                if quoted is not None:
                    values["quoted"] = quoted
            else:
                values = {
                    "room": room,
                    "direct": direct,
                    "sent_at": format_us(sent),
                    "reply": False,
                    "forwarded": True,
                    "sender": sender,
                    "quoted": fwd,
                    "attachment": attachment,
                    "body": None,
                    "quote": body,
                }
            if recipient is not None:
                values["recipient"] = recipient
            yield content_prefix + mid, Category.MESSAGE_CONTENT, values
        return
    for mid, room, sender, sent, body, quote, attachment, fwd, quoted in rows:
        direct, recipient = seen.get((room, sender)) or rooms(room, sender)
        values = {
            "room": room,
            "direct": direct,
            "sent_at": format_us(sent),
            "reply": quoted is not None and fwd is None,
            "forwarded": fwd is not None,
            "sender": sender,
        }
        if recipient is not None:
            values["recipient"] = recipient
        if fwd is not None:
            values["quoted"] = fwd
        elif quoted is not None:
            values["quoted"] = quoted
        if metadata:
            yield (
                metadata_prefix + mid,
                Category.MESSAGE_METADATA,
                (dict(values) if content else values),
            )
        if content:
            values["attachment"] = attachment
            if fwd is not None:
                values["body"], values["quote"] = None, body
            else:
                values["body"], values["quote"] = body, quote
            yield content_prefix + mid, Category.MESSAGE_CONTENT, values


def contacts(rows: Iterable[tuple[Any, ...]]) -> Iterator[StoreRecord]:
    """(id, owner, contact, added_at, label) rows."""
    for rowid, owner, contact, added, label in rows:
        yield StoreRecord(
            id=f"contacts:{rowid}",
            category=Category.CONTACTS,
            relation=Relation.SELF,
            at=from_us(added),
            fields={"added_at": format_us(added), "label": label},
            people={"owner": owner, "contact": contact},
        )


_MESSAGE_FIELDS = {"room": K.ROOM, "direct": K.SAFE, "sent_at": K.SAFE, "reply": K.SAFE}
SHAPES: dict[Category, RecordShape] = {
    Category.SUBSCRIBER: shape(
        ("account",), display_name=K.TEXT, phone=K.TEXT, email=K.TEXT, created_at=K.SAFE
    ),
    Category.LOGINS: shape(("account",), at=K.SAFE, ip=K.SAFE, device=K.TEXT),
    Category.MEMBERSHIPS: shape(
        ("account", "members"),
        room=K.ROOM,
        room_name=K.TEXT,
        room_topic=K.TEXT,
        direct=K.SAFE,
        joined_at=K.SAFE,
        left_at=K.SAFE,
    ),
    Category.MESSAGE_METADATA: shape(
        ("sender", "recipient", "quoted"), forwarded=K.SAFE, **_MESSAGE_FIELDS
    ),
    Category.MESSAGE_CONTENT: shape(
        ("sender", "recipient", "quoted"),
        forwarded=K.SAFE,
        body=K.TEXT,
        quote=K.QUOTE,
        attachment=K.TEXT,
        **_MESSAGE_FIELDS,
    ),
    Category.CONTACTS: shape(("owner", "contact"), added_at=K.SAFE, label=K.LABEL),
}


def people(accounts: Iterable[tuple[Any, ...]], labels: Iterable[tuple[Any, ...]]) -> list[Person]:
    """Persons from (id, display_name, phone, email) rows and (account, label) rows (what the
    owners saved them as); in account order."""
    named: dict[str, list[str]] = {}
    for account, label in labels:
        if label and label not in named.setdefault(account, []):
            named[account].append(label)
    found = []
    for account, name, phone, email in sorted(accounts):
        found.append(
            Person(
                account,
                names=(name,) if name else (),
                labels=tuple(named.get(account, ())),
                phones=(phone,) if phone else (),
                emails=(email,) if email else (),
            )
        )
    return found


# --- which named query (RELEASE_QUERIES in either backend) answers what ----------------------


def resolve_lookup(kind: str, value: str) -> tuple[str, tuple[str]] | None:
    """The named query and parameter that resolve a target, or None when no account of the
    reference schema can match (Matrix user ids)."""
    if kind == "account":
        return "resolve_account", (value,)
    if kind == "phone":
        return "resolve_phone", (value,)
    if kind == "email":
        return "resolve_email", (email_key(value),)
    if kind == "matrix":
        return None
    raise InvalidArgument(f"unknown target kind {kind!r} (known: account, phone, email, matrix)")


def count_of(row: tuple[Any, ...] | None) -> int:
    """The number a COUNT(*) row holds; a missing row is the store failing, never zero."""
    if row is None:
        raise Unavailable("reference store: a count returned no row")
    return int(row[0])


@dataclasses.dataclass(frozen=True)
class Reads:
    """How one backend runs the named release queries, all inside one read snapshot."""

    rows: Callable[[str], Iterable[tuple[Any, ...]]]  # a release query's rows, streamed
    count: Callable[[str], int]  # count_<name>'s number
    lookup: Callable[[str, str], list[tuple[Any, ...]]]  # a small query with one parameter
    members_of: Callable[[Any], Iterable[str]]  # the backend's members value -> account ids
    window: tuple[int, int]  # [start, end) in µs


def _as_values(records: Iterable[StoreRecord]) -> Iterator[Values]:
    for r in records:
        yield r.id, r.category, {**r.fields, **r.people}


def _part(
    name: str,
    rows: Callable[[], int],
    records: Callable[[], Iterator[StoreRecord]],
    categories: tuple[Category, ...],
    relation: Relation,
    position: WindowPosition,
    values: Callable[[], Iterator[Values]] | None = None,
    messages: MessageRows | None = None,
) -> Part:
    per_row = len(categories)
    return Part(
        name,
        lambda: rows() * per_row,
        records,
        categories,
        relation,
        position,
        values or (lambda: _as_values(records())),
        messages,
    )


def parts(categories: frozenset[Category], reads: Reads) -> list[Part]:
    """The release of `categories` in parts, in the order records have always come: each
    query's WHERE clause fixes its records' relation and window position (the window is in
    it), so the policy decides each part whole."""
    inside, start_end = WindowPosition.INSIDE, reads.window
    rooms = Rooms(
        lambda room: next(iter(reads.lookup("room_direct", room)), (False,))[0],
        lambda room: [a for (a,) in reads.lookup("room_members", room)],
    )
    out: list[Part] = []
    if Category.SUBSCRIBER in categories:
        out.append(
            _part(
                "subscriber",
                lambda: reads.count("subscriber"),
                lambda: subscribers(reads.rows("subscriber")),
                (Category.SUBSCRIBER,),
                Relation.SELF,
                WindowPosition.TIMELESS,
            )
        )
    if Category.LOGINS in categories:
        out.append(
            _part(
                "logins",
                lambda: reads.count("logins"),
                lambda: logins(reads.rows("logins")),
                (Category.LOGINS,),
                Relation.SELF,
                inside,
            )
        )
    if Category.MEMBERSHIPS in categories:
        out.append(
            _part(
                "memberships",
                lambda: reads.count("memberships"),
                lambda: memberships(reads.rows("memberships"), reads.members_of, *start_end),
                (Category.MEMBERSHIPS,),
                Relation.SELF,
                inside,
            )
        )
    wanted = [c for c in MESSAGE_CATEGORIES if c in categories]
    if wanted:
        for name, relation in (
            ("messages_self", Relation.SELF),
            ("messages_peer_direct", Relation.DIRECT_PEER),
            ("messages_peer_group", Relation.GROUP_PEER),
        ):
            out.append(
                _part(
                    name,
                    functools.partial(reads.count, name),
                    functools.partial(
                        lambda n, r: messages(reads.rows(n), wanted, r, rooms), name, relation
                    ),
                    tuple(wanted),
                    relation,
                    inside,
                    functools.partial(lambda n: message_values(reads.rows(n), wanted, rooms), name),
                    # Content alone (what a warrant for content asks): rows for the fast lane.
                    MessageRows(
                        functools.partial(reads.rows, name),
                        rooms,
                        rooms.seen,
                        format_us,
                        f"{Category.MESSAGE_CONTENT.value}:",
                    )
                    if wanted == [Category.MESSAGE_CONTENT]
                    else None,
                )
            )
    if Category.CONTACTS in categories:
        out.append(
            _part(
                "contacts",
                lambda: reads.count("contacts"),
                lambda: contacts(reads.rows("contacts")),
                (Category.CONTACTS,),
                Relation.SELF,
                inside,
            )
        )
    return out
