"""One access-log line per call, a request id taken from `x-request-id` or made, returned in
the trailing metadata and written into the call's audit entries; library logging as JSON."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import subprocess
import sys
import uuid
from typing import Any

import grpc
import pytest
import structlog
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.auth import PRINCIPAL_HEADER
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.audit.events import check_entry
from gateway.testing import make_spec

pytestmark = pytest.mark.usefixtures("info_logging")

BOTH_BACKENDS = True  # the id must reach entries written through either backend's group commit


def spec(clock: Any) -> pb.WarrantSpec:
    return make_spec(
        ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=30)
    )


def metadata(principal: str, request_id: str | None = None) -> list[tuple[str, str]]:
    pairs = [(PRINCIPAL_HEADER, principal)]
    return pairs + ([("x-request-id", request_id)] if request_id else [])


def trailing_id(call: Any) -> str:
    (value,) = [v for k, v in call.trailing_metadata() if k == "x-request-id"]
    return str(value)


class TestRequestIds:
    def test_the_callers_id_comes_back_and_is_in_the_calls_entries(
        self, start_gateway: Any, clock: Any
    ) -> None:
        """Submit with x-request-id: the trailer returns it; warrant.submitted carries it."""
        run = start_gateway(ROWS)
        with grpc.insecure_channel(run.address) as channel:
            stub = pb_grpc.WarrantServiceStub(channel)
            warrant, call = stub.Submit.with_call(
                pb.WarrantServiceSubmitRequest(spec=spec(clock)),
                metadata=metadata("alice", "ticket-42/submit"),
            )
            assert trailing_id(call) == "ticket-42/submit"
            _, call = stub.Approve.with_call(
                pb.WarrantServiceApproveRequest(id=warrant.id), metadata=metadata("bob")
            )
            made = trailing_id(call)
        assert uuid.UUID(made)  # none sent: one is made
        by_event = {e["event"]: e for e in run.entries()}
        assert by_event["warrant.submitted"]["request_id"] == "ticket-42/submit"
        assert by_event["warrant.approved"]["request_id"] == made

    def test_concurrent_calls_keep_their_own_ids(self, start_gateway: Any, clock: Any) -> None:
        """Group commit runs waiting callers' actions on the leader's thread: each entry still
        names the id of the call it belongs to."""
        run = start_gateway(ROWS)

        def submit(i: int) -> tuple[str, str]:
            with grpc.insecure_channel(run.address) as channel:
                warrant = pb_grpc.WarrantServiceStub(channel).Submit(
                    pb.WarrantServiceSubmitRequest(spec=spec(clock)),
                    metadata=metadata("alice", f"concurrent-{i}"),
                )
            return warrant.id, f"concurrent-{i}"

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            made = dict(pool.map(submit, range(36)))
        submitted = [e for e in run.entries() if e["event"] == "warrant.submitted"]
        logged = {e["warrant"]: e["request_id"] for e in submitted}
        assert logged == made

    def test_a_refused_call_returns_its_id_and_audits_it(
        self, start_gateway: Any, clock: Any
    ) -> None:
        """An error status still carries the id; the api.denied entry names it."""
        run = start_gateway(ROWS)
        with grpc.insecure_channel(run.address) as channel:
            stub = pb_grpc.WarrantServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Submit(
                    pb.WarrantServiceSubmitRequest(spec=spec(clock)),
                    metadata=metadata("mallory", "probe-1"),
                )
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert trailing_id(refused.value) == "probe-1"
        denied = [e for e in run.entries() if e["event"] == "api.denied"]
        assert [e["request_id"] for e in denied] == ["probe-1"]

    @pytest.mark.parametrize("bad", ["", "x" * 129, "has space"])
    def test_an_unusable_id_is_replaced(self, start_gateway: Any, bad: str) -> None:
        """Empty, too long, or with characters outside printable ASCII: a fresh id instead.
        (gRPC itself refuses control characters in metadata before they reach us.)"""
        run = start_gateway(ROWS)
        with grpc.insecure_channel(run.address) as channel:
            stub = pb_grpc.WarrantServiceStub(channel)
            _, call = stub.List.with_call(
                pb.WarrantServiceListRequest(), metadata=[*metadata("alice"), ("x-request-id", bad)]
            )
        assert uuid.UUID(trailing_id(call))

    def test_entries_without_a_request_id_still_check(self) -> None:
        """Logs written before the field existed match their kind; a wrong type does not."""
        old = {
            "event": "release.refused",
            "index": 3,
            "prev": "0" * 64,
            "ts": "2026-01-01T00:00:00Z",
            "warrant": "w-0123456789abcdef",
            "principal": "alice",
            "state": "REVOKED",
        }
        assert check_entry(old) == []
        assert check_entry({**old, "request_id": "r-1"}) == []
        assert check_entry({**old, "request_id": 7}) != []


class TestAccessLog:
    def test_one_line_per_call_with_principal_method_status_latency_id(
        self, start_gateway: Any, clock: Any
    ) -> None:
        """Submit, a refused Approve, a Release: three lines, each complete."""
        run = start_gateway(ROWS)
        with structlog.testing.capture_logs() as logs:
            with run.client("alice") as alice:
                w = alice.submit(spec(clock))
            with grpc.insecure_channel(run.address) as channel:
                with pytest.raises(grpc.RpcError):
                    pb_grpc.WarrantServiceStub(channel).Approve(
                        pb.WarrantServiceApproveRequest(id=w.id),
                        metadata=metadata("alice", "self-approve"),
                    )
            with run.client("bob") as bob:
                bob.approve(w.id)
            with run.client("alice") as alice:
                list(alice.release(w.id))
        calls = [e for e in logs if e.get("event") == "call"]
        assert [(c["method"].rsplit("/", 1)[1], c["principal"], c["code"]) for c in calls] == [
            ("Submit", "alice", "OK"),
            ("Approve", "alice", "PERMISSION_DENIED"),
            ("Approve", "bob", "OK"),
            ("Release", "alice", "OK"),
        ]
        assert calls[1]["request_id"] == "self-approve"
        for c in calls:
            assert c["latency_ms"] >= 0 and c["request_id"] and c["log_level"] == "info"

    def test_bad_input_naming_a_person_stays_out_of_the_server_log(
        self, start_gateway: Any, clock: Any
    ) -> None:
        """A target that matches no account is refused to the caller with its value, but the
        server's log lines (the access line and the refusal) name the field, not the number."""
        run = start_gateway(ROWS)
        phone = "+821099998888"
        bad = make_spec(
            [f"phone:{phone}"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=1)
        )
        with structlog.testing.capture_logs() as logs:
            with grpc.insecure_channel(run.address) as channel:
                with pytest.raises(grpc.RpcError) as refused:
                    pb_grpc.WarrantServiceStub(channel).Submit(
                        pb.WarrantServiceSubmitRequest(spec=bad), metadata=metadata("alice")
                    )
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert phone in refused.value.details()  # the caller is told what was wrong
        (line,) = [e for e in logs if e.get("event") == "call refused"]
        assert line["field"] == "spec.targets[0]" and line["reason"] == "INVALID_ARGUMENT"
        assert [e for e in logs if phone in json.dumps(e)] == []

    def test_an_unauthenticated_call_is_logged_without_a_principal(
        self, start_gateway: Any
    ) -> None:
        run = start_gateway(ROWS)
        with structlog.testing.capture_logs() as logs:
            with grpc.insecure_channel(run.address) as channel:
                with pytest.raises(grpc.RpcError):
                    pb_grpc.WarrantServiceStub(channel).List(pb.WarrantServiceListRequest())
        (call,) = [e for e in logs if e.get("event") == "call"]
        assert call["principal"] is None and call["code"] == "UNAUTHENTICATED"


def test_library_logging_is_rendered_as_the_same_json() -> None:
    """grpc's Python loggers (and any stdlib logger) come out as JSON lines, not text."""
    script = (
        "import logging, structlog\n"
        "from gateway.logs import configure_logging\n"
        "configure_logging()\n"
        "logging.getLogger('grpc._server').error('Exception calling application: %s', 'x')\n"
        "structlog.get_logger('wsg.server').info('ours')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [(line.get("logger"), line["event"]) for line in lines] == [
        ("grpc._server", "Exception calling application: x"),
        (None, "ours"),
    ]
