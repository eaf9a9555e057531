"""Test seams for the gateway's own tests and for integrators: a real gateway, real state.

Nothing here mocks a part of the gateway. `GatewayFactory` starts real gateways (gRPC on port 0,
real SQLite files or a real PostgreSQL schema) with a clock the test moves; `Running` acts as
different principals and reads the audit log back as dicts, each checked against its registered
kind (`check_entries`). Like structlog.testing, it imports no test framework: the project's
pytest fixtures (tests/conftest.py) are thin wrappers around it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import pathlib
from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.trace import TracerProvider

from gateway.api.client import Client
from gateway.api.server import Gateway
from gateway.api.v1 import wsg_pb2 as pb
from gateway.audit.events import check_entry
from gateway.console import Console, attach_console
from gateway.datadir import PRIVATE_FILE, private_dir
from gateway.errors import GatewayError
from gateway.identity.roles import change_role, roles_file
from gateway.leakscan import LeakScanner
from gateway.model import Warrant, parse_time
from gateway.release.items import Batch, Started, Summary
from gateway.settings import Settings

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

# Role bindings every test gateway gets (DIR/roles.json, as `wsg init --principal` writes them):
# the people in the tests act as officers and as reviewers; audit1 is an auditor; anyone else
# (e.g. "mallory") has no role and may do nothing.
TEST_ROLES: dict[str, tuple[str, ...]] = dict.fromkeys(
    ("alice", "bob", "carol", "a", "officer", "reviewer"), ("officer", "reviewer")
)
TEST_ROLES["audit1"] = ("auditor",)
TEST_ROLES["notify1"] = ("notifier",)  # a delivery service reading the user-notice outbox


class Clock:
    """A settable clock: expiry is tested by moving time, not by sleeping."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


def bind_test_roles(data: pathlib.Path) -> None:
    """Grant TEST_ROLES (as `wsg roles add` would: roles a test bound before are kept)."""
    for name, roles in TEST_ROLES.items():
        for role in roles:
            change_role(roles_file(data), name, role, grant=True)


def write_jsonl(path: pathlib.Path, rows: Iterable[dict[str, Any]]) -> pathlib.Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def load_store(data: pathlib.Path, rows: list[dict[str, Any]], database: str | None = None) -> None:
    """Rows into the reference store: DIR/store.db, or the PostgreSQL database at that URL."""
    private_dir(data)
    source = write_jsonl(data / "import.jsonl", rows)
    source.chmod(PRIVATE_FILE)  # inside the data directory, like everything there
    if database is None:
        from gateway.stores.reference.sqlite import ReferenceStore

        store = ReferenceStore.open(data / "store.db")
        try:
            store.import_jsonl(source)
        finally:
            store.close()
        return
    from gateway.db import migrate
    from gateway.db.postgres import Database
    from gateway.stores.reference.postgres import PgReferenceStore

    migrate.upgrade(database)
    pool = Database(database, pool_size=2)
    try:
        PgReferenceStore(pool).import_jsonl(source)
    finally:
        pool.close()


def check_entries(entries: Iterable[dict[str, Any]]) -> list[str]:
    """Every problem of every entry against the registry of event kinds (empty: none)."""
    return [f"entry {e.get('index')}: {p}" for e in entries for p in check_entry(e)]


# Entries that open or extend a release: none may follow its warrant's revocation or expiry.
RELEASING = frozenset({"release.started", "release.resumed", "release.batch"})


def check_stops(entries: Iterable[dict[str, Any]], expiries: dict[str, dt.datetime]) -> list[str]:
    """Guarantee 7 over a log: every entry releasing under a warrant that comes after that
    warrant's `warrant.revoked` entry, or is stamped at or after its `expires_at` (expiries:
    warrant id -> expires_at), named with its index (empty: none)."""
    revoked: dict[str, int] = {}
    problems: list[str] = []
    for entry in entries:
        warrant = entry.get("warrant")
        if not isinstance(warrant, str):
            continue
        if entry["event"] == "warrant.revoked":
            revoked.setdefault(warrant, entry["index"])
        elif entry["event"] in RELEASING:
            if warrant in revoked:
                problems.append(
                    f"entry {entry['index']}: {entry['event']} of {warrant} after its "
                    f"revocation (entry {revoked[warrant]})"
                )
            expires = expiries.get(warrant)
            if expires is not None and parse_time(entry["ts"]) >= expires:
                problems.append(
                    f"entry {entry['index']}: {entry['event']} of {warrant} at {entry['ts']}, "
                    f"after its expiry"
                )
    return problems


class Running:
    """A started gateway plus helpers to act as different principals."""

    def __init__(self, gateway: Gateway, console: Console | None = None) -> None:
        self.gateway = gateway
        self.console = console

    @property
    def console_url(self) -> str:
        """The web console's base URL (started with `console="127.0.0.1:0"`)."""
        if self.console is None:
            raise ValueError("this gateway serves no console: start it with console=HOST:PORT")
        return self.console.url

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


class ReleaseRecorder:
    """Keeps what a gateway's releases handed out, to scan it for third parties at the end."""

    def __init__(self) -> None:
        self.released: list[tuple[tuple[str, ...], str]] = []  # (targets, released text)
        self._scanned = 0  # how many of `released` a scan has covered

    def __call__(self, warrant: Warrant, item: Started | Batch | Summary) -> None:
        targets = warrant.target_accounts
        if isinstance(item, Batch):
            self.released.extend((targets, r.payload.decode()) for r in item.records)
        elif isinstance(item, Summary):
            self.released.append((targets, json.dumps(summary_text(item), ensure_ascii=False)))

    def leaks(self, everyone: list[Any]) -> list[str]:
        """Every third party's identifier (guarantee 1) in what was released since the last
        call, by the independent scan over `everyone` the gateway's store knows."""
        fresh, self._scanned = self.released[self._scanned :], len(self.released)
        scanners: dict[tuple[str, ...], LeakScanner] = {}
        problems = []
        for targets, text in fresh:
            scanner = scanners.get(targets)
            if scanner is None:
                scanner = scanners[targets] = LeakScanner(everyone, targets)
            problems += [
                f"released to {list(targets)}: {f} in {text[:200]!r}" for f in scanner.scan(text)
            ]
        return problems


class StopChecks:
    """Checks a gateway as it stops, however the test stops it (companions stop before the
    store and the audit log close): every audit entry against its registered kind, and
    everything its releases handed out for third parties. A test that stops a gateway itself
    (a restart, a crash) is checked too, not only the gateways left running at the end."""

    def __init__(self, gateway: Gateway, recorder: ReleaseRecorder) -> None:
        self._gateway = gateway
        self.recorder = recorder
        self.everyone: list[Any] | None = None  # kept for what a release sends after the check
        self.problems: list[str] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        # A log the test broke on purpose is not checked.
        with contextlib.suppress(Exception):
            self.problems += check_entries(Running(self._gateway).entries())
        # A store the test broke on purpose cannot be read: nothing to scan against. Any other
        # error is a problem to report, not one to raise: the gateway must still stop.
        try:
            self.everyone = list(self._gateway.store.everyone())
        except GatewayError:
            pass
        except Exception as exc:  # noqa: BLE001 - a bug to report, yet the gateway must stop
            self.problems.append(f"the store could not be read to scan the releases: {exc!r}")
        self.problems += self.leftovers()

    def leftovers(self) -> list[str]:
        """Third parties in what was released since the last scan (a release the stop's grace
        let finish), against the people read at the stop."""
        if self.everyone is None:
            return []
        return self.recorder.leaks(self.everyone)


def summary_text(summary: Summary) -> dict[str, Any]:
    """The summary's human-readable fields: not its proofs, nor the checkpoint's root and
    signature (base64 of hashes, where "+u3/" is chance, not an account), only its origin."""
    return {
        "withheld": summary.withheld,
        "released_by_effect": summary.released_by_effect,
        "released_by_category": summary.released_by_category,
        "identifiers_replaced": summary.identifiers_replaced,
        "checkpoint_origin": summary.checkpoint.split("\n", 1)[0],
    }


class GatewayFactory:
    """Starts gateways in development mode on loopback port 0 and stops them all at the end.

    `postgres_schema`, if given, returns a fresh PostgreSQL URL per data directory (the gateway
    then keeps its state there); otherwise state is SQLite files in the data directory."""

    def __init__(
        self, root: pathlib.Path, clock: Clock, postgres_schema: Callable[[], str] | None = None
    ) -> None:
        self._root = root
        self._clock = clock
        self._schema = postgres_schema
        self._urls: dict[pathlib.Path, str] = {}
        self.started: list[Gateway] = []
        self.checks: dict[int, StopChecks] = {}

    def __call__(
        self,
        rows: list[dict[str, Any]] | None = None,
        data: pathlib.Path | None = None,
        tracer_provider: TracerProvider | None = None,
        **config: Any,
    ) -> Running:
        root = data or self._root / "wsg-data"
        if self._schema is not None and "database" not in config:
            if root not in self._urls:
                self._urls[root] = self._schema()
            config["database"] = self._urls[root]
        if rows is not None:
            load_store(root, rows, config.get("database"))
        bind_test_roles(root)
        config.setdefault("insecure", True)
        # No background notice sweep unless a test asks for one: a test calls
        # `gateway.book.notices.sweep()` itself, and no notice.queued entry lands, on the
        # clock's say, in the middle of a test counting the log's entries.
        config.setdefault("notice_sweep_seconds", 0)
        gateway = Gateway(
            Settings(data=root, listen="127.0.0.1:0", clock=self._clock, **config),
            tracer_provider=tracer_provider,
        )
        recorder = ReleaseRecorder()
        gateway.release_taps.append(recorder)
        checks = self.checks[id(gateway)] = StopChecks(gateway, recorder)
        gateway.attach(checks)  # first, so it stops last: after the console
        try:
            console = attach_console(gateway)
        except BaseException:
            gateway.stop(grace=None)
            raise
        gateway.start()
        self.started.append(gateway)
        return Running(gateway, console)

    def stop_all(self) -> list[str]:
        """Stop every gateway still running; the problems each one's StopChecks found in its
        audit log against the registry and in what its releases handed out."""
        problems: list[str] = []
        for gateway in self.started:
            checks = self.checks[id(gateway)]
            with contextlib.suppress(Exception):
                gateway.stop(grace=None)
            problems += checks.problems + checks.leftovers()
        return problems


def ts(value: dt.datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(value)
    return t


def make_spec(
    targets: list[str],
    categories: list[str],
    start: dt.datetime,
    end: dt.datetime,
    expires: dt.datetime,
    received_direct: bool = False,
) -> pb.WarrantSpec:
    return pb.WarrantSpec(
        case_number="2026-TEST-1",
        authority="Test Court",
        legal_basis="test",
        targets=targets,
        window=pb.Window(start=ts(start), end=ts(end)),
        categories=categories,
        expires_at=ts(expires),
        include_received_direct=received_direct,
    )
