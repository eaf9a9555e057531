"""Mutual TLS: `wsg init` makes the PKI; the principal is the verified certificate's name;
no certificate, a foreign CA's or an expired one is refused before any RPC runs."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import stat
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.auth import PRINCIPAL_HEADER
from gateway.api.client import Client
from gateway.api.server import Gateway, ServerConfig
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.errors import FailedPrecondition
from gateway.identity.pki import PkiPaths, init, issue_client
from gateway.identity.roles import roles_file
from gateway.testing import load_store, make_spec

WSG = [sys.executable, "-m", "gateway"]
PRINCIPALS = [("alice", "officer"), ("bob", "reviewer"), ("audit1", "auditor")]


def wsg(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*WSG, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"wsg {' '.join(args)} failed: {proc.stderr}")
    return proc


@pytest.fixture
def tls_gateway(tmp_path: pathlib.Path, clock: Any) -> Iterator[tuple[Gateway, pathlib.Path]]:
    data = tmp_path / "data"
    load_store(data, ROWS)
    init(PkiPaths(data), PRINCIPALS)
    gateway = Gateway(ServerConfig(data=data, listen="127.0.0.1:0", clock=clock)).start()
    yield gateway, data
    gateway.stop(grace=None)


def spec(clock: Any) -> pb.WarrantSpec:
    return make_spec(
        ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=30)
    )


def channel_with(
    data: pathlib.Path, address: str, key: bytes | None = None, cert: bytes | None = None
) -> grpc.Channel:
    ca = PkiPaths(data).ca_cert.read_bytes()
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )
    return grpc.secure_channel(address, creds)


def refused(channel: grpc.Channel) -> grpc.StatusCode:
    with channel, pytest.raises(grpc.RpcError) as info:
        pb_grpc.WarrantServiceStub(channel).List(pb.WarrantServiceListRequest(), timeout=10)
    return info.value.code()


class TestInit:
    def test_creates_a_ca_server_and_client_certificates_with_private_keys_0600(
        self, tmp_path: pathlib.Path
    ) -> None:
        data = tmp_path / "d"
        out = json.loads(
            wsg(
                "init",
                "--data",
                str(data),
                "--principal",
                "alice:officer",
                "--principal",
                "casemgr:service",
                "--host",
                "gw.internal",
                "--json",
            ).stdout
        )
        pki = PkiPaths(data)
        for path in (
            pki.ca_key,
            pki.server_key,
            pki.client_key("alice"),
            pki.client_key("casemgr"),
        ):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert str(path) in out["written"]
        assert json.loads(roles_file(pki.root).read_text()) == {
            "alice": ["officer"],
            "casemgr": ["service"],
        }
        ca = pki.ca_cert.read_bytes()
        wsg("init", "--data", str(data), "--principal", "bob:reviewer")
        assert pki.ca_cert.read_bytes() == ca  # kept: existing certificates stay valid
        assert json.loads(roles_file(pki.root).read_text())["bob"] == ["reviewer"]

    @pytest.mark.parametrize(
        "bad, says",
        [
            ("alice", "NAME:ROLE"),
            ("alice:admin", "role must be"),
            ("al ice:officer", "not a valid name"),
        ],
    )
    def test_bad_principals_are_refused_naming_the_problem(
        self, tmp_path: pathlib.Path, bad: str, says: str
    ) -> None:
        proc = wsg("init", "--data", str(tmp_path / "d"), "--principal", bad, check=False)
        assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr


class TestMutualTls:
    def test_the_principal_is_the_certificates_name_not_the_metadata(
        self, tls_gateway: tuple, clock: Any
    ) -> None:
        gateway, data = tls_gateway
        pki = PkiPaths(data)
        channel = channel_with(
            data,
            gateway.address,
            pki.client_key("alice").read_bytes(),
            pki.client_cert("alice").read_bytes(),
        )
        with channel:
            w = pb_grpc.WarrantServiceStub(channel).Submit(
                pb.WarrantServiceSubmitRequest(spec=spec(clock)),
                metadata=((PRINCIPAL_HEADER, "bob"),),
                timeout=10,
            )
        assert w.submitted_by == "alice"
        with Client(gateway.address, "bob", insecure=False, data=data) as bob:
            assert bob.approve(w.id).decided_by == "bob"

    def test_no_client_certificate_is_refused(self, tls_gateway: tuple) -> None:
        gateway, data = tls_gateway
        assert refused(channel_with(data, gateway.address)) is grpc.StatusCode.UNAVAILABLE

    def test_a_certificate_from_another_ca_is_refused(
        self, tls_gateway: tuple, tmp_path: pathlib.Path
    ) -> None:
        gateway, data = tls_gateway
        other = PkiPaths(tmp_path / "other")
        init(other, [("alice", "officer")])
        channel = channel_with(
            data,
            gateway.address,
            other.client_key("alice").read_bytes(),
            other.client_cert("alice").read_bytes(),
        )
        assert refused(channel) is grpc.StatusCode.UNAVAILABLE

    def test_an_expired_certificate_is_refused(self, tls_gateway: tuple) -> None:
        gateway, data = tls_gateway
        pki = PkiPaths(data)
        issue_client(pki, "old", dt.datetime.now(dt.UTC) - dt.timedelta(days=30), days=1)
        channel = channel_with(
            data,
            gateway.address,
            pki.client_key("old").read_bytes(),
            pki.client_cert("old").read_bytes(),
        )
        assert refused(channel) is grpc.StatusCode.UNAVAILABLE

    def test_a_client_without_a_certificate_is_told_how_to_get_one(
        self, tls_gateway: tuple
    ) -> None:
        gateway, data = tls_gateway
        with pytest.raises(FailedPrecondition) as info:  # local: found before any call
            Client(gateway.address, "carol", insecure=False, data=data)
        assert "wsg init" in info.value.message and "carol" in info.value.message

    def test_the_auditor_role_recorded_by_init_reads_every_entry(
        self, tls_gateway: tuple, clock: Any
    ) -> None:
        gateway, data = tls_gateway
        with Client(gateway.address, "alice", insecure=False, data=data) as alice:
            alice.submit(spec(clock))
        with Client(gateway.address, "bob", insecure=False, data=data) as bob:
            assert list(bob.entries(pb.ListEntriesRequest())) == []  # bob did nothing yet
        with Client(gateway.address, "audit1", insecure=False, data=data) as auditor:
            entries = list(auditor.entries(pb.ListEntriesRequest()))
        assert len(entries) == len(gateway.audit.path.read_bytes().splitlines()) >= 1


def test_a_server_without_its_pki_refuses_to_start(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FailedPrecondition, match="wsg init"):
        Gateway(ServerConfig(data=tmp_path / "d", listen="127.0.0.1:0"))


def test_the_cli_finds_its_certificate_in_the_data_directory(
    tls_gateway: tuple, clock: Any, tmp_path: pathlib.Path
) -> None:
    gateway, data = tls_gateway
    with Client(gateway.address, "alice", insecure=False, data=data) as alice:
        w = alice.submit(spec(clock))
    listed = json.loads(
        wsg(
            "warrant",
            "list",
            "--server",
            gateway.address,
            "--identity",
            "alice",
            "--data",
            str(data),
            "--json",
        ).stdout
    )
    assert [x["id"] for x in listed] == [w.id]
    shown = wsg(
        "warrant",
        "show",
        w.id,
        "--server",
        gateway.address,
        "--identity",
        "alice",
        "--data",
        str(tmp_path / "elsewhere"),
        check=False,
    )
    assert shown.returncode == 2 and "wsg init" in shown.stderr  # a local problem: exit 2
