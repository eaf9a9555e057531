"""Graceful drain: a real `wsg serve` process and a real SIGTERM. Health says NOT_SERVING at
once, new calls are refused, a release in flight finishes within the grace period or is stopped
before its next batch (audited as release.stopped), then the process exits 0."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, many_messages
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.api.auth import PRINCIPAL_HEADER
from gateway.api.client import Client, ClientError
from gateway.api.server import DRAIN_MARGIN
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.testing import bind_test_roles, make_spec, write_jsonl

WSG = [sys.executable, "-m", "gateway"]
GRACE = 5.0  # seconds; a loaded machine must still finish the small release within it
CATEGORIES = ["message_content", "message_metadata", "logins", "contacts", "memberships"]


class Served:
    """A `wsg serve` subprocess, its addresses, and its stderr lines as they arrive."""

    def __init__(self, data: pathlib.Path) -> None:
        self.data = data
        self.proc = subprocess.Popen(
            [
                *WSG,
                "serve",
                "--insecure",
                "--listen",
                "127.0.0.1:0",
                "--health-listen",
                "127.0.0.1:0",
                "--data",
                str(data),
                "--drain-seconds",
                str(GRACE),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._serving = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._serving.wait(60):
            self.proc.kill()
            raise AssertionError("wsg serve did not start: " + "".join(self.lines))
        started = self.events("wsg serving")[0]
        self.address = started["address"]
        self.health_address = started["health_address"]

    def _read(self) -> None:
        assert self.proc.stderr
        for line in self.proc.stderr:
            self.lines.append(line)
            if '"wsg serving"' in line:
                self._serving.set()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in map(json.loads, self.lines) if e.get("event") == name]

    def health(self) -> int:
        with grpc.insecure_channel(self.health_address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="wsg.v1.ReleaseService"), timeout=5
            )
        return int(reply.status)

    def audit_events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.data / "audit.log").read_text().splitlines()]


@pytest.fixture
def served(tmp_path: pathlib.Path) -> Iterator[Served]:
    data = tmp_path / "data"
    rows = write_jsonl(tmp_path / "rows.jsonl", many_messages(3000))
    subprocess.run(
        [*WSG, "store", "import", str(rows), "--data", str(data)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    bind_test_roles(data)
    server = Served(data)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=20)


def open_release(served: Served) -> tuple[grpc.Channel, Iterator[Any]]:
    """A release paused after its first batch: too large for transport buffers to finish it."""
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    with Client(served.address, "alice", insecure=True) as alice:
        w = alice.submit(make_spec(["account:u1"], CATEGORIES, JAN1, FEB1, expires))
    with Client(served.address, "bob", insecure=True) as bob:
        bob.approve(w.id)
    # A client that does not read does not let the server run ahead: no window growth (BDP)
    # and a small window, so the release waits on the client between batches.
    channel = grpc.insecure_channel(
        served.address, options=[("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 16384)]
    )
    stream = pb_grpc.ReleaseServiceStub(channel).Release(
        pb.ReleaseRequest(warrant_id=w.id, batch_size=10), metadata=[(PRINCIPAL_HEADER, "alice")]
    )
    assert next(stream).WhichOneof("item") == "started"
    assert next(stream).WhichOneof("item") == "batch"
    return channel, stream


def terminate_and_see_draining(served: Served) -> None:
    """SIGTERM: NOT_SERVING within moments, and a new call is refused."""
    served.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 1.5
    while served.health() != health_pb2.HealthCheckResponse.NOT_SERVING:
        assert time.monotonic() < deadline, "health still SERVING after SIGTERM"
        time.sleep(0.05)
    with Client(served.address, "alice", insecure=True, timeout=5) as alice:
        with pytest.raises(ClientError) as refused:
            alice.list()
    assert refused.value.code is grpc.StatusCode.UNAVAILABLE


class TestDrain:
    def test_a_release_in_flight_finishes_within_the_grace_period(self, served: Served) -> None:
        """Read on at once after SIGTERM: the release completes, then the process exits 0."""
        client, stream = open_release(served)
        terminate_and_see_draining(served)
        items = list(stream)
        client.close()
        assert items[-1].WhichOneof("item") == "summary"
        assert served.proc.wait(timeout=GRACE + 10) == 0
        log = [e["event"] for e in served.audit_events()]
        assert log[-1] == "release.completed" and "release.stopped" not in log
        assert served.events("draining")[0]["releases_in_flight"] == 1
        assert served.events("drained")[0]["releases_cut"] == 0
        for line in served.lines:  # everything the process logged is JSON (library logs too)
            json.loads(line)

    def test_a_release_past_the_grace_period_stops_between_batches(self, served: Served) -> None:
        """Past the grace period the release ends before its next batch, with UNAVAILABLE and
        a release.stopped entry saying why; nothing is sent unaudited; exit 0."""
        client, stream = open_release(served)
        batches_before = sum(1 for e in served.audit_events() if e["event"] == "release.batch")
        terminate_and_see_draining(served)
        time.sleep(GRACE + 0.5)
        received = 0
        with pytest.raises(grpc.RpcError) as stopped:
            for item in stream:
                received += item.WhichOneof("item") == "batch"
        client.close()
        assert stopped.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in stopped.value.details()
        assert served.proc.wait(timeout=GRACE + 10) == 0
        entries = served.audit_events()
        log = [e["event"] for e in entries]
        assert log[-1] == "release.stopped" and "release.completed" not in log
        assert "shutting down" in entries[-1]["why"]
        # every batch that reached the client was audited first
        assert received + 1 <= log.count("release.batch") and batches_before >= 1

    def test_a_client_that_stops_reading_is_cut_and_audited(self, served: Served) -> None:
        """A release blocked on a client that reads nothing more cannot reach its next batch:
        past the grace period and the margin its call is cut, and the log still says how the
        release ended (release.failed, naming the batches audited but not delivered), after
        every batch entry it wrote; exit 0."""
        client, _unread = open_release(served)  # kept open, never read again
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(timeout=GRACE + DRAIN_MARGIN + 20) == 0
        client.close()
        entries = served.audit_events()
        assert entries[-1]["event"] == "release.failed", [e["event"] for e in entries[-3:]]
        assert entries[-1]["undelivered"]
        assert "shutting down" in entries[-1]["why"] and "not reading" in entries[-1]["why"]
        assert served.events("drained")[0]["releases_cut"] == 1


def test_drain_seconds_is_a_setting() -> None:
    """The grace period is configurable like every setting (flag, WSG_DRAIN_SECONDS, file)."""
    from gateway.settings import SettingsError, load_settings

    os.environ.pop("WSG_DRAIN_SECONDS", None)
    assert load_settings(drain_seconds=7.5).drain_seconds == 7.5
    with pytest.raises(SettingsError, match="drain_seconds"):
        load_settings(drain_seconds=-1)
