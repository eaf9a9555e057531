"""The real PostgreSQL for tests: one fresh schema per test, dropped afterwards.

PostgreSQL is at WSG_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test). With
none reachable the PostgreSQL tests skip, saying why; .ci/run sets WSG_REQUIRE_POSTGRES=1 so in
CI they fail instead of skipping.
"""

from __future__ import annotations

import os
import secrets

import psycopg
import pytest

from gateway.db.postgres import with_search_path

SERVER = os.environ.get("WSG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
_reachable: bool | None = None


def reachable() -> bool:
    global _reachable
    if _reachable is None:
        try:
            psycopg.connect(SERVER, connect_timeout=3).close()
            _reachable = True
        except psycopg.Error:
            _reachable = False
    return _reachable


def require() -> None:
    if reachable():
        return
    if os.environ.get("WSG_REQUIRE_POSTGRES"):
        pytest.fail(f"PostgreSQL at {SERVER} is unreachable, and WSG_REQUIRE_POSTGRES is set (CI)")
    pytest.skip(
        f"PostgreSQL at {SERVER} is unreachable (set WSG_TEST_POSTGRES, or start it: "
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)"
    )


def admin(sql: str) -> None:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql)


class Schema:
    """A fresh, empty schema; `url` points the gateway at it."""

    def __init__(self) -> None:
        require()
        self.name = "wsg_t_" + secrets.token_hex(6)
        admin(f"CREATE SCHEMA {self.name}")
        self.url = with_search_path(SERVER, self.name)

    def drop(self) -> None:
        admin(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")
