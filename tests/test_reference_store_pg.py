"""The PostgreSQL reference store against the real PostgreSQL: it yields exactly what the SQLite
store yields for the same data, imports all or nothing, streams from one snapshot, and fails
closed (Unavailable) when its connection is lost mid-stream."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import pathlib
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fixtures_small import FEB1, JAN1
from fixtures_small import ROWS as SMALL
from test_cli import wsg
from test_reference_store import (
    ALL,
    BASE,
    WINDOW,
    WORLD,
    ZERO,
    account,
    contact,
    jsonl,
    member,
    message,
    room,
    t,
)

from gateway.db import migrate
from gateway.db import postgres as db
from gateway.errors import InvalidArgument, Unavailable
from gateway.model import Category, Scope, StoreRecord, Window, parse_time
from gateway.stores import open_store
from gateway.stores.reference import interchange as ix
from gateway.stores.reference import postgres as reference_pg
from gateway.stores.reference.postgres import PgReferenceStore
from gateway.stores.reference.queries import TABLES
from gateway.stores.reference.seed import seed
from gateway.stores.reference.sqlite import ReferenceStore
from gateway.testing import write_jsonl

MESSAGES = frozenset({Category.MESSAGE_METADATA, Category.MESSAGE_CONTENT})
# Every category combination that changes which queries run or what they return.
CATEGORY_SETS = [
    ALL,
    *(frozenset({c}) for c in Category),
    MESSAGES,
    frozenset({Category.SUBSCRIBER, Category.MEMBERSHIPS}),
    frozenset({Category.MESSAGE_CONTENT, Category.CONTACTS, Category.LOGINS}),
    ALL - MESSAGES,
]


class SpyDatabase(db.Database):
    """The gateway's pool, remembering the backend pid of every connection it hands out."""

    def __init__(self, url: str) -> None:
        super().__init__(url, pool_size=4)
        self.pids: list[int] = []

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with super().connection() as conn:
            self.pids.append(conn.info.backend_pid)
            yield conn


@pytest.fixture
def database(pg_schema: Any) -> Iterator[SpyDatabase]:
    migrate.upgrade(pg_schema.url)
    database = SpyDatabase(pg_schema.url)
    yield database
    database.close()


@pytest.fixture
def pg(database: SpyDatabase) -> Iterator[PgReferenceStore]:
    store = PgReferenceStore(database)
    yield store
    store.close()


@pytest.fixture
def lite(tmp_path: pathlib.Path) -> Iterator[ReferenceStore]:
    store = ReferenceStore.open(tmp_path / "store.db")
    yield store
    store.close()


@pytest.fixture
def worlds(pg: PgReferenceStore, lite: ReferenceStore) -> tuple[PgReferenceStore, ReferenceStore]:
    for store in (pg, lite):
        store.import_jsonl(jsonl(*WORLD))
    return pg, lite


def assert_same(pg: PgReferenceStore, lite: ReferenceStore, sc: Scope) -> list[StoreRecord]:
    """Both stores yield the same records (same categories in the same order; within a category
    neither store promises an order, so records are compared by id) and count them exactly."""
    got, expected = list(pg.records(sc)), list(lite.records(sc))
    assert [r.category for r in got] == [r.category for r in expected], sc
    ids = [r.id for r in got]
    assert len(ids) == len(set(ids)), "a record id was yielded twice"
    assert sorted(got, key=lambda r: r.id) == sorted(expected, key=lambda r: r.id), sc
    assert pg.count(sc) == lite.count(sc) == len(got), sc
    return got


def scopes(target_sets: list[tuple[str, ...]], windows: list[Window]) -> Iterator[Scope]:
    for targets, cats, window, received in itertools.product(
        target_sets, CATEGORY_SETS, windows, (False, True)
    ):
        yield Scope(frozenset(targets), cats, window, include_received_direct=received)


class TestSameAsSqlite:
    """The same rows loaded into both stores give the same records and counts for every scope."""

    def test_world(self, worlds: tuple[PgReferenceStore, ReferenceStore]) -> None:
        pg, lite = worlds
        windows = [
            WINDOW,
            Window(parse_time(t(2, 5)), parse_time(t(2, 15))),  # cuts u3's g1 and u1's d3
            Window(parse_time(t(2, 20)), parse_time(t(2, 21))),  # starts at u1's d3 left_at
            Window(parse_time(t(1, 1)), parse_time(t(4, 1))),  # everything
        ]
        targets = [
            ("u1",),
            ("u10",),
            ("u1", "u2"),
            ("u1", "u2", "u3", "u4"),
            ("u4",),
            ("nobody",),
            ("u", "u1"),
            (),
        ]
        seen = sum(len(assert_same(pg, lite, sc)) for sc in scopes(targets, windows))
        assert seen > 1000

    def test_small_fixture(
        self, pg: PgReferenceStore, lite: ReferenceStore, tmp_path: pathlib.Path
    ) -> None:
        path = write_jsonl(tmp_path / "small.jsonl", SMALL)
        assert pg.import_jsonl(path) == lite.import_jsonl(path)
        windows = [Window(JAN1, FEB1), Window(JAN1 + dt.timedelta(days=6), FEB1)]
        targets = [("u1",), ("u2",), ("u1", "u2"), ("u10",), ("u3", "u4")]
        assert sum(len(assert_same(pg, lite, sc)) for sc in scopes(targets, windows)) > 100

    def test_seeded(self, pg: PgReferenceStore, lite: ReferenceStore) -> None:
        assert seed(pg, 200, 11) == seed(lite, 200, 11)
        assert pg.counts() == lite.counts()
        target = lite.suggest_target()
        assert target is not None and pg.suggest_target() == target
        assert pg.time_span() == lite.time_span()
        windows = [
            Window(parse_time("2026-01-01T00:00:00Z"), parse_time("2026-07-01T00:00:00Z")),
            Window(parse_time("2026-02-10T00:00:00Z"), parse_time("2026-03-20T12:30:00Z")),
        ]
        targets = [(target,), (target, "u000002", "u000003"), ("u000100", "u000150")]
        big = Scope(frozenset(targets[1]), ALL, windows[0])
        assert len(assert_same(pg, lite, big)) > 100
        for sc in scopes(targets, windows):
            assert_same(pg, lite, sc)


class TestResolve:
    def test_account_phone_email(self, worlds: tuple[PgReferenceStore, ReferenceStore]) -> None:
        pg, lite = worlds
        cases = [
            ("account", "u1", ["u1"]),
            ("account", "U1", []),
            ("account", "u", []),
            ("phone", "+821000000001", ["u1"]),
            ("phone", "+821000000023", ["u2", "u3"]),
            ("phone", "+82100000000", []),
            ("email", "ana@example.ORG", ["u1"]),
            ("email", "Bo@Example.Org", ["u2", "u3"]),
            ("email", "nobody@example.org", []),
        ]
        for kind, value, expected in cases:
            assert pg.resolve(kind, value) == expected == lite.resolve(kind, value)

    def test_matrix_ids_match_no_account_in_either_backend(
        self, worlds: tuple[PgReferenceStore, ReferenceStore]
    ) -> None:
        pg, lite = worlds
        assert pg.resolve("matrix", "@u1:example.org") == [] == lite.resolve("matrix", "@u1:x")

    def test_unknown_kind(self, pg: PgReferenceStore) -> None:
        with pytest.raises(InvalidArgument, match="unknown target kind"):
            pg.resolve("name", "Ana")


BAD_LINES = [
    "{oops",
    message("m9", "r404", "u1", t(1, 1)),
    contact("u1", "u404", t(1, 1)),
    message("m1", "r1", "u1", t(1, 1)),  # duplicate of a stored message
    account("u1"),  # already stored
    account("u9"),  # earlier in the file
    member("d1", "u3", t(1, 5)),  # a third member of a direct room
    member("d1", "u1", t(1, 5)),  # overlaps a stored membership
]


class TestImport:
    def test_counts(self, pg: PgReferenceStore) -> None:
        assert pg.counts() == ZERO
        loaded = pg.import_jsonl(jsonl(*WORLD))
        expected = {kind: sum(o["kind"] == kind for o in WORLD) for kind in ix.KINDS}
        assert loaded == expected and pg.counts() == expected

    @pytest.mark.parametrize("bad", BAD_LINES)
    def test_bad_line_loads_nothing(
        self, pg: PgReferenceStore, lite: ReferenceStore, bad: object
    ) -> None:
        """Same refusal, same message as SQLite, and the store exactly as it was."""
        messages = []
        for store in (pg, lite):
            store.import_jsonl(jsonl(*BASE))
            store.import_jsonl(jsonl(message("m1", "r1", "u1", t(1, 1))))
            before = store.counts()
            with pytest.raises(InvalidArgument) as caught:
                store.import_jsonl(
                    jsonl(account("u9"), message("m2", "r1", "u2", t(1, 2)), bad, account("u8"))
                )
            messages.append(caught.value.message)
            assert caught.value.message.startswith("line 3: ")
            assert store.counts() == before
            assert store.resolve("account", "u9") == []
        assert messages[0] == messages[1]

    def test_last_line_bad_on_empty_store(self, pg: PgReferenceStore) -> None:
        with pytest.raises(InvalidArgument, match=r"^line 48: "):
            pg.import_jsonl(jsonl(*WORLD[:47], "not json"))
        assert pg.counts() == ZERO

    def test_text_postgresql_cannot_store_is_bad_input(self, pg: PgReferenceStore) -> None:
        rows = [
            account("u1"),
            room("r1", False),
            member("r1", "u1", t(1, 1)),
            dict(message("m1", "r1", "u1", t(1, 1)), body="a\u0000b"),
        ]
        with pytest.raises(InvalidArgument, match=r"^line 4: message m1: .*NUL"):
            pg.import_jsonl(jsonl(*rows))
        assert pg.counts() == ZERO

    def test_missing_file(self, pg: PgReferenceStore, tmp_path: pathlib.Path) -> None:
        with pytest.raises(InvalidArgument, match="cannot read"):
            pg.import_jsonl(tmp_path / "nope.jsonl")


class TestStreaming:
    @staticmethod
    def _many(store: PgReferenceStore, n: int) -> Scope:
        start = parse_time(t(2, 1))
        rows: list[ix.Row] = [
            ix.Account("u1", None, None, None, start),
            ix.Account("u2", None, None, None, start),
            ix.Room("g", "big", False),
            ix.Membership("g", "u1", start, None),
            ix.Membership("g", "u2", start, None),
        ]
        rows += [
            ix.Message(
                f"m{i}", "g", "u2" if i % 2 else "u1", start + dt.timedelta(seconds=i), "word " * 20
            )
            for i in range(n)
        ]
        store.load(rows)
        return Scope(frozenset({"u1"}), frozenset({Category.MESSAGE_CONTENT}), WINDOW)

    def test_lazy_and_memory_flat(self, pg: PgReferenceStore) -> None:
        sc = self._many(pg, 10_000)
        it = pg.records(sc)
        assert isinstance(it, Iterator) and not isinstance(it, (list, tuple))
        tracemalloc.start()
        try:
            seen = sum(1 for _ in it)
            _, streaming_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            materialized = list(pg.records(sc))
            _, list_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert seen == len(materialized) == 10_000
        assert streaming_peak < 1_000_000, streaming_peak
        assert list_peak > 10 * streaming_peak

    def test_one_snapshot_while_store_grows(self, worlds: tuple[PgReferenceStore, Any]) -> None:
        pg, _ = worlds
        sc = Scope(
            frozenset({"u1"}), frozenset({Category.SUBSCRIBER, Category.MESSAGE_METADATA}), WINDOW
        )
        it = pg.records(sc)
        assert next(it).id == "subscriber:u1"  # the snapshot is taken
        pg.import_jsonl(jsonl(message("m99", "g1", "u1", t(2, 11))))  # commits meanwhile
        assert "message_metadata:m99" not in {r.id for r in it}
        assert "message_metadata:m99" in {r.id for r in pg.records(sc)}

    def test_abandoned_stream_returns_its_connection(
        self, worlds: tuple[PgReferenceStore, Any], database: SpyDatabase
    ) -> None:
        pg, _ = worlds
        for _ in range(10):  # more than the pool holds
            it = pg.records(Scope(frozenset({"u1"}), ALL, WINDOW))
            next(it)
            it.close()
        assert database.pool.get_stats()["pool_size"] <= 4
        assert pg.count(Scope(frozenset({"u1"}), ALL, WINDOW)) > 0

    def test_read_ahead_ends_with_the_stream(self, pg: PgReferenceStore) -> None:
        """Past the first page the next is fetched on a thread (db.postgres.stream_rows): the
        rows are the same, in the same order, and the thread is gone once the stream ends or
        is abandoned midway."""
        sc = self._many(pg, 2_000)

        def readers() -> int:
            return sum(t.name == "wsg-rows" for t in threading.enumerate())

        it = pg.records(sc)
        head = [next(it).id for _ in range(700)]  # into the second page of 500
        assert readers() == 1
        it.close()
        assert readers() == 0
        ids = [r.id for r in pg.records(sc)]
        assert readers() == 0
        assert len(ids) == len(set(ids)) == 2_000 and ids[:700] == head
        assert ids == [r.id for r in pg.records(sc)]

    def test_killed_backend_mid_stream_is_unavailable(
        self, pg: PgReferenceStore, database: SpyDatabase, pg_schema: Any
    ) -> None:
        sc = self._many(pg, 5_000)
        database.pids.clear()
        it = pg.records(sc)
        next(it)
        (pid,) = database.pids
        with psycopg.connect(pg_schema.url, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        with pytest.raises(Unavailable) as caught:
            for _ in it:
                pass
        assert caught.value.message.startswith("reference store: read failed: ")
        assert "\n" not in caught.value.message
        # the pool replaces the dead connection: the next release reads normally
        assert sum(1 for _ in pg.records(sc)) == pg.count(sc) == 5_000

    def test_concurrent_readers_identical(self, pg: PgReferenceStore) -> None:
        seed(pg, 120, 4)
        target = pg.suggest_target() or ""
        wide = Window(parse_time("2026-01-01T00:00:00Z"), parse_time("2026-07-01T00:00:00Z"))
        sc = Scope(frozenset({target}), ALL, wide)
        expected = list(pg.records(sc))
        results: list[list[StoreRecord]] = [[] for _ in range(3)]
        errors: list[BaseException] = []

        def run(i: int) -> None:
            try:
                results[i] = list(pg.records(sc))
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors and len(expected) > 50
        assert all(r == expected for r in results)


class TestFailsClosed:
    def test_closed_store_is_unavailable_and_pool_stays_open(
        self, pg: PgReferenceStore, database: SpyDatabase
    ) -> None:
        pg.close()
        for call in (
            lambda: pg.records(Scope(frozenset({"u1"}), ALL, WINDOW)),
            lambda: pg.import_jsonl(jsonl(account("u1"))),
            lambda: pg.counts(),
        ):
            with pytest.raises(Unavailable, match="closed"):
                call()
        with database.connection() as conn:  # the gateway's pool is not the store's to close
            assert conn.execute("SELECT 1").fetchone() == (1,)

    def test_closed_pool_is_unavailable(self, pg: PgReferenceStore, database: SpyDatabase) -> None:
        database.close()
        with pytest.raises(Unavailable):
            list(pg.records(Scope(frozenset({"u1"}), ALL, WINDOW)))
        with pytest.raises(Unavailable):
            pg.resolve("account", "u1")

    def test_schema_not_migrated_is_unavailable(self, pg_schema: Any) -> None:
        database = db.Database(pg_schema.url, pool_size=2)
        try:
            store = PgReferenceStore(database)
            with pytest.raises(Unavailable, match="accounts"):
                store.resolve("account", "u1")
            with pytest.raises(Unavailable, match="accounts"):
                list(store.records(Scope(frozenset({"u1"}), ALL, WINDOW)))
        finally:
            database.close()

    def test_postgres_backend_chooses_postgresql(
        self, pg_schema: Any, tmp_path: pathlib.Path
    ) -> None:
        """With a database, the reference store is the PostgreSQL one, never DIR/store.db."""
        from gateway.backends import open_backend
        from gateway.datadir import DataDir
        from gateway.settings import Settings

        backend = open_backend(Settings(data=tmp_path, database=pg_schema.url), DataDir(tmp_path))
        try:
            store = open_store(None, backend.reference_store)
            assert isinstance(store, PgReferenceStore)
            assert not (tmp_path / "store.db").exists()
        finally:
            backend.close()


class TestDemoHelpers:
    def test_world(self, worlds: tuple[PgReferenceStore, ReferenceStore]) -> None:
        pg, lite = worlds
        assert pg.suggest_target() == lite.suggest_target() == "u1"
        assert (
            pg.time_span()
            == lite.time_span()
            == (parse_time(t(1, 31, 23, 59, 59)), parse_time(t(3, 1)))
        )

    def test_empty(self, pg: PgReferenceStore) -> None:
        assert pg.suggest_target() is None and pg.time_span() is None


class TestQueryPlans:
    """Every release query can reach its rows through indexes (no sequential scan is needed)."""

    def test_no_sequential_scans(self, pg: PgReferenceStore, pg_schema: Any) -> None:
        seed(pg, 200, 3)
        params = {"targets": ["u000001"], "start": 0, "end": 2**62, "body": True}
        with psycopg.connect(pg_schema.url) as conn:
            # this schema's tables only: a bare ANALYZE takes every table of the database and
            # waits behind any other session's lock on one of them
            conn.execute("ANALYZE " + ", ".join(TABLES.values()))
            conn.execute("SET enable_seqscan = off")
            for name, query in reference_pg.RELEASE_QUERIES.items():
                args: Any = params if "%(" in query else ("x",)
                plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, args))
                assert "Seq Scan" not in plan, (name, plan)


class TestCli:
    """`wsg store seed|import --database URL` migrate, then load PostgreSQL; errors are one line."""

    def test_seed_then_import(self, pg_schema: Any, tmp_path: pathlib.Path) -> None:
        out = wsg(
            "store",
            "seed",
            "--accounts",
            "30",
            "--seed",
            "3",
            "--database",
            pg_schema.url,
            "--data",
            str(tmp_path / "unused"),
            "--json",
        )
        seeded = json.loads(out.stdout)["imported"]
        assert seeded["account"] == 30 and seeded["message"] > 0
        assert not (tmp_path / "unused").exists()
        database = db.Database(pg_schema.url, pool_size=2)
        try:
            assert PgReferenceStore(database).counts() == seeded
            again = wsg("store", "seed", "--database", pg_schema.url, check=False)
            assert again.returncode == 2
            assert again.stderr.strip() == (
                "wsg: error: the store already holds data; seed an"
                " empty one (a fresh --data directory or database)"
            )
            bad = write_jsonl(tmp_path / "bad.jsonl", [account("n1"), {"kind": "poll"}])
            proc = wsg(
                "store", "import", str(bad), check=False, env={"WSG_DATABASE": pg_schema.url}
            )
            assert proc.returncode == 2 and proc.stderr.startswith("wsg: error: line 2: ")
            assert len(proc.stderr.strip().splitlines()) == 1
            good = write_jsonl(tmp_path / "good.jsonl", [account("n1")])
            proc = wsg("store", "import", str(good), "--json", env={"WSG_DATABASE": pg_schema.url})
            assert json.loads(proc.stdout)["imported"]["account"] == 1
            assert PgReferenceStore(database).resolve("account", "n1") == ["n1"]
        finally:
            database.close()

    def test_unreachable_database_is_one_line(self, tmp_path: pathlib.Path) -> None:
        proc = wsg(
            "store", "seed", "--database", "postgresql://postgres@127.0.0.1:1/none", check=False
        )
        assert proc.returncode == 2 and "unreachable" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
