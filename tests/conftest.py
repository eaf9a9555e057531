"""Shared fixtures: a real gateway on port 0 over real SQLite files or PostgreSQL, with a clock
tests can move (gateway.testing does the work)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.testing import Clock, GatewayFactory


@pytest.fixture
def pg_schema() -> Iterator[Any]:
    """A fresh PostgreSQL schema for this test (skips, or fails in CI, without PostgreSQL)."""
    from pg import Schema

    schema = Schema()
    yield schema
    schema.drop()


@pytest.fixture(scope="session")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`homeserver("sqlite" | "postgresql")`: the session's real Synapse on that database,
    started on first use and shared by the modules that front one (each with its own users)."""
    from synapse_harness import Homeservers

    servers = Homeservers(tmp_path_factory.mktemp("synapse"))
    yield servers.get
    servers.stop_all()


@pytest.fixture
def info_logging() -> Iterator[None]:
    """The gateway's logging at INFO, as `wsg serve` sets it: a test that captures log lines
    (structlog.testing.capture_logs) must not depend on whether an earlier test in the same
    process quieted logging to WARNING (the CLI's commands do)."""
    from gateway.logs import configure_logging

    configure_logging()
    yield


@pytest.fixture
def clock() -> Clock:
    return Clock()


# Modules that set BOTH_BACKENDS = True run every test that starts a gateway twice: on the
# embedded SQLite and on the real PostgreSQL (a fresh schema per data directory). A test marked
# `sqlite_only` (it breaks the audit log file on purpose, say) runs on SQLite alone, one marked
# `postgres_only` on PostgreSQL alone.
BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_BACKENDS", False):
        marked = {m.name for m in metafunc.definition.iter_markers()}
        backends = (
            ("sqlite",)
            if "sqlite_only" in marked
            else ("postgresql",)
            if "postgres_only" in marked
            else BACKENDS
        )
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def start_gateway(tmp_path: pathlib.Path, clock: Clock, backend: str) -> Iterator[GatewayFactory]:
    """Start real gateways (SQLite files, or a fresh PostgreSQL schema per data directory);
    at the end every entry they wrote must match its registered kind."""
    schemas: list[Any] = []

    def schema() -> str:
        from pg import Schema

        schemas.append(Schema())
        return str(schemas[-1].url)

    factory = GatewayFactory(tmp_path, clock, schema if backend == "postgresql" else None)
    yield factory
    problems = factory.stop_all()
    for made in schemas:
        made.drop()
    assert not problems, (
        "audit entries that do not match their kind, or third parties in what was released:\n"
        + "\n".join(problems)
    )


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the whole run (skips, or fails where WSG_REQUIRE_BROWSER is
    set, without chromium, chromedriver or selenium); its downloads land in `.downloads`."""
    import os

    import browser

    why = browser.missing()
    if why is not None:
        if os.environ.get("WSG_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests must run here (WSG_REQUIRE_BROWSER): {why}")
        pytest.skip(why)
    downloads = tmp_path_factory.mktemp("downloads")
    driver = browser.start(downloads)
    driver.downloads = downloads
    yield driver
    driver.quit()
