"""Every store connector passes the same tests: resolution, relations, windows, counts, streaming.

One story (STORY below) is told to each store in that store's own way: interchange rows for the
reference store on SQLite and on PostgreSQL, client-server API calls on a real Synapse
homeserver (on SQLite and on PostgreSQL). The same assertions are then made of what each store
yields for the same scope. A new connector joins by adding a builder to BUILDERS, as database
drivers share one DB-API suite.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import pathlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.model import (
    Category,
    FieldKind,
    Relation,
    Scope,
    StoreRecord,
    Window,
    WindowPosition,
)
from gateway.stores import connectors
from gateway.stores.base import Store

pytestmark = pytest.mark.slow

PEOPLE = ("alice", "bob", "carol", "dave")
TARGET = "alice"
EMAIL = "alice@example.org"
PHONE = "+821012345678"

# room: (direct, creator, invited). "elsewhere" has three members, so it is a group on every
# store; alice is never in it.
ROOMS: dict[str, tuple[bool, str, tuple[str, ...]]] = {
    "crew": (False, "alice", ("bob", "carol")),
    "dm": (True, "alice", ("bob",)),
    "leaving": (False, "bob", ("alice", "carol")),
    "elsewhere": (False, "carol", ("bob", "dave")),
}


@dataclasses.dataclass(frozen=True)
class Step:
    phase: str  # before | inside | after the warrant's window
    action: str  # send | leave
    who: str
    room: str
    body: str = ""


STORY = [
    Step("before", "send", "alice", "crew", "alice before the window"),
    Step("before", "send", "bob", "crew", "bob before the window"),
    Step("inside", "send", "alice", "crew", "alice in crew"),
    Step("inside", "send", "alice", "dm", "alice in dm"),
    Step("inside", "send", "alice", "leaving", "alice in leaving"),
    Step("inside", "send", "bob", "crew", "bob in crew"),
    Step("inside", "send", "carol", "crew", "carol in crew"),
    Step("inside", "send", "carol", "leaving", "carol in leaving"),
    Step("inside", "send", "bob", "dm", "bob in dm"),
    Step("inside", "leave", "alice", "leaving"),
    Step("inside", "send", "carol", "leaving", "carol after alice left"),
    Step("inside", "send", "bob", "elsewhere", "bob elsewhere"),
    Step("inside", "send", "dave", "elsewhere", "dave elsewhere"),
    Step("after", "send", "alice", "crew", "alice after the window"),
    Step("after", "send", "bob", "dm", "bob after the window"),
]

# What a scope of alice, the window, every category (received direct messages asked for) must
# give: each in-window message she could see, with its relation; nothing else.
EXPECTED = {
    "alice in crew": Relation.SELF,
    "alice in dm": Relation.SELF,
    "alice in leaving": Relation.SELF,
    "bob in crew": Relation.GROUP_PEER,
    "carol in crew": Relation.GROUP_PEER,
    "carol in leaving": Relation.GROUP_PEER,
    "bob in dm": Relation.DIRECT_PEER,
}
NEVER = {s.body for s in STORY if s.action == "send"} - set(EXPECTED)
# The only string values a store may declare safe (they leave as they are): times, an IP, a
# device id, a message type and format. A new one must be added here on purpose.
SAFE_STRINGS = {
    "created_at", "at", "sent_at", "joined_at", "left_at", "added_at", "ip", "device",
    "msgtype", "format", "user_type",
}  # fmt: skip


@dataclasses.dataclass
class Built:
    """A store after the story, and how that store names the story's people."""

    store: Store
    account: dict[str, str]  # person -> the store's account id
    window: Window
    resolvable: dict[str, str]  # target kind -> a value naming alice in this store
    room_ids: dict[str, str]


# -- the reference store: the story as interchange rows -----------------------------------------

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
WINDOW = Window(T0, T0 + dt.timedelta(days=1))


def _t(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def reference_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {
            "kind": "account",
            "id": p,
            "display_name": f"{p.title()} Person",
            "phone": PHONE if p == TARGET else None,
            "email": EMAIL if p == TARGET else None,
            "created_at": _t(T0 - dt.timedelta(days=30)),
        }
        for p in PEOPLE
    ]
    for who, hours, ip in (
        (TARGET, 1, "203.0.113.7"),
        (TARGET, -1, "203.0.113.8"),
        ("bob", 1, "::1"),
    ):
        at = _t(T0 + dt.timedelta(hours=hours))
        rows.append({"kind": "login", "account": who, "at": at, "ip": ip, "device": "android"})
    joined = T0 - dt.timedelta(days=1)
    left: dict[tuple[str, str], dt.datetime] = {}
    messages: list[dict[str, object]] = []
    for i, step in enumerate(STORY):
        at = {
            "before": T0 - dt.timedelta(hours=2) + dt.timedelta(minutes=i),
            "inside": T0 + dt.timedelta(minutes=10 + i),
            "after": WINDOW.end + dt.timedelta(hours=1, minutes=i),
        }[step.phase]
        if step.action == "leave":
            left[(step.room, step.who)] = at
        else:
            messages.append(
                {
                    "kind": "message",
                    "id": f"m{i}",
                    "room": step.room,
                    "sender": step.who,
                    "sent_at": _t(at),
                    "body": step.body,
                }
            )
    for room, (direct, creator, invited) in ROOMS.items():
        rows.append(
            {"kind": "room", "id": room, "name": None if direct else room, "direct": direct}
        )
        for person in (creator, *invited):
            end = left.get((room, person))
            rows.append(
                {
                    "kind": "membership",
                    "room": room,
                    "account": person,
                    "joined_at": _t(joined),
                    "left_at": None if end is None else _t(end),
                }
            )
    rows += messages
    added = _t(T0 + dt.timedelta(hours=2))
    rows.append({"kind": "contact", "owner": TARGET, "contact": "bob", "added_at": added})
    return rows


def _reference_built(store: Store) -> Built:
    return Built(
        store,
        {p: p for p in PEOPLE},
        WINDOW,
        {"account": TARGET, "email": EMAIL.upper(), "phone": PHONE},
        {r: r for r in ROOMS},
    )


def build_reference_sqlite(root: pathlib.Path) -> Iterator[Built]:
    from gateway.stores.reference.sqlite import ReferenceStore

    source = root / "story.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in reference_rows()))
    store = ReferenceStore.open(root / "store.db")
    try:
        store.import_jsonl(source)
        yield _reference_built(store)
    finally:
        store.close()


def build_reference_postgres(root: pathlib.Path) -> Iterator[Built]:
    import pg

    from gateway.db import migrate
    from gateway.db.postgres import Database
    from gateway.stores.reference.postgres import PgReferenceStore

    schema = pg.Schema()
    source = root / "story.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in reference_rows()))
    database = None
    try:
        migrate.upgrade(schema.url)
        database = Database(schema.url, pool_size=4)
        store = PgReferenceStore(database)
        store.import_jsonl(source)
        yield _reference_built(store)
    finally:
        if database is not None:
            database.close()
        schema.drop()


# -- a real Synapse homeserver: the story through the client-server API -----------------------

GAP = 0.03  # seconds between a window edge and the nearest event (Synapse stamps its own clock)


def _synapse(hs: Any) -> Iterator[Built]:
    """The story on the session's homeserver, with users of its own (localparts `conf_…`)."""
    from synapse_harness import now_ms

    from gateway.stores.synapse.store import SynapseStore, from_ms

    users = {p: hs.register(f"conf_{p}") for p in PEOPLE}
    admin = hs.register("conf_admin", admin=True)
    admin.admin_set_threepids(users[TARGET], [{"medium": "email", "address": EMAIL}])
    room_ids: dict[str, str] = {}
    for room, (direct, creator, invited) in ROOMS.items():
        room_ids[room] = users[creator].create_room(
            None if direct else room, invite=[users[p] for p in invited], direct=direct
        )
        for person in invited:
            users[person].join(room_ids[room])
    users["alice"].set_direct({users["bob"]: [room_ids["dm"]]})
    start = end = None
    phase = "before"
    for step in STORY:
        if step.phase != phase:
            time.sleep(GAP)
            if step.phase == "inside":
                start = from_ms(now_ms())
            else:
                end = from_ms(now_ms())
            time.sleep(GAP)
            phase = step.phase
        if step.action == "leave":
            users[step.who].leave(room_ids[step.room])
        else:
            users[step.who].send(room_ids[step.room], step.body)
    assert start is not None and end is not None
    store = SynapseStore.open(hs.store_url.removeprefix("synapse:"))
    try:
        yield Built(
            store,
            {p: u.user_id for p, u in users.items()},
            Window(start, end),
            {"matrix": users[TARGET].user_id, "email": EMAIL.upper()},
            room_ids,
        )
    finally:
        store.close()


# A builder gets a fresh directory and the session's homeserver factory; it yields the store.
BUILDERS: dict[str, Callable[[pathlib.Path, Any], Iterator[Built]]] = {
    "reference-sqlite": lambda root, _: build_reference_sqlite(root),
    "reference-postgres": lambda root, _: build_reference_postgres(root),
    "synapse-sqlite": lambda _, homeserver: _synapse(homeserver("sqlite")),
    "synapse-postgres": lambda _, homeserver: _synapse(homeserver("postgresql")),
}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, homeserver: Any
) -> Iterator[Built]:
    yield from BUILDERS[request.param](tmp_path_factory.mktemp(request.param), homeserver)


def test_every_connector_has_a_builder() -> None:
    """A connector package under gateway.stores (found by its name, as `--store KIND:URL` finds
    it) is tested here or fails here; each names how its setting is written."""
    found = connectors()
    assert "synapse" in found
    for kind, module in found.items():
        assert any(name.startswith(f"{kind}-") for name in BUILDERS), kind
        assert module.URL_FORMS and all(form.startswith(f"{kind}:") for form in module.URL_FORMS)


# -- the suite ---------------------------------------------------------------------------------


def scope(
    built: Built,
    *people: str,
    categories: frozenset[Category] = frozenset(Category),
    received_direct: bool = True,
    window: Window | None = None,
) -> Scope:
    targets = frozenset(built.account[p] for p in (people or (TARGET,)))
    return Scope(targets, categories, window or built.window, received_direct)


def content(built: Built, s: Scope) -> dict[str, StoreRecord]:
    """The message_content records of a scope, by body."""
    records = [r for r in built.store.records(s) if r.category is Category.MESSAGE_CONTENT]
    by_body = {str(r.fields.get("body")): r for r in records}
    assert len(by_body) == len(records), "one content record per message"
    return by_body


class TestResolution:
    def test_each_kind_the_store_knows_names_exactly_the_target(self, built: Built) -> None:
        for kind, value in built.resolvable.items():
            assert built.store.resolve(kind, value) == [built.account[TARGET]], kind

    def test_an_unknown_value_matches_no_account(self, built: Built) -> None:
        assert built.store.resolve("email", "nobody@example.org") == []
        assert built.store.resolve("phone", "+821099999999") == []
        assert built.store.resolve("account", "no-such-account") == []

    def test_an_email_is_not_a_prefix_or_pattern_match(self, built: Built) -> None:
        assert built.store.resolve("email", "alice@example") == []
        assert built.store.resolve("email", "%@example.org") == []


class TestRelations:
    def test_exactly_the_messages_the_target_could_see_with_their_relations(
        self, built: Built
    ) -> None:
        found = content(built, scope(built))
        assert {body: r.relation for body, r in found.items()} == EXPECTED
        assert not NEVER & set(found)

    def test_people_fields_name_the_sender_and_a_direct_recipient(self, built: Built) -> None:
        found = content(built, scope(built))
        acc = built.account
        assert found["bob in crew"].people["sender"] == acc["bob"]
        assert found["bob in dm"].people == {"sender": acc["bob"], "recipient": acc["alice"]}
        assert found["alice in dm"].people == {"sender": acc["alice"], "recipient": acc["bob"]}
        assert "recipient" not in found["carol in crew"].people

    def test_two_targets_each_message_once_from_the_right_side(self, built: Built) -> None:
        found = content(built, scope(built, "alice", "bob"))
        assert found["bob in crew"].relation is Relation.SELF
        assert found["bob in dm"].relation is Relation.SELF
        assert found["carol in crew"].relation is Relation.GROUP_PEER
        # bob is in "elsewhere": its messages now concern a target
        assert found["bob elsewhere"].relation is Relation.SELF
        assert found["dave elsewhere"].relation is Relation.GROUP_PEER

    def test_a_room_the_target_left_gives_nothing_after_the_leave(self, built: Built) -> None:
        found = content(built, scope(built))
        assert "carol in leaving" in found and "carol after alice left" not in found

    def test_memberships_are_the_targets_rooms_with_their_members(self, built: Built) -> None:
        s = scope(built, categories=frozenset({Category.MEMBERSHIPS}))
        records = list(built.store.records(s))
        acc = built.account
        assert all(r.relation is Relation.SELF for r in records)
        assert all(r.people["account"] == acc[TARGET] for r in records)
        rooms = {str(r.fields["room"]): r for r in records}
        ids = built.room_ids
        assert set(rooms) == {ids["crew"], ids["dm"], ids["leaving"]}
        assert set(rooms[ids["crew"]].people["members"]) == {acc["bob"], acc["carol"]}
        assert rooms[ids["leaving"]].until is not None
        assert rooms[ids["crew"]].until is None

    def test_the_subscriber_record_is_the_targets_own(self, built: Built) -> None:
        s = scope(built, categories=frozenset({Category.SUBSCRIBER}))
        (record,) = built.store.records(s)
        assert record.relation is Relation.SELF
        assert record.people["account"] == built.account[TARGET]


class TestWindows:
    def test_nothing_outside_the_window_is_yielded(self, built: Built) -> None:
        for record in built.store.records(scope(built)):
            position = record.window_position(built.window)
            assert position is not WindowPosition.OUTSIDE, record

    def test_a_narrower_window_narrows_the_messages(self, built: Built) -> None:
        w = built.window
        found = content(
            built, scope(built, window=Window(w.start, w.start + (w.end - w.start) / 1000))
        )
        assert set(found) < set(EXPECTED)

    def test_the_whole_history_holds_the_messages_before_and_after(self, built: Built) -> None:
        w = built.window
        wide = Window(w.start - dt.timedelta(days=1), w.end + dt.timedelta(days=1))
        found = content(built, scope(built, window=wide))
        assert {"alice before the window", "alice after the window"} <= set(found)
        assert found["bob after the window"].relation is Relation.DIRECT_PEER


class TestCounts:
    @pytest.mark.parametrize("category", [None, *Category])
    def test_count_is_exactly_what_records_yields(
        self, built: Built, category: Category | None
    ) -> None:
        categories = frozenset(Category) if category is None else frozenset({category})
        for people in ((TARGET,), ("alice", "bob"), ("dave",)):
            s = scope(built, *people, categories=categories)
            assert built.store.count(s) == sum(1 for _ in built.store.records(s)), people

    def test_no_targets_no_records(self, built: Built) -> None:
        s = Scope(frozenset(), frozenset(Category), built.window)
        assert built.store.count(s) == 0 and list(built.store.records(s)) == []

    def test_every_message_category_gives_one_record_per_message(self, built: Built) -> None:
        s = scope(
            built, categories=frozenset({Category.MESSAGE_METADATA, Category.MESSAGE_CONTENT})
        )
        per = collections.Counter(r.category for r in built.store.records(s))
        assert per[Category.MESSAGE_METADATA] == per[Category.MESSAGE_CONTENT] == len(EXPECTED)

    def test_metadata_carries_no_body(self, built: Built) -> None:
        s = scope(built, categories=frozenset({Category.MESSAGE_METADATA}))
        assert all(r.fields.get("body") is None for r in built.store.records(s))


class TestStreaming:
    def test_records_is_a_lazy_iterator_that_can_be_abandoned(self, built: Built) -> None:
        stream = built.store.records(scope(built))
        assert iter(stream) is stream
        first = next(stream)
        assert isinstance(first, StoreRecord)
        close = getattr(stream, "close", None)
        if close is not None:
            close()
        assert content(built, scope(built)).keys() == EXPECTED.keys()  # the store still serves

    def test_interleaved_streams_give_what_each_gives_alone(self, built: Built) -> None:
        s = scope(built)
        alone = [r.id for r in built.store.records(s)]
        a, b = built.store.records(s), built.store.records(s)
        got_a, got_b = [], []
        for x, y in zip(a, b, strict=True):
            got_a.append(x.id)
            got_b.append(y.id)
        assert got_a == got_b == alone

    def test_concurrent_streams_from_threads(self, built: Built) -> None:
        s = scope(built)
        alone = sorted(r.id for r in built.store.records(s))
        results: list[list[str]] = []
        errors: list[BaseException] = []

        def read() -> None:
            try:
                results.append(sorted(r.id for r in built.store.records(s)))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == [] and results == [alone] * 4

    def test_record_ids_are_unique_and_stable(self, built: Built) -> None:
        s = scope(built, "alice", "bob")
        first = [r.id for r in built.store.records(s)]
        assert len(first) == len(set(first))
        assert sorted(first) == sorted(r.id for r in built.store.records(s))


class TestShapesAndPeople:
    """What the text minimizer relies on: every field declared, every person in the directory."""

    def test_every_field_and_people_field_is_declared_by_the_shape(self, built: Built) -> None:
        """A string field a store emits is a people field, a declared text field (minimized) or
        a declared safe field; anything else would leave with no decision on how."""
        shapes = built.store.shapes()
        wide = Window(built.window.start - dt.timedelta(days=60), built.window.end)
        records = list(built.store.records(scope(built, "alice", "bob", window=wide)))
        assert records
        for r in records:
            shape = shapes[r.category]
            assert r.fields.keys() <= shape.fields.keys(), (r.id, r.fields.keys())
            assert r.people.keys() <= shape.people, (r.id, r.people.keys())
            for name, value in r.fields.items():
                if isinstance(value, str) and shape.fields[name] is FieldKind.SAFE:
                    assert name in SAFE_STRINGS, (r.id, name, value)

    def test_the_directory_holds_every_co_member_and_the_target(self, built: Built) -> None:
        people = {p.account: p for p in built.store.directory(scope(built))}
        for who in ("alice", "bob", "carol"):
            assert built.account[who] in people, who
        assert built.account["dave"] not in people  # never in a room with alice
        assert "bob" in " ".join(people[built.account["bob"]].names).lower()
        everyone = {p.account for p in built.store.everyone()}
        assert {built.account[p] for p in PEOPLE} <= everyone
