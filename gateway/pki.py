"""A development PKI for mutual TLS (`wsg init`), and where its files live.

One CA signs a server certificate (for the configured host names and loopback) and one client
certificate per principal, whose name is the certificate's common name and a SAN. The role each
principal was created with is recorded in DIR/roles.json, the role bindings the gateway reads in
either transport mode. Private keys are written 0600 and never overwritten: running `wsg init`
again adds principals and keeps the CA.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import os
import pathlib
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.auth import check_principal_name
from gateway.errors import FailedPrecondition, InvalidArgument
from gateway.paths import write_private

ROLES = ("officer", "reviewer", "auditor", "service", "policy_admin")
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
VALID_DAYS = 365


@dataclasses.dataclass(frozen=True)
class PkiPaths:
    root: pathlib.Path  # the data directory

    @property
    def dir(self) -> pathlib.Path:
        return self.root / "pki"

    @property
    def ca_cert(self) -> pathlib.Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> pathlib.Path:
        return self.dir / "ca.key"

    @property
    def server_cert(self) -> pathlib.Path:
        return self.dir / "server.crt"

    @property
    def server_key(self) -> pathlib.Path:
        return self.dir / "server.key"

    def client_cert(self, name: str) -> pathlib.Path:
        return self.dir / "clients" / f"{name}.crt"

    def client_key(self, name: str) -> pathlib.Path:
        return self.dir / "clients" / f"{name}.key"

    @property
    def roles(self) -> pathlib.Path:
        return self.root / "roles.json"


def parse_principal(text: str) -> tuple[str, str]:
    """'NAME:ROLE' -> (name, role), or InvalidArgument naming what is wrong."""
    name, sep, role = text.partition(":")
    if not sep:
        raise InvalidArgument(f"--principal {text!r}: give NAME:ROLE, e.g. alice:officer")
    if role not in ROLES:
        raise InvalidArgument(f"--principal {text!r}: role must be one of {', '.join(ROLES)}")
    try:
        check_principal_name(name)
    except Exception as exc:  # Unauthenticated's message names the rule
        raise InvalidArgument(f"--principal {text!r}: {exc}") from None
    return name, role


def read_roles(paths: PkiPaths) -> dict[str, tuple[str, ...]]:
    """The role bindings `wsg init` recorded: principal -> roles (empty if none)."""
    if not paths.roles.exists():
        return {}
    try:
        raw = json.loads(paths.roles.read_text())
    except ValueError as exc:
        raise FailedPrecondition(f"{paths.roles} is not valid JSON: {exc}") from None
    roles: dict[str, tuple[str, ...]] = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            roles[name] = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, list) else ()
    if not isinstance(raw, dict) or not all(r and set(r) <= set(ROLES) for r in roles.values()):
        raise FailedPrecondition(f"{paths.roles} must map principal names to roles among {ROLES}")
    return roles


def bind_roles(paths: PkiPaths, principals: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Add (name, role) bindings to DIR/roles.json (a principal may hold several roles)."""
    roles = read_roles(paths)
    for name, role in principals:
        roles[name] = tuple(dict.fromkeys([*roles.get(name, ()), role]))
    paths.root.mkdir(parents=True, exist_ok=True)
    tmp = paths.roles.with_suffix(".tmp")
    tmp.write_text(json.dumps({n: list(r) for n, r in sorted(roles.items())}, indent=2) + "\n")
    os.replace(tmp, paths.roles)
    return roles


def init(paths: PkiPaths, principals: Iterable[tuple[str, str]], hosts: Iterable[str] = (),
         now: dt.datetime | None = None, days: int = VALID_DAYS) -> list[pathlib.Path]:
    """Create what is missing: CA, server certificate, client certificates; record roles.
    Returns the files written."""
    now = now or dt.datetime.now(dt.UTC)
    written: list[pathlib.Path] = []
    (paths.dir / "clients").mkdir(parents=True, exist_ok=True, mode=0o700)
    if paths.ca_key.exists() != paths.ca_cert.exists():
        raise FailedPrecondition(f"{paths.dir} has only half a CA (key or certificate missing)")
    if not paths.ca_key.exists():
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wsg development CA")])
        cert = (_builder(name, name, key.public_key(), now, days)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .sign(key, hashes.SHA256()))
        written += _save(paths.ca_key, paths.ca_cert, key, cert)
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    if not paths.server_key.exists():
        names = list(dict.fromkeys([*DEFAULT_HOSTS, *hosts]))
        written += _issue(paths.server_key, paths.server_cert, ca_key, ca_cert, "wsg server",
                          [_san(h) for h in names], ExtendedKeyUsageOID.SERVER_AUTH, now, days)
    principals = list(principals)
    for name in dict.fromkeys(n for n, _ in principals):
        if not paths.client_key(name).exists():
            written += issue_client(paths, name, now, days, ca_key, ca_cert)
    bind_roles(paths, principals)
    return written + [paths.roles]


def issue_client(paths: PkiPaths, name: str, now: dt.datetime, days: int,
                 ca_key: object = None, ca_cert: x509.Certificate | None = None) -> list[pathlib.Path]:
    """A client certificate for `name` signed by the CA (tests issue expired ones with it)."""
    ca_key = ca_key or serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    ca_cert = ca_cert or x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    return _issue(paths.client_key(name), paths.client_cert(name), ca_key, ca_cert, name,
                  [x509.DNSName(name)], ExtendedKeyUsageOID.CLIENT_AUTH, now, days)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _builder(subject: x509.Name, issuer: x509.Name, public_key: object, now: dt.datetime,
             days: int) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days)))


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _issue(key_path: pathlib.Path, cert_path: pathlib.Path, ca_key: object, ca_cert: x509.Certificate,
           common_name: str, sans: list[x509.GeneralName], usage: x509.ObjectIdentifier,
           now: dt.datetime, days: int) -> list[pathlib.Path]:
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (_builder(subject, ca_cert.subject, key.public_key(), now, days)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    return _save(key_path, cert_path, key, cert)


def _save(key_path: pathlib.Path, cert_path: pathlib.Path, key: ec.EllipticCurvePrivateKey,
          cert: x509.Certificate) -> list[pathlib.Path]:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    write_private(key_path, pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return [key_path, cert_path]
