"""Who is calling. The servicers ask an Authenticator; they never read identity themselves.

With mutual TLS (the default) the principal is the common name of the client certificate the
TLS handshake verified against the gateway's CA. The explicit insecure development mode takes it
from the `x-wsg-principal` request metadata instead, and the server refuses to run that mode on
anything but a loopback address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Protocol

import grpc

from gateway.errors import InvalidArgument, Unauthenticated
from gateway.identity.roles import check_principal_name

PRINCIPAL_HEADER = "x-wsg-principal"


class Authenticator(Protocol):
    def authenticate(self, context: grpc.ServicerContext) -> str:
        """The calling principal's name, or raise Unauthenticated."""
        ...


class InsecureMetadataAuthenticator:
    """Development only: trusts the principal named in request metadata."""

    def authenticate(self, context: grpc.ServicerContext) -> str:
        for key, value in context.invocation_metadata() or ():
            if key == PRINCIPAL_HEADER:
                return check_principal_name(str(value))
        raise Unauthenticated(
            f"no identity on the call: pass --identity NAME (metadata {PRINCIPAL_HEADER})"
        )


class MtlsAuthenticator:
    """The principal named by the verified client certificate (common name)."""

    def authenticate(self, context: grpc.ServicerContext) -> str:
        found: bytes | Iterable[bytes] = (context.auth_context() or {}).get(
            "x509_common_name"
        ) or []
        names = [found] if isinstance(found, bytes) else list(found)
        if len(names) != 1:
            raise Unauthenticated("no verified client certificate on the call")
        return check_principal_name(names[0].decode("utf-8", "replace"))


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_address(address: str) -> tuple[str, int]:
    """'HOST:PORT' (or '[v6]:PORT') -> (host, port); InvalidArgument naming what is wrong."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument(f"{address!r} is not HOST:PORT")
    return host, int(port)


def require_loopback(address: str) -> None:
    host, _ = split_address(address)
    if not is_loopback(host):
        raise InvalidArgument(
            f"--insecure is allowed only on a loopback address (127.0.0.1, ::1, localhost), "
            f"not {host!r}"
        )
