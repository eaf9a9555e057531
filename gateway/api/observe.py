"""What every call leaves behind for operators: its metrics, its access-log line, its request id.

One server interceptor wraps every RPC the main port serves. Per call it
- takes the request id from the `x-request-id` metadata (1 to 128 printable ASCII characters)
  or makes one, returns it in the trailing metadata, and makes it the call's context
  (gateway.logs.REQUEST_ID): every log line and every audit entry the call writes carries it;
- counts the call by method and status code and times it (gateway.metrics);
- writes one JSON access-log line: principal, method, status, latency, request id;
- refuses a request that does not decode (invalid UTF-8 in a string field) with
  INVALID_ARGUMENT naming the field, where grpcio would answer INTERNAL (gateway.api.decode).

The status is read from the context after the handler ran: the servicers' one error translation
(gateway.api.calls) sets it, so the interceptor never guesses from an exception.
"""

from __future__ import annotations

import re
import time
import typing
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import grpc
import structlog
from opentelemetry import trace
from opentelemetry.trace import TracerProvider

from gateway import logs, metrics, tracing
from gateway.api import calls, decode
from gateway.api.auth import Authenticator
from gateway.errors import GatewayError, InvalidArgument, Unavailable

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[!-~]{1,128}$")
access_log = structlog.get_logger("wsg.access")
# Probes ask for health every few seconds: counted, but not one log line each.
QUIET_SERVICES = frozenset({"grpc.health.v1.Health"})


def request_id_from(metadata: Any) -> str:
    """The caller's x-request-id if it is usable, else a new one."""
    for key, value in metadata or ():
        if key == REQUEST_ID_HEADER and isinstance(value, str) and _REQUEST_ID.match(value):
            return value
    return str(uuid.uuid4())


def _service(method: str) -> str:
    return split_method(method)[0]


def split_method(method: str) -> tuple[str, str]:
    """'/wsg.v1.WarrantService/Submit' -> ('wsg.v1.WarrantService', 'Submit')."""
    service, _, name = method.lstrip("/").rpartition("/")
    return service or "unknown", name or "unknown"


@typing.runtime_checkable
class _KnowsItsCode(Protocol):
    """grpc's server context tells the code a call ended with (missing from its type stubs)."""

    def code(self) -> grpc.StatusCode | int | None: ...


class _Call:
    """One call in progress: its id, method, start time; `finish` records it."""

    def __init__(
        self,
        method: str,
        context: grpc.ServicerContext,
        auth: Authenticator,
        provider: TracerProvider | None,
        refusing: str | None = None,
    ) -> None:
        self.service, self.name = split_method(method)
        self.method = method
        self.context = context
        self.auth = auth
        self.request_id = request_id_from(context.invocation_metadata())
        self.started = time.perf_counter()
        context.set_trailing_metadata(((REQUEST_ID_HEADER, self.request_id),))
        self._token = logs.REQUEST_ID.set(self.request_id)
        self._tracer = (
            None if provider is None else tracing.TRACER.set(provider.get_tracer(tracing.NAME))
        )
        structlog.contextvars.bind_contextvars(request_id=self.request_id)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("wsg.request_id", self.request_id)
        self.refusing = refusing

    def refuse_if_draining(self) -> None:
        """UNAVAILABLE (retry on another replica) when the gateway takes no new calls."""
        if self.refusing is not None:
            refusal = Unavailable(f"{self.refusing}; retry elsewhere", reason="DRAINING")
            calls.abort(self.context, refusal, self.name)

    def refuse_if_undecodable(self, request: object) -> None:
        """INVALID_ARGUMENT naming the field when the request did not parse (gateway.api.decode)."""
        if isinstance(request, decode.Undecodable):
            calls.abort(self.context, InvalidArgument(request.why), self.name)

    def finish(self, failed: bool) -> None:
        elapsed = time.perf_counter() - self.started
        code = self.context.code() if isinstance(self.context, _KnowsItsCode) else None
        if code is None:
            if not failed:
                code = grpc.StatusCode.OK
            elif not self.context.is_active():
                code = grpc.StatusCode.CANCELLED  # the client went away mid-stream
            else:
                code = grpc.StatusCode.UNKNOWN
        elif not isinstance(code, grpc.StatusCode):  # a bare int from set_code
            code = next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
        metrics.CALLS_HANDLED.labels(self.service, self.name, code.name).inc()
        metrics.CALL_SECONDS.labels(self.service, self.name).observe(elapsed)
        try:
            if self.service not in QUIET_SERVICES:
                access_log.info(
                    "call",
                    request_id=self.request_id,
                    method=self.method,
                    principal=self._principal(),
                    code=code.name,
                    latency_ms=round(elapsed * 1000, 3),
                    peer=self.context.peer(),
                )
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            logs.REQUEST_ID.reset(self._token)
            if self._tracer is not None:
                tracing.TRACER.reset(self._tracer)

    def _principal(self) -> str | None:
        try:
            return self.auth.authenticate(self.context)
        except GatewayError:
            return None


class CallObserver(grpc.ServerInterceptor):
    """The interceptor (see the module's docstring)."""

    def __init__(
        self,
        auth: Authenticator,
        provider: TracerProvider | None = None,
        refusing: Callable[[], str | None] = lambda: None,
    ) -> None:
        """`refusing` says why new calls are refused (a draining gateway), or None."""
        self._auth = auth
        self._provider = provider
        self._refusing = refusing

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None:
            return None
        method: str = details.method
        auth, provider = self._auth, self._provider
        refusing = None if _service(method) in QUIET_SERVICES else self._refusing()
        if handler.unary_unary is not None:
            inner_unary = handler.unary_unary

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                call = _Call(method, context, auth, provider, refusing)
                failed = True
                try:
                    call.refuse_if_draining()
                    call.refuse_if_undecodable(request)
                    response = inner_unary(request, context)
                    failed = False
                    return response
                finally:
                    call.finish(failed)

            return grpc.unary_unary_rpc_method_handler(
                unary, decode.tolerant(handler.request_deserializer), handler.response_serializer
            )
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                call = _Call(method, context, auth, provider, refusing)
                failed = True
                try:
                    call.refuse_if_draining()
                    call.refuse_if_undecodable(request)
                    yield from inner_stream(request, context)
                    failed = False
                finally:
                    call.finish(failed)

            return grpc.unary_stream_rpc_method_handler(
                stream, decode.tolerant(handler.request_deserializer), handler.response_serializer
            )
        if handler.stream_stream is not None:  # server reflection
            inner_bidi = handler.stream_stream

            def bidi(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
                call = _Call(method, context, auth, provider, refusing)
                failed = True
                try:
                    call.refuse_if_draining()
                    yield from inner_bidi(requests, context)
                    failed = False
                finally:
                    call.finish(failed)

            return grpc.stream_stream_rpc_method_handler(
                bidi, handler.request_deserializer, handler.response_serializer
            )
        return handler  # no client-streaming unary-response RPCs are served
