"""A development PKI for mutual TLS (`wsg init`), and where its files live.

One CA signs a server certificate (for the configured host names and loopback) and one client
certificate per principal, whose name is the certificate's common name and a SAN. Each client
also gets a PKCS#12 bundle (NAME.p12, its password in NAME.p12.password) to import into a
browser for the web console. The role each
principal was created with is recorded in DIR/roles.json (gateway.identity.roles). Private keys
are written 0600 and never overwritten: running `wsg init` again adds principals and keeps the CA.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import pathlib
import secrets
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.datadir import private_dir, require_private, write_private
from gateway.errors import FailedPrecondition
from gateway.identity.roles import bind_roles, require_new_bindings, roles_file

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

    def client_bundle(self, name: str) -> pathlib.Path:
        """Key, certificate and CA as PKCS#12, the file browsers import (the web console)."""
        return self.dir / "clients" / f"{name}.p12"

    def client_bundle_password(self, name: str) -> pathlib.Path:
        return self.dir / "clients" / f"{name}.p12.password"


def init(
    paths: PkiPaths,
    principals: Iterable[tuple[str, str]],
    hosts: Iterable[str] = (),
    now: dt.datetime | None = None,
    days: int = VALID_DAYS,
) -> list[pathlib.Path]:
    """Create what is missing: CA, server certificate, client certificates; record roles.
    Returns the files written."""
    now = now or dt.datetime.now(dt.UTC)
    principals = list(principals)
    require_new_bindings(roles_file(paths.root), principals)  # before anything is written
    written: list[pathlib.Path] = []
    for directory in (paths.root, paths.dir, paths.dir / "clients"):
        private_dir(directory)
    require_private(paths.root)
    if paths.ca_key.exists() != paths.ca_cert.exists():
        raise FailedPrecondition(f"{paths.dir} has only half a CA (key or certificate missing)")
    if not paths.ca_key.exists():
        key = _new_key()
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wsg development CA")])
        cert = (
            _builder(ca_name, ca_name, key.public_key(), now, days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        written += _save(paths.ca_key, paths.ca_cert, key, cert)
    ca_key = _load_ca_key(paths)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    if not paths.server_key.exists():
        names = list(dict.fromkeys([*DEFAULT_HOSTS, *hosts]))
        written += _issue(
            paths.server_key,
            paths.server_cert,
            ca_key,
            ca_cert,
            "wsg server",
            [_san(h) for h in names],
            ExtendedKeyUsageOID.SERVER_AUTH,
            now,
            days,
        )
    for name in dict.fromkeys(n for n, _ in principals):
        if not paths.client_key(name).exists():
            written += issue_client(paths, name, now, days, ca_key, ca_cert)
        if not paths.client_bundle(name).exists():
            written += write_bundle(paths, name, ca_cert)
    bind_roles(roles_file(paths.root), principals)
    return [*written, roles_file(paths.root)]


def issue_client(
    paths: PkiPaths,
    name: str,
    now: dt.datetime,
    days: int,
    ca_key: ec.EllipticCurvePrivateKey | None = None,
    ca_cert: x509.Certificate | None = None,
) -> list[pathlib.Path]:
    """A client certificate for `name` signed by the CA (tests issue expired ones with it)."""
    ca_key = ca_key or _load_ca_key(paths)
    ca_cert = ca_cert or x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    return _issue(
        paths.client_key(name),
        paths.client_cert(name),
        ca_key,
        ca_cert,
        name,
        [x509.DNSName(name)],
        ExtendedKeyUsageOID.CLIENT_AUTH,
        now,
        days,
    )


def _load_ca_key(paths: PkiPaths) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise FailedPrecondition(f"{paths.ca_key} is not the EC key `wsg init` makes")
    return key


def write_bundle(
    paths: PkiPaths, name: str, ca_cert: x509.Certificate | None = None
) -> list[pathlib.Path]:
    """NAME.p12 (key, certificate and CA) for a browser to import, encrypted with a new random
    password kept beside it in NAME.p12.password; both mode 0600."""
    ca_cert = ca_cert or x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(paths.client_key(name).read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(paths.client_cert(name).read_bytes())
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise FailedPrecondition(f"{paths.client_key(name)} is not an EC private key")
    password = secrets.token_urlsafe(18)
    bundle = pkcs12.serialize_key_and_certificates(
        name.encode(),
        key,
        cert,
        [ca_cert],
        serialization.BestAvailableEncryption(password.encode()),
    )
    write_private(paths.client_bundle_password(name), (password + "\n").encode())
    write_private(paths.client_bundle(name), bundle)
    return [paths.client_bundle(name), paths.client_bundle_password(name)]


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: dt.datetime,
    days: int,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
    )


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _issue(
    key_path: pathlib.Path,
    cert_path: pathlib.Path,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    sans: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    now: dt.datetime,
    days: int,
) -> list[pathlib.Path]:
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        _builder(subject, ca_cert.subject, key.public_key(), now, days)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return _save(key_path, cert_path, key, cert)


def _save(
    key_path: pathlib.Path,
    cert_path: pathlib.Path,
    key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
) -> list[pathlib.Path]:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(key_path, pem)
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return [key_path, cert_path]
