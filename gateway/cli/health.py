"""`wsg health`: ask a gateway's plaintext health port (grpc.health.v1) whether it serves.

For Docker HEALTHCHECK, scripts and people: the same question a load balancer or a Kubernetes
gRPC probe asks. It talks plaintext, so point it at `health_listen` (e.g. 127.0.0.1:50052), not
at the mutual-TLS API port.

Exit status: 0 SERVING; 1 NOT_SERVING, UNKNOWN or a service the server does not know; 2 the
server could not be asked (unreachable, timed out, no health service there).
"""

from __future__ import annotations

import click
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.cli.common import fail, friendly_errors, json_option, print_json

SERVING = health_pb2.HealthCheckResponse.SERVING


def check(server: str, service: str = "", timeout: float = 3.0) -> str:
    """The status name the server gives for `service` ("" = the whole server), e.g. "SERVING".

    A service the server does not know is "SERVICE_UNKNOWN"; any other failure to get an answer
    raises grpc.RpcError.
    """
    with grpc.insecure_channel(server) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:  # the servicer's answer for unknown names
                return str(
                    health_pb2.HealthCheckResponse.ServingStatus.Name(
                        health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
                    )
                )
            raise
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


@click.command()
@click.option(
    "--server",
    envvar="WSG_HEALTH_SERVER",
    default="127.0.0.1:50052",
    show_default=True,
    metavar="HOST:PORT",
    help="The gateway's plaintext health port (its `health_listen` setting).",
)
@click.option(
    "--service",
    default="",
    metavar="NAME",
    help="A service name, e.g. wsg.v1.ReleaseService; default: the whole server.",
)
@click.option(
    "--timeout",
    default=3.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    metavar="SECONDS",
    help="Give up after this long (exit 2).",
)
@json_option
@friendly_errors
def health(server: str, service: str, timeout: float, as_json: bool) -> None:
    """Ask grpc.health.v1.Health/Check on a plaintext port; exit 0 only if SERVING.

    \b
    Exit status: 0 SERVING; 1 NOT_SERVING, UNKNOWN or SERVICE_UNKNOWN; 2 unreachable.
    Example (what the container image's HEALTHCHECK runs):
      wsg health --server 127.0.0.1:50052
    """
    try:
        status = check(server, service, timeout)
    except grpc.RpcError as exc:
        code = exc.code()
        details = (exc.details() or "").splitlines()[0:1]
        fail(
            f"health check of {server} failed: {code.name}"
            + (f" ({details[0]})" if details else ""),
            2,
        )
    if as_json:
        print_json({"server": server, "service": service, "status": status})
    else:
        click.echo(status)
    if status != health_pb2.HealthCheckResponse.ServingStatus.Name(SERVING):
        raise SystemExit(1)
