"""Revocation or expiry stops a release in flight.

The pipeline-level tests are deterministic: the release generator is paused at a batch while the
test revokes (or moves the clock), so the very next step must stop. The gRPC test shows the same
over the wire on a store too large for transport buffering to hide a missed stop.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import shutil
import time
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS, many_messages

from gateway.api.client import ClientError
from gateway.errors import FailedPrecondition
from gateway.policy.release import ReleasePolicy
from gateway.release.items import Summary
from gateway.release.pipeline import Batch, ReleaseRun, Started
from gateway.settings import DEFAULT_POLICY_DIR
from gateway.testing import make_spec

BOTH_BACKENDS = True  # every gateway test here also runs on the real PostgreSQL (conftest)

OFFICER, REVIEWER = "alice", "bob"
CATEGORIES = ["message_content", "message_metadata", "logins", "contacts", "memberships"]


def approved_warrant(
    run: Any,
    clock: Any,
    expires_in: dt.timedelta = dt.timedelta(days=30),
    categories: list[str] = CATEGORIES,
) -> str:
    with run.client(OFFICER) as officer:
        w = officer.submit(
            make_spec(["account:u1"], categories, JAN1, FEB1, clock.now + expires_in)
        )
    with run.client(REVIEWER) as reviewer:
        reviewer.approve(w.id)
    return w.id


def events(run: Any) -> list[str]:
    return [e["event"] for e in run.entries()]


@pytest.mark.parametrize("stop", ["revoke", "expire"])
def test_the_step_after_a_revocation_or_expiry_stops(
    start_gateway: Any, clock: Any, stop: str
) -> None:
    """With the release paused at its first batch, revoking (or passing expiry) ends it there."""
    run = start_gateway(ROWS)
    warrant_id = approved_warrant(run, clock)
    release = iter(run.gateway.release_run(run.gateway.book.get(warrant_id), OFFICER, 1))
    assert isinstance(next(release), Started)
    assert isinstance(next(release), Batch)
    if stop == "revoke":
        run.gateway.book.revoke(warrant_id, REVIEWER, "court withdrew it")
    else:
        clock.advance(days=31)
    with pytest.raises(FailedPrecondition, match=r"REVOKED|EXPIRED"):
        next(release)
    log = events(run)
    assert log[-1] == "release.stopped"
    assert log.count("release.batch") == 1
    assert "release.completed" not in log


def test_a_release_runs_to_completion_when_nothing_changes(start_gateway: Any, clock: Any) -> None:
    """The control for the test above: the same release without a stop ends in a summary."""
    run = start_gateway(ROWS)
    warrant_id = approved_warrant(run, clock)
    items = list(run.gateway.release_run(run.gateway.book.get(warrant_id), OFFICER, 1))
    batches = [i for i in items if isinstance(i, Batch)]
    assert len(batches) > 2
    assert events(run)[-1] == "release.completed"


def test_a_release_closed_before_its_end_is_audited_as_stopped(
    start_gateway: Any, clock: Any
) -> None:
    """Closed at a batch (the client went away): release.failed says so and names the batch
    handed out but not surely delivered (audited, and the caller never asked for more);
    nothing follows it; closed after its summary: nothing more is written."""
    run = start_gateway(ROWS)
    warrant_id = approved_warrant(run, clock)
    warrant = run.gateway.book.get(warrant_id)
    release = iter(run.gateway.release_run(warrant, OFFICER, 1))
    assert isinstance(next(release), Started) and isinstance(next(release), Batch)
    release.close()  # type: ignore[attr-defined]
    last = run.entries()[-1]
    assert (last["event"], last["warrant"]) == ("release.failed", warrant_id)
    assert last["undelivered"] == [0]
    assert "went away" in last["why"] and last["principal"] == OFFICER
    whole = run.gateway.release_run(warrant, OFFICER, 1)
    assert any(isinstance(item, Summary) for item in whole)  # stops at the summary, unclosed
    whole.close()  # type: ignore[attr-defined]
    assert events(run)[-1] == "release.completed"


def test_a_client_that_cancels_leaves_a_release_stopped_entry(
    start_gateway: Any, clock: Any
) -> None:
    """Over gRPC: the client reads one batch and cancels; the gateway notices and audits it."""
    run = start_gateway(many_messages(3000))
    warrant_id = approved_warrant(run, clock)
    with run.client(OFFICER) as officer:
        stream = officer.release(warrant_id, batch_size=1)
        for item in stream:
            if item.WhichOneof("item") == "batch":
                break
        stream.close()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while run.gateway.releases_in_flight:  # the server notices the cut at its next batch
        assert time.monotonic() < deadline
        time.sleep(0.01)
    log = list(run.entries())
    # release.failed when a batch was audited but not surely taken (undelivered names it),
    # release.stopped when none was: the cut either way, and why.
    assert log[-1]["event"] in ("release.stopped", "release.failed")
    assert "went away" in log[-1]["why"]
    assert (log[-1]["event"] == "release.failed") == bool(log[-1].get("undelivered"))
    assert "release.completed" not in events(run)


def test_revoking_over_grpc_stops_the_stream(start_gateway: Any, clock: Any) -> None:
    """A revocation sent while a client reads a release ends its stream with FAILED_PRECONDITION."""
    total = 3000
    run = start_gateway(many_messages(total))
    warrant_id = approved_warrant(run, clock)
    received = 0
    with run.client(OFFICER) as officer, run.client(REVIEWER) as reviewer:
        with pytest.raises(ClientError) as err:
            for item in officer.release(warrant_id, batch_size=1):
                if item.WhichOneof("item") == "batch":
                    received += len(item.batch.records)
                    if received == 1:
                        reviewer.revoke(warrant_id, "stop")
    assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert "REVOKED" in str(err.value)
    assert received < total  # transport buffering can run a few batches ahead, never to the end
    log = events(run)
    assert "release.stopped" in log and "release.completed" not in log


def test_a_release_longer_than_the_server_cap_stops_between_batches(
    start_gateway: Any, clock: Any
) -> None:
    """The server-side cap on one call: checked with every batch's entry (the first included)
    and between batches, audited, DEADLINE_EXCEEDED; what was sent before is covered by its
    entries (here nothing: the cap of 0 s has passed before the first batch's entry)."""
    run = start_gateway(many_messages(20), max_call_seconds=0.0)
    warrant_id = approved_warrant(run, clock)
    received = 0
    with run.client(OFFICER) as officer, pytest.raises(ClientError) as info:
        for item in officer.release(warrant_id, batch_size=2):
            received += len(item.batch.records) if item.WhichOneof("item") == "batch" else 0
    assert info.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert "release again" in info.value.message
    assert received == 0  # the first batch's entry is checked too
    log = list(run.entries())
    assert log[-1]["event"] == "release.stopped" and "longer than" in log[-1]["why"]
    assert sum(len(e.get("records", [])) for e in log if e["event"] == "release.batch") == received


# Withholds every message body: the first rule wins, so prepending it changes what leaves.
WITHHOLD_CONTENT = (
    "p, *, message_content, *, *, *, *, search_warrant, withhold, policy_change_test, -\n"
)


def test_a_policy_change_takes_effect_at_a_batch_boundary(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """The policy in force changes during a release (after the third look): the batch under way
    is finished with the policy it started with, the next batches use the new one, and every
    batch entry names the version that decided it. Looking once per record instead would
    release a partial batch under a policy that no longer holds."""
    run = start_gateway(many_messages(40))
    warrant_id = approved_warrant(run, clock, categories=["message_content"])
    strict_dir = tmp_path / "strict"
    shutil.copytree(DEFAULT_POLICY_DIR, strict_dir)
    (strict_dir / "policy.csv").write_text(
        WITHHOLD_CONTENT + (strict_dir / "policy.csv").read_text()
    )
    lenient, strict = ReleasePolicy.load(DEFAULT_POLICY_DIR), ReleasePolicy.load(strict_dir)
    looks = iter(range(10_000))

    def in_force() -> ReleasePolicy:
        return lenient if next(looks) < 3 else strict  # the release's start, then two batches

    gw = run.gateway
    release = ReleaseRun(
        gw.book.get(warrant_id),
        OFFICER,
        gw.store,
        in_force,
        gw.audit,
        gw.checkpoints,
        gw.secret,
        lambda: gw.book.live_state(warrant_id),
        batch_size=3,
    )
    items = list(release)
    batches = [item for item in items if isinstance(item, Batch)]
    assert [len(b.records) for b in batches] == [3, 3]
    entries = {e["index"]: e for e in run.entries()}
    assert [entries[b.audit_index]["policy"] for b in batches] == [lenient.version] * 2
    summary = items[-1]
    assert summary.withheld["policy_change_test"] >= 40 - 6
