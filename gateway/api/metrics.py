"""`/metrics` for Prometheus: the process metrics (gateway.metrics) and this gateway's state.

Served over plain HTTP on `metrics_listen`, a port of its own: Prometheus scrapes HTTP/1.1, while
the health port (`health_listen`) speaks gRPC over HTTP/2 for Kubernetes' gRPC probes and
`wsg health`; one port for both would need a listener that sniffs the protocol, code we would
own for no gain. The state gauges are read when scraped, never cached, so a scrape is the truth.
"""

from __future__ import annotations

import dataclasses
import pathlib
import threading
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from cryptography import x509
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway import metrics
from gateway.api.auth import split_address
from gateway.errors import InvalidArgument


def certificate_expiry(pem: bytes) -> float:
    """notAfter of a PEM certificate, in seconds since the epoch."""
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc.timestamp()


@dataclasses.dataclass(frozen=True)
class GatewayState:
    """What the state gauges read, each a callable so that a scrape sees the present."""

    tree_size: Callable[[], int]
    policy_version: Callable[[], str]
    policy_table_version: Callable[[], int | None]
    serving: Callable[[], bool]
    # certificate name ("server", "ca") -> notAfter (epoch seconds) of the one in use
    certificates: dict[str, float]


class GatewayCollector(Collector):
    def __init__(self, state: GatewayState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        state = self._state
        yield GaugeMetricFamily(
            "wsg_audit_tree_size", "Entries in the audit log (its Merkle tree).", state.tree_size()
        )
        yield InfoMetricFamily(
            "wsg_policy",
            "The release policy in force (its version, as release.batch entries name it).",
            value={"version": state.policy_version()},
        )
        table = state.policy_table_version()
        if table is not None:
            yield GaugeMetricFamily(
                "wsg_policy_table_version",
                "The shared policy table's change counter (PostgreSQL).",
                table,
            )
        yield GaugeMetricFamily(
            "wsg_serving", "1 while health says SERVING; 0 draining or broken.", state.serving()
        )
        expiry = GaugeMetricFamily(
            "wsg_certificate_expiry_timestamp_seconds",
            "When the TLS certificate the gateway serves with (or its CA) expires.",
            labels=["certificate"],
        )
        for name, not_after in sorted(state.certificates.items()):
            expiry.add_metric([name], not_after)
        yield expiry


class MetricsServer:
    """The HTTP listener for /metrics (prometheus_client's, in a daemon thread)."""

    def __init__(self, address: str, state: GatewayState) -> None:
        host, port = split_address(address)
        self.registry: CollectorRegistry = metrics.registry()
        self.registry.register(GatewayCollector(state))
        try:
            self._server: WSGIServer
            self._thread: threading.Thread
            self._server, self._thread = start_http_server(
                port, host.strip("[]"), registry=self.registry
            )
        except OSError as exc:
            raise InvalidArgument(
                f"cannot listen on {address} (metrics port): {exc.strerror or exc}"
            ) from None
        self.port: int = self._server.server_port

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def read_certificates(paths: dict[str, pathlib.Path]) -> dict[str, float]:
    """notAfter of each certificate file that exists (none in the insecure development mode)."""
    return {name: certificate_expiry(p.read_bytes()) for name, p in paths.items() if p.exists()}
