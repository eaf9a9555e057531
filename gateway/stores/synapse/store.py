"""A Matrix Synapse homeserver's own database as a store (`--store synapse:sqlite:///PATH` or
`synapse:postgresql://...`): the first real messenger the gateway fronts, read-only.

Synapse's own user-data export (`admin_cmd export-data`) hands over every other room member's
messages along with the user's. This store yields the same rows as records with their relation,
so the gateway's policy keeps the collateral out. Account ids are Matrix user ids
(`@alice:example.org`). How Synapse's data maps to the gateway's categories:

- subscriber: users + profiles (display name) + user_threepids (e-mail, phone)
- logins: user_ips (when, from which IP, user agent, device) + the device's display name
- memberships: one record per membership of a target (a join up to the next leave, ban or kick
  in the room's order), with the other members present in it during the window (pseudonymized)
- message_metadata / message_content: m.room.message and m.room.encrypted events in rooms while
  a target was joined, inside the window. The target's own are `self`; others' are
  `direct_peer` in a direct room, else `group_peer`. An encrypted event gives metadata only (the
  server cannot read it). A redacted event is withheld with reason `redacted`, and its content
  (which Synapse keeps until its retention job prunes it) is never read.
- contacts: Synapse keeps none; nothing is yielded.

A room is direct when a target's `m.direct` account data lists it, or when exactly two users
ever joined it (what clients show as a one-to-one chat).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import InvalidArgument, Unavailable
from gateway.model import (
    MATRIX_USER_ID,
    Category,
    Person,
    RecordShape,
    Relation,
    Scope,
    StoreRecord,
    format_time,
    shape,
)
from gateway.model import FieldKind as K
from gateway.stores.synapse import sql as q

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FOREVER = 2**62  # a stream position after every event: a membership still open
_MESSAGE_CATEGORIES = (Category.MESSAGE_METADATA, Category.MESSAGE_CONTENT)


def _counts(reader: q.Reader, sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
    """The one row of a COUNT query (an aggregate without GROUP BY always has one)."""
    row = reader.one(sql, params)
    if row is None:
        raise Unavailable("synapse store: a count query returned no row")
    return row


def from_ms(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)


def _ms_bound(value: dt.datetime) -> int:
    """The first whole millisecond at or after `value`: ts >= bound <=> from_ms(ts) >= value."""
    us = (value - _EPOCH) // dt.timedelta(microseconds=1)
    return -(-us // 1000)


def _time(ms: int | None) -> str | None:
    return None if ms is None else format_time(from_ms(ms))


@dataclass(frozen=True, slots=True)
class Stay:
    """One membership: from a join up to the next leave (or ban) in the room's order."""

    room: str
    user: str
    event_id: str
    after: int  # stream position of the join
    joined_ms: int
    before: int = _FOREVER  # stream position of the leave
    left_ms: int | None = None

    def overlaps_ms(self, start: int, end: int | None) -> bool:
        return self.joined_ms < (end if end is not None else _FOREVER) and (
            self.left_ms is None or self.left_ms > start
        )


def stays(rows: list[tuple[Any, ...]]) -> list[Stay]:
    """Memberships from membership event rows (room, user, membership, stream, ts, event_id)
    in stream order: a join opens one (a second join is a profile change), anything else (a
    leave, kick or ban) closes it."""
    found: list[Stay] = []
    open_: dict[tuple[str, str], Stay] = {}
    for room, user, membership, stream, ts, event_id in rows:
        current = open_.get((room, user))
        if membership == "join":
            if current is None:
                open_[(room, user)] = Stay(room, user, event_id, stream, ts)
        elif current is not None:
            found.append(
                Stay(room, user, current.event_id, current.after, current.joined_ms, stream, ts)
            )
            del open_[(room, user)]
    found.extend(open_.values())
    return found


@dataclass(slots=True)
class Room:
    """What a release needs to know of one room a target was in."""

    id: str
    name: str | None
    direct: bool
    members: list[Stay]  # everyone's stays in the room
    direct_with: set[str]
    topic: str | None = None


@dataclass
class _Lookups:
    """What one release (or count) has read about rooms, so each is read once: every room's
    memberships and name, and each target's m.direct."""

    rooms: dict[str, Room] = field(default_factory=dict)
    direct_maps: dict[str, dict[str, list[str]]] | None = None


class SynapseStore:
    """A homeserver's database, read-only; implements gateway.stores.base.Store."""

    def __init__(self, database: q.Database) -> None:
        self._db = database
        self._closed = False

    @classmethod
    def open(cls, url: str) -> SynapseStore:
        """`url` is what follows `synapse:` in the store setting; checked now (fail closed)."""
        database = q.Database(url)
        database.check()
        return cls(database)

    def close(self) -> None:
        self._closed = True

    def _reader(self) -> q.SqliteReader | q.PostgresReader:
        if self._closed:
            raise Unavailable("synapse store is closed")
        return self._db.reader()

    # --- resolve ---------------------------------------------------------------------------

    def resolve(self, kind: str, value: str) -> list[str]:
        """Local users by Matrix id ('matrix' or 'account'), e-mail or phone (third-party ids)."""
        if kind in ("matrix", "account"):
            if not MATRIX_USER_ID.fullmatch(value):
                return []
            sql, params = q.RESOLVE_USER, {"user": value}
        elif kind == "email":
            # Synapse's own canonical form (synapse.util.threepids.canonicalise_email), under
            # which it keeps addresses unique: the local part case-folded, the domain lower-cased.
            local, _, domain = value.strip().rpartition("@")
            address = f"{local.casefold()}@{domain.lower()}"
            sql, params = q.RESOLVE_THREEPID, {"medium": "email", "address": address}
        elif kind == "phone":
            # msisdn threepids are digits without the '+'.
            sql, params = q.RESOLVE_THREEPID, {"medium": "msisdn", "address": value.lstrip("+")}
        else:
            raise InvalidArgument(
                f"unknown target kind {kind!r} (known: account, phone, email, matrix)"
            )
        reader = self._reader()
        try:
            return [row[0] for row in reader.rows(sql, params)]
        finally:
            reader.close()

    # --- who a release could mention -------------------------------------------------------

    def shapes(self) -> Mapping[Category, RecordShape]:
        return SHAPES

    def directory(self, scope: Scope) -> list[Person]:
        """Everyone with a membership event in a room a target was ever in (display names per
        room and from the profile, e-mail and phone threepids), the targets included."""
        if not scope.targets:
            return []
        reader = self._reader()
        try:
            rooms = sorted(
                {
                    row[0]
                    for user in sorted(scope.targets)
                    for row in reader.rows(q.USER_MEMBERSHIPS, {"user": user})
                }
            )
            names: dict[str, list[str]] = {}
            for room in rooms:
                for user, display in reader.rows(q.ROOM_PEOPLE, {"room": room}):
                    names.setdefault(user, []).append(display)
            for user in scope.targets:
                names.setdefault(user, [])
            threepids: dict[str, list[tuple[str, str]]] = {}
            for user in sorted(names):
                profile = reader.one(q.PROFILE, {"localpart": _localpart(user)})
                if profile is not None:
                    names[user].insert(0, profile[0])
                threepids[user] = [(m, a) for m, a in reader.rows(q.THREEPIDS, {"user": user})]
            return _people(list(names), names, threepids)
        finally:
            reader.close()

    def everyone(self) -> list[Person]:
        reader = self._reader()
        try:
            users = [row[0] for row in reader.rows(q.EVERYONE["users"], {})]
            names: dict[str, list[str]] = {}
            by_localpart = {_localpart(u): u for u in users}
            for localpart, display in reader.rows(q.EVERYONE["profiles"], {}):
                if localpart in by_localpart:
                    names.setdefault(by_localpart[localpart], []).append(display)
            for user, display in reader.rows(q.EVERYONE["room_names"], {}):
                names.setdefault(user, []).append(display)
            threepids: dict[str, list[tuple[str, str]]] = {}
            for user, medium, address in reader.rows(q.EVERYONE["threepids"], {}):
                threepids.setdefault(user, []).append((medium, address))
            return _people([*users, *names], names, threepids)
        finally:
            reader.close()

    # --- count and records -----------------------------------------------------------------

    @staticmethod
    def _window(scope: Scope) -> tuple[int, int]:
        return _ms_bound(scope.window.start), _ms_bound(scope.window.end)

    def count(self, scope: Scope) -> int:
        """Exactly how many records records(scope) yields from the same snapshot of the data."""
        if not scope.targets:
            return 0
        start, end = self._window(scope)
        cats = scope.categories
        reader = self._reader()
        try:
            total = 0
            for user in sorted(scope.targets):
                if Category.SUBSCRIBER in cats:
                    total += reader.one(q.RESOLVE_USER, {"user": user}) is not None
                if Category.LOGINS in cats:
                    total += _counts(
                        reader, q.COUNT_LOGINS, {"user": user, "start": start, "end": end}
                    )[0]
            rooms_needed = Category.MEMBERSHIPS in cats or any(
                c in cats for c in _MESSAGE_CATEGORIES
            )
            target_stays = self._target_stays(reader, scope, start, end) if rooms_needed else []
            if Category.MEMBERSHIPS in cats:
                total += len(target_stays)
            if any(c in cats for c in _MESSAGE_CATEGORIES):
                for room, after, before in self._message_spans(target_stays):
                    plain, every = _counts(
                        reader,
                        q.COUNT_MESSAGES,
                        {
                            "room": room,
                            "after": after,
                            "before": before,
                            "start": start,
                            "end": end,
                        },
                    )
                    total += every * (Category.MESSAGE_METADATA in cats)
                    total += plain * (Category.MESSAGE_CONTENT in cats)
            return total
        finally:
            reader.close()

    def records(self, scope: Scope) -> Iterator[StoreRecord]:
        """Stream the scope's records, category by category, from one read-only snapshot."""
        if self._closed:
            raise Unavailable("synapse store is closed")
        return self._records(scope)

    def _records(self, scope: Scope) -> Iterator[StoreRecord]:
        if not scope.targets:
            return
        start, end = self._window(scope)
        cats = scope.categories
        reader = self._reader()
        try:
            if Category.SUBSCRIBER in cats:
                for user in sorted(scope.targets):
                    yield from self._subscriber(reader, user)
            if Category.LOGINS in cats:
                for user in sorted(scope.targets):
                    yield from self._logins(reader, user, start, end)
            rooms_needed = Category.MEMBERSHIPS in cats or any(
                c in cats for c in _MESSAGE_CATEGORIES
            )
            target_stays = self._target_stays(reader, scope, start, end) if rooms_needed else []
            seen = _Lookups()
            if Category.MEMBERSHIPS in cats:
                yield from self._memberships(reader, scope, start, end, target_stays, seen)
            if any(c in cats for c in _MESSAGE_CATEGORIES):
                yield from self._messages(reader, scope, start, end, target_stays, seen)
        finally:
            reader.close()

    # --- categories ------------------------------------------------------------------------

    @staticmethod
    def _subscriber(reader: q.Reader, user: str) -> Iterator[StoreRecord]:
        row = reader.one(q.USER, {"user": user, "localpart": user[1:].partition(":")[0]})
        if row is None:
            return
        name, created_s, deactivated, user_type, display_name = row
        threepids = list(reader.rows(q.THREEPIDS, {"user": user}))
        yield StoreRecord(
            id=f"subscriber:{name}",
            category=Category.SUBSCRIBER,
            relation=Relation.SELF,
            at=None,
            fields={
                "display_name": display_name,
                "emails": [a for m, a in threepids if m == "email"],
                "phones": ["+" + a for m, a in threepids if m == "msisdn"],
                "created_at": None if created_s is None else _time(created_s * 1000),
                "deactivated": bool(deactivated),
                "user_type": user_type,
            },
            people={"account": name},
        )

    @staticmethod
    def _logins(reader: q.Reader, user: str, start: int, end: int) -> Iterator[StoreRecord]:
        seen: dict[str, int] = {}
        for device, ip, agent, last_seen, device_name in reader.rows(
            q.LOGINS, {"user": user, "start": start, "end": end}
        ):
            # user_ips has no key of its own that is not a secret (the access token): the id is
            # a digest of what identifies the row here, numbered if two rows are the same.
            key = hashlib.sha256(json.dumps([user, device, ip, agent, last_seen]).encode())
            rid = key.hexdigest()[:24]
            seen[rid] = seen.get(rid, 0) + 1
            if seen[rid] > 1:
                rid = f"{rid}-{seen[rid]}"
            yield StoreRecord(
                id=f"logins:{rid}",
                category=Category.LOGINS,
                relation=Relation.SELF,
                at=from_ms(last_seen),
                fields={
                    "at": _time(last_seen),
                    "ip": ip,
                    "user_agent": agent,
                    "device": device,
                    "device_name": device_name,
                },
                people={"account": user},
            )

    @staticmethod
    def _target_stays(reader: q.Reader, scope: Scope, start: int, end: int) -> list[Stay]:
        """Every target's memberships that overlap the window, in a stable order."""
        return [
            stay
            for user in sorted(scope.targets)
            for stay in stays(list(reader.rows(q.USER_MEMBERSHIPS, {"user": user})))
            if stay.overlaps_ms(start, end)
        ]

    @staticmethod
    def _room(reader: q.Reader, room: str, scope: Scope, seen: _Lookups) -> Room:
        known = seen.rooms.get(room)
        if known is not None:
            return known
        if seen.direct_maps is None:
            seen.direct_maps = {
                user: _direct_map(reader.one(q.DIRECT_ROOMS, {"user": user}))
                for user in sorted(scope.targets)
            }
        members = stays(list(reader.rows(q.ROOM_MEMBERSHIPS, {"room": room})))
        direct_with = {
            peer
            for direct in seen.direct_maps.values()
            for peer, rooms in direct.items()
            if room in rooms
        }
        joined = {s.user for s in members}
        # m.direct is the user's client's bookkeeping and goes stale (a one-to-one chat that
        # gained a third member stays listed): it can only name the peer of a room that never
        # had more than two members, never make a group room direct (guarantee 1).
        direct = len(joined) <= 2 and (bool(direct_with) or len(joined) == 2)
        name_row = reader.one(q.ROOM_NAME, {"room": room})
        seen.rooms[room] = Room(
            room,
            name_row[0] if name_row else None,
            direct,
            members,
            direct_with if direct else set(),
            name_row[1] if name_row else None,
        )
        return seen.rooms[room]

    def _memberships(
        self,
        reader: q.Reader,
        scope: Scope,
        start: int,
        end: int,
        target_stays: list[Stay],
        seen: _Lookups,
    ) -> Iterator[StoreRecord]:
        for stay in target_stays:
            room = self._room(reader, stay.room, scope, seen)
            # Those present with the target, both clipped to the window (data minimization).
            low = max(stay.joined_ms, start)
            high = min(stay.left_ms if stay.left_ms is not None else end, end)
            others = sorted(
                {m.user for m in room.members if m.user != stay.user and m.overlaps_ms(low, high)}
            )
            yield StoreRecord(
                id=f"memberships:{stay.event_id}",
                category=Category.MEMBERSHIPS,
                relation=Relation.SELF,
                at=from_ms(stay.joined_ms),
                until=None if stay.left_ms is None else from_ms(stay.left_ms),
                fields={
                    "room": room.id,
                    # a direct room's name often is the peer's name: never hand it out
                    "room_name": None if room.direct else room.name,
                    "room_topic": None if room.direct else room.topic,
                    "direct": room.direct,
                    # clipped to the window: no time of the membership outside it leaves
                    "joined_at": _time(max(stay.joined_ms, start)),
                    "left_at": _time(stay.left_ms if high < end else None),
                },
                people={"account": stay.user, "members": tuple(others)},
            )

    @staticmethod
    def _message_spans(target_stays: list[Stay]) -> list[tuple[str, int, int]]:
        """(room, after, before): stream ranges where some target was joined, merged per room
        so a message seen by two targets is produced once."""
        by_room: dict[str, list[tuple[int, int]]] = {}
        for stay in target_stays:
            by_room.setdefault(stay.room, []).append((stay.after, stay.before))
        spans: list[tuple[str, int, int]] = []
        for room in sorted(by_room):
            merged: list[list[int]] = []
            for after, before in sorted(by_room[room]):
                if merged and after <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], before)
                else:
                    merged.append([after, before])
            spans.extend((room, a, b) for a, b in merged)
        return spans

    def _messages(
        self,
        reader: q.Reader,
        scope: Scope,
        start: int,
        end: int,
        target_stays: list[Stay],
        seen: _Lookups,
    ) -> Iterator[StoreRecord]:
        wanted = [c for c in _MESSAGE_CATEGORIES if c in scope.categories]
        body = Category.MESSAGE_CONTENT in scope.categories
        targets = scope.targets
        for room_id, after, before in self._message_spans(target_stays):
            room = self._room(reader, room_id, scope, seen)
            for event_id, kind, sender, ts, redacted, raw in reader.rows(
                q.MESSAGES,
                {
                    "room": room_id,
                    "after": after,
                    "before": before,
                    "start": start,
                    "end": end,
                    "body": body,
                },
            ):
                if sender in targets:
                    relation = Relation.SELF
                else:
                    relation = Relation.DIRECT_PEER if room.direct else Relation.GROUP_PEER
                people: dict[str, str] = {"sender": sender}
                recipient = _recipient(room, sender, ts) if room.direct else None
                if recipient is not None:
                    people["recipient"] = recipient
                encrypted = kind == "m.room.encrypted"
                base = {
                    "room": room_id,
                    "direct": room.direct,
                    "sent_at": _time(ts),
                    "encrypted": encrypted,
                }
                withheld = "redacted" if redacted else None
                for category in wanted:
                    people_out = people
                    if category is Category.MESSAGE_CONTENT:
                        if encrypted:
                            continue  # the server holds ciphertext only: metadata, no content
                        content, replied = _content(raw)
                        fields = dict(base, **content)
                        if replied is not None and not withheld:
                            row = reader.one(q.REPLIED_SENDER, {"event": replied, "room": room_id})
                            if row is not None:
                                people_out = dict(people, quoted=row[0])
                    else:
                        fields = base
                    if withheld:
                        fields, people_out = {}, {}  # nothing of it is carried further
                    yield StoreRecord(
                        f"{category.value}:{event_id}",
                        category,
                        relation,
                        from_ms(ts),
                        fields,
                        people_out,
                        withheld=withheld,
                    )


def _content(raw: str | bytes | None) -> tuple[dict[str, object], str | None]:
    """The released part of an m.room.message event's JSON (None each when not read), and the
    id of the event it replies to (m.in_reply_to), if any."""
    content = {} if raw is None else (json.loads(raw).get("content") or {})
    if not isinstance(content, dict):
        content = {}
    found: dict[str, object] = dict.fromkeys(_CONTENT_STRINGS)
    for name in _CONTENT_STRINGS:
        value = content.get(name)
        if isinstance(value, str):
            found[name] = value
    relates = content.get("m.relates_to")
    reply = relates.get("m.in_reply_to") if isinstance(relates, dict) else None
    replied = reply.get("event_id") if isinstance(reply, dict) else None
    found["reply"] = isinstance(replied, str)
    return found, replied if isinstance(replied, str) else None


# The content keys an m.room.message may carry that are released: its type, its text (plain and
# formatted), the file name of an attachment (whose `body` is then its caption).
_CONTENT_STRINGS = ("msgtype", "body", "format", "formatted_body", "filename")
_MESSAGE_FIELDS = {
    "room": K.ROOM,
    "direct": K.SAFE,
    "sent_at": K.SAFE,
    "encrypted": K.SAFE,
}
SHAPES: dict[Category, RecordShape] = {
    Category.SUBSCRIBER: shape(
        ("account",),
        display_name=K.TEXT,
        emails=K.TEXT,
        phones=K.TEXT,
        created_at=K.SAFE,
        deactivated=K.SAFE,
        user_type=K.SAFE,
    ),
    Category.LOGINS: shape(
        ("account",), at=K.SAFE, ip=K.SAFE, user_agent=K.TEXT, device=K.SAFE, device_name=K.TEXT
    ),
    Category.MEMBERSHIPS: shape(
        ("account", "members"),
        room=K.ROOM,
        room_name=K.TEXT,
        room_topic=K.TEXT,
        direct=K.SAFE,
        joined_at=K.SAFE,
        left_at=K.SAFE,
    ),
    Category.MESSAGE_METADATA: shape(("sender", "recipient"), **_MESSAGE_FIELDS),
    Category.MESSAGE_CONTENT: shape(
        ("sender", "recipient", "quoted"),
        msgtype=K.SAFE,
        format=K.SAFE,
        body=K.MATRIX_BODY,
        formatted_body=K.MATRIX_HTML,
        filename=K.TEXT,
        reply=K.SAFE,
        **_MESSAGE_FIELDS,
    ),
    Category.CONTACTS: shape(),
}


def _localpart(user: str) -> str:
    return user[1:].partition(":")[0]


def _people(
    users: Iterator[str] | list[str],
    names: Mapping[str, list[str]],
    threepids: Mapping[str, list[tuple[str, str]]],
) -> list[Person]:
    found = []
    for user in sorted(set(users)):
        pids = threepids.get(user, [])
        found.append(
            Person(
                user,
                names=tuple(dict.fromkeys(n for n in names.get(user, []) if n)),
                phones=tuple("+" + a for m, a in pids if m == "msisdn"),
                emails=tuple(a for m, a in pids if m == "email"),
                handles=(_localpart(user),),
            )
        )
    return found


def _direct_map(row: tuple[Any, ...] | None) -> dict[str, list[str]]:
    """A user's m.direct account data: {peer user id: [room ids]}; malformed parts ignored."""
    if row is None:
        return {}
    try:
        content = json.loads(row[0])
    except (TypeError, ValueError):
        return {}
    if not isinstance(content, dict):
        return {}
    return {
        peer: [r for r in rooms if isinstance(r, str)]
        for peer, rooms in content.items()
        if isinstance(peer, str) and isinstance(rooms, list)
    }


def _recipient(room: Room, sender: str, ts: int) -> str | None:
    """The other party of a direct room, seen from the sender: whom m.direct names, else the
    other user who was joined when the message was sent (else ever)."""
    named = sorted(u for u in room.direct_with if u != sender)
    if named:
        return named[0]
    present = sorted(
        {
            m.user
            for m in room.members
            if m.user != sender and m.joined_ms <= ts and (m.left_ms is None or m.left_ms > ts)
        }
    )
    if present:
        return present[0]
    ever = sorted({m.user for m in room.members if m.user != sender})
    return ever[0] if ever else None
