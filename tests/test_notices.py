"""User notices (issue 16 part 2): when a warrant that released records reaches the end of its
non-disclosure period (at once where it has none), each target account, and nobody else, gets
one notice in the outbox; a court order defers them (audited with its hash); a delivery service
reads the pending ones and marks them sent (audited, once). Both backends."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pathlib
import shutil
import threading
import time
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import ClientError
from gateway.api.v1 import wsg_pb2 as pb
from gateway.cli import main
from gateway.testing import make_spec, ts
from gateway.warrants.outbox import notice_id

BOTH_BACKENDS = True

OFFICER, REVIEWER, NOTIFIER = "alice", "bob", "notify1"
TARGETS = ["phone:+821011112222", "account:u10"]  # u1 and u10; u1's messages name u2
CATEGORIES = ["subscriber", "message_content"]
ORDER = hashlib.sha256(b"order extending non-disclosure").hexdigest()
SECOND = dt.timedelta(seconds=1)


def approved(
    run: Any,
    clock: Any,
    nondisclosure: dt.datetime | None = None,
    targets: list[str] = TARGETS,
    instrument: str = "",
    categories: list[str] = CATEGORIES,
) -> pb.Warrant:
    spec = make_spec(targets, categories, JAN1, FEB1, clock.now + dt.timedelta(days=400))
    spec.instrument = instrument
    if nondisclosure is not None:
        spec.nondisclosure_until.CopyFrom(ts(nondisclosure))
    with run.client(OFFICER) as officer:
        w = officer.submit(spec)
    with run.client(REVIEWER) as reviewer:
        return reviewer.approve(w.id)


def release(run: Any, warrant_id: str) -> pb.ReleaseSummary:
    summary = None
    with run.client(OFFICER) as officer:
        for item in officer.release(warrant_id, 0):
            if item.WhichOneof("item") == "summary":
                summary = item.summary
    assert summary is not None
    return summary


def pending(run: Any) -> list[pb.Notice]:
    with run.client(NOTIFIER) as notifier:
        return notifier.pending_notices()


def entries(run: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in run.entries() if e["event"] == kind]


def cli(run: Any, who: str, *args: str) -> Any:
    return CliRunner().invoke(
        main, [*args, "--server", run.address, "--insecure", "--identity", who, "--json"]
    )


def test_due_exactly_when_non_disclosure_ends_and_never_before(
    start_gateway: Any, clock: Any
) -> None:
    run = start_gateway(ROWS)
    ends = clock.now + dt.timedelta(days=30)
    w = approved(run, clock, nondisclosure=ends)
    released_at = clock.now
    summary = release(run, w.id)
    assert summary.released > 0
    clock.now = ends - SECOND
    assert pending(run) == []
    run.gateway.book.notices.sweep()  # the gateway's own sweep finds nothing due either
    assert entries(run, "notice.queued") == []
    clock.now = ends
    found = pending(run)
    assert sorted(n.account for n in found) == ["u1", "u10"]
    for n in found:
        assert n.id == notice_id(w.id, n.account)
        assert n.warrant_id == w.id
        assert n.due_at.ToDatetime(tzinfo=dt.UTC) == ends
        assert n.queued_at.ToDatetime(tzinfo=dt.UTC) == ends
        assert (n.authority, n.legal_basis, n.instrument, n.tier) == (
            "Test Court",
            "test",
            "",
            "search_warrant",
        )
        assert list(n.categories) == CATEGORIES
        assert n.window.start.ToDatetime(tzinfo=dt.UTC) == JAN1
        assert n.window.end.ToDatetime(tzinfo=dt.UTC) == FEB1
        assert n.released_at.ToDatetime(tzinfo=dt.UTC) == released_at
        assert n.records == summary.released
        assert sum(n.records_by_category.values()) == summary.released
        assert not n.sent_by and not n.HasField("sent_at")
    queued = entries(run, "notice.queued")
    assert sorted(e["account"] for e in queued) == ["u1", "u10"]
    assert {e["principal"] for e in queued} == {NOTIFIER}  # queued when the notifier looked
    assert all(e["due_at"] == "2026-03-31T00:00:00Z" for e in queued)


def test_at_once_after_the_release_where_there_is_no_non_disclosure(
    start_gateway: Any, clock: Any
) -> None:
    run = start_gateway(ROWS)
    w = approved(run, clock)
    assert pending(run) == []  # approved, nothing released yet: nothing to tell
    clock.advance(hours=2)
    release(run, w.id)
    queued = run.gateway.book.notices.sweep()  # the sweep the gateway runs in the background
    assert sorted(n.account for n in queued) == ["u1", "u10"]
    assert {n.due_at for n in queued} == {clock.now}
    assert {e["principal"] for e in entries(run, "notice.queued")} == {"gateway"}
    assert len(pending(run)) == 2


def test_the_background_sweep_queues_what_became_due(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS, notice_sweep_seconds=0.1)
    ends = clock.now + dt.timedelta(days=1)
    w = approved(run, clock, nondisclosure=ends)
    release(run, w.id)
    time.sleep(0.5)  # several sweeps: not due yet
    assert entries(run, "notice.queued") == []
    clock.now = ends
    deadline = time.monotonic() + 20
    while len(entries(run, "notice.queued")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    queued = entries(run, "notice.queued")
    assert sorted(e["account"] for e in queued) == ["u1", "u10"]
    assert {e["principal"] for e in queued} == {"gateway"}  # nobody listed them


def test_no_notice_for_a_warrant_that_released_nothing(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS)
    # A request for content of an account that wrote nothing in its window...
    nothing = approved(run, clock, targets=["account:u4"], categories=["message_content"])
    summary = release(run, nothing.id)
    assert summary.released == 0
    # ... and a preservation request, which never releases: neither is owed a notice.
    approved(run, clock, instrument="preservation")
    clock.advance(days=365)
    assert pending(run) == []
    assert entries(run, "notice.queued") == []


def test_never_for_third_parties_one_per_target_account(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS)
    # u1 twice (by phone and by id) and u10: u2, whose messages with u1 leave pseudonymized,
    # is no target.
    w = approved(run, clock, targets=["phone:+821011112222", "account:u1", "account:u10"])
    summary = release(run, w.id)
    assert summary.pseudonymized_parties > 0  # the release did name a third party
    found = pending(run)
    assert sorted(n.account for n in found) == ["u1", "u10"]
    assert "u2" not in {e["account"] for e in entries(run, "notice.queued")}


def test_two_sweeps_queue_once(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS)
    w = approved(run, clock)
    release(run, w.id)
    first = run.gateway.book.notices.sweep()
    again = run.gateway.book.notices.sweep()
    assert len(first) == 2 and again == []
    assert len(pending(run)) == 2
    assert len(entries(run, "notice.queued")) == 2


def test_a_restarted_gateway_finds_the_release_in_its_log_and_queues_once(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    data = tmp_path / "kept"
    run = start_gateway(ROWS, data=data)
    ends = clock.now + dt.timedelta(days=30)
    w = approved(run, clock, nondisclosure=ends)
    release(run, w.id)
    other = approved(run, clock)
    release(run, other.id)
    assert {n.warrant_id for n in pending(run)} == {other.id}  # queued before the restart
    run.gateway.stop(grace=None)
    start_gateway.started.remove(run.gateway)
    again = start_gateway(data=data)
    clock.now = ends
    found = pending(again)
    assert sorted((n.warrant_id, n.account) for n in found) == sorted(
        (wid, account) for wid in (w.id, other.id) for account in ("u1", "u10")
    )
    assert len(entries(again, "notice.queued")) == 4  # the earlier two not again


@pytest.mark.postgres_only
def test_two_replicas_sweeping_at_once_queue_once(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path, pg_schema: Any
) -> None:
    a = start_gateway(ROWS, data=tmp_path / "a", database=pg_schema.url)
    (tmp_path / "b").mkdir(mode=0o700)
    shutil.copytree(tmp_path / "a" / "keys", tmp_path / "b" / "keys")
    b = start_gateway(data=tmp_path / "b", database=pg_schema.url)
    w = approved(a, clock)
    release(a, w.id)  # on replica a: b learns of it from the shared log
    barrier = threading.Barrier(6)

    def sweep(run: Any) -> None:
        barrier.wait()
        run.gateway.book.notices.sweep()

    threads = [threading.Thread(target=sweep, args=(r,)) for r in (a, b) * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(e["account"] for e in entries(a, "notice.queued")) == ["u1", "u10"]
    assert len(pending(b)) == 2


def test_a_court_order_defers_the_notices_then_they_are_due_at_its_end(
    start_gateway: Any, clock: Any
) -> None:
    run = start_gateway(ROWS)
    ends = clock.now + dt.timedelta(days=30)
    w = approved(run, clock, nondisclosure=ends)
    release(run, w.id)
    later = ends + dt.timedelta(days=90)
    with run.client(REVIEWER) as reviewer:
        reply = reviewer.defer_notice(w.id, later, ORDER)
    assert reply.until.ToDatetime(tzinfo=dt.UTC) == later and reply.notices == 0
    [deferred] = entries(run, "notice.deferred")
    assert deferred["order_sha256"] == ORDER and deferred["principal"] == REVIEWER
    assert deferred["until"] == "2026-06-29T00:00:00Z" and deferred["warrant"] == w.id
    clock.now = ends
    assert pending(run) == []  # the original end has passed: deferred
    clock.now = later - SECOND
    assert pending(run) == []
    assert entries(run, "notice.queued") == []
    clock.now = later
    found = pending(run)
    assert len(found) == 2
    assert {n.due_at.ToDatetime(tzinfo=dt.UTC) for n in found} == {later}


def test_a_deferral_moves_notices_already_queued_and_not_sent(
    start_gateway: Any, clock: Any
) -> None:
    run = start_gateway(ROWS)
    w = approved(run, clock)
    release(run, w.id)
    [first, second] = pending(run)
    with run.client(NOTIFIER) as notifier:
        notifier.mark_notice_sent(first.id)
    later = clock.now + dt.timedelta(days=10)
    with run.client(REVIEWER) as reviewer:
        assert reviewer.defer_notice(w.id, later, ORDER).notices == 1  # the unsent one
    assert pending(run) == []
    with run.client(NOTIFIER) as notifier, pytest.raises(ClientError) as early:
        notifier.mark_notice_sent(second.id)
    assert early.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert "deferred until 2026-03-11T00:00:00Z" in early.value.message
    clock.now = later
    assert [n.id for n in pending(run)] == [second.id]


def test_deferral_refusals(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS)
    ends = clock.now + dt.timedelta(days=30)
    w = approved(run, clock, nondisclosure=ends)
    with run.client(REVIEWER) as reviewer:
        for until, order, why in [
            (ends + SECOND, "AB" * 32, "order_sha256: 'ABAB"),
            (ends + SECOND, "ab" * 31, "is not a sha256"),
            (clock.now - SECOND, ORDER, "is not in the future"),
            (ends, ORDER, "does not extend the non-disclosure period"),
        ]:
            with pytest.raises(ClientError) as bad:
                reviewer.defer_notice(w.id, until, order)
            assert bad.value.code is grpc.StatusCode.INVALID_ARGUMENT
            assert why in bad.value.message
        reviewer.defer_notice(w.id, ends + dt.timedelta(days=10), ORDER)
        with pytest.raises(ClientError) as shorter:
            reviewer.defer_notice(w.id, ends + dt.timedelta(days=5), ORDER)
        assert shorter.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "a deferral only extends" in shorter.value.message
    assert len(entries(run, "notice.deferred")) == 1
    # Only reviewers defer (test principals are officers and reviewers; the role matrix,
    # tests/test_api_policy.py, refuses it to officers alone).
    with run.client("audit1") as auditor, pytest.raises(ClientError) as denied:
        auditor.defer_notice(w.id, ends + dt.timedelta(days=20), ORDER)
    assert denied.value.code is grpc.StatusCode.PERMISSION_DENIED


def test_mark_sent_is_audited_and_leaves_pending_once(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS)
    w = approved(run, clock)
    release(run, w.id)
    [first, second] = pending(run)
    clock.advance(minutes=5)
    with run.client(NOTIFIER) as notifier:
        sent = notifier.mark_notice_sent(first.id)
        assert sent.sent_by == NOTIFIER
        assert sent.sent_at.ToDatetime(tzinfo=dt.UTC) == clock.now
        assert [n.id for n in notifier.pending_notices()] == [second.id]
        with pytest.raises(ClientError) as twice:
            notifier.mark_notice_sent(first.id)
        assert twice.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "was marked sent already (by notify1" in twice.value.message
        for unknown in ("n-0000000000000000", "nonsense", ""):
            with pytest.raises(ClientError) as missing:
                notifier.mark_notice_sent(unknown)
            assert missing.value.code is grpc.StatusCode.NOT_FOUND
            assert "no notice" in missing.value.message
    [entry] = entries(run, "notice.sent")
    assert (entry["notice"], entry["warrant"], entry["account"], entry["principal"]) == (
        first.id,
        w.id,
        first.account,
        NOTIFIER,
    )
    # Once every notice was sent, a deferral has nothing left to defer.
    with run.client(NOTIFIER) as notifier:
        notifier.mark_notice_sent(second.id)
    with run.client(REVIEWER) as reviewer, pytest.raises(ClientError) as late:
        reviewer.defer_notice(w.id, clock.now + dt.timedelta(days=1), ORDER)
    assert late.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert "were sent already" in late.value.message


@pytest.mark.parametrize("who", [OFFICER, REVIEWER, "audit1", "nobody"])
def test_the_outbox_is_refused_to_other_roles(start_gateway: Any, clock: Any, who: str) -> None:
    run = start_gateway(ROWS)
    w = approved(run, clock)
    release(run, w.id)
    with run.client(who) as client:
        for call in (
            client.pending_notices,
            lambda: client.mark_notice_sent(notice_id(w.id, "u1")),
        ):
            with pytest.raises(ClientError) as denied:
                call()
            assert denied.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert entries(run, "notice.sent") == []
    with run.client(NOTIFIER) as notifier, pytest.raises(ClientError) as defer:
        notifier.defer_notice(w.id, clock.now + dt.timedelta(days=1), ORDER)
    assert defer.value.code is grpc.StatusCode.PERMISSION_DENIED


def test_cli_pending_and_mark_sent_json(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS)
    w = approved(run, clock)
    release(run, w.id)
    out = cli(run, NOTIFIER, "notices", "pending")
    assert out.exit_code == 0, out.output
    shown = json.loads(out.output)
    assert {n["account"] for n in shown} == {"u1", "u10"}
    one = shown[0]
    assert set(one) == {
        "id",
        "warrant",
        "account",
        "authority",
        "legal_basis",
        "instrument",
        "tier",
        "categories",
        "window",
        "released_at",
        "records",
        "records_by_category",
        "due_at",
        "queued_at",
        "sent_by",
        "sent_at",
    }
    assert (one["warrant"], one["authority"], one["sent_at"]) == (w.id, "Test Court", None)
    marked = cli(run, NOTIFIER, "notices", "mark-sent", one["id"])
    assert marked.exit_code == 0, marked.output
    assert json.loads(marked.output)["sent_by"] == NOTIFIER
    left = json.loads(cli(run, NOTIFIER, "notices", "pending").output)
    assert [n["id"] for n in left] == [shown[1]["id"]]
    again = cli(run, NOTIFIER, "notices", "mark-sent", one["id"])
    assert again.exit_code == 1
    assert "marked sent already" in again.output and "Traceback" not in again.output
    denied = cli(run, OFFICER, "notices", "pending")
    assert denied.exit_code == 1 and "PERMISSION_DENIED" in denied.output


def test_cli_defer(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS)
    w = approved(run, clock)
    out = cli(
        run,
        REVIEWER,
        "notices",
        "defer",
        w.id,
        "--until",
        "2026-09-01T00:00:00Z",
        "--order-sha256",
        ORDER,
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {
        "warrant": w.id,
        "until": "2026-09-01T00:00:00Z",
        "notices": 0,
        "order_sha256": ORDER,
    }
    bad = cli(run, REVIEWER, "notices", "defer", w.id, "--until", "soon", "--order-sha256", ORDER)
    assert bad.exit_code == 2 and "--until: 'soon' is not an RFC 3339 time" in bad.output
    release(run, w.id)
    clock.now = dt.datetime(2026, 9, 1, tzinfo=dt.UTC) - SECOND
    assert pending(run) == []
    clock.now += SECOND
    assert len(pending(run)) == 2
