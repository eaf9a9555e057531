"""Hostile input (issue 13, item 8): bytes that are not UTF-8, look-alike identifiers, probing
look-ups, identifiers in other scripts. Every one is refused with INVALID_ARGUMENT naming what
is wrong, or resolved exactly; and every look-up leaves an audit entry, found or not."""

from __future__ import annotations

import datetime as dt
import socket
import struct
from typing import Any

import grpc
import pytest
from console_http import ConsoleHttp
from structlog.testing import capture_logs

from gateway.api.client import ClientError
from gateway.api.v1 import wsg_pb2 as pb
from gateway.testing import T0, make_spec

BOTH_BACKENDS = True

KELVIN = "\u212a"  # KELVIN SIGN: NFC makes it K, Unicode lower-casing makes it k


def account(id_: str, email: str | None = None, phone: str | None = None) -> dict[str, Any]:
    return {
        "kind": "account",
        "id": id_,
        "display_name": id_,
        "phone": phone,
        "email": email,
        "created_at": "2025-06-01T00:00:00Z",
    }


ROWS = [
    account("u1", "kim@example.org", "+821011112222"),
    account("u2", f"{KELVIN}im@example.org"),  # another person: a look-alike address
    account("\ud64d\uae38\ub3d9", "hong@example.org"),  # 홍길동: a Korean account id
    account("u3", "\ud64d@example.org"),  # 홍@example.org: Hangul local part, Latin domain
]


def _spec(targets: list[str]) -> pb.WarrantSpec:
    return make_spec(
        targets,
        ["subscriber"],
        T0 - dt.timedelta(days=30),
        T0,
        T0 + dt.timedelta(days=30),
    )


def _raw(run: Any, method: str, body: bytes, principal: str = "alice") -> grpc.RpcError:
    """Call `method` with request bytes no protobuf library would build; the error it gets."""
    with grpc.insecure_channel(run.address) as channel:
        call = channel.unary_unary(
            method, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        with pytest.raises(grpc.RpcError) as caught:
            call(body, metadata=(("x-wsg-principal", principal),), timeout=10)
    return caught.value


class TestInvalidUtf8:
    """protobuf refuses a string field that is not UTF-8; grpcio answered INTERNAL."""

    @pytest.mark.parametrize(
        "request_, field",
        [
            (
                pb.WarrantServiceSubmitRequest(spec=_spec(["account:u1", "account:MARK"])),
                "spec.targets[1]",
            ),
            (
                pb.WarrantServiceSubmitRequest(spec=pb.WarrantSpec(case_number="MARK")),
                "spec.case_number",
            ),
            (pb.WarrantServiceSubmitRequest(request_id="MARK"), "request_id"),
            (pb.WarrantServiceLookupAccountRequest(target="account:MARK"), "target"),
        ],
    )
    def test_a_string_field_that_is_not_utf8_is_named(
        self, start_gateway: Any, request_: Any, field: str
    ) -> None:
        run = start_gateway(ROWS)
        method = (
            "/wsg.v1.WarrantService/Submit"
            if isinstance(request_, pb.WarrantServiceSubmitRequest)
            else "/wsg.v1.WarrantService/LookupAccount"
        )
        body = request_.SerializeToString().replace(b"MARK", b"M\xffRK")
        error = _raw(run, method, body)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert error.details() == f"{field}: not valid UTF-8"

    def test_every_rpc_refuses_bytes_that_are_no_message(self, start_gateway: Any) -> None:
        """Streaming and unary alike: a body that is not the RPC's message is bad input."""
        run = start_gateway(ROWS)
        for method in (
            "/wsg.v1.ReleaseService/Release",
            "/wsg.v1.AuditService/ListEntries",
            "/wsg.v1.WarrantService/Get",
            "/wsg.v1.StoreService/FindAccounts",
        ):
            error = _raw(run, method, b"\x0a\x03\xff\xfe\xfd")
            assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, method
            assert "not valid UTF-8" in (error.details() or ""), method
            error = _raw(run, method, b"\xff\xff\xff")
            assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, method

    def test_the_health_port_refuses_it_too(self, start_gateway: Any, backend: str) -> None:
        """The plaintext health-only port has no call observer: the same refusal."""
        if backend != "sqlite":
            pytest.skip("no state involved")
        from grpc_health.v1 import health_pb2

        run = start_gateway(ROWS, health_listen="127.0.0.1:0")
        body = health_pb2.HealthCheckRequest(service="MARK").SerializeToString()
        address = f"127.0.0.1:{run.gateway.health_port}"
        with grpc.insecure_channel(address) as channel:
            call = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            with pytest.raises(grpc.RpcError) as caught:
                call(body.replace(b"MARK", b"M\xffRK"), timeout=10)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details() == "service: not valid UTF-8"

    def test_metadata_that_is_not_text(self, start_gateway: Any, info_logging: None) -> None:
        """Raw bytes in x-request-id and x-wsg-principal (a real client refuses to send them,
        so the call is made on a bare HTTP/2 connection): a fresh request id and an
        unauthenticated call, never INTERNAL."""
        run = start_gateway(ROWS)
        body = pb.WarrantServiceLookupAccountRequest(target="account:u1").SerializeToString()
        with capture_logs() as logs:
            _bare_call(
                run.address,
                "/wsg.v1.WarrantService/LookupAccount",
                body,
                [(b"x-wsg-principal", b"alice"), (b"x-request-id", b"\xff\xfe")],
            )
            _bare_call(
                run.address,
                "/wsg.v1.WarrantService/LookupAccount",
                body,
                [(b"x-wsg-principal", b"al\xffce")],
            )
        calls = [e for e in logs if e.get("event") == "call"]
        assert [c["code"] for c in calls] == ["OK", "UNAUTHENTICATED"]
        assert all("\ufffd" not in c["request_id"] and c["request_id"].isascii() for c in calls)
        looked_up = [e for e in run.entries() if e["event"] == "account.looked_up"]
        assert [e["principal"] for e in looked_up] == ["alice"]

    def test_the_console_form_refuses_bytes_that_are_not_utf8(self, start_gateway: Any) -> None:
        """Starlette reads them as Latin-1 or U+FFFD without a word: 'Kim\\xff' would be
        another target. The form is refused naming the field."""
        run = start_gateway(ROWS, console="127.0.0.1:0")
        web = ConsoleHttp(run.console_url)
        web.sign_in("alice")
        for body in (b"lookup=account%3Au%FF1", b"lookup=account:u\xff1"):
            reply = web.post_raw("/lookup", body)
            assert reply.status == 400, reply.text
            assert "not valid UTF-8" in reply.error or "outside ASCII" in reply.error
        boundary = "b0undary"
        multipart = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="lookup"\r\n\r\naccount:u'
            ).encode()
            + b"\xff1\r\n"
            + (
                f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n'
                f"{web.csrf}\r\n--{boundary}--\r\n"
            ).encode()
        )
        reply = web.request(
            "POST",
            "/lookup",
            multipart,
            {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Origin": web.base,
            },
        )
        assert reply.status == 400 and "not valid UTF-8" in reply.error
        assert not [e for e in run.entries() if e["event"] == "account.looked_up"]


def _bare_call(
    address: str, method: str, message: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    """One gRPC call on a bare HTTP/2 connection (HPACK literals, no Huffman), response unread
    beyond the stream's end: the access log says how it ended."""

    def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))[1:]
            + bytes([kind, flags])
            + struct.pack(">I", stream)
            + payload
        )

    def literal(name: bytes, value: bytes) -> bytes:
        assert len(name) < 127 and len(value) < 127
        return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value

    host, port = address.rsplit(":", 1)
    fields = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", method.encode()),
        (b":authority", address.encode()),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
        *headers,
    ]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
            + frame(4, 0, 0, b"")
            + frame(1, 4, 1, b"".join(literal(n, v) for n, v in fields))
            + frame(0, 1, 1, b"\x00" + struct.pack(">I", len(message)) + message)
        )
        received = b""
        while b"grpc-status" not in received:  # the trailers end the call
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk


class TestExactResolution:
    """Targets are compared with the store exactly after NFC (and ASCII case for e-mail):
    no normalization may merge two people's identifiers."""

    def test_a_look_alike_address_does_not_resolve_to_another_account(
        self, start_gateway: Any
    ) -> None:
        """'Kim@' resolves to kim@'s account alone (case-folding also matched the Kelvin
        sign's account: two matches, or the wrong one); the Kelvin sign itself is refused."""
        run = start_gateway(ROWS)
        with run.client("alice") as alice:
            assert alice.lookup_account("email:Kim@Example.ORG").account == "u1"
            for asked in (f"email:{KELVIN}im@example.org", "email:\uff4bim@example.org"):
                with pytest.raises(ClientError) as caught:
                    alice.lookup_account(asked)
                assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
                assert "look-alike" in caught.value.message
            with pytest.raises(ClientError) as caught:
                alice.submit(_spec([f"email:{KELVIN}im@example.org"]))
            assert caught.value.message.startswith("spec.targets[0]: contains U+212A KELVIN SIGN")
            warrant = alice.submit(_spec(["email:KIM@example.org"]))
        assert list(warrant.target_accounts) == ["u1"]

    def test_a_korean_account_id_can_be_named(self, start_gateway: Any) -> None:
        """The `account:` prefix counted as Latin in the mixed-script check."""
        run = start_gateway(ROWS)
        with run.client("alice") as alice:
            warrant = alice.submit(
                _spec(["account:\ud64d\uae38\ub3d9", "email:\ud64d@example.org"])
            )
            assert list(warrant.target_accounts) == ["\ud64d\uae38\ub3d9", "u3"]
            for mixed in ("account:u\u04301", "account:\ud64dx\u0430"):
                with pytest.raises(ClientError) as caught:
                    alice.lookup_account(mixed)
                assert "mixes scripts" in caught.value.message

    @pytest.mark.parametrize(
        "asked", ["phone:+82-10-1111-2222", "phone:821011112222", "email:kim", "email:a b@c.d"]
    )
    def test_malformed_identifiers_are_refused_by_kind(
        self, start_gateway: Any, asked: str
    ) -> None:
        run = start_gateway(ROWS)
        with run.client("alice") as alice, pytest.raises(ClientError) as caught:
            alice.lookup_account(asked)
        assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT


class TestEveryLookUpIsAudited:
    """An officer could probe whether a number has an account without a trace."""

    def test_a_submission_whose_target_matches_no_account(self, start_gateway: Any) -> None:
        run = start_gateway(ROWS)
        with run.client("alice") as alice, pytest.raises(ClientError) as caught:
            alice.submit(_spec(["account:u1", "phone:+821099998888"]))
        assert caught.value.message.startswith("spec.targets[1]: 'phone:+821099998888' matches no")
        refused = [e for e in run.entries() if e["event"] == "warrant.submit_refused"]
        assert len(refused) == 1
        assert refused[0]["principal"] == "alice"
        assert refused[0]["targets"] == ["account:u1", "phone:+821099998888"]
        assert "matches no account" in refused[0]["why"]

    def test_malformed_look_ups_on_every_edge(self, start_gateway: Any) -> None:
        """LookupAccount, FindAccounts and the console's look-up: a target refused before the
        store was asked is audited with why."""
        run = start_gateway(ROWS, console="127.0.0.1:0")
        with run.client("alice") as alice:
            with pytest.raises(ClientError):
                alice.lookup_account("telephone:123")
            with pytest.raises(ClientError):
                alice.find_accounts(f"email:{KELVIN}im@example.org")
            assert alice.find_accounts("email:kim@example.org") == ("u1",)
        web = ConsoleHttp(run.console_url)
        web.sign_in("alice")
        assert "is not a phone number" in web.post("/lookup", {"lookup": "phone:nope"}).text
        entries = run.entries()
        looked = [e for e in entries if e["event"] == "account.looked_up"]
        assert [
            (e["target"], e["account"], "not account:ID" in (e["why"] or "")) for e in looked
        ] == [
            ("telephone:123", None, True),
            ("phone:nope", None, False),
        ]
        assert looked[1]["why"].startswith("target: 'nope' is not a phone number")
        searched = [e for e in entries if e["event"] == "store.searched"]
        assert [(e["matches"], e["why"] is not None) for e in searched] == [(0, True), (1, False)]
        assert searched[1]["target"] == "email:kim@example.org"
