"""A real Synapse homeserver behind the gateway: exactly the target's own messages leave, while
Synapse's own export-data of the same user hands over everyone else's too.

One homeserver per database (SQLite, and the real PostgreSQL) is started from `.venv-synapse`,
filled through its HTTP APIs, and then read by the gateway (`store=synapse:...`). Message times:
Synapse stamps each event with its own clock (origin_server_ts), the machine's clock, so the
warrant window is taken from the clock between sends (messages before it, a pause, the window
opens, the in-window messages, the window closes, a pause, messages after); the test then reads
every event's stamp back and checks each one fell where it was meant to, so a clock surprise
fails loudly instead of passing by accident.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pathlib
import time
from typing import Any

import pytest
from synapse_harness import Synapse, User, now_ms

from gateway.api.package import write_package
from gateway.model import Category, Scope, Window
from gateway.stores.synapse.store import SynapseStore, from_ms
from gateway.testing import make_spec

pytestmark = pytest.mark.slow

OFFICER, REVIEWER = "alice", "bob"  # the gateway's principals (not the Matrix users)
GAP = 0.03  # seconds between a window edge and the nearest message


@dataclasses.dataclass
class World:
    """The homeserver after the story below, with what each part of it should give."""

    hs: Synapse
    alice: User
    others: dict[str, User]
    rooms: dict[str, str]
    start: dt.datetime
    end: dt.datetime
    own_in_window: dict[str, str]  # body -> event id: alice's unredacted in-window messages
    redacted: str
    encrypted: str
    peer_in_window: dict[str, str]  # body -> event id: others' in-window messages alice saw
    received_direct: str  # bob's in-window message in the direct room
    bodies_elsewhere: set[str]  # peers' messages alice never saw
    stamps: dict[str, tuple[int, str]]  # event id -> (origin_server_ts, intended place)
    reply: str = ""  # alice's reply to bob's crew message, after `end`, mentioning carol
    reply_window: tuple[dt.datetime, dt.datetime] | None = None


def build(hs: Synapse) -> World:
    admin = hs.register("admin", admin=True)
    alice, bob, carol = hs.register("alice"), hs.register("bob"), hs.register("carol")
    alice.set_displayname("Alice Target")
    admin.admin_set_threepids(alice, [{"medium": "email", "address": "alice@example.org"}])
    bob.set_displayname("Bob Bystander")

    crew = alice.create_room("crew", invite=[bob, carol])  # a group
    bob.join(crew)
    carol.join(crew)
    dm = alice.create_room(None, invite=[bob], direct=True)  # a direct chat
    bob.join(dm)
    alice.set_direct({bob: [dm]})
    leaving = bob.create_room("leaving", invite=[alice, carol])  # alice leaves it midway
    alice.join(leaving)
    carol.join(leaving)
    elsewhere = carol.create_room("elsewhere", invite=[bob])  # alice is never in it
    bob.join(elsewhere)

    stamps: dict[str, tuple[int, str]] = {}

    def send(user: User, room: str, body: str, place: str) -> str:
        event = user.send(room, body)
        stamps[event] = (user.event_ts(room, event), place)
        return event

    send(alice, crew, "alice before the window", "before")
    send(bob, crew, "bob before the window", "before")
    time.sleep(GAP)
    start = from_ms(now_ms())
    time.sleep(GAP)
    own = {
        body: send(alice, room, body, "inside")
        for room, body in [
            (crew, "alice in crew"),
            (dm, "alice in dm"),
            (leaving, "alice in leaving"),
        ]
    }
    peer = {
        body: send(user, room, body, "inside")
        for user, room, body in [
            (bob, crew, "bob in crew"),
            (carol, crew, "carol in crew"),
            (carol, leaving, "carol in leaving"),
        ]
    }
    received = send(bob, dm, "bob in dm", "inside")
    redacted = send(alice, crew, "alice regrets this", "inside")
    alice.redact(crew, redacted)
    encrypted = alice.send_encrypted(dm)
    stamps[encrypted] = (alice.event_ts(dm, encrypted), "inside")
    alice.leave(leaving)
    elsewhere_bodies = {"carol after alice left", "bob elsewhere", "carol elsewhere"}
    send(carol, leaving, "carol after alice left", "inside")
    send(bob, elsewhere, "bob elsewhere", "inside")
    send(carol, elsewhere, "carol elsewhere", "inside")
    time.sleep(GAP)
    end = from_ms(now_ms())
    time.sleep(GAP)
    send(alice, crew, "alice after the window", "after")
    send(bob, dm, "bob after the window", "after")
    # After the window the other tests use: alice replies to bob's crew message (with the reply
    # fallbacks of older clients) and mentions carol by display name and Matrix id.
    carol.set_displayname("Carol Member")
    time.sleep(GAP)
    reply_start = from_ms(now_ms())
    quoted = peer["bob in crew"]
    reply = alice.send_content(
        crew,
        {
            "msgtype": "m.text",
            "body": "> <@bob:localhost> bob in crew\n\nok, Carol Member and @carol:localhost agree",
            "format": "org.matrix.custom.html",
            "formatted_body": '<mx-reply><blockquote><a href="https://matrix.to/#/@bob:localhost">'
            "@bob:localhost</a><br>bob in crew</blockquote></mx-reply>"
            '<a href="https://matrix.to/#/@carol:localhost">Carol Member</a> agrees',
            "m.relates_to": {"m.in_reply_to": {"event_id": quoted}},
        },
    )
    stamps[reply] = (alice.event_ts(crew, reply), "after")
    time.sleep(GAP)
    reply_end = from_ms(now_ms())
    return World(
        hs,
        alice,
        {"bob": bob, "carol": carol},
        {"crew": crew, "dm": dm, "leaving": leaving, "elsewhere": elsewhere},
        start,
        end,
        own,
        redacted,
        encrypted,
        peer,
        received,
        elsewhere_bodies,
        stamps,
        reply,
        (reply_start, reply_end),
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, homeserver: Any) -> World:
    return build(homeserver(request.param))


def release(
    start_gateway: Any,
    clock: Any,
    world: World,
    out: pathlib.Path,
    targets: list[str],
    categories: list[str],
    start: dt.datetime,
    end: dt.datetime,
    received_direct: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    run = start_gateway(store=world.hs.store_url, data=out.parent / f"{out.name}-data")
    with run.client(OFFICER) as officer:
        w = officer.submit(
            make_spec(
                targets, categories, start, end, clock.now + dt.timedelta(days=30), received_direct
            )
        )
    with run.client(REVIEWER) as reviewer:
        w = reviewer.approve(w.id)
    with run.client(OFFICER) as officer:
        manifest = write_package(out, w, officer.release(w.id, 0))
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    return manifest, records


def all_text(manifest: dict[str, Any], records: list[dict[str, Any]]) -> str:
    return json.dumps(manifest) + json.dumps(records)


def export_events(directory: pathlib.Path) -> list[dict[str, Any]]:
    """Every event of Synapse's export-data (rooms/*/events: JSON objects one after another)."""
    decoder = json.JSONDecoder()
    events = []
    for path in sorted(directory.glob("rooms/*/events")):
        text, i = path.read_text(), 0
        while i < len(text):
            if text[i].isspace():
                i += 1
                continue
            event, i = decoder.raw_decode(text, i)
            events.append(event)
    return events


def test_the_story_happened_as_planned(world: World) -> None:
    """Every message's own server stamp fell before, inside or after the window as intended."""
    start_ms, end_ms = (int(t.timestamp() * 1000) for t in (world.start, world.end))
    for event, (ts, place) in world.stamps.items():
        actual = "before" if ts < start_ms else "inside" if ts < end_ms else "after"
        assert actual == place, (event, ts, start_ms, end_ms)


def test_only_the_targets_own_unredacted_in_window_messages_leave(
    world: World, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    manifest, records = release(
        start_gateway,
        clock,
        world,
        tmp_path / "out",
        ["@alice:localhost"],
        ["message_content", "message_metadata"],
        world.start,
        world.end,
    )
    content = {r["id"].split(":", 1)[1]: r for r in records if r["category"] == "message_content"}
    metadata = {r["id"].split(":", 1)[1] for r in records if r["category"] == "message_metadata"}
    own = set(world.own_in_window.values())
    # The two counts this test states: the gateway releases alice's 3 in-window, unredacted
    # messages (content), and their metadata plus that of her encrypted message (4)...
    assert set(content) == own and len(content) == 3
    assert metadata == own | {world.encrypted} and len(metadata) == 4
    assert sorted(r["body"] for r in content.values()) == sorted(world.own_in_window)
    assert manifest["released"] == 7
    # ...and withholds everything else it read, by reason: 3 group members' messages and 1
    # direct one received (each twice: content and metadata), and the redacted message.
    assert manifest["withheld"] == {"group_peer": 6, "direct_peer_not_requested": 2, "redacted": 2}
    # Other members appear only as pseudonyms: the recipient of alice's direct message.
    dm_record = content[world.own_in_window["alice in dm"]]
    assert dm_record["recipient"].startswith("pseud:")
    assert dm_record["sender"] == "@alice:localhost"
    text = all_text(manifest, records)
    for leaked in [
        "@bob:localhost",
        "@carol:localhost",
        "Bob Bystander",
        "alice regrets this",
        *world.peer_in_window,
        "bob in dm",
        *world.bodies_elsewhere,
        "alice before the window",
        "alice after the window",
    ]:
        assert leaked not in text


def test_received_direct_messages_leave_only_when_asked_with_the_sender_pseudonymized(
    world: World, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    manifest, records = release(
        start_gateway,
        clock,
        world,
        tmp_path / "out",
        ["matrix:@alice:localhost"],
        ["message_content"],
        world.start,
        world.end,
        received_direct=True,
    )
    by_event = {r["id"].split(":", 1)[1]: r for r in records}
    assert set(by_event) == set(world.own_in_window.values()) | {world.received_direct}
    received = by_event[world.received_direct]
    assert received["sender"].startswith("pseud:")
    # "bob" names bob (his Matrix id's localpart): the text minimizer replaces it with the
    # pseudonym the sender field has
    assert received["body"] == f"{received['sender']} in dm"
    assert received["recipient"] == "@alice:localhost"
    assert manifest["withheld"] == {"group_peer": 3, "redacted": 1}


def test_account_logins_and_memberships(
    world: World, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """Resolved by e-mail; memberships with times, a leave, members pseudonymized."""
    wide = Window(world.start - dt.timedelta(hours=1), world.end + dt.timedelta(hours=1))
    store = SynapseStore.open(world.hs.store_url.removeprefix("synapse:"))
    logins = Scope(frozenset({"@alice:localhost"}), frozenset({Category.LOGINS}), wide)
    deadline = time.monotonic() + 20  # Synapse writes client IPs in batches every few seconds
    while store.count(logins) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    store.close()
    manifest, records = release(
        start_gateway,
        clock,
        world,
        tmp_path / "out",
        ["email:Alice@Example.org"],
        ["subscriber", "logins", "memberships"],
        wide.start,
        wide.end,
    )
    by_category: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_category.setdefault(r["category"], []).append(r)
    (account,) = by_category["subscriber"]
    assert account["account"] == "@alice:localhost"
    assert account["display_name"] == "Alice Target" and account["emails"] == ["alice@example.org"]
    assert by_category["logins"] and all(r["ip"] == "127.0.0.1" for r in by_category["logins"])
    # room ids leave as pseudonyms: the rooms are told apart by their names here
    rooms = {r["room_name"] or "dm": r for r in by_category["memberships"]}
    assert set(rooms) == {"crew", "dm", "leaving"}
    assert all(r["room"].startswith("pseud-room:") for r in rooms.values())
    assert not {world.rooms[n] for n in rooms} & {r["room"] for r in rooms.values()}
    assert rooms["leaving"]["left_at"] is not None
    assert rooms["crew"]["left_at"] is None
    assert rooms["dm"]["direct"]
    assert len(rooms["crew"]["members"]) == 2
    assert rooms["crew"]["members"] == sorted(rooms["crew"]["members"])
    assert all(m.startswith("pseud:") for r in rooms.values() for m in r["members"])
    assert "@bob:localhost" not in all_text(manifest, records)
    assert manifest["withheld"] == {}


def test_a_reply_carries_neither_the_quoted_peers_words_nor_the_members_names(
    world: World, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """Alice replies to bob's group message and mentions carol: the release holds neither
    bob's words nor bob's or carol's Matrix id or display name, in body or formatted body;
    the quote is withheld behind a marker naming bob's pseudonym."""
    assert world.reply_window is not None
    manifest, records = release(
        start_gateway,
        clock,
        world,
        tmp_path / "out",
        ["@alice:localhost"],
        ["message_content"],
        *world.reply_window,
    )
    (reply,) = records
    assert reply["id"] == f"message_content:{world.reply}" and reply["reply"] is True
    bob = reply["quoted"]
    assert bob.startswith("pseud:")
    assert reply["body"].startswith(f"[quote of {bob} withheld]\nok, ")
    assert reply["formatted_body"].startswith(f"<p>[quote of {bob} withheld]</p>")
    text = all_text(manifest, records)
    for leaked in ["bob in crew", "@bob:localhost", "Bob Bystander", "@carol:localhost",
                   "Carol Member", "carol:localhost", "bob:localhost"]:  # fmt: skip
        assert leaked not in text, leaked
    assert manifest["quotes_withheld"] == 1
    replaced = manifest["identifiers_replaced"]
    assert replaced["name"] >= 2 and replaced["account"] >= 2  # carol: by name and Matrix id
    carol = reply["body"].split("ok, ")[1].split()[0]
    assert carol.startswith("pseud:") and carol != bob
    assert reply["body"].endswith(f"ok, {carol} and {carol} agree")  # the whole @carol:localhost


def test_synapse_export_data_hands_over_other_members_messages(
    world: World, tmp_path: pathlib.Path
) -> None:
    """What the gateway replaces: Synapse's own export of alice holds 6 messages of others
    (bob and carol, in the group, the direct chat and the room she left; before, inside and
    after the window), bodies and user ids in clear, against the gateway's 3 of her own."""
    events = export_events(world.hs.export_data("@alice:localhost", tmp_path / "export"))
    others = [
        e
        for e in events
        if e.get("type") == "m.room.message" and e.get("sender") != "@alice:localhost"
    ]
    bodies = {e["content"].get("body") for e in others}
    assert len(others) == 6
    assert bodies == {
        "bob before the window",
        "bob in crew",
        "carol in crew",
        "carol in leaving",
        "bob in dm",
        "bob after the window",
    }
    assert {e["sender"] for e in others} == {"@bob:localhost", "@carol:localhost"}


class TestStore:
    """The store itself on the same homeserver: counts, relations, resolution, read-only."""

    @staticmethod
    def store(world: World) -> SynapseStore:
        return SynapseStore.open(world.hs.store_url.removeprefix("synapse:"))

    @staticmethod
    def scope(
        world: World,
        *targets: str,
        categories: frozenset[Category] = frozenset(Category),
        received_direct: bool = False,
    ) -> Scope:
        window = Window(world.start - dt.timedelta(hours=1), world.end + dt.timedelta(hours=1))
        return Scope(frozenset(targets), categories, window, received_direct)

    @pytest.mark.parametrize(
        "categories", [frozenset(Category)] + [frozenset({c}) for c in Category]
    )
    def test_count_is_what_records_yields(
        self, world: World, categories: frozenset[Category]
    ) -> None:
        store = self.store(world)
        try:
            for targets in (["@alice:localhost"], ["@alice:localhost", "@bob:localhost"]):
                scope = self.scope(world, *targets, categories=categories)
                assert store.count(scope) == sum(1 for _ in store.records(scope))
            narrow = Scope(
                frozenset({"@alice:localhost"}), categories, Window(world.start, world.end)
            )
            assert store.count(narrow) == sum(1 for _ in store.records(narrow))
        finally:
            store.close()

    def test_two_targets_each_message_once_with_its_relation(self, world: World) -> None:
        store = self.store(world)
        try:
            scope = self.scope(
                world,
                "@alice:localhost",
                "@bob:localhost",
                categories=frozenset({Category.MESSAGE_METADATA}),
            )
            records = list(store.records(scope))
        finally:
            store.close()
        ids = [r.id for r in records]
        assert len(ids) == len(set(ids))
        relation = {r.id.split(":", 1)[1]: r.relation.value for r in records}
        assert relation[world.peer_in_window["bob in crew"]] == "self"
        assert relation[world.received_direct] == "self"
        assert relation[world.peer_in_window["carol in crew"]] == "group_peer"
        # bob and carol are the only two ever in "elsewhere": a direct room by that rule.
        carol_elsewhere = [
            r
            for r in records
            if r.fields.get("room") == world.rooms["elsewhere"]
            and r.people.get("sender") == "@carol:localhost"
        ]
        assert [r.relation.value for r in carol_elsewhere] == ["direct_peer"]
        assert carol_elsewhere[0].people["recipient"] == "@bob:localhost"

    def test_resolve(self, world: World) -> None:
        store = self.store(world)
        try:
            assert store.resolve("matrix", "@alice:localhost") == ["@alice:localhost"]
            assert store.resolve("account", "@bob:localhost") == ["@bob:localhost"]
            assert store.resolve("email", " ALICE@example.org ") == ["@alice:localhost"]
            assert store.resolve("email", "nobody@example.org") == []
            assert store.resolve("phone", "+821000000000") == []
            assert store.resolve("matrix", "@alice:elsewhere.example") == []  # not local
            assert store.resolve("account", "alice") == []
        finally:
            store.close()

    def test_reads_are_read_only(self, world: World) -> None:
        """The connections the store reads through cannot write, on either database."""
        from gateway.stores.synapse import sql as q

        database = q.Database(world.hs.store_url.removeprefix("synapse:"))
        reader = database.reader()
        try:
            with pytest.raises(Exception) as err:
                reader._db.execute("DELETE FROM users")  # type: ignore[union-attr]
            assert "read-only" in str(err.value) or "readonly" in str(err.value)
        finally:
            reader.close()
        reader = database.reader()
        try:
            assert reader.one(q.RESOLVE_USER, {"user": "@alice:localhost"}) is not None
        finally:
            reader.close()


def test_a_stale_m_direct_never_makes_a_group_room_direct(
    world: World, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """m.direct is the client's bookkeeping: a chat it lists that has three members is a group,
    so the others' messages are group peers, withheld even when received direct messages are
    asked for (guarantee 1). A new target keeps the shared story's counts as they are."""
    dora, bob, carol = world.hs.register("dora"), world.others["bob"], world.others["carol"]
    start = from_ms(now_ms())
    time.sleep(GAP)
    stale = dora.create_room(None, invite=[bob, carol], direct=True)
    bob.join(stale)
    carol.join(stale)
    dora.set_direct({bob: [stale]})
    for user, body in [
        (bob, "bob in the stale dm"),
        (carol, "carol in the stale dm"),
        (dora, "dora in the stale dm"),
    ]:
        user.send(stale, body)
    time.sleep(GAP)
    end = from_ms(now_ms())
    manifest, records = release(
        start_gateway,
        clock,
        world,
        tmp_path / "out",
        ["@dora:localhost"],
        ["message_content"],
        start,
        end,
        received_direct=True,
    )
    assert [r["body"] for r in records] == ["dora in the stale dm"]
    assert manifest["withheld"] == {"group_peer": 2}
