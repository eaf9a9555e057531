"""The schema's one source: versioned yoyo migrations, per database, applied on open.

    schema/postgresql     the gateway's state and the reference store in one PostgreSQL
                          database (applied on start under yoyo's lock, so replicas starting
                          together apply each once, or by `wsg db upgrade`)
    schema/sqlite_state   DIR/state.db: the embedded gateway's warrants
    schema/sqlite_store   DIR/store.db: the embedded reference store

No module creates a table itself. Errors become one-line gateway errors.
"""

from __future__ import annotations

import contextlib
import pathlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg

from gateway.db.postgres import one_line, redact
from gateway.errors import FailedPrecondition, Unavailable

SCHEMA = pathlib.Path(__file__).resolve().parent / "schema"
POSTGRESQL = SCHEMA / "postgresql"
SQLITE_STATE = SCHEMA / "sqlite_state"
SQLITE_STORE = SCHEMA / "sqlite_store"
LOCK_SECONDS = 60


def _yoyo_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}" if sep and scheme in ("postgresql", "postgres") else url


@contextlib.contextmanager
def _migrations(url: str, folder: pathlib.Path) -> Iterator[tuple[Any, Any]]:
    """yoyo's backend on `url` and the migrations in `folder`; the connection closed after."""
    from yoyo import get_backend, read_migrations
    from yoyo.exceptions import LockTimeout

    try:
        backend = get_backend(_yoyo_url(url))
    except (psycopg.Error, sqlite3.Error) as exc:
        raise Unavailable(f"database {redact(url)} unreachable: {one_line(exc)}") from None
    try:
        yield backend, read_migrations(str(folder))
    except LockTimeout:
        raise Unavailable(
            f"another process holds the migration lock for over {LOCK_SECONDS} s"
        ) from None
    except psycopg.OperationalError as exc:
        raise Unavailable(f"database unavailable during migration: {one_line(exc)}") from None
    except (psycopg.Error, sqlite3.Error) as exc:
        raise FailedPrecondition(f"migration failed: {one_line(exc)}") from None
    finally:
        with contextlib.suppress(Exception):
            backend.connection.close()


def upgrade(url: str, folder: pathlib.Path = POSTGRESQL) -> list[str]:
    """Apply every migration the database does not have yet; return their ids."""
    with _migrations(url, folder) as (backend, migrations):
        with backend.lock(timeout=LOCK_SECONDS):
            unknown = set(backend.get_applied_migration_hashes()) - {m.hash for m in migrations}
            if unknown:
                raise FailedPrecondition(
                    f"{redact(url)} has {len(unknown)} migration(s) this gateway does not know "
                    "(made by a newer version): upgrade the gateway, never downgrade the schema"
                )
            todo = backend.to_apply(migrations)
            backend.apply_migrations(todo)
        return [m.id for m in todo]


def pending(url: str, folder: pathlib.Path = POSTGRESQL) -> list[str]:
    """Ids of migrations not yet applied (for `wsg db status`)."""
    with _migrations(url, folder) as (backend, migrations):
        return [m.id for m in backend.to_apply(migrations)]


def upgrade_sqlite(path: pathlib.Path, folder: pathlib.Path) -> list[str]:
    """Apply `folder`'s migrations to the SQLite file at `path` (created if missing)."""
    return upgrade(f"sqlite:///{pathlib.Path(path).resolve()}", folder)
