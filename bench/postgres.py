"""`python -m bench postgres`: the gateway on PostgreSQL against the gateway on SQLite, one run.

The same store (the benchmark data set, copied into a fresh PostgreSQL schema with COPY), the
same warrant and the same release read through gRPC by a client in this process; the SQLite
gateway is the baseline. What differs is where warrants, audit entries and records live: on
PostgreSQL every batch entry is a committed transaction under the replicas' shared log lock, and
records stream from a server-side cursor.
"""

from __future__ import annotations

import contextlib
import pathlib
import secrets
import sqlite3
from collections.abc import Callable, Iterator

import psycopg

from bench.dataset import Shape, build
from bench.release import gateway, profiled
from gateway.db import migrate
from gateway.db import postgres as db

# (sqlite query, postgres COPY target): identity ids are left to PostgreSQL.
_TABLES = [
    (
        "SELECT id, display_name, phone, email, email_key, created_at FROM accounts",
        "accounts (id, display_name, phone, email, email_key, created_at)",
    ),
    ("SELECT id, name, direct != 0 FROM rooms", "rooms (id, name, direct)"),
    ("SELECT account, at, ip, device FROM logins", "logins (account, at, ip, device)"),
    (
        "SELECT room, account, joined_at, left_at FROM memberships",
        "memberships (room, account, joined_at, left_at)",
    ),
    (
        "SELECT id, room, sender, sent_at, body FROM messages",
        "messages (id, room, sender, sent_at, body)",
    ),
    ("SELECT owner, contact, added_at FROM contacts", "contacts (owner, contact, added_at)"),
]


def copy_store(store: pathlib.Path, url: str, log: Callable[[str], None]) -> None:
    migrate.upgrade(url)
    source = sqlite3.connect(store)
    try:
        with psycopg.connect(url) as conn:
            for query, target in _TABLES:
                log(f"  copy {target.split()[0]} ...")
                with conn.cursor().copy(f"COPY {target} FROM STDIN") as copy:
                    for row in source.execute(query):
                        copy.write_row(row)
        with psycopg.connect(url, autocommit=True) as conn:
            # What autovacuum does to a live database: statistics, and the visibility map (an
            # index-only count reads no table rows). These tables only (the schema's, by the
            # search path): a bare VACUUM takes every table of the database and waits behind
            # any other session's lock on one of them.
            conn.execute("VACUUM ANALYZE " + ", ".join(t.split()[0] for _, t in _TABLES))
    finally:
        source.close()


@contextlib.contextmanager
def scratch_copy(store: pathlib.Path, server: str, log: Callable[[str], None]) -> Iterator[str]:
    """A fresh schema on `server` holding a copy of `store`; its URL; dropped afterwards."""
    schema = "wsg_bench_" + secrets.token_hex(4)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        url = db.with_search_path(server, schema)
        log(f"copying the store into PostgreSQL schema {schema} ...")
        copy_store(store, url, log)
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def run(
    messages: int,
    server: str,
    workdir: pathlib.Path,
    log: Callable[[str], None],
    profile: bool = False,
) -> dict[str, object]:
    shape = Shape.for_messages(messages)
    store = build(shape, workdir, log)
    log("gateway on SQLite (baseline) ...")
    sqlite_run = gateway(store, workdir, "gateway-sqlite")
    with scratch_copy(store, server, log) as url:
        log("gateway on PostgreSQL ...")
        pg_run = gateway(store, workdir, "gateway-postgres", database=url)
        pg_profile = profiled(store, workdir, pg_run, log, database=url) if profile else None
    for check in (sqlite_run, pg_run):
        if check.records != shape.target_messages:
            raise RuntimeError(
                f"expected {shape.target_messages} records, a gateway sent {check.records}"
            )
    out: dict[str, object] = {
        "messages": shape.messages,
        "target_records": shape.target_messages,
        "sqlite_rps": round(sqlite_run.rps),
        "postgres_rps": round(pg_run.rps),
        "postgres_over_sqlite": round(pg_run.rps / sqlite_run.rps, 3),
        "sqlite_peak_above_idle_mb": round(sqlite_run.peak_above_idle_mb, 1),
        "postgres_peak_above_idle_mb": round(pg_run.peak_above_idle_mb, 1),
    }
    if pg_profile is not None:
        out["profile"] = pg_profile
    return out
