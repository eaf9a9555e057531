"""Injection attempts in every identifier field: no effect beyond INVALID_ARGUMENT or NOT_FOUND.

An authorized caller sends hostile strings (SQL metacharacters, NUL, very long, confusables) in
each field that names something; the answer is one of the two codes, and the warrant book and
the audit log's warrant entries are as they were."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import ClientError
from gateway.api.v1 import wsg_pb2 as pb
from gateway.audit.files import read_entries
from gateway.testing import make_spec

HOSTILE = [
    "'; DROP TABLE warrants; --",
    "w-0' OR '1'='1",
    "\x00",
    "w-1a2b\x003c4d5e6f7a8b",
    "x" * 10_000,
    "w-1a2b3c4d5e6f7a8\u0431",
    "ｗ-1a2b3c4d5e6f7a8b",
    "../../state.db",
    "%00",
    "w-1a2b3c4d5e6f7a8b\n",
    "*",
    "%",
    "_",
]
TARGETS = (
    [f"account:{h}" for h in HOSTILE]
    + [f"phone:{h}" for h in HOSTILE]
    + [f"email:{h}" for h in HOSTILE]
    + HOSTILE
)


def calls(client: Any, value: str, clock: Any) -> dict[str, Any]:
    spec = make_spec(
        ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=3)
    )
    return {
        "Get.id": lambda: client.get(value),
        "Approve.id": lambda: client.approve(value),
        "Reject.id": lambda: client.reject(value),
        "Revoke.id": lambda: client.revoke(value),
        "Release.warrant_id": lambda: list(client.release(value)),
        "ListEntries.warrant_id": lambda: list(
            client.entries(pb.ListEntriesRequest(warrant_id=value))
        ),
        "Submit.targets": lambda: client.submit(_with_target(spec, value)),
    }


def _with_target(spec: pb.WarrantSpec, target: str) -> pb.WarrantSpec:
    del spec.targets[:]
    spec.targets.append(target)
    return spec


def test_hostile_identifiers_change_nothing(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS)
    with run.client("alice") as alice:
        alice.submit(
            make_spec(
                ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=3)
            )
        )
    book_before = [w.id for w in run.gateway.book.list()]
    acted_before = [
        e for e in read_entries(run.gateway.audit.path) if e["event"].startswith("warrant.")
    ]
    with run.client("bob") as bob:
        for value in TARGETS:
            for field, call in calls(bob, value, clock).items():
                if field == "ListEntries.warrant_id":
                    assert call() == [], (field, value)  # a filter that matches nothing
                    continue
                with pytest.raises(ClientError) as info:
                    call()
                assert info.value.code in (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    grpc.StatusCode.NOT_FOUND,
                ), (field, value, info.value)
    assert [w.id for w in run.gateway.book.list()] == book_before
    entries = read_entries(run.gateway.audit.path)
    acted_after = [
        e
        for e in entries
        if e["event"].startswith("warrant.") and e["event"] != "warrant.submit_refused"
    ]
    assert acted_after == acted_before  # refused submissions are audited as such only
