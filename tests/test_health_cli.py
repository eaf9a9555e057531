"""`wsg health`: a real grpc.health.v1 server on port 0; SERVING, NOT_SERVING, unknown, down."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.cli import main

RELEASE = "wsg.v1.ReleaseService"


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    servicer = health.HealthServicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(None).wait()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["health", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serving_exits_0(health_server: tuple[str, health.HealthServicer]) -> None:
    address, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    code, out, err = run("--server", address)
    assert (code, out.strip(), err) == (0, "SERVING", "")


def test_not_serving_exits_1(health_server: tuple[str, health.HealthServicer]) -> None:
    address, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    code, out, _ = run("--server", address)
    assert (code, out.strip()) == (1, "NOT_SERVING")


def test_one_service_and_json(health_server: tuple[str, health.HealthServicer]) -> None:
    address, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set(RELEASE, health_pb2.HealthCheckResponse.NOT_SERVING)
    code, out, _ = run("--server", address, "--service", RELEASE, "--json")
    assert code == 1
    assert json.loads(out) == {"server": address, "service": RELEASE, "status": "NOT_SERVING"}
    servicer.set(RELEASE, health_pb2.HealthCheckResponse.SERVING)
    code, out, _ = run("--server", address, "--service", RELEASE, "--json")
    assert (code, json.loads(out)["status"]) == (0, "SERVING")


def test_unknown_service_exits_1(health_server: tuple[str, health.HealthServicer]) -> None:
    address, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    code, out, err = run("--server", address, "--service", "no.such.Service")
    assert (code, out.strip(), err) == (1, "SERVICE_UNKNOWN", "")


def test_unreachable_exits_2_with_one_line() -> None:
    address = f"127.0.0.1:{free_port()}"
    code, out, err = run("--server", address, "--timeout", "2")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("wsg: error: health check of " + address)
    assert "UNAVAILABLE" in err and "Traceback" not in err


def test_a_server_without_health_exits_2() -> None:
    """A gRPC server that does not serve grpc.health.v1 gives no status: it cannot be asked."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        code, out, err = run("--server", f"127.0.0.1:{port}")
    finally:
        server.stop(None).wait()
    assert (code, out) == (2, "")
    assert "UNIMPLEMENTED" in err and err.count("\n") == 1
