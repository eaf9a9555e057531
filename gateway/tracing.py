"""OpenTelemetry traces: off unless the standard OTEL_* settings ask for them.

`wsg serve` calls `provider_from_env()`: with OTEL_TRACES_EXPORTER=otlp (or console) it builds a
TracerProvider the usual way (service name and resource from OTEL_SERVICE_NAME and
OTEL_RESOURCE_ATTRIBUTES, sampler from OTEL_TRACES_SAMPLER, endpoint and headers from
OTEL_EXPORTER_OTLP_*, batching from OTEL_BSP_*); without it, or with OTEL_SDK_DISABLED=true,
nothing is traced and no interceptor is added. The gateway hands the provider to OpenTelemetry's
gRPC server instrumentation (which honours an incoming `traceparent`) and makes its tracer the
call's (`TRACER`): the release pipeline's spans (store, decision, audit, send) are children of
the RPC's span.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)

NAME = "wsg"  # the instrumentation scope of the gateway's own spans
DEFAULT_SERVICE = "wsg"
_NO_OP = trace.NoOpTracer()

# The tracer of the call this thread serves; a no-op outside traced calls.
TRACER: contextvars.ContextVar[trace.Tracer] = contextvars.ContextVar("wsg_tracer", default=_NO_OP)


class TracingError(ValueError):
    """An OTEL_* setting the gateway cannot use (the message names it)."""


def _exporter(name: str) -> SpanExporter:
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        return ConsoleSpanExporter()
    raise TracingError(f"OTEL_TRACES_EXPORTER: {name!r} is not one of otlp, console, none")


def provider_from_env(environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """The TracerProvider the OTEL_* environment asks for, or None (tracing off)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    if not names or names == ["none"]:
        return None
    resource = Resource.create(
        {"service.name": environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE}
    )
    provider = TracerProvider(resource=resource)
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    return provider


def tracer() -> trace.Tracer:
    """The current call's tracer (a no-op when tracing is off)."""
    return TRACER.get()


@contextlib.contextmanager
def using(provider: trace.TracerProvider | None) -> Iterator[None]:
    """Make `provider`'s tracer the current one for the block (a call)."""
    if provider is None:
        yield
        return
    token = TRACER.set(provider.get_tracer(NAME))
    try:
        yield
    finally:
        TRACER.reset(token)
