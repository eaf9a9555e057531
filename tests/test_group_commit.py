"""Warrant actions under concurrency: group commit shares fsyncs, keeps write-ahead, fails whole."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from typing import Any

import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.convert import spec_from_pb
from gateway.audit.events import PolicyRefused
from gateway.audit.files import read_entries
from gateway.errors import NotFound, Unavailable
from gateway.testing import make_spec

THREADS = 12
BOTH_BACKENDS = True  # every gateway test here also runs on the real PostgreSQL (conftest)


@pytest.fixture
def book_and_spec(start_gateway: Any, clock: Any) -> tuple[Any, Any, Any]:
    run = start_gateway(ROWS)
    spec = spec_from_pb(
        make_spec(
            ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=30)
        )
    )
    return run, run.gateway.book, spec


def counting_fsync(
    monkeypatch: pytest.MonkeyPatch, audit_fd: int, delay: float = 0.0, fail_on: int | None = None
) -> list[int]:
    """Count (and slow, or fail) fsyncs of the audit log only."""
    calls: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        if fd == audit_fd:
            calls.append(fd)
            time.sleep(delay)
            if fail_on is not None and len(calls) == fail_on:
                raise OSError(5, "injected fsync failure")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def submit_all(book: Any, spec: Any, n: int) -> list[Any]:
    """n submits released at once; each result is the warrant or the exception."""
    results: list[Any] = [None] * n
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        barrier.wait()
        try:
            results[i] = book.submit(spec, f"officer{i}")
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.sqlite_only  # counts fsyncs of the log file; PostgreSQL's twin is below
def test_concurrent_submits_share_fsyncs_and_each_has_its_entry(
    book_and_spec: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, book, spec = book_and_spec
    audit = run.gateway.audit
    before = audit.size
    calls = counting_fsync(monkeypatch, audit.fileno(), delay=0.02)  # a slow disk: callers pile up
    results = submit_all(book, spec, THREADS)
    assert all(not isinstance(r, Exception) for r in results), results
    entries = list(read_entries(audit.path))[before:]
    assert sorted(e["warrant"] for e in entries) == sorted(w.id for w in results)
    assert [e["index"] for e in entries] == list(range(before, before + THREADS))
    assert len(calls) < THREADS / 2, f"{len(calls)} audit fsyncs for {THREADS} submits"
    for w in results:
        assert book.get(w.id).submitted_by == w.submitted_by


@pytest.mark.sqlite_only
def test_a_failed_group_fsync_fails_every_action_of_that_group_and_keeps_none(
    book_and_spec: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, book, spec = book_and_spec
    audit = run.gateway.audit
    counting_fsync(monkeypatch, audit.fileno(), delay=0.05, fail_on=2)
    results = submit_all(book, spec, THREADS)
    ok = [r for r in results if not isinstance(r, Exception)]
    failed = [r for r in results if isinstance(r, Exception)]
    assert ok and failed and all(isinstance(r, Unavailable) for r in failed), results
    for w in ok:  # the first group made it, durably audited
        assert book.get(w.id).id == w.id
    durable = {e.get("warrant") for e in read_entries(audit.path)}
    assert {w.id for w in ok} <= durable
    assert audit.broken is not None  # never retried: the log stays broken
    assert len(book.list(limit=1000)) == len(ok)  # nothing of the failed group was kept


def test_a_refused_action_in_a_group_is_audited_and_does_not_undo_the_others(
    book_and_spec: tuple, clock: Any
) -> None:
    run, book, spec = book_and_spec
    warrants = [book.submit(spec, "alice") for _ in range(4)]
    results: list[Any] = [None] * 4
    barrier = threading.Barrier(4)

    def approve(i: int) -> None:
        barrier.wait()
        try:  # alice may not approve her own (two-person rule); bob may
            results[i] = book.approve(warrants[i].id, "alice" if i == 0 else "bob")
        except Exception as exc:  # noqa: BLE001
            results[i] = exc

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert type(results[0]).__name__ == "PermissionDenied"
    assert [r.state.value for r in results[1:]] == ["APPROVED"] * 3
    events = [(e["event"], e["warrant"]) for e in run.entries()]
    assert ("warrant.approved_refused", warrants[0].id) in events
    assert all(("warrant.approved", w.id) in events for w in warrants[1:])
    assert book.get(warrants[0].id).state.value == "SUBMITTED"


def test_warrant_reads_do_not_wait_for_a_writer(book_and_spec: tuple) -> None:
    """Get runs on its own connection: a group holding the write transaction through its
    fsyncs must not stall readers (the unary latency benchmark's p99)."""
    _run, book, spec = book_and_spec
    existing = book.submit(spec, "alice")
    entered, release = threading.Event(), threading.Event()

    def slow_action(db: Any) -> tuple:
        entered.set()
        release.wait(10)
        return PolicyRefused(why="a slow write"), None

    writer = threading.Thread(target=lambda: book._table.write(slow_action))
    writer.start()
    try:
        assert entered.wait(5)
        got: list[Any] = []
        reader = threading.Thread(target=lambda: got.append(book.get(existing.id)))
        reader.start()
        reader.join(timeout=5)
        assert not reader.is_alive() and got[0].id == existing.id
    finally:
        release.set()
        writer.join(timeout=10)
    with pytest.raises(NotFound):
        book.get("w-0000000000000000")


@pytest.mark.postgres_only  # SQLite's group commit is tested by counting fsyncs above
def test_concurrent_submits_share_postgres_transactions_and_each_has_its_entry(
    book_and_spec: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a group is one transaction holding every action and entry: callers that
    arrive while one commits go together in the next."""
    run, book, spec = book_and_spec
    audit = run.gateway.audit
    before = audit.size
    transactions: list[int] = []
    real = audit.run_audited

    def slow_transaction(work: Any) -> Any:
        transactions.append(1)
        time.sleep(0.02)  # a slow commit: callers pile up behind it
        return real(work)

    monkeypatch.setattr(audit, "run_audited", slow_transaction)
    results = submit_all(book, spec, THREADS)
    assert all(not isinstance(r, Exception) for r in results), results
    entries = run.entries()[before:]
    assert sorted(e["warrant"] for e in entries) == sorted(w.id for w in results)
    assert [e["index"] for e in entries] == list(range(before, before + THREADS))
    assert len(transactions) < THREADS / 2, f"{len(transactions)} transactions for {THREADS}"
