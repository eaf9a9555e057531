"""PostgreSQL: one connection pool per process, and errors that fail closed.

psycopg 3 is the driver and psycopg_pool the pool; every statement binds its values as
parameters (no SQL is built from data). The schema comes from the migrations (gateway.db.migrate).

A database that cannot be reached is `Unavailable` to callers: the release or action in progress
stops (nothing is released unaudited), and the pool reconnects once the database is back.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
import urllib.parse
from collections.abc import Generator, Iterator
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


# What stream_rows returns: a generator, so that its owner can close it (see there).
RowStream = Generator[tuple[Any, ...], None, None]


def stream_rows(
    conn: psycopg.Connection, name: str, query: Any, params: Any, page: int = 500
) -> RowStream:
    """The rows of `query` from a server-side cursor, `page` at a time, never all at once.

    Past the first page, the next page is fetched on a thread while the caller works through
    this one (`_ahead`): the round trip, and the database's work for the page, overlap the
    caller's instead of stopping it. Read with fetchmany, not by iterating the cursor:
    psycopg's row generator raises again from its own cleanup when a lost connection ends the
    stream. Closed quietly for the same reason: with the connection gone there is no one to
    tell, and the reader already got the error.

    Whoever opens a stream closes it before its connection goes back to the pool (as the
    reference store's `parts` does): a stream left to the garbage collector is finalized on
    whatever thread collects it, perhaps one in the middle of a statement on this very
    connection, a later borrower of it. So the cursor is closed here only when the connection
    is free; else it is left to the end of its transaction, which closes it anyway."""
    cur = conn.cursor(name=name)
    try:
        cur.execute(query, params)
        rows = cur.fetchmany(page)
        yield from rows
        if len(rows) == page:
            yield from _ahead(cur, page)
    finally:
        if conn.lock.acquire(blocking=False):  # held: closing would wait on itself
            conn.lock.release()
            with contextlib.suppress(psycopg.Error):
                cur.close()


def _ahead(cur: psycopg.ServerCursor[Any], page: int) -> Iterator[tuple[Any, ...]]:
    """The cursor's remaining rows, each page fetched on a thread while the caller reads the
    one before: at most one page waits (memory stays bounded). What the fetch raised is raised
    here; the thread is stopped and joined before the cursor is closed (the generator's end,
    or its abandonment). psycopg serializes the connection's other statements with it."""
    # A page, what the fetch raised, or None: no more rows.
    pages: queue.Queue[list[tuple[Any, ...]] | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: list[tuple[Any, ...]] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        # The last item: None once every row came; else what stopped the fetch (fail closed:
        # a stream cut short is never read as a stream that ended).
        end: Exception | None = Unavailable("the database stopped giving rows")
        try:
            while not stop.is_set():
                rows = cur.fetchmany(page)
                if not rows:
                    end = None
                    break
                if not put(rows):
                    return
        except psycopg.Error as exc:  # handed to the reader, who raises it
            end = exc
        finally:
            put(end)

    worker = threading.Thread(target=fetch, name="wsg-rows", daemon=True)
    worker.start()
    try:
        while (item := pages.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()
        worker.join()


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
