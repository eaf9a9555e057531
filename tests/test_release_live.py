"""The warrant's live state is asked with every entry a release writes (guarantee 7).

A revocation or expiry that lands anywhere in a release — before its first and only batch,
before a final partial batch, in the middle of a long scan of withheld records, or in the
instant between the look at the state and the write of the batch's entry — stops it: the log
never shows a `release.batch` after the warrant's `warrant.revoked` entry or its expiry.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import shutil
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fixtures_small import FEB1, JAN1, many_messages

from gateway.audit.events import PolicyRefused
from gateway.errors import FailedPrecondition
from gateway.model import WarrantState, format_time
from gateway.policy.release import ReleasePolicy
from gateway.release import pipeline
from gateway.release.pipeline import Batch, ReleaseRun, Started
from gateway.settings import DEFAULT_POLICY_DIR
from gateway.testing import check_stops, make_spec

BOTH_BACKENDS = True  # every gateway test here also runs on the real PostgreSQL (conftest)

OFFICER, REVIEWER = "alice", "bob"
EXPIRES = dt.timedelta(days=30)
WITHHOLD_CONTENT = "p, *, message_content, *, *, *, *, *, withhold, scan_test, -\n"


def approved(run: Any, clock: Any, categories: list[str]) -> str:
    with run.client(OFFICER) as officer:
        w = officer.submit(make_spec(["account:u1"], categories, JAN1, FEB1, clock.now + EXPIRES))
    with run.client(REVIEWER) as reviewer:
        reviewer.approve(w.id)
    return str(w.id)


def guarantee_7(run: Any, clock: Any, warrant_id: str) -> list[str]:
    expires = run.gateway.book.get(warrant_id).spec.expires_at
    return check_stops(run.entries(), {warrant_id: expires})


def stop_now(run: Any, clock: Any, warrant_id: str, how: str) -> None:
    if how == "revoke":
        run.gateway.book.revoke(warrant_id, REVIEWER, "court withdrew it")
    else:
        clock.advance(days=31)


def make_run(run: Any, warrant_id: str, live: Callable[[], WarrantState], **kw: Any) -> ReleaseRun:
    gw = run.gateway
    return ReleaseRun(
        gw.book.get(warrant_id),
        OFFICER,
        kw.pop("store", gw.store),
        kw.pop("policy", lambda: gw.policies.current().release),
        gw.audit,
        gw.checkpoints,
        gw.secret,
        live,
        **kw,
    )


@pytest.mark.parametrize("how", ["revoke", "expire"])
def test_a_stop_before_the_first_and_only_batch_is_seen(
    start_gateway: Any, clock: Any, how: str
) -> None:
    """The first batch, which is also the last (partial), is asked the live state too."""
    run = start_gateway(many_messages(10))
    warrant_id = approved(run, clock, ["message_content"])
    release = iter(run.gateway.release_run(run.gateway.book.get(warrant_id), OFFICER, 500))
    assert isinstance(next(release), Started)
    stop_now(run, clock, warrant_id, how)
    with pytest.raises(FailedPrecondition, match=r"REVOKED|EXPIRED"):
        next(release)
    events = [e["event"] for e in run.entries()]
    assert "release.batch" not in events
    assert events[-1] == "release.stopped"
    assert guarantee_7(run, clock, warrant_id) == []


class Unparted:
    """The store with its parts hidden: each record read and decided on its own."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "parts":
            raise AttributeError(name)
        return getattr(self._inner, name)


@pytest.mark.parametrize("every", ["records", "milliseconds"])
@pytest.mark.parametrize("how", ["revoke", "expire"])
def test_a_long_scan_of_withheld_records_looks_at_the_warrant(
    start_gateway: Any,
    clock: Any,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    every: str,
) -> None:
    """Thousands of records examined and withheld write no entry; the warrant is looked at
    every N records or T ms during the scan, so a revocation there stops the release before
    the batch of what follows (the subscriber record) is audited and sent."""
    if every == "records":
        monkeypatch.setattr(pipeline, "LOOK_EVERY_RECORDS", 200)
        monkeypatch.setattr(pipeline, "LOOK_EVERY_SECONDS", 3600.0)
    else:
        monkeypatch.setattr(pipeline, "LOOK_EVERY_RECORDS", 10**9)
        monkeypatch.setattr(pipeline, "LOOK_EVERY_SECONDS", 0.0)
    run = start_gateway(many_messages(1500))
    warrant_id = approved(run, clock, ["message_content", "subscriber"])
    strict = tmp_path / "strict"
    shutil.copytree(DEFAULT_POLICY_DIR, strict)
    (strict / "policy.csv").write_text(WITHHOLD_CONTENT + (strict / "policy.csv").read_text())
    policy = ReleasePolicy.load(strict)
    looks = 0

    def live() -> WarrantState:
        nonlocal looks
        looks += 1
        if looks == 3:  # before the start, with release.started, then the scan's first look
            stop_now(run, clock, warrant_id, how)
        return run.gateway.book.live_state(warrant_id)

    release = make_run(
        run, warrant_id, live, store=Unparted(run.gateway.store), policy=policy, batch_size=500
    )
    with pytest.raises(FailedPrecondition, match=r"REVOKED|EXPIRED"):
        list(release)
    events = [e["event"] for e in run.entries()]
    assert "release.batch" not in events
    assert events[-1] == "release.stopped"
    assert looks == 3
    assert guarantee_7(run, clock, warrant_id) == []


def test_a_revocation_racing_the_batch_entry_is_ordered_after_it(
    start_gateway: Any, clock: Any
) -> None:
    """The look at the state and the batch's entry are one step under the log's lock: a
    revocation started between them (on another thread; on PostgreSQL, another connection as
    another replica would) waits and lands after the entry, never between the two."""
    run = start_gateway(many_messages(10))
    warrant_id = approved(run, clock, ["message_content"])
    revoker: list[threading.Thread] = []

    def live() -> WarrantState:
        state = run.gateway.book.live_state(warrant_id)
        if threading.current_thread().name.startswith("wsg-audit") and not revoker:
            revoker.append(
                threading.Thread(
                    target=run.gateway.book.revoke, args=(warrant_id, REVIEWER, "raced")
                )
            )
            revoker[0].start()
            revoker[0].join(0.5)  # without the lock it is done (and audited) by now
        return state

    items = list(make_run(run, warrant_id, live, batch_size=500))
    revoker[0].join(10)
    assert not revoker[0].is_alive()
    assert isinstance(items[1], Batch)
    entries = run.entries()
    events = [e["event"] for e in entries]
    assert events.index("release.batch") < events.index("warrant.revoked")
    assert guarantee_7(run, clock, warrant_id) == []


def test_a_checked_entry_states_the_time_before_its_check(start_gateway: Any, clock: Any) -> None:
    """The time an entry states is read before its veto looks at any state: a warrant found
    live by the veto was live at the entry's time, however long the look took (here the clock
    moves by an hour during it). Stamped after the look, a batch entry written just as its
    warrant expires would state a time past the expiry."""
    run = start_gateway(many_messages(3))
    before = clock.now

    def slow_veto() -> None:
        clock.now += dt.timedelta(hours=1)

    index = run.gateway.audit.append_checked(PolicyRefused(why="time test"), slow_veto)
    entry = {e["index"]: e for e in run.entries()}[index]
    assert entry["ts"] == format_time(before)
