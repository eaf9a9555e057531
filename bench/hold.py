"""`python -m bench hold`: how long approving a preservation keeps the shared log waiting on
PostgreSQL.

A preservation's frozen copy is written inside the approval's audited transaction, under the
lock every replica's log writes take: its write time is how long they all wait. The same lines
(synthetic records of the benchmark's size) are written both ways in one run, into a scratch
schema: one INSERT a line (executemany, the baseline and what SQLite does) and one COPY (what
the PostgreSQL rows do).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from gateway.backends import warrant_rows
from gateway.backends.postgres.warrants import PgRows
from gateway.db import migrate
from gateway.db import postgres as db


@contextlib.contextmanager
def scratch_schema(server: str) -> Iterator[str]:
    """A fresh, migrated schema on `server`; its URL; dropped afterwards."""
    schema = "wsg_bench_" + secrets.token_hex(4)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        url = db.with_search_path(server, schema)
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _line(i: int) -> str:
    """A record line of the size the benchmark's messages have (~250 bytes of JSON)."""
    body = f"message {i} " + "x" * 180
    return (
        f'{{"category":"message_content","id":"message_content:m{i}","room":"r-1",'
        f'"sender":"u1","time":"2026-01-10T12:00:00Z","body":"{body}"}}'
    )


def _write(url: str, rows_of: Callable[[Any], warrant_rows.Rows], lines: list[str]) -> float:
    """Seconds the copy's lines take inside one transaction, committed."""
    warrant = "w-" + secrets.token_hex(8)
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        with conn.transaction():
            rows_of(conn).insert_records([(warrant, i, line) for i, line in enumerate(lines)])
        return time.perf_counter() - started


def run(records: int, server: str, log: Callable[[str], None]) -> dict[str, Any]:
    lines = [_line(i) for i in range(records)]
    with scratch_schema(server) as url:
        log(f"writing {records:,} lines, one INSERT each ...")
        insert_s = _write(url, lambda c: warrant_rows.Rows(c, warrant_rows.POSTGRES), lines)
        log(f"writing {records:,} lines with COPY ...")
        copy_s = _write(url, PgRows, lines)
    return {
        "records": records,
        "megabytes": round(sum(len(x) for x in lines) / 1e6, 1),
        "insert_each_seconds": round(insert_s, 3),
        "copy_seconds": round(copy_s, 3),
        "copy_over_insert_each": round(copy_s / insert_s, 3),
    }
