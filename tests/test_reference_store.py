"""The SQLite reference store: atomic import, resolution, per-category records with relations,
indexed release queries, streaming and concurrent reads. Real SQLite files, no mocks."""

from __future__ import annotations

import collections
import datetime as dt
import json
import pathlib
import sqlite3
import threading
import tracemalloc
from collections.abc import Iterator

import pytest

from gateway.errors import FailedPrecondition, InvalidArgument, Unavailable
from gateway.model import Category, Relation, Scope, Window, parse_time
from gateway.stores.reference import interchange as ix
from gateway.stores.reference import queries
from gateway.stores.reference import sqlite as reference
from gateway.stores.reference.seed import seed
from gateway.stores.reference.sqlite import ReferenceStore

ZERO = dict.fromkeys(ix.KINDS, 0)
ALL = frozenset(Category)


def t(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> str:
    return f"2026-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"


def account(id_: str, phone: str | None = None, email: str | None = None) -> dict:
    return {
        "kind": "account",
        "id": id_,
        "display_name": f"name of {id_}",
        "phone": phone,
        "email": email,
        "created_at": t(1, 1),
    }


def room(id_: str, direct: bool, name: str | None = None) -> dict:
    return {"kind": "room", "id": id_, "name": name, "direct": direct}


def member(room_: str, account_: str, joined: str, left: str | None = None) -> dict:
    return {
        "kind": "membership",
        "room": room_,
        "account": account_,
        "joined_at": joined,
        "left_at": left,
    }


def message(id_: str, room_: str, sender: str, sent: str) -> dict:
    return {
        "kind": "message",
        "id": id_,
        "room": room_,
        "sender": sender,
        "sent_at": sent,
        "body": f"body of {id_}",
    }


def login(account_: str, at: str, ip: str = "203.0.113.7") -> dict:
    return {"kind": "login", "account": account_, "at": at, "ip": ip, "device": "android"}


def contact(owner: str, other: str, added: str) -> dict:
    return {"kind": "contact", "owner": owner, "contact": other, "added_at": added}


def jsonl(*objects: object) -> list[str]:
    return [o if isinstance(o, str) else json.dumps(o) for o in objects]


# The window every record test uses: February 2026, [start, end).
WINDOW = Window(parse_time(t(2, 1)), parse_time(t(3, 1)))

WORLD = [
    account("u1", "+821000000001", "Ana@Example.org"),
    account("u10", "+821000000010", "ten@example.org"),
    account("u2", "+821000000023", "bo@example.org"),
    account("u3", "+821000000023", "BO@example.org"),
    account("u4"),
    account("u5"),
    room("g1", False, "crew"),
    room("g2", False, "later"),
    room("d1", True, "Bo"),  # a direct room named after the peer
    room("d2", True),
    room("d3", True),
    member("g1", "u1", t(1, 15)),
    member("g1", "u2", t(1, 15)),
    member("g1", "u3", t(1, 15), t(2, 10)),
    member("g1", "u5", t(1, 1), t(1, 20)),  # left before the window
    member("g1", "u10", t(2, 20)),
    member("g1", "u5", t(3, 5)),  # rejoins after the window
    member("g2", "u2", t(1, 1)),
    member("g2", "u10", t(1, 1)),
    member("g2", "u1", t(3, 1)),  # joins exactly at the window's end: outside
    member("d1", "u1", t(1, 10)),
    member("d1", "u2", t(1, 10)),
    member("d2", "u10", t(1, 10)),
    member("d2", "u4", t(1, 10)),
    member("d3", "u4", t(1, 1)),
    member("d3", "u1", t(2, 5), t(2, 20)),
    message("m1", "g1", "u1", t(2, 1)),  # at the window's start: inside
    message("m2", "g1", "u2", t(2, 2)),
    message("m3", "g1", "u3", t(2, 9)),
    message("m4", "g1", "u1", t(3, 1)),  # at the window's end: outside
    message("m5", "g1", "u2", t(1, 31, 23, 59, 59)),
    message("m6", "d1", "u2", t(2, 3)),
    message("m7", "d1", "u1", t(2, 4)),
    message("m8", "d3", "u4", t(2, 4)),  # before u1 joined d3
    message("m9", "d3", "u4", t(2, 6)),
    message("m10", "d3", "u4", t(2, 20)),  # at u1's left_at: u1 no longer a member
    message("m11", "d2", "u10", t(2, 6)),
    message("m12", "d2", "u4", t(2, 7)),
    message("m13", "g2", "u10", t(2, 8)),
    message("m14", "g1", "u10", t(2, 21)),
    message("m15", "d3", "u1", t(2, 25)),  # sent by the target after leaving: still self
    login("u1", t(1, 31, 23, 59, 59)),
    login("u1", t(2, 1)),
    login("u1", t(2, 15), "2001:db8::5"),
    login("u1", t(3, 1)),
    login("u10", t(2, 10)),
    contact("u1", "u2", t(2, 2)),
    contact("u1", "u3", t(1, 5)),
    contact("u1", "u4", t(3, 1)),  # at the window's end: outside
    contact("u2", "u1", t(2, 3)),
    contact("u10", "u2", t(2, 4)),
]


@pytest.fixture
def store(tmp_path: pathlib.Path) -> Iterator[ReferenceStore]:
    s = ReferenceStore.open(tmp_path / "store.db")
    yield s
    s.close()


@pytest.fixture
def world(store: ReferenceStore) -> ReferenceStore:
    store.import_jsonl(jsonl(*WORLD))
    return store


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceStore]:
    s = ReferenceStore.open(tmp_path_factory.mktemp("seeded") / "store.db")
    seed(s, 200, 11)
    yield s
    s.close()


def scope(*targets: str, categories: frozenset[Category] = ALL, window: Window = WINDOW) -> Scope:
    return Scope(frozenset(targets), frozenset(categories), window)


def by_id(store: ReferenceStore, sc: Scope) -> dict[str, object]:
    records = list(store.records(sc))
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids)), "a record id was yielded twice"
    return {r.id: r for r in records}


def relations(store: ReferenceStore, sc: Scope, category: Category) -> dict[str, Relation]:
    return {r.id.split(":", 1)[1]: r.relation for r in store.records(sc) if r.category is category}


class TestOpen:
    """Opening creates the schema once, keeps data across reopen, and fails closed."""

    def test_creates_schema_in_wal_mode(self, tmp_path: pathlib.Path) -> None:
        s = ReferenceStore.open(tmp_path / "new.db")
        assert s.counts() == ZERO
        s.close()
        db = sqlite3.connect(tmp_path / "new.db")
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert set(queries.TABLES.values()) <= tables

    def test_reopen_keeps_data(self, tmp_path: pathlib.Path) -> None:
        s = ReferenceStore.open(tmp_path / "s.db")
        s.import_jsonl(jsonl(account("u1")))
        s.close()
        again = ReferenceStore.open(tmp_path / "s.db")
        assert again.counts()["account"] == 1
        again.close()

    def test_a_schema_from_a_newer_gateway_is_refused(self, tmp_path: pathlib.Path) -> None:
        """A store migrated by a later version (a migration this one does not ship) is refused,
        never used or downgraded."""
        ReferenceStore.open(tmp_path / "s.db").close()
        db = sqlite3.connect(tmp_path / "s.db")
        db.execute(
            "INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc)"
            " VALUES ('f00d', '0099_from_the_future', '2027-01-01')"
        )
        db.commit()
        db.close()
        with pytest.raises(FailedPrecondition, match="does not know"):
            ReferenceStore.open(tmp_path / "s.db")

    def test_unopenable_path_is_unavailable(self, tmp_path: pathlib.Path) -> None:
        with pytest.raises(Unavailable):
            ReferenceStore.open(tmp_path / "missing-dir" / "s.db")

    def test_closed_store_is_unavailable(self, store: ReferenceStore) -> None:
        store.close()
        with pytest.raises(Unavailable):
            store.records(scope("u1"))
        with pytest.raises(Unavailable):
            store.import_jsonl(jsonl(account("u1")))


class TestImport:
    """A good file loads completely and reports what it loaded, per kind."""

    def test_counts(self, store: ReferenceStore) -> None:
        loaded = store.import_jsonl(jsonl(*WORLD))
        expected = collections.Counter(o["kind"] for o in WORLD)
        assert loaded == dict(ZERO, **expected)
        assert store.counts() == loaded

    def test_from_path_with_blank_lines(
        self, store: ReferenceStore, tmp_path: pathlib.Path
    ) -> None:
        path = tmp_path / "data.jsonl"
        path.write_text("\n".join(jsonl(*WORLD[:6])) + "\n\n")
        assert store.import_jsonl(path)["account"] == 6

    def test_later_file_may_reference_stored_rows(self, store: ReferenceStore) -> None:
        store.import_jsonl(jsonl(account("u1"), account("u2"), room("r1", True)))
        loaded = store.import_jsonl(
            jsonl(
                member("r1", "u1", t(1, 1)),
                member("r1", "u2", t(1, 1)),
                message("m1", "r1", "u1", t(1, 2)),
                contact("u1", "u2", t(1, 3)),
            )
        )
        assert loaded == dict(ZERO, membership=2, message=1, contact=1)

    def test_contact_added_again_is_kept(self, store: ReferenceStore) -> None:
        rows = [
            account("u1"),
            account("u2"),
            contact("u1", "u2", t(1, 1)),
            contact("u1", "u2", t(1, 1)),
            contact("u1", "u2", t(2, 2)),
        ]
        assert store.import_jsonl(jsonl(*rows))["contact"] == 3

    def test_missing_file(self, store: ReferenceStore, tmp_path: pathlib.Path) -> None:
        with pytest.raises(InvalidArgument, match="cannot read"):
            store.import_jsonl(tmp_path / "nope.jsonl")


BASE = [
    account("u1"),
    account("u2"),
    account("u3"),
    room("r1", False),
    room("d1", True),
    member("r1", "u1", t(1, 1)),
    member("r1", "u2", t(1, 1)),
    member("d1", "u1", t(1, 1)),
    member("d1", "u2", t(1, 1)),
]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("{oops", "line 3: not valid JSON"),
        ({"kind": "poll", "id": "p1"}, "line 3: unknown kind 'poll'"),
        ({"kind": "account", "created_at": t(1, 1)}, "line 3: account: missing field 'id'"),
        (
            dict(message("m9", "r1", "u1", t(1, 1)), sent_at="2026-01-01T00:00:00"),
            "line 3: message: field 'sent_at'",
        ),
        (message("m9", "r404", "u1", t(1, 1)), "line 3: message m9: unknown room 'r404'"),
        (message("m9", "r1", "u404", t(1, 1)), "line 3: message m9: unknown account 'u404'"),
        (login("u404", t(1, 1)), "line 3: login of u404: unknown account 'u404'"),
        (contact("u1", "u404", t(1, 1)), "line 3: contact u1->u404: unknown account 'u404'"),
        (member("r404", "u1", t(1, 1)), "line 3: membership u1 in r404: unknown room 'r404'"),
        (message("m1", "r1", "u1", t(1, 1)), "line 3: message m1: duplicate message id 'm1'"),
        (account("u1"), "line 3: account u1: duplicate account id 'u1'"),  # already stored
        (account("u9"), "line 3: account u9: duplicate account id 'u9'"),  # earlier in file
        (room("d1", True), "line 3: room d1: duplicate room id 'd1'"),
        (member("d1", "u3", t(1, 5)), "line 3: membership u3 in d1: direct room already has two"),
        (member("d1", "u1", t(1, 5)), "line 3: membership u1 in d1: overlaps an earlier"),
        (member("r1", "u1", t(2, 1), t(1, 1)), "line 3: membership u1 in r1: left_at is before"),
        # A message from someone who never joined the room: in a direct room it would be
        # attributed to the wrong recipient (issue 13, item 8).
        (message("m9", "d1", "u3", t(1, 2)), "line 3: message m9: sender 'u3' was never a member"),
        (message("m9", "r1", "u3", t(1, 2)), "line 3: message m9: sender 'u3' was never a member"),
    ],
)
class TestImportRejects:
    """A bad line names its line number and leaves the store exactly as it was."""

    def test_nothing_loaded(self, store: ReferenceStore, bad: object, expected: str) -> None:
        store.import_jsonl(jsonl(*BASE))
        store.import_jsonl(jsonl(message("m1", "r1", "u1", t(1, 1)), contact("u1", "u2", t(1, 2))))
        before = store.counts()
        lines = jsonl(
            account("u9"),
            message("m2", "r1", "u2", t(1, 2)),
            bad,
            account("u8"),
            message("m3", "r1", "u2", t(1, 3)),
        )
        with pytest.raises(InvalidArgument) as caught:
            store.import_jsonl(lines)
        assert caught.value.message.startswith(expected)
        assert store.counts() == before
        assert store.resolve("account", "u9") == []


class TestImportAtomicOnEmptyStore:
    """A file whose last line is bad loads nothing at all, even into an empty store."""

    def test_reference_to_a_later_line_is_refused(self, store: ReferenceStore) -> None:
        with pytest.raises(InvalidArgument, match=r"^line 1: message m1: unknown room 'r1'"):
            store.import_jsonl(
                jsonl(message("m1", "r1", "u1", t(1, 1)), room("r1", False), account("u1"))
            )
        assert store.counts() == ZERO

    def test_last_line_bad(self, store: ReferenceStore) -> None:
        with pytest.raises(InvalidArgument, match=r"^line 48: "):
            store.import_jsonl(jsonl(*WORLD[:47], "not json"))
        assert store.counts() == ZERO


class TestResolve:
    """Phone and e-mail resolve to every matching account; the caller decides about ambiguity."""

    def test_account(self, world: ReferenceStore) -> None:
        assert world.resolve("account", "u1") == ["u1"]
        assert world.resolve("account", "u") == []
        assert world.resolve("account", "U1") == []

    def test_phone_zero_one_two(self, world: ReferenceStore) -> None:
        assert world.resolve("phone", "+821099999999") == []
        assert world.resolve("phone", "+821000000001") == ["u1"]
        assert world.resolve("phone", "+821000000023") == ["u2", "u3"]
        assert world.resolve("phone", "+82100000000") == []  # a prefix is not a match

    def test_email_case_insensitive(self, world: ReferenceStore) -> None:
        assert world.resolve("email", "nobody@example.org") == []
        assert world.resolve("email", "ana@example.ORG") == ["u1"]
        assert world.resolve("email", "Bo@Example.Org") == ["u2", "u3"]

    def test_unknown_kind(self, world: ReferenceStore) -> None:
        with pytest.raises(InvalidArgument, match="unknown target kind"):
            world.resolve("name", "Ana")


class TestSubscriberLoginsContacts:
    """The target's own account, logins and contacts, inside the window, and nobody else's."""

    def test_subscriber(self, world: ReferenceStore) -> None:
        (record,) = world.records(scope("u1", categories=frozenset({Category.SUBSCRIBER})))
        assert record.id == "subscriber:u1"
        assert record.relation is Relation.SELF and record.at is None
        assert record.fields == {
            "display_name": "name of u1",
            "phone": "+821000000001",
            "email": "Ana@Example.org",
            "created_at": "2026-01-01T00:00:00Z",
        }
        assert record.people == {"account": "u1"}

    def test_logins_window_start_inclusive_end_exclusive(self, world: ReferenceStore) -> None:
        records = list(world.records(scope("u1", categories=frozenset({Category.LOGINS}))))
        assert [r.fields["at"] for r in records] == ["2026-02-01T00:00:00Z", "2026-02-15T00:00:00Z"]
        assert all(r.people == {"account": "u1"} and r.relation is Relation.SELF for r in records)
        assert records[1].fields["ip"] == "2001:db8::5"
        assert records[0].at == WINDOW.start

    def test_contacts_owned_by_target_only(self, world: ReferenceStore) -> None:
        (record,) = world.records(scope("u1", categories=frozenset({Category.CONTACTS})))
        assert record.people == {"owner": "u1", "contact": "u2"}
        assert record.fields == {"added_at": "2026-02-02T00:00:00Z", "label": None}
        assert record.id.startswith("contacts:")


class TestMemberships:
    """Memberships overlapping the window, with the co-members who overlapped them in it."""

    def test_rooms_and_members(self, world: ReferenceStore) -> None:
        records = list(world.records(scope("u1", categories=frozenset({Category.MEMBERSHIPS}))))
        got = {r.fields["room"]: r for r in records}
        assert set(got) == {"g1", "d1", "d3"}  # g2 starts at the window's end
        # not u5: left before the window, rejoined after it
        assert got["g1"].people == {"account": "u1", "members": ("u10", "u2", "u3")}
        assert got["g1"].fields == {
            "room": "g1",
            "room_name": "crew",
            "room_topic": None,
            "direct": False,
            "joined_at": "2026-02-01T00:00:00Z",  # joined 2026-01-15: clipped to the window
            "left_at": None,
        }
        assert got["d1"].fields["room_name"] is None  # "Bo" would name the peer
        assert got["d1"].people["members"] == ("u2",)
        assert got["d3"].until == parse_time(t(2, 20))
        assert got["d3"].fields["left_at"] == "2026-02-20T00:00:00Z"
        assert all(r.relation is Relation.SELF and r.id.startswith("memberships:") for r in records)

    def test_left_exactly_at_window_start_is_outside(self, store: ReferenceStore) -> None:
        store.import_jsonl(
            jsonl(account("u1"), room("r", False), member("r", "u1", t(1, 1), t(2, 1)))
        )
        assert list(store.records(scope("u1", categories=frozenset({Category.MEMBERSHIPS})))) == []


class TestMessages:
    """Which messages a target's scope reads, and with which relation."""

    def test_relations_for_one_target(self, world: ReferenceStore) -> None:
        got = relations(world, scope("u1"), Category.MESSAGE_METADATA)
        assert got == {
            "m1": Relation.SELF,
            "m7": Relation.SELF,
            "m15": Relation.SELF,
            "m6": Relation.DIRECT_PEER,
            "m9": Relation.DIRECT_PEER,
            "m2": Relation.GROUP_PEER,
            "m3": Relation.GROUP_PEER,
            "m14": Relation.GROUP_PEER,
        }
        assert relations(world, scope("u1"), Category.MESSAGE_CONTENT) == got

    def test_prefix_ids_are_not_confused(self, world: ReferenceStore) -> None:
        got = relations(world, scope("u10"), Category.MESSAGE_METADATA)
        # m2 and m3 were written in g1 before u10 joined it: not read for u10
        assert got == {
            "m11": Relation.SELF,
            "m13": Relation.SELF,
            "m14": Relation.SELF,
            "m12": Relation.DIRECT_PEER,
        }
        assert not {"m1", "m7"} & set(relations(world, scope("u"), Category.MESSAGE_METADATA))

    def test_two_targets_self_wins_and_once_each(self, world: ReferenceStore) -> None:
        got = relations(world, scope("u1", "u2"), Category.MESSAGE_METADATA)
        assert got == {
            "m1": Relation.SELF,
            "m2": Relation.SELF,
            "m6": Relation.SELF,
            "m7": Relation.SELF,
            "m15": Relation.SELF,
            "m3": Relation.GROUP_PEER,
            "m14": Relation.GROUP_PEER,
            "m13": Relation.GROUP_PEER,
            "m9": Relation.DIRECT_PEER,
        }

    def test_record_shapes(self, world: ReferenceStore) -> None:
        records = by_id(world, scope("u1"))
        peer = records["message_content:m6"]
        assert peer.fields == {
            "room": "d1",
            "direct": True,
            "sent_at": "2026-02-03T00:00:00Z",
            "body": "body of m6",
            "quote": None,
            "attachment": None,
            "reply": False,
            "forwarded": False,
        }
        assert peer.people == {"sender": "u2", "recipient": "u1"}
        assert peer.at == parse_time(t(2, 3))
        own = records["message_metadata:m7"]
        assert own.fields == {
            "room": "d1",
            "direct": True,
            "sent_at": "2026-02-04T00:00:00Z",
            "reply": False,
            "forwarded": False,
        }
        assert own.people == {"sender": "u1", "recipient": "u2"}
        group = records["message_metadata:m2"]
        assert group.people == {"sender": "u2"}
        assert all(
            r.window_position(WINDOW).value == "inside"
            for r in records.values()
            if r.category is not Category.MEMBERSHIPS and r.at is not None
        )

    def test_metadata_alone_carries_no_body(self, world: ReferenceStore) -> None:
        records = list(
            world.records(scope("u1", categories=frozenset({Category.MESSAGE_METADATA})))
        )
        assert records and all(r.category is Category.MESSAGE_METADATA for r in records)
        assert all("body" not in r.fields for r in records)


class TestCategoriesAndCounts:
    """Only the requested categories are read, and count() predicts records() exactly."""

    @pytest.mark.parametrize("category", list(Category))
    def test_only_requested_category(self, world: ReferenceStore, category: Category) -> None:
        sc = scope("u1", categories=frozenset({category}))
        records = list(world.records(sc))
        assert records and {r.category for r in records} == {category}
        assert all(r.id.startswith(f"{category.value}:") for r in records)
        assert world.count(sc) == len(records)

    def test_counts_match_on_world(self, world: ReferenceStore) -> None:
        for targets in [("u1",), ("u10",), ("u1", "u2"), ("u1", "u2", "u3", "u4"), ("nobody",)]:
            sc = scope(*targets)
            assert world.count(sc) == len(by_id(world, sc))

    def test_counts_match_on_seeded(self, seeded: ReferenceStore) -> None:
        target = seeded.suggest_target()
        assert target is not None
        wide = Window(parse_time("2026-01-01T00:00:00Z"), parse_time("2026-07-01T00:00:00Z"))
        sc = scope(target, "u000002", "u000003", window=wide)
        n = seeded.count(sc)
        assert n == len(by_id(seeded, sc)) and n > 100

    def test_empty_targets(self, world: ReferenceStore) -> None:
        assert world.count(scope()) == 0 and list(world.records(scope())) == []


def _plan(db: sqlite3.Connection, sql: str, params: object) -> list[str]:
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]


def _assert_indexed(plan: list[str], sql: str) -> None:
    for step in plan:
        for table in queries.TABLES.values():
            assert f"SCAN {table}" not in step, (sql, plan)
        if step.startswith("SCAN "):  # only the small target list or a subquery's result
            assert step.startswith(("SCAN json_each", "SCAN (subquery")), (sql, plan)
    assert any("USING INDEX" in s or "USING COVERING INDEX" in s for s in plan), (sql, plan)


class TestQueryPlans:
    """Every release query reaches rows only through indexes, starting from the targets."""

    PARAMS = {"targets": '["u000001"]', "start": 0, "end": 2**62, "body": 1}

    @pytest.mark.parametrize("analyzed", [False, True])
    def test_release_queries_use_indexes(self, tmp_path: pathlib.Path, analyzed: bool) -> None:
        s = ReferenceStore.open(tmp_path / "s.db")
        seed(s, 200, 3)
        s.close()
        db = sqlite3.connect(tmp_path / "s.db")
        if analyzed:
            db.execute("ANALYZE")
        for name, sql in reference.RELEASE_QUERIES.items():
            params = self.PARAMS if ":" in sql else ("x",)
            _assert_indexed(_plan(db, sql, params), name)

    def test_statements_actually_run_are_indexed(
        self, seeded: ReferenceStore, tmp_path: pathlib.Path
    ) -> None:
        ran: list[str] = []
        traced = ReferenceStore.open(seeded.path, trace=ran.append)
        target = traced.suggest_target()
        ran.clear()
        sc = scope(target or "", "u000002")
        traced.count(sc)
        list(traced.records(sc))
        traced.resolve("phone", "+821000000000")
        traced.resolve("email", "user1@example.org")
        traced.close()
        queries = [q for q in ran if q.lstrip().upper().startswith("SELECT")]
        assert len(queries) >= 13
        db = sqlite3.connect(seeded.path)
        for sql in queries:
            _assert_indexed(_plan(db, sql, ()), sql)


class TestStreaming:
    """records() is a lazy iterator over a cursor: memory stays flat however many rows match."""

    def test_returns_iterator_not_list(self, world: ReferenceStore) -> None:
        it = world.records(scope("u1"))
        assert isinstance(it, Iterator) and not isinstance(it, (list, tuple))
        first = next(it)
        assert first.id == "subscriber:u1"
        it.close()

    def test_snapshot_while_store_grows(self, world: ReferenceStore) -> None:
        it = world.records(scope("u1", categories=frozenset({Category.MESSAGE_METADATA})))
        first = next(it)
        world.import_jsonl(jsonl(message("m99", "g1", "u1", t(2, 11))))
        rest = [first, *it]
        assert "message_metadata:m99" not in {r.id for r in rest}
        assert "message_metadata:m99" in {
            r.id
            for r in world.records(scope("u1", categories=frozenset({Category.MESSAGE_METADATA})))
        }

    def test_memory_flat_for_many_rows(self, store: ReferenceStore) -> None:
        start = parse_time(t(2, 1))
        rows: list[ix.Row] = [
            ix.Account("u1", None, None, None, start),
            ix.Account("u2", None, None, None, start),
            ix.Room("g", "big", False),
            ix.Membership("g", "u1", start, None),
            ix.Membership("g", "u2", start, None),
        ]
        n = 10_000
        rows += [
            ix.Message(
                f"m{i}", "g", "u2" if i % 2 else "u1", start + dt.timedelta(seconds=i), "word " * 20
            )
            for i in range(n)
        ]
        store.load(rows)
        sc = scope("u1", categories=frozenset({Category.MESSAGE_CONTENT}))
        tracemalloc.start()
        try:
            seen = sum(1 for _ in store.records(sc))
            _, streaming_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            materialized = list(store.records(sc))
            _, list_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert seen == len(materialized) == n
        assert streaming_peak < 1_000_000, streaming_peak
        assert list_peak > 20 * streaming_peak  # the measurement can tell the two apart


class TestConcurrency:
    """Several threads reading at once each get the complete, identical stream."""

    def test_four_threads_identical(self, seeded: ReferenceStore) -> None:
        target = seeded.suggest_target()
        wide = Window(parse_time("2026-01-01T00:00:00Z"), parse_time("2026-07-01T00:00:00Z"))
        sc = scope(target or "", window=wide)
        expected = list(seeded.records(sc))
        results: list[list] = [[] for _ in range(4)]
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def run(i: int) -> None:
            try:
                barrier.wait()
                for _ in range(3):
                    results[i] = list(seeded.records(sc))
                    assert seeded.count(sc) == len(results[i])
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors
        assert len(expected) > 100
        assert all(r == expected for r in results)

    def test_interleaved_iterators_in_one_thread(self, seeded: ReferenceStore) -> None:
        target = seeded.suggest_target() or ""
        a = seeded.records(scope(target))
        b = seeded.records(scope(target))
        pairs = list(zip(a, b, strict=True))
        assert pairs and all(x == y for x, y in pairs)


class TestDemoHelpers:
    """The demo's target suggestion and window come from the data."""

    def test_suggest_target(self, world: ReferenceStore) -> None:
        # u1 and u2 are both in a group and a direct room; u1 sent four messages, u2 three
        assert world.suggest_target() == "u1"

    def test_time_span(self, world: ReferenceStore) -> None:
        assert world.time_span() == (parse_time(t(1, 31, 23, 59, 59)), parse_time(t(3, 1)))

    def test_empty_store(self, store: ReferenceStore) -> None:
        assert store.suggest_target() is None
        assert store.time_span() is None
