"""Batches are cut by bytes as well as by count, and a batch audited but not delivered is
audited as such (release.failed naming it).

Records of about 1 MB each: 500 of them would be a 500 MB batch, beyond every client's limit.
The pipeline cuts a batch before MAX_BATCH_BYTES, so a client with gRPC's default receive
limit (4 MiB) gets the whole release; a client with a smaller limit cannot take a batch, and
the log then says which batches were audited but not delivered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.release import pipeline
from gateway.testing import make_spec

BOTH_BACKENDS = True  # every gateway test here also runs on the real PostgreSQL (conftest)

OFFICER, REVIEWER = "alice", "bob"
COUNT, BODY = 12, 990_000


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


def approved(run: Any, clock: Any) -> str:
    with run.client(OFFICER) as officer:
        w = officer.submit(
            make_spec(["account:u1"], ["message_content"], JAN1, FEB1, clock.now.replace(year=2027))
        )
    with run.client(REVIEWER) as reviewer:
        reviewer.approve(w.id)
    return str(w.id)


def stream(run: Any, warrant_id: str, receive_limit: int | None) -> Any:
    options = [] if receive_limit is None else [("grpc.max_receive_message_length", receive_limit)]
    channel = grpc.insecure_channel(run.address, options=options)
    stub = pb_grpc.ReleaseServiceStub(channel)
    call = stub.Release(
        pb.ReleaseRequest(warrant_id=warrant_id, batch_size=500),
        metadata=[("x-wsg-principal", OFFICER)],
    )
    return channel, call


def test_a_default_client_receives_a_release_of_large_records(
    start_gateway: Any, clock: Any
) -> None:
    """gRPC's default receive limit (4 MiB) takes every batch: each is cut by bytes, and every
    record received is covered by its batch's entry."""
    run = start_gateway(large_messages())
    warrant_id = approved(run, clock)
    channel, call = stream(run, warrant_id, None)
    with channel:
        items = list(call)
    batches = [i.batch for i in items if i.WhichOneof("item") == "batch"]
    received = [r.payload for b in batches for r in b.records]
    assert sum(1 for r in received if b"large message" in r) == COUNT
    assert max(b.ByteSize() for b in batches) <= pipeline.MAX_BATCH_BYTES
    entries = {e["index"]: e for e in run.entries()}
    for batch in batches:
        assert [r[0] for r in entries[batch.audit_index]["records"]] == [
            r.id for r in batch.records
        ]
    assert items[-1].WhichOneof("item") == "summary"


def test_a_batch_audited_but_not_delivered_is_audited_as_failed(
    start_gateway: Any, clock: Any
) -> None:
    """A client whose limit is below a batch refuses it (RESOURCE_EXHAUSTED): the log ends the
    release with release.failed naming the batches that were audited but not delivered."""
    run = start_gateway(large_messages())
    warrant_id = approved(run, clock)
    channel, call = stream(run, warrant_id, 1 << 20)
    with channel, pytest.raises(grpc.RpcError) as info:
        list(call)
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    deadline = dt.datetime.now() + dt.timedelta(seconds=20)
    while dt.datetime.now() < deadline:
        events = [e for e in run.entries() if e.get("warrant") == warrant_id]
        if events[-1]["event"] in ("release.failed", "release.stopped"):
            break
    assert events[-1]["event"] == "release.failed", events[-1]
    assert events[-1]["undelivered"]
    batch_entries = {e["batch"] for e in events if e["event"] == "release.batch"}
    assert set(events[-1]["undelivered"]) <= batch_entries
    assert "release.completed" not in [e["event"] for e in events]


def test_a_record_too_large_for_any_batch_is_withheld(
    start_gateway: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record larger than a batch may be is withheld and counted, never audited as released
    and then lost in transport."""
    monkeypatch.setattr(pipeline, "MAX_RECORD_BYTES", 500_000)
    run = start_gateway(large_messages())
    warrant_id = approved(run, clock)
    channel, call = stream(run, warrant_id, None)
    with channel:
        items = list(call)
    summary = items[-1].summary
    assert summary.withheld[pipeline.RECORD_TOO_LARGE] == COUNT
    received = [
        r.payload for i in items if i.WhichOneof("item") == "batch" for r in i.batch.records
    ]
    assert not any(b"large message" in r for r in received)
