"""Clients that open release streams and stop reading cannot starve the gateway.

Releases of large records, their clients reading nothing after the first message: each
handler thread blocks in gRPC's send. The caps (max_releases overall, at most max_workers - 4,
and max_releases_per_principal) refuse more with RESOURCE_EXHAUSTED, so threads stay free and a
revocation gets through at once; after release_unread_seconds each stuck call is cut and the
log says why.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.testing import make_spec

BOTH_BACKENDS = True  # every gateway test here also runs on the real PostgreSQL (conftest)

REVIEWER = "bob"
OFFICERS = ["alice", "carol", "officer", "a"]
COUNT, BODY = 24, 900_000  # 21 MB: far more than HTTP/2 flow control lets through unread


def large_messages() -> list[dict[str, Any]]:
    base = JAN1 + dt.timedelta(days=10)
    return ROWS + [
        {
            "kind": "message",
            "id": f"large-{i}",
            "room": "r-dm",
            "sender": "u1",
            "sent_at": (base + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "body": f"large message {i} " + "word " * (BODY // 5),
        }
        for i in range(COUNT)
    ]


def approved(run: Any, clock: Any, officer: str) -> str:
    with run.client(officer) as client:
        w = client.submit(
            make_spec(["account:u1"], ["message_content"], JAN1, FEB1, clock.now.replace(year=2027))
        )
    with run.client(REVIEWER) as reviewer:
        reviewer.approve(w.id)
    return str(w.id)


class Unread:
    """A release stream whose client takes the first message and then reads nothing."""

    def __init__(self, run: Any, warrant_id: str, principal: str) -> None:
        self.channel = grpc.insecure_channel(run.address)
        self.call = pb_grpc.ReleaseServiceStub(self.channel).Release(
            pb.ReleaseRequest(warrant_id=warrant_id, batch_size=2),
            metadata=[("x-wsg-principal", principal)],
        )
        self.refused: grpc.RpcError | None = None
        try:
            next(self.call)
        except grpc.RpcError as exc:
            self.refused = exc

    def close(self) -> None:
        self.call.cancel()
        self.channel.close()


def ended(run: Any, warrant_ids: list[str], seconds: float) -> dict[str, dict[str, Any]]:
    """The entry that ended each release, waiting up to `seconds` for all of them."""
    deadline = time.monotonic() + seconds
    while True:
        last: dict[str, dict[str, Any]] = {}
        for e in run.entries():
            if e["event"] in ("release.stopped", "release.failed", "release.completed"):
                last[e["warrant"]] = e
        if all(w in last for w in warrant_ids) or time.monotonic() > deadline:
            return last
        time.sleep(0.1)


def test_stuck_releases_leave_room_for_a_revocation_and_are_cut(
    start_gateway: Any, clock: Any
) -> None:
    """Four officers open releases and stop reading: two stream (max_releases, with 6 threads
    of which 4 are kept), two are refused; a revocation goes through at once; the stuck calls
    are cut after release_unread_seconds, each audited with the reason."""
    run = start_gateway(large_messages(), max_workers=6, max_releases=8, release_unread_seconds=2.0)
    warrants = {officer: approved(run, clock, officer) for officer in OFFICERS}
    streams = [Unread(run, warrants[o], o) for o in OFFICERS]
    try:
        refused = [s for s in streams if s.refused is not None]
        assert len(refused) == 2
        for stream in refused:
            assert stream.refused is not None
            assert stream.refused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_releases" in (stream.refused.details() or "")
        started = time.monotonic()
        with run.client(REVIEWER) as reviewer:
            reviewer.revoke(warrants[OFFICERS[-1]], "court withdrew it")
        assert time.monotonic() - started < 2.0  # not queued behind the stuck releases
        streaming = [w for s, w in zip(streams, OFFICERS, strict=True) if s.refused is None]
        last = ended(run, [warrants[o] for o in streaming], 30)
        for officer in streaming:
            entry = last[warrants[officer]]
            assert entry["event"] in ("release.failed", "release.stopped")
            assert "read nothing for 2 s" in entry["why"]
    finally:
        for stream in streams:
            stream.close()


def test_one_principal_may_stream_only_so_many_releases(start_gateway: Any, clock: Any) -> None:
    """max_releases_per_principal: alice's second stream is refused while her first streams;
    carol's is not; refused calls leave no release entry."""
    run = start_gateway(large_messages(), max_releases_per_principal=1)
    first_id, second_id = approved(run, clock, "alice"), approved(run, clock, "alice")
    carol_id = approved(run, clock, "carol")
    first = Unread(run, first_id, "alice")
    second = Unread(run, second_id, "alice")
    carol = Unread(run, carol_id, "carol")
    try:
        assert first.refused is None and carol.refused is None
        assert second.refused is not None
        assert second.refused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_releases_per_principal" in (second.refused.details() or "")
        assert not [
            e
            for e in run.entries()
            if e.get("warrant") == second_id and e["event"].startswith("release.")
        ]
    finally:
        for stream in (first, second, carol):
            stream.close()


@pytest.mark.parametrize("setting", ["max_releases", "max_releases_per_principal"])
def test_the_limits_are_settings(setting: str) -> None:
    """Documented settings with defaults (wsg serve --help lists them)."""
    from gateway.settings import Settings, describe_settings

    assert setting in describe_settings()
    assert getattr(Settings(), setting) >= 1
