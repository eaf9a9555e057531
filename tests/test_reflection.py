"""Server reflection v1 and v1alpha, asked by a real independent client: `buf curl` (installed
by `make test`) with each reflection protocol forced, listing services and calling an RPC."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from fixtures_small import ROWS
from test_protos import BUF

SERVICES = {
    "wsg.v1.WarrantService",
    "wsg.v1.ReleaseService",
    "wsg.v1.AuditService",
    "wsg.v1.PolicyService",
    "wsg.v1.StoreService",
    "wsg.v1.NoticeService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
}


def curl(address: str, protocol: str, *args: str) -> subprocess.CompletedProcess[str]:
    if not BUF.exists():
        pytest.fail(f"{BUF} is missing: `make test` installs it (npm ci in tools/)")
    return subprocess.run(
        [
            str(BUF),
            "curl",
            "--protocol",
            "grpc",
            "--http2-prior-knowledge",
            "--reflect-protocol",
            protocol,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("protocol", ["grpc-v1", "grpc-v1alpha"])
class TestReflection:
    def test_lists_every_service(self, start_gateway: Any, protocol: str) -> None:
        """Each protocol alone lists the gateway's services, health and both reflections."""
        run = start_gateway(ROWS)
        result = curl(run.address, protocol, "--list-services", f"http://{run.address}")
        assert result.returncode == 0, result.stderr
        assert set(result.stdout.split()) == SERVICES

    def test_a_call_through_the_reflected_schema(self, start_gateway: Any, protocol: str) -> None:
        """buf curl learns WarrantService.List's schema by reflection and calls it."""
        run = start_gateway(ROWS)
        result = curl(
            run.address,
            protocol,
            "-H",
            "x-wsg-principal: alice",
            "--data",
            '{"pageSize": 5}',
            f"http://{run.address}/wsg.v1.WarrantService/List",
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout or "{}") == {}  # no warrants yet: an empty list

    def test_describes_the_reflection_service_itself(
        self, start_gateway: Any, protocol: str
    ) -> None:
        """Every service's schema is there, the v1 reflection's too (made from v1alpha's):
        listing methods describes each listed service."""
        run = start_gateway(ROWS)
        result = curl(run.address, protocol, "--list-methods", f"http://{run.address}")
        assert result.returncode == 0, result.stderr
        methods = set(result.stdout.split())
        assert "grpc.reflection.v1.ServerReflection/ServerReflectionInfo" in methods
        assert "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo" in methods
        assert "wsg.v1.ReleaseService/Release" in methods
        assert {m.split("/")[0] for m in methods} == SERVICES
