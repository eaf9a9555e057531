"""OpenTelemetry traces: off unless OTEL_* asks; a release's trace shows its store, decision,
audit and send spans under the RPC's span, which continues an incoming `traceparent`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.api.auth import PRINCIPAL_HEADER
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.testing import make_spec
from gateway.tracing import TracingError, provider_from_env

CATEGORIES = ["message_content", "message_metadata", "logins", "contacts", "memberships"]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def approved(run: Any, clock: Any) -> str:
    with run.client("alice") as alice:
        w = alice.submit(
            make_spec(["account:u1"], CATEGORIES, JAN1, FEB1, clock.now + dt.timedelta(days=30))
        )
    with run.client("bob") as bob:
        bob.approve(w.id)
    return w.id


def release_with_traceparent(run: Any, warrant_id: str) -> list[pb.ReleaseResponse]:
    with grpc.insecure_channel(run.address) as channel:
        stream = pb_grpc.ReleaseServiceStub(channel).Release(
            pb.ReleaseRequest(warrant_id=warrant_id, batch_size=2),
            metadata=[
                (PRINCIPAL_HEADER, "alice"),
                ("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01"),
                ("x-request-id", "trace-test-1"),
            ],
        )
        return list(stream)


def descendants(root: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    found, frontier = [], {root.context.span_id}
    while frontier:
        children = [s for s in spans if s.parent and s.parent.span_id in frontier]
        found += children
        frontier = {s.context.span_id for s in children}
    return found


class TestReleaseTrace:
    def test_a_release_shows_store_decision_audit_and_send_spans(
        self, start_gateway: Any, clock: Any, spans: Any
    ) -> None:
        """Under the Release RPC's span: store.count, store.read per batch, policy.decide,
        audit.append with its fsync per entry, and send per batch."""
        provider, exporter = spans
        run = start_gateway(ROWS, tracer_provider=provider)
        warrant_id = approved(run, clock)
        exporter.clear()
        items = release_with_traceparent(run, warrant_id)
        batches = [i for i in items if i.WhichOneof("item") == "batch"]
        finished = list(exporter.get_finished_spans())
        (rpc,) = [s for s in finished if s.name == "/wsg.v1.ReleaseService/Release"]
        assert format(rpc.context.trace_id, "032x") == TRACE_ID  # traceparent honoured
        assert rpc.parent is not None and format(rpc.parent.span_id, "016x") == PARENT_ID
        assert rpc.attributes["wsg.request_id"] == "trace-test-1"
        names = [s.name for s in descendants(rpc, finished)]
        assert names.count("store.count") == 1
        # a read span per batch, and one more when the last read only finds the store's end
        assert len(batches) <= names.count("store.read") <= len(batches) + 1
        reads = [s for s in finished if s.name == "store.read"]
        # a part the policy withholds whole (other members' messages) is counted, not read
        skips = [s for s in finished if s.name == "store.skip"]
        assert skips and all(s.attributes["wsg.records"] > 0 for s in skips)
        read = sum(s.attributes["wsg.records_read"] for s in reads)
        skipped = sum(s.attributes["wsg.records"] for s in skips)
        assert read + skipped >= batches[-1].batch.examined
        assert names.count("send") == len(batches)
        assert names.count("policy.decide") >= 1
        # release.started, one entry per batch, release.completed: each appended and fsynced
        assert names.count("audit.append") == len(batches) + 2
        assert names.count("audit.fsync") == len(batches) + 2
        sends = [s for s in finished if s.name == "send"]
        assert sorted(s.attributes["wsg.batch"] for s in sends) == list(range(len(batches)))

    def test_no_provider_no_spans(self, start_gateway: Any, clock: Any, spans: Any) -> None:
        """Tracing is off by default: a gateway given no provider records nothing anywhere."""
        _, exporter = spans
        run = start_gateway(ROWS)
        release_with_traceparent(run, approved(run, clock))
        assert exporter.get_finished_spans() == ()


class TestSettings:
    @pytest.mark.parametrize(
        "environ",
        [
            {},
            {"OTEL_TRACES_EXPORTER": "none"},
            {"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"},
        ],
    )
    def test_off_unless_an_exporter_is_named(self, environ: dict[str, str]) -> None:
        """No OTEL_TRACES_EXPORTER, `none`, or the SDK disabled: no provider at all."""
        assert provider_from_env(environ) is None

    def test_an_exporter_turns_it_on(self) -> None:
        provider = provider_from_env({"OTEL_TRACES_EXPORTER": "console"})
        assert isinstance(provider, TracerProvider)
        provider.shutdown()

    def test_an_unknown_exporter_is_named(self) -> None:
        with pytest.raises(TracingError, match="zipkin2"):
            provider_from_env({"OTEL_TRACES_EXPORTER": "zipkin2"})
