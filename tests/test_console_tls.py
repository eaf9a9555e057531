"""The console in its secure default: HTTPS, and the person is the client certificate the
handshake verified against the deployment's CA, with the roles of roles.json, as on gRPC.
Certificates from another CA, expired ones, and none are refused in the handshake, and each
refusal is a console.refused audit entry."""

from __future__ import annotations

import datetime as dt
import pathlib
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
from console_http import ConsoleHttp
from fixtures_small import ROWS

from gateway.identity.pki import PkiPaths, issue_client
from gateway.identity.pki import init as init_pki
from gateway.testing import Clock, GatewayFactory, Running


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, PkiPaths]]:
    root = tmp_path_factory.mktemp("console-tls")
    data = root / "wsg-data"
    pki = PkiPaths(data)
    init_pki(pki, [("alice", "officer"), ("bob", "reviewer")])
    init_pki(PkiPaths(data), [])  # idempotent: nothing is replaced
    issue_client(pki, "nobody", dt.datetime.now(dt.UTC), 30)  # a certificate, but no role
    issue_client(pki, "old", dt.datetime.now(dt.UTC) - dt.timedelta(days=60), 30)  # expired
    factory = GatewayFactory(root, Clock())
    run = factory(ROWS, data=data, insecure=False, console="127.0.0.1:0")
    yield run, pki
    problems = factory.stop_all()
    assert not problems, problems


def context(pki: PkiPaths, name: str | None, client: PkiPaths | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki.ca_cert)
    who = client or pki
    if name is not None:
        ctx.load_cert_chain(who.client_cert(name), who.client_key(name))
    return ctx


def wait_for_refusal(run: Running, before: int) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for entry in run.entries()[before:]:
            if entry["event"] == "console.refused":
                return entry
        time.sleep(0.05)
    raise AssertionError("no console.refused entry was written")


class TestClientCertificates:
    def test_the_certificates_name_is_the_principal(self, tls: Any) -> None:
        run, pki = tls
        assert run.console_url.startswith("https://")
        http = ConsoleHttp(run.console_url, context(pki, "alice"))
        page = http.get("/")
        assert page.status == 200
        assert "Signed in as <strong><bdi>alice</bdi></strong>" in page.text
        assert "(officer, reviewer)" in page.text  # roles.json: wsg init and the test roles
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert http.get("/signin").status == 404  # no sign-in by name with TLS

    def test_forms_work_with_the_session_the_first_page_made(self, tls: Any) -> None:
        run, pki = tls
        http = ConsoleHttp(run.console_url, context(pki, "alice"))
        http.get("/warrants/new")
        reply = http.post("/lookup", {"lookup": "account:u1"}, headers={"HX-Request": "true"})
        assert reply.status == 200 and "One account" in reply.text
        entry = run.entries()[-1]
        assert (entry["event"], entry["principal"]) == ("account.looked_up", "alice")

    def test_another_persons_session_cookie_does_not_carry_over(self, tls: Any) -> None:
        """bob presenting alice's cookie is bob, with a fresh session (her token is void)."""
        run, pki = tls
        alice = ConsoleHttp(run.console_url, context(pki, "alice"))
        alice.get("/warrants/new")
        bob = ConsoleHttp(run.console_url, context(pki, "bob"))
        bob.cookie, bob.csrf = alice.cookie, alice.csrf
        reply = bob.post("/lookup", {"lookup": "account:u1"})
        assert reply.status == 403 and "CSRF" in reply.error
        assert run.entries()[-1]["principal"] == "bob"

    @pytest.mark.parametrize(
        ("who", "why"),
        [
            ("other-ca", "client certificate not accepted"),
            ("expired", "client certificate not accepted (certificate has expired)"),
            ("none", "TLS handshake refused"),
        ],
    )
    def test_refused_in_the_handshake_and_audited(
        self, tls: Any, tmp_path: pathlib.Path, who: str, why: str
    ) -> None:
        run, pki = tls
        if who == "other-ca":
            other = PkiPaths(tmp_path)
            init_pki(other, [("alice", "officer")])
            ctx = context(pki, "alice", client=other)
        else:
            ctx = context(pki, {"expired": "old", "none": None}[who])
        before = run.gateway.audit.size
        with pytest.raises((ssl.SSLError, ConnectionError)):
            ConsoleHttp(run.console_url, ctx).get("/")
        entry = wait_for_refusal(run, before)
        assert why in entry["why"]
        assert entry["principal"] is None

    def test_a_certificate_without_a_role_may_do_nothing(self, tls: Any) -> None:
        run, pki = tls
        http = ConsoleHttp(run.console_url, context(pki, "nobody"))
        assert "no role" in http.get("/").text
        reply = http.get("/warrants")
        assert reply.status == 403
        assert reply.error.startswith("'nobody' has no role")
        entry = run.entries()[-1]
        assert (entry["event"], entry["principal"], entry["rpc"]) == (
            "api.denied",
            "nobody",
            "List",
        )


def test_each_principal_gets_a_browser_bundle_with_its_own_password(tls: Any) -> None:
    """wsg init's NAME.p12 holds NAME's key and certificate and the CA, opens with the password
    beside it (and not without), and both files are private."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    _, pki = tls
    for name in ("alice", "bob"):
        bundle, password = pki.client_bundle(name), pki.client_bundle_password(name)
        assert bundle.stat().st_mode & 0o077 == 0 and password.stat().st_mode & 0o077 == 0
        key, cert, cas = pkcs12.load_key_and_certificates(
            bundle.read_bytes(), password.read_text().strip().encode()
        )
        assert cert is not None and key is not None
        assert cert.public_bytes(serialization.Encoding.PEM) == pki.client_cert(name).read_bytes()
        assert [c.public_bytes(serialization.Encoding.PEM) for c in cas] == [
            pki.ca_cert.read_bytes()
        ]
        with pytest.raises(ValueError):
            pkcs12.load_key_and_certificates(bundle.read_bytes(), b"wrong")
    assert pki.client_bundle("alice").read_bytes() != pki.client_bundle("bob").read_bytes()
