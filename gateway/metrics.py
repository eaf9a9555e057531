"""The gateway's Prometheus metrics: what each one measures, defined once.

Counters and histograms live for the process (one gateway per process in production); each
`Gateway` serves them on its own registry (`registry()`) together with the gauges read from its
state when scraped (tree size, policy version, certificate expiry: gateway.api.metrics). The
call metrics use the names of go-grpc-prometheus, which Grafana dashboards and alert rules
written for gRPC services already expect.

Where each is measured: calls in the API interceptor (gateway.api.observe), records in the
release pipeline, appends and fsyncs in the audit logs (gateway.backends.*.audit_log).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets in seconds: an fsync or a unary call is milliseconds; a release is minutes.
FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CALLS = (*FAST, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

CALLS_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
    registry=None,
)
CALL_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from an RPC's start to its status (a release: the whole stream).",
    ["grpc_service", "grpc_method"],
    buckets=CALLS,
    registry=None,
)
RELEASES_IN_FLIGHT = Gauge(
    "wsg_releases_in_flight", "Releases streaming now on this replica.", registry=None
)
RECORDS_RELEASED = Counter(
    "wsg_records_released_total",
    "Records released (audited, then sent), by category and effect.",
    ["category", "effect"],
    registry=None,
)
RECORDS_WITHHELD = Counter(
    "wsg_records_withheld_total",
    "Records a release looked at and withheld, by reason.",
    ["reason"],
    registry=None,
)
AUDIT_APPEND_SECONDS = Histogram(
    "wsg_audit_append_seconds",
    "Time to append entries to the audit log durably (render, write, fsync or commit).",
    ["backend"],
    buckets=FAST,
    registry=None,
)
AUDIT_FSYNC_SECONDS = Histogram(
    "wsg_audit_fsync_seconds",
    "Time the audit log waits for durability: fsync of audit.log, or COMMIT in PostgreSQL.",
    ["backend"],
    buckets=FAST,
    registry=None,
)
AUDIT_ENTRIES = Counter(
    "wsg_audit_entries_total", "Audit entries written by this process.", ["backend"], registry=None
)

PROCESS_METRICS = (
    CALLS_HANDLED,
    CALL_SECONDS,
    RELEASES_IN_FLIGHT,
    RECORDS_RELEASED,
    RECORDS_WITHHELD,
    AUDIT_APPEND_SECONDS,
    AUDIT_FSYNC_SECONDS,
    AUDIT_ENTRIES,
)


def registry() -> CollectorRegistry:
    """A registry holding every process metric (one per gateway; it adds its own gauges)."""
    reg = CollectorRegistry(auto_describe=True)
    for metric in PROCESS_METRICS:
        reg.register(metric)
    return reg


@contextlib.contextmanager
def timed(histogram: Histogram, *labels: str) -> Iterator[None]:
    """Observe the block's duration (also when it raises: a slow failure is still slow)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        histogram.labels(*labels).observe(time.perf_counter() - start)
