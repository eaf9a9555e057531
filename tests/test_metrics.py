"""Prometheus metrics at /metrics on `metrics_listen`: calls, releases, records, the audit log,
the policy and certificates; and every metric the Grafana dashboard and the alert rules in
deploy/ query exists."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import re
import urllib.request
from typing import Any

import grpc
import pytest
import yaml
from fixtures_small import FEB1, JAN1, ROWS, many_messages
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.client import ClientError
from gateway.api.rpcs import RPCS
from gateway.api.server import Gateway
from gateway.identity.pki import PkiPaths, init
from gateway.settings import Settings
from gateway.testing import load_store, make_spec

ROOT = pathlib.Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "wsg-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "wsg-alerts.yaml"
CATEGORIES = ["message_content", "message_metadata", "logins", "contacts", "memberships"]
# Names that Prometheus itself or PromQL provide, not the gateway.
BUILTIN = {"up", "time", "le"}


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample at /metrics: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        assert reply.status == 200
        text = reply.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 if none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def release(run: Any, clock: Any, batch_size: int = 0) -> Any:
    with run.client("alice") as alice:
        w = alice.submit(
            make_spec(["account:u1"], CATEGORIES, JAN1, FEB1, clock.now + dt.timedelta(days=30))
        )
    with run.client("bob") as bob:
        bob.approve(w.id)
    with run.client("alice") as alice:
        items = list(alice.release(w.id, batch_size))
    return w, items[-1].summary


@pytest.fixture
def metered(start_gateway: Any) -> Any:
    return start_gateway(ROWS, metrics_listen="127.0.0.1:0")


class TestCalls:
    def test_calls_are_counted_by_method_and_code(self, metered: Any, clock: Any) -> None:
        """A Submit counts as OK, a refused Approve as PERMISSION_DENIED, each timed."""
        port = metered.gateway.metrics.port
        before = scrape(port)
        w, _ = release(metered, clock)
        with metered.client("mallory") as mallory, pytest.raises(ClientError):
            mallory.approve(w.id)
        after = scrape(port)

        def delta(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        ok = {"grpc_service": "wsg.v1.WarrantService", "grpc_code": "OK"}
        assert delta("grpc_server_handled_total", grpc_method="Submit", **ok) == 1
        assert delta("grpc_server_handled_total", grpc_method="Approve", **ok) == 1
        assert (
            delta("grpc_server_handled_total", grpc_method="Approve", grpc_code="PERMISSION_DENIED")
            == 1
        )
        assert (
            delta(
                "grpc_server_handled_total",
                grpc_service="wsg.v1.ReleaseService",
                grpc_method="Release",
                grpc_code="OK",
            )
            == 1
        )
        assert delta("grpc_server_handling_seconds_count", grpc_method="Approve") == 2
        assert delta("grpc_server_handling_seconds_count", grpc_method="Release") == 1

    def test_labels_are_bounded_and_name_no_one(self, metered: Any, clock: Any) -> None:
        """Calls to methods that do not exist add no series; no label value is a warrant id,
        a principal or a target, whoever calls and whatever they ask for."""
        port = metered.gateway.metrics.port
        w, _ = release(metered, clock)
        with metered.client("mallory") as mallory, pytest.raises(ClientError):
            mallory.approve(w.id)
        with grpc.insecure_channel(metered.address) as channel:
            for method in ("/wsg.v1.WarrantService/Nope", "/made.Up/w-123", f"/x/{w.id}"):
                with pytest.raises(grpc.RpcError) as unknown:
                    channel.unary_unary(method)(b"", timeout=5)
                assert unknown.value.code() is grpc.StatusCode.UNIMPLEMENTED
        labels = {v for (_, ls) in scrape(port) for _, v in ls}
        methods = {v for (_, ls) in scrape(port) for k, v in ls if k == "grpc_method"}
        assert methods <= {*RPCS, "ServerReflectionInfo", "Check", "Watch"}
        for secret in (w.id, "alice", "bob", "mallory", "u1", "account:u1"):
            assert not [v for v in labels if secret in v], secret


class TestReleases:
    def test_records_released_and_withheld_match_the_summary(
        self, metered: Any, clock: Any
    ) -> None:
        """The released and withheld counters move by exactly the release summary's counts."""
        port = metered.gateway.metrics.port
        before = scrape(port)
        _, summary = release(metered, clock, batch_size=2)
        after = scrape(port)
        for category, n in summary.released_by_category.items():
            moved = value(after, "wsg_records_released_total", category=category) - value(
                before, "wsg_records_released_total", category=category
            )
            assert moved == n, category
        for effect, n in summary.released_by_effect.items():
            moved = value(after, "wsg_records_released_total", effect=effect) - value(
                before, "wsg_records_released_total", effect=effect
            )
            assert moved == n, effect
        assert summary.withheld
        for reason, n in summary.withheld.items():
            moved = value(after, "wsg_records_withheld_total", reason=reason) - value(
                before, "wsg_records_withheld_total", reason=reason
            )
            assert moved == n, reason

    def test_a_release_in_flight_is_counted_until_it_ends(
        self, start_gateway: Any, clock: Any
    ) -> None:
        """While a stream is open (too large to be buffered whole) the gauge counts it."""
        run = start_gateway(many_messages(3000), metrics_listen="127.0.0.1:0")
        port = run.gateway.metrics.port
        with run.client("alice") as alice:
            w = alice.submit(
                make_spec(["account:u1"], CATEGORIES, JAN1, FEB1, clock.now + dt.timedelta(days=30))
            )
        with run.client("bob") as bob:
            bob.approve(w.id)
        assert value(scrape(port), "wsg_releases_in_flight") == 0
        with run.client("alice") as alice:
            stream = alice.release(w.id, 10)
            next(stream)  # started
            next(stream)  # the first batch: the server is still producing
            assert value(scrape(port), "wsg_releases_in_flight") == 1
            for _ in stream:
                pass
        assert value(scrape(port), "wsg_releases_in_flight") == 0


class TestState:
    def test_audit_latency_tree_size_and_policy(self, metered: Any, clock: Any) -> None:
        """Appends and fsyncs are timed; tree size and policy version are the gateway's own."""
        port = metered.gateway.metrics.port
        before = scrape(port)
        release(metered, clock)
        after = scrape(port)
        for name in ("wsg_audit_append_seconds_count", "wsg_audit_fsync_seconds_count"):
            assert value(after, name) > value(before, name), name
        assert value(after, "wsg_audit_tree_size") == metered.gateway.audit.size
        version = metered.gateway.policy.version
        assert value(after, "wsg_policy_info", version=version) == 1
        assert value(after, "wsg_serving") == 1

    def test_certificate_expiry_of_the_certificates_in_use(
        self, tmp_path: pathlib.Path, clock: Any
    ) -> None:
        """With mutual TLS, the server and CA certificates' notAfter are exported."""
        from cryptography import x509

        data = tmp_path / "data"
        load_store(data, ROWS)
        init(PkiPaths(data), [("alice", "officer")])
        gateway = Gateway(
            Settings(data=data, listen="127.0.0.1:0", metrics_listen="127.0.0.1:0", clock=clock)
        ).start()
        try:
            assert gateway.metrics is not None
            samples = scrape(gateway.metrics.port)
        finally:
            gateway.stop(grace=None)
        for name, path in (("server", PkiPaths(data).server_cert), ("ca", PkiPaths(data).ca_cert)):
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            expected = cert.not_valid_after_utc.timestamp()
            assert (
                value(samples, "wsg_certificate_expiry_timestamp_seconds", certificate=name)
                == expected
            )

    def test_a_metrics_port_in_use_is_one_clear_error(
        self, start_gateway: Any, metered: Any, tmp_path: pathlib.Path
    ) -> None:
        """Asking for a taken port names it instead of failing later or silently."""
        taken = f"127.0.0.1:{metered.gateway.metrics.port}"
        with pytest.raises(Exception, match=r"metrics port"):
            start_gateway(ROWS, data=tmp_path / "other", metrics_listen=taken)


def _queried_metrics() -> dict[str, set[str]]:
    """Metric names in every PromQL expression of the dashboard and the alert rules."""
    exprs: dict[str, list[str]] = {"dashboard": [], "alerts": []}
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        exprs["dashboard"] += [t["expr"] for t in panel["targets"]]
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        exprs["alerts"] += [rule["expr"] for rule in group["rules"]]
    return {where: set().union(*map(metric_names, texts)) for where, texts in exprs.items()}


def metric_names(expr: str) -> set[str]:
    """The gateway's metric names in a PromQL expression (not label values, ranges or `up`)."""
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
    found = re.findall(r"\b(grpc_server_\w+|wsg_\w+|up)\b", without_ranges)
    return {n for n in found if n not in BUILTIN}


class TestDeployFiles:
    def test_every_metric_the_dashboard_and_alerts_query_exists(
        self, tmp_path: pathlib.Path, clock: Any
    ) -> None:
        """After some traffic on a mutual-TLS gateway, /metrics has every series they use."""
        data = tmp_path / "data"
        load_store(data, ROWS)
        init(PkiPaths(data), [("alice", "officer"), ("bob", "reviewer")])
        gateway = Gateway(
            Settings(data=data, listen="127.0.0.1:0", metrics_listen="127.0.0.1:0", clock=clock)
        ).start()
        try:
            from gateway.api.client import Client

            with Client(gateway.address, "alice", False, data=data) as alice:
                w = alice.submit(
                    make_spec(
                        ["account:u1"], CATEGORIES, JAN1, FEB1, clock.now + dt.timedelta(days=30)
                    )
                )
                with Client(gateway.address, "bob", False, data=data) as bob:
                    bob.approve(w.id)
                list(alice.release(w.id))
            assert gateway.metrics is not None
            present = {name for name, _ in scrape(gateway.metrics.port)}
        finally:
            gateway.stop(grace=None)
        queried = _queried_metrics()
        assert len(queried["dashboard"]) >= 10 and queried["alerts"]
        for where, names in queried.items():
            missing = sorted(names - present)
            assert not missing, f"{where} queries metrics /metrics does not have: {missing}"

    def test_the_check_would_catch_a_misspelt_metric(self) -> None:
        """Names are found inside functions, past label matchers that name other metrics."""
        expr = 'sum(rate(wsg_records_relased_total{reason="wsg_x", le="1"}[5m])) / up'
        assert metric_names(expr) == {"wsg_records_relased_total"}


def test_every_alert_is_explained_in_the_operations_guide() -> None:
    """docs/operations.md says what each shipped alert means and what to do."""
    guide = (ROOT / "docs" / "operations.md").read_text()
    alerts = [r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    assert alerts
    missing = [a for a in alerts if f"| `{a}` |" not in guide]
    assert not missing, f"docs/operations.md does not explain {missing}"
