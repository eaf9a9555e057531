"""Shared fixtures: a real gateway on port 0 over real SQLite files, with a clock tests can move."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.api import wsg_pb2 as pb
from gateway.client import Client
from gateway.server import Gateway, ServerConfig
from gateway.stores.reference import ReferenceStore

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


class Clock:
    """A settable clock: expiry is tested by moving time, not by sleeping."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture
def pg_schema() -> Iterator[Any]:
    """A fresh PostgreSQL schema for this test (skips, or fails in CI, without PostgreSQL)."""
    from pg import Schema

    schema = Schema()
    yield schema
    schema.drop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def write_jsonl(path: pathlib.Path, rows: list[dict[str, Any]]) -> pathlib.Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# Role bindings every test gateway gets (DIR/roles.json, as `wsg init --principal` writes them):
# the people in the tests act as officers and as reviewers; audit1 is an auditor; anyone else
# (e.g. "mallory") has no role and may do nothing. tests/test_api_policy.py checks roles one by one.
TEST_ROLES = {name: ("officer", "reviewer") for name in ("alice", "bob", "carol", "a", "officer", "reviewer")}
TEST_ROLES["audit1"] = ("auditor",)


def bind_test_roles(data: pathlib.Path) -> None:
    from gateway.pki import PkiPaths, bind_roles

    bind_roles(PkiPaths(data), [(name, role) for name, roles in TEST_ROLES.items() for role in roles])


def load_store(data: pathlib.Path, rows: list[dict[str, Any]], database: str | None = None) -> None:
    """Rows into the reference store: DIR/store.db, or the PostgreSQL database at that URL."""
    data.mkdir(parents=True, exist_ok=True)
    source = write_jsonl(data / "import.jsonl", rows)
    if database is None:
        store = ReferenceStore.open(data / "store.db")
        try:
            store.import_jsonl(source)
        finally:
            store.close()
        return
    from gateway import db
    from gateway.stores.reference_pg import PgReferenceStore

    db.upgrade(database)
    pool = db.Database(database, pool_size=2)
    try:
        PgReferenceStore(pool).import_jsonl(source)
    finally:
        pool.close()


# Modules that set BOTH_BACKENDS = True run every test that starts a gateway twice: on the
# embedded SQLite and on the real PostgreSQL (a fresh schema per data directory). A test marked
# `sqlite_only` (it breaks the audit log file on purpose, say) runs on SQLite alone, one marked
# `postgres_only` on PostgreSQL alone.
BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_BACKENDS", False):
        marked = {m.name for m in metafunc.definition.iter_markers()}
        backends = (("sqlite",) if "sqlite_only" in marked else
                    ("postgresql",) if "postgres_only" in marked else BACKENDS)
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


class Running:
    """A started gateway plus helpers to act as different principals."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def entries(self) -> list[dict[str, Any]]:
        """Every audit entry so far, from whichever log the gateway keeps (file or table)."""
        audit = self.gateway.audit
        audit.sync()
        return [json.loads(line) for _, line in audit.lines()]

    @property
    def address(self) -> str:
        return self.gateway.address

    def client(self, identity: str) -> Client:
        return Client(self.address, identity, insecure=True)


@pytest.fixture
def start_gateway(tmp_path: pathlib.Path, clock: Clock, backend: str) -> Iterator[Any]:
    started: list[Gateway] = []
    schemas: dict[pathlib.Path, Any] = {}

    def start(rows: list[dict[str, Any]] | None = None, data: pathlib.Path | None = None,
              **config: Any) -> Running:
        root = data or tmp_path / "wsg-data"
        if backend == "postgresql" and "database" not in config:
            from pg import Schema

            if root not in schemas:
                schemas[root] = Schema()
            config["database"] = schemas[root].url
        if rows is not None:
            load_store(root, rows, config.get("database"))
        bind_test_roles(root)
        gw = Gateway(ServerConfig(data=root, listen="127.0.0.1:0", insecure=True, clock=clock,
                                  **config)).start()
        started.append(gw)
        return Running(gw)

    yield start
    for gw in started:
        try:
            gw.stop(grace=None)
        except Exception:  # noqa: BLE001 - already stopped by the test
            pass
    for schema in schemas.values():
        schema.drop()


def ts(value: dt.datetime) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    t = Timestamp()
    t.FromDatetime(value)
    return t


def make_spec(targets: list[str], categories: list[str], start: dt.datetime, end: dt.datetime,
              expires: dt.datetime, received_direct: bool = False) -> pb.WarrantSpec:
    return pb.WarrantSpec(
        case_number="2026-TEST-1", authority="Test Court", legal_basis="test",
        targets=targets, window=pb.Window(start=ts(start), end=ts(end)), categories=categories,
        expires_at=ts(expires), include_received_direct=received_direct,
    )
