"""The Synapse store's SQL is constant text with bound parameters only, in both dialects, and
a bad store URL is one clear error (no homeserver needed; every query runs against Synapse's
real schema, SQLite and PostgreSQL, in test_synapse_e2e.py)."""

from __future__ import annotations

import pathlib
import re
import sqlite3
from typing import Any

import pytest

from gateway.errors import FailedPrecondition
from gateway.stores import open_store
from gateway.stores.synapse import sql as q


def test_queries_are_constants_with_named_parameters_only() -> None:
    assert len(q.QUERIES) >= 10
    for name, sql in q.QUERIES.items():
        assert "{" not in sql and "%" not in sql and "?" not in sql, name
        pg = q.to_pyformat(sql)
        assert re.findall(r":([a-z_]+)", sql) == re.findall(r"%\(([a-z_]+)\)s", pg), name
        assert ":" not in re.sub(r"%\([a-z_]+\)s", "", pg), name


def _no_reference_store() -> Any:
    raise AssertionError("a store URL was given: the reference store must not be opened")


@pytest.mark.parametrize(
    "url, says",
    [
        ("synapse:mysql://x/y", "must be sqlite:///PATH or postgresql://"),
        ("synapse:sqlite://", "no database path"),
        ("synapse:sqlite:///no/such/homeserver.db", "no such database file"),
        ("matrix:sqlite:///x.db", "unknown kind of store"),
    ],
)
def test_bad_store_urls_are_one_clear_error(url: str, says: str, tmp_path: pathlib.Path) -> None:
    with pytest.raises(FailedPrecondition) as err:
        open_store(url, _no_reference_store)
    assert says in err.value.message and "\n" not in err.value.message


def test_a_database_that_is_not_synapses_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(FailedPrecondition) as err:
        open_store(f"synapse:sqlite://{path}", _no_reference_store)
    assert "not a Synapse database" in err.value.message and "events" in err.value.message
