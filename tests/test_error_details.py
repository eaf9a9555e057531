"""Errors carry google.rpc.Status details, as grpcio-status (and Go, Node, Java clients) read
them: an ErrorInfo with a stable reason, and for bad input a BadRequest naming the field; the
message text is the human one, the same as the status's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS
from google.rpc.error_details_pb2 import BadRequest, ErrorInfo
from grpc_status import rpc_status

from gateway.api.auth import PRINCIPAL_HEADER
from gateway.api.client import ClientError
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.testing import make_spec


def spec(clock: Any, categories: list[str] | None = None) -> pb.WarrantSpec:
    return make_spec(
        ["account:u1"],
        categories or ["message_content"],
        JAN1,
        FEB1,
        clock.now + dt.timedelta(days=30),
    )


def refused(call: Any, request: Any, principal: str) -> tuple[grpc.RpcError, Any]:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, metadata=[(PRINCIPAL_HEADER, principal), ("x-request-id", "err-1")])
    status = rpc_status.from_call(raised.value)
    assert status is not None, "no google.rpc.Status in the trailers"
    return raised.value, status


def unpacked(status: Any) -> tuple[ErrorInfo, BadRequest | None]:
    info, bad = ErrorInfo(), BadRequest()
    found_info = found_bad = False
    for detail in status.details:
        if detail.Is(ErrorInfo.DESCRIPTOR):
            found_info = detail.Unpack(info)
        elif detail.Is(BadRequest.DESCRIPTOR):
            found_bad = detail.Unpack(bad)
    assert found_info, "no ErrorInfo"
    return info, bad if found_bad else None


class TestDetails:
    def test_bad_input_names_the_field(self, start_gateway: Any, clock: Any) -> None:
        """An unknown category: INVALID_ARGUMENT, BadRequest on spec.categories[1]."""
        run = start_gateway(ROWS)
        with grpc.insecure_channel(run.address) as channel:
            error, status = refused(
                pb_grpc.WarrantServiceStub(channel).Submit,
                pb.WarrantServiceSubmitRequest(spec=spec(clock, ["logins", "diaries"])),
                "alice",
            )
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert status.message == error.details() and "diaries" in error.details()
        info, bad = unpacked(status)
        assert (info.domain, info.reason) == ("wsg.v1", "INVALID_ARGUMENT")
        assert bad is not None
        assert [v.field for v in bad.field_violations] == ["spec.categories[1]"]
        assert bad.field_violations[0].description == error.details()
        # the request id survives the details in the trailers
        assert ("x-request-id", "err-1") in error.trailing_metadata()

    @pytest.mark.parametrize(
        ("case", "code", "reason"),
        [
            ("two-person rule", grpc.StatusCode.PERMISSION_DENIED, "TWO_PERSON_RULE"),
            ("no role", grpc.StatusCode.PERMISSION_DENIED, "API_POLICY_DENIED"),
            ("no such warrant", grpc.StatusCode.NOT_FOUND, "WARRANT_NOT_FOUND"),
            ("wrong state", grpc.StatusCode.FAILED_PRECONDITION, "WARRANT_STATE"),
            ("no identity", grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
        ],
    )
    def test_a_stable_reason_per_refusal(
        self, start_gateway: Any, clock: Any, case: str, code: grpc.StatusCode, reason: str
    ) -> None:
        """Callers switch on ErrorInfo.reason, not on the message text."""
        run = start_gateway(ROWS)
        with run.client("alice") as alice:
            w = alice.submit(spec(clock))
        if case == "wrong state":
            with run.client("bob") as bob:
                bob.approve(w.id)
        who = {"two-person rule": "alice", "no role": "mallory", "no identity": ""}.get(case, "bob")
        target = "w-00000000deadbeef" if case == "no such warrant" else w.id
        with grpc.insecure_channel(run.address) as channel:
            call = pb_grpc.WarrantServiceStub(channel).Approve
            request = pb.WarrantServiceApproveRequest(id=target)
            if who:
                error, status = refused(call, request, who)
            else:
                with pytest.raises(grpc.RpcError) as raised:
                    call(request)
                error, status = raised.value, rpc_status.from_call(raised.value)
        assert error.code() is code
        info, bad = unpacked(status)
        assert info.reason == reason and bad is None
        assert status.message == error.details()

    def test_the_client_reads_reason_and_field(self, start_gateway: Any, clock: Any) -> None:
        """The CLI's client carries them on ClientError, beside the same one-line message."""
        run = start_gateway(ROWS)
        with run.client("alice") as alice, pytest.raises(ClientError) as raised:
            alice.submit(spec(clock, ["diaries"]))
        assert raised.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert (raised.value.reason, raised.value.field) == (
            "INVALID_ARGUMENT",
            "spec.categories[0]",
        )
        assert "diaries" in raised.value.message
