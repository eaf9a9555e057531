"""PostgreSQL: one connection pool per process, and errors that fail closed.

psycopg 3 is the driver and psycopg_pool the pool; every statement binds its values as
parameters (no SQL is built from data). The schema comes from the migrations (gateway.db.migrate).

A database that cannot be reached is `Unavailable` to callers: the release or action in progress
stops (nothing is released unaudited), and the pool reconnects once the database is back.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg_pool

from gateway.errors import Unavailable

CONNECT_TIMEOUT = 5  # seconds to wait for a connection before saying the database is unavailable
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def with_search_path(url: str, schema: str) -> str:
    """`url` with every connection's search_path set to `schema` (one deployment, or one test,
    per schema of a shared database)."""
    options = urllib.parse.quote(f"-csearch_path={schema}")
    return f"{url}{'&' if '?' in url else '?'}options={options}"


def redact(url: str) -> str:
    """The URL with any password replaced, for logs and error messages."""
    return _PASSWORD.sub(r"\1***@", url)


class Database:
    """A pool of connections to one PostgreSQL database (schema chosen by the URL's options)."""

    def __init__(self, url: str, pool_size: int = 10, name: str = "wsg") -> None:
        self.url = url
        try:
            # One direct try first: a database that is not there is one clear error at once,
            # not the pool's retries (and their log lines) until its timeout.
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT).close()
        except psycopg.Error as exc:
            raise Unavailable(f"database {redact(url)} unreachable: {one_line(exc)}") from None
        try:
            self.pool = psycopg_pool.ConnectionPool(
                conninfo=url,
                min_size=1,
                max_size=max(2, pool_size),
                open=False,
                name=name,
                kwargs={"connect_timeout": CONNECT_TIMEOUT},
                check=psycopg_pool.ConnectionPool.check_connection,  # a restart is noticed
                reconnect_timeout=0,  # keep trying in the background; callers get Unavailable
                timeout=CONNECT_TIMEOUT,
            )
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            with contextlib.suppress(Exception):
                self.pool.close()
            raise Unavailable(f"database {redact(url)} unreachable: {one_line(exc)}") from None

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction: committed when the block ends, rolled back on
        an exception; a lost or unreachable database becomes Unavailable."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout) as exc:
            raise Unavailable(f"database unavailable: {one_line(exc)}") from None
        except psycopg_pool.PoolClosed:
            raise Unavailable("database connection pool is closed") from None

    def close(self) -> None:
        self.pool.close()


def stream_rows(
    conn: psycopg.Connection, name: str, query: Any, params: Any, page: int = 500
) -> Iterator[tuple[Any, ...]]:
    """The rows of `query` from a server-side cursor, `page` at a time, never all at once.

    Read with fetchmany, not by iterating the cursor: psycopg's row generator raises again from
    its own cleanup when a lost connection ends the stream. Closed quietly for the same reason:
    with the connection gone there is no one to tell, and the reader already got the error."""
    cur = conn.cursor(name=name)
    try:
        cur.execute(query, params)
        while rows := cur.fetchmany(page):
            yield from rows
    finally:
        with contextlib.suppress(psycopg.Error):
            cur.close()


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
