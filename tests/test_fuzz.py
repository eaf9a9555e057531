"""Fuzzing every request message: hostile or random input gets a defined status, never an
internal error, never a release, and the server stays up.

Messages are generated from their descriptors, so a field added to the proto is fuzzed too.
Strings mix random text with known-hostile shapes (SQL metacharacters, NUL, very long, mixed
scripts and confusables, path traversal); timestamps include values outside what a datetime holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS
from google.protobuf.descriptor import FieldDescriptor as F
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.api.auth import PRINCIPAL_HEADER
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.testing import make_spec

DEFINED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
HOSTILE = [
    "'; DROP TABLE warrants; --",
    '" OR 1=1 --',
    "account:u1' OR '1'='1",
    "\x00",
    "u1\x00u2",
    "x" * 5000,
    "аccount:u1",
    "account:u1\u200b",
    "ａｃｃｏｕｎｔ:u1",
    "../../etc/passwd",
    "w-" + "0" * 16,
    "%s%s%n",
    "{{7*7}}",
    "account:",
    ":",
    "phone:+0",
    "email:@",
    "\ud7ff",
    "message_content",
    "subscriber\n",
    "w-1a2b3c4d5e6f7a8b",
    "🙂" * 100,
]
TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
)
INTS = {
    F.TYPE_UINT32: st.integers(0, 2**32 - 1),
    F.TYPE_UINT64: st.integers(0, 2**64 - 1),
    F.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    F.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
}


def _value(field: Any, depth: int) -> st.SearchStrategy[Any]:
    if field.type == F.TYPE_STRING:
        return TEXT
    if field.type == F.TYPE_BYTES:
        return st.binary(max_size=100)
    if field.type == F.TYPE_BOOL:
        return st.booleans()
    if field.type == F.TYPE_ENUM:
        return st.one_of(
            st.sampled_from([v.number for v in field.enum_type.values]), st.integers(-5, 50)
        )
    if field.type in INTS:
        return INTS[field.type]
    if field.type == F.TYPE_MESSAGE:
        return message(field.message_type._concrete_class, depth + 1)
    raise AssertionError(f"no strategy for {field.full_name}")


def message(cls: type, depth: int = 0) -> st.SearchStrategy[Any]:
    """Any instance of a request message: each field absent or random (recursively)."""
    if cls.DESCRIPTOR.full_name == "google.protobuf.Timestamp":
        return st.builds(
            lambda s, n: cls(seconds=s, nanos=n),
            st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(0, 4_102_444_800)),
            st.integers(-(2**31), 2**31 - 1),
        )
    fields = {}
    for field in cls.DESCRIPTOR.fields:
        if depth > 3:
            break
        is_map = field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry
        if field.is_repeated and not is_map:
            fields[field.name] = st.lists(_value(field, depth), max_size=6)
        elif is_map:
            entry = field.message_type
            fields[field.name] = st.dictionaries(
                TEXT, _value(entry.fields_by_name["value"], depth), max_size=3
            )
        else:
            fields[field.name] = _value(field, depth)

    @st.composite
    def build(draw: Any) -> Any:
        msg = cls()
        for name, strategy in fields.items():
            if draw(st.booleans()):
                value = draw(strategy)
                target = getattr(msg, name)
                if isinstance(value, dict):
                    target.update(value)
                elif isinstance(value, list):
                    if value and hasattr(value[0], "SerializeToString"):
                        for item in value:
                            target.add().CopyFrom(item)
                    else:
                        target.extend(value)
                elif hasattr(value, "SerializeToString"):
                    target.CopyFrom(value)
                else:
                    setattr(msg, name, value)
        return msg

    return build()


def _services() -> list[tuple[str, str, type, bool]]:
    out = []
    for service in pb.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            out.append(
                (
                    service.name,
                    method.name,
                    method.input_type._concrete_class,
                    method.output_type.name in ("ReleaseResponse", "ListEntriesResponse"),
                )
            )
    return out


METHODS = _services()


@pytest.fixture
def target(start_gateway: Any, clock: Any) -> Iterator[dict[str, Any]]:
    """A gateway to fuzz; when the fuzzing is over it must still be serving (checked on the
    same server, at teardown: a test that asked a fresh one could not fail)."""
    run = start_gateway(ROWS)
    with run.client("alice") as alice:
        w = alice.submit(
            make_spec(
                ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=30)
            )
        )
    with run.client("bob") as bob:
        bob.approve(w.id)
    channel = grpc.insecure_channel(run.address)
    yield {"run": run, "approved": w.id, "channel": channel}
    health = health_pb2_grpc.HealthStub(channel)
    assert (
        health.Check(health_pb2.HealthCheckRequest()).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    channel.close()


def _call(
    channel: grpc.Channel, service: str, method: str, request: Any, streaming: bool, principal: str
) -> tuple[grpc.StatusCode, list[Any]]:
    stub = getattr(pb_grpc, f"{service}Stub")(channel)
    metadata = ((PRINCIPAL_HEADER, principal),)
    try:
        if streaming:
            return grpc.StatusCode.OK, list(
                getattr(stub, method)(request, metadata=metadata, timeout=20)
            )
        return grpc.StatusCode.OK, [getattr(stub, method)(request, metadata=metadata, timeout=20)]
    except grpc.RpcError as exc:
        assert "Traceback" not in (exc.details() or ""), exc.details()
        return exc.code(), []


@pytest.mark.parametrize(
    "service, method, request_cls, streaming", METHODS, ids=[f"{s}.{m}" for s, m, _, _ in METHODS]
)
@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_request_message(
    target: dict[str, Any],
    service: str,
    method: str,
    request_cls: type,
    streaming: bool,
    data: st.DataObject,
) -> None:
    request = data.draw(message(request_cls), label="request")
    principal = data.draw(
        st.one_of(st.sampled_from(["alice", "bob", "mallory"]), TEXT), label="principal"
    )
    if not (
        principal.isascii() and principal.isprintable() and principal.strip() == principal != ""
    ):
        principal = "mallory"  # metadata must be printable ASCII for grpc to send it at all
    code, replies = _call(target["channel"], service, method, request, streaming, principal)
    assert code in DEFINED, (code, request)
    if method == "Release":
        released = [r for r in replies if r.WhichOneof("item") == "batch" and r.batch.records]
        assert not released or request.warrant_id == target["approved"], request
