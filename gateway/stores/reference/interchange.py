"""The JSONL interchange format (docs/architecture.md, formats): lines to typed, validated rows.

Parsing checks one line on its own (JSON, kind, fields, types, times with a zone). `Validator`
checks a row against what came before it in the same file and what the store already holds
(`Known`): unknown references, duplicate ids, overlapping memberships, direct rooms with more than
two members, messages from someone who was never a member of the room. Every problem is an
InvalidArgument naming the line, so an import can refuse the whole file before anything is
written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from gateway.errors import InvalidArgument
from gateway.model import parse_time

MAX_ID = 256
MAX_TEXT = 1_000_000


@dataclasses.dataclass(frozen=True, slots=True)
class Account:
    id: str
    display_name: str | None
    phone: str | None
    email: str | None
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Login:
    account: str
    at: dt.datetime
    ip: str
    device: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Room:
    id: str
    name: str | None
    direct: bool
    topic: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Membership:
    room: str
    account: str
    joined_at: dt.datetime
    left_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    id: str
    room: str
    sender: str
    sent_at: dt.datetime
    body: str
    reply_to: str | None = None  # the id of the message this one replies to
    quote: str | None = None  # the quoted words as the sender's client showed them
    forwarded_from: str | None = None  # the account whose message `body` forwards
    attachment: str | None = None  # the attached file's name


@dataclasses.dataclass(frozen=True, slots=True)
class Contact:
    owner: str
    contact: str
    added_at: dt.datetime
    label: str | None = None  # the name the owner saved the contact under


Row = Account | Login | Room | Membership | Message | Contact

KIND_OF: dict[type, str] = {
    Account: "account",
    Login: "login",
    Room: "room",
    Membership: "membership",
    Message: "message",
    Contact: "contact",
}
KINDS: tuple[str, ...] = tuple(KIND_OF.values())


class _Bad(Exception):
    """A problem with one line; the caller adds the line number."""


# Field kinds: "id" (non-empty identifier), "text", "time", "bool", "ip"; a trailing "?" = may be
# null or absent.
_FIELDS: dict[str, dict[str, str]] = {
    "account": {
        "id": "id",
        "display_name": "text?",
        "phone": "text?",
        "email": "text?",
        "created_at": "time",
    },
    "login": {"account": "id", "at": "time", "ip": "ip", "device": "text?"},
    "room": {"id": "id", "name": "text?", "direct": "bool", "topic": "text?"},
    "membership": {"room": "id", "account": "id", "joined_at": "time", "left_at": "time?"},
    "message": {
        "id": "id",
        "room": "id",
        "sender": "id",
        "sent_at": "time",
        "body": "text",
        "reply_to": "id?",
        "quote": "text?",
        "forwarded_from": "id?",
        "attachment": "text?",
    },
    "contact": {"owner": "id", "contact": "id", "added_at": "time", "label": "text?"},
}
_BUILD = {
    "account": Account,
    "login": Login,
    "room": Room,
    "membership": Membership,
    "message": Message,
    "contact": Contact,
}


def label(row: Row) -> str:
    """How an error message names a row: its kind and whatever identifies it."""
    match row:
        case Account() | Room() | Message():
            return f"{KIND_OF[type(row)]} {row.id}"
        case Login():
            return f"login of {row.account}"
        case Membership():
            return f"membership {row.account} in {row.room}"
        case Contact():
            return f"contact {row.owner}->{row.contact}"
    raise AssertionError(row)


def check_id(value: str) -> str:
    """Ids are non-empty, bounded and free of control characters (they end up in logs, files)."""
    if not value:
        raise ValueError("is empty")
    if len(value) > MAX_ID:
        raise ValueError(f"is longer than {MAX_ID} characters")
    if value != value.strip():
        raise ValueError("has leading or trailing white space")
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise ValueError("contains a control character")
    return value


def _value(kind: str, field: str, spec: str, raw: dict[str, Any]) -> object:
    optional = spec.endswith("?")
    spec = spec.rstrip("?")
    if field not in raw:
        if optional:
            return None
        raise _Bad(f"{kind}: missing field {field!r}")
    value = raw[field]
    if value is None:
        if optional:
            return None
        raise _Bad(f"{kind}: field {field!r} must not be null")
    if spec == "bool":
        if not isinstance(value, bool):
            raise _Bad(f"{kind}: field {field!r} must be true or false")
        return value
    if not isinstance(value, str):
        raise _Bad(f"{kind}: field {field!r} must be a string")
    if spec == "id":
        try:
            return check_id(value)
        except ValueError as e:
            raise _Bad(f"{kind}: field {field!r} {e}") from None
    if spec == "time":
        try:
            return parse_time(value)
        except ValueError:
            raise _Bad(
                f"{kind}: field {field!r}: {value[:60]!r} is not an RFC 3339 time with a zone"
                " (e.g. 2026-01-01T00:00:00Z)"
            ) from None
    if spec == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise _Bad(f"{kind}: field {field!r}: {value[:60]!r} is not an IP address") from None
    if len(value) > MAX_TEXT:
        raise _Bad(f"{kind}: field {field!r} is longer than {MAX_TEXT} characters")
    return value


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise _Bad(f"field {key!r} given twice")
        seen[key] = value
    return seen


def parse_line(text: str) -> Row:
    """One line -> one typed row; raises _Bad with a message without the line number."""
    try:
        raw = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ValueError:
        raise _Bad("not valid JSON") from None
    if not isinstance(raw, dict):
        raise _Bad("not a JSON object")
    kind = raw.get("kind")
    if not isinstance(kind, str):
        raise _Bad("missing field 'kind'")
    fields = _FIELDS.get(kind)
    if fields is None:
        raise _Bad(f"unknown kind {kind[:40]!r} (known: {', '.join(KINDS)})")
    unknown = sorted(set(raw) - set(fields) - {"kind"})
    if unknown:
        raise _Bad(f"{kind}: unknown field {unknown[0][:40]!r}")
    values = {name: _value(kind, name, spec, raw) for name, spec in fields.items()}
    row: Row = _BUILD[kind](**values)
    if isinstance(row, Membership) and row.left_at is not None and row.left_at < row.joined_at:
        raise _Bad(f"{label(row)}: left_at is before joined_at")
    if isinstance(row, Message) and row.quote is not None and row.reply_to is None:
        raise _Bad(f"{label(row)}: a quote needs the reply_to message it quotes")
    if isinstance(row, Message) and row.reply_to is not None and row.reply_to == row.id:
        raise _Bad(f"{label(row)}: a message cannot reply to itself")
    if isinstance(row, Contact) and row.owner == row.contact:
        raise _Bad(f"{label(row)}: an account cannot be its own contact")
    return row


def parse_lines(lines: Iterable[str | bytes]) -> Iterator[tuple[int, Row]]:
    """Yield (line number, row) for every non-blank line; InvalidArgument names the bad line."""
    for number, line in enumerate(lines, start=1):
        try:
            if isinstance(line, bytes):
                try:
                    line = line.decode("utf-8")
                except UnicodeDecodeError:
                    raise _Bad("not valid UTF-8") from None
            if not line.strip():
                continue
            yield number, parse_line(line)
        except _Bad as e:
            raise InvalidArgument(f"line {number}: {e}") from None


class Known(Protocol):
    """What the store already holds, asked only for ids the file itself does not define."""

    def account_exists(self, account: str) -> bool: ...

    def room_direct(self, room: str) -> bool | None:
        """Whether the room is direct; None if there is no such room."""
        ...

    def message_exists(self, message: str) -> bool: ...

    def room_memberships(self, room: str) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
        """(account, joined_at, left_at) of every membership in the room."""
        ...


def _overlap(
    a: dt.datetime, a_end: dt.datetime | None, b: dt.datetime, b_end: dt.datetime | None
) -> bool:
    return a == b or ((b_end is None or a < b_end) and (a_end is None or b < a_end))


class Validator:
    """Checks rows in file order against earlier rows of the file and against the store."""

    def __init__(self, known: Known) -> None:
        self._known = known
        self._accounts: set[str] = set()
        self._rooms: dict[str, bool] = {}
        self._messages: set[str] = set()
        # room -> account -> periods, for rooms touched by this file (store rows loaded once)
        self._periods: dict[str, dict[str, list[tuple[dt.datetime, dt.datetime | None]]]] = {}
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)

    def _has_account(self, account: str) -> bool:
        return account in self._accounts or self._known.account_exists(account)

    def _room(self, room: str) -> bool | None:
        if room in self._rooms:
            return self._rooms[room]
        return self._known.room_direct(room)

    def _room_periods(self, room: str) -> dict[str, list[tuple[dt.datetime, dt.datetime | None]]]:
        periods = self._periods.get(room)
        if periods is None:
            periods = {}
            if room not in self._rooms:  # a room new in this file has no stored memberships
                for account, joined, left in self._known.room_memberships(room):
                    periods.setdefault(account, []).append((joined, left))
            self._periods[room] = periods
        return periods

    def _need_account(self, row: Row, field: str, account: str) -> None:
        if not self._has_account(account):
            raise InvalidArgument(f"{label(row)}: unknown account {account!r} in {field!r}")

    def _need_room(self, row: Row, room: str) -> bool:
        direct = self._room(room)
        if direct is None:
            raise InvalidArgument(f"{label(row)}: unknown room {room!r}")
        return direct

    def _need_member(self, row: Message, direct: bool) -> None:
        """A message's sender is (or was) a member of its room: a message from someone who
        never was would be a stranger's words in the room, and in a direct room it would be
        attributed to the wrong recipient (the one member who is not its sender). A former
        member's late message stays acceptable: stores keep what their servers accepted."""
        if not self._room_periods(row.room).get(row.sender):
            room = "direct room" if direct else "room"
            raise InvalidArgument(
                f"{label(row)}: sender {row.sender!r} was never a member of {room} {row.room!r}"
                " (a membership line must come before the room's messages)"
            )

    def check(self, row: Row) -> None:
        """Raise InvalidArgument (without line number) if the row cannot join the store."""
        match row:
            case Account():
                if self._has_account(row.id):
                    raise InvalidArgument(f"{label(row)}: duplicate account id {row.id!r}")
                self._accounts.add(row.id)
            case Room():
                if self._room(row.id) is not None:
                    raise InvalidArgument(f"{label(row)}: duplicate room id {row.id!r}")
                self._rooms[row.id] = row.direct
            case Login():
                self._need_account(row, "account", row.account)
            case Message():
                if row.id in self._messages or self._known.message_exists(row.id):
                    raise InvalidArgument(f"{label(row)}: duplicate message id {row.id!r}")
                direct = self._need_room(row, row.room)
                self._need_account(row, "sender", row.sender)
                self._need_member(row, direct)
                if row.reply_to is not None and not (
                    row.reply_to in self._messages or self._known.message_exists(row.reply_to)
                ):
                    raise InvalidArgument(
                        f"{label(row)}: reply_to names unknown message {row.reply_to!r}"
                        " (a reply follows the message it quotes)"
                    )
                if row.forwarded_from is not None:
                    self._need_account(row, "forwarded_from", row.forwarded_from)
                self._messages.add(row.id)
            case Contact():
                self._need_account(row, "owner", row.owner)
                # no uniqueness: contacts have no id, and one may be added again later
                self._need_account(row, "contact", row.contact)
            case Membership():
                direct = self._need_room(row, row.room)
                self._need_account(row, "account", row.account)
                periods = self._room_periods(row.room)
                mine = periods.setdefault(row.account, [])
                for joined, left in mine:
                    if _overlap(row.joined_at, row.left_at, joined, left):
                        raise InvalidArgument(
                            f"{label(row)}: overlaps an earlier membership of the same account"
                        )
                if direct and not mine and len(periods.keys() - {row.account}) >= 2:
                    raise InvalidArgument(f"{label(row)}: direct room already has two members")
                mine.append((row.joined_at, row.left_at))
        self.counts[KIND_OF[type(row)]] += 1

    def check_at(self, number: int, row: Row) -> None:
        try:
            self.check(row)
        except InvalidArgument as e:
            raise InvalidArgument(f"line {number}: {e.message}") from None
