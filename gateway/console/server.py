"""Serving the console: uvicorn in a thread of the gateway process, HTTPS with client certificates.

Why uvicorn: a small, well-kept ASGI server whose HTTP/1.1 protocol (h11) is one class we can
extend. Neither uvicorn nor hypercorn yet hands the verified client certificate to the app (the
ASGI TLS extension is still being settled upstream), so `_ClientCertProtocol` reads it from the
connection's TLS object once the handshake verified it against the deployment's CA, and puts it
in the scope as that extension describes (`scope["extensions"]["tls"]["client_cert_chain"]`, PEM,
leaf first). A certificate from another CA, an expired one, or none never completes the
handshake; `_RefusingSSLObject` records each such refusal in the audit log first (through a
bounded queue, so a flood of bad handshakes can neither block the server nor fill the log).
"""

from __future__ import annotations

import asyncio
import queue
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

import structlog
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.api.auth import require_loopback, split_address
from gateway.audit.events import ConsoleRefused
from gateway.audit.log import AuditLog
from gateway.errors import FailedPrecondition, GatewayError, InvalidArgument
from gateway.identity.pki import PkiPaths

log = structlog.get_logger("wsg.console")
MAX_QUEUED_REFUSALS = 100  # handshake refusals waiting to be audited; beyond, counted
SHUTDOWN_SECONDS = 5.0


class RefusalRecorder:
    """Audits refused TLS handshakes off the event loop, at most MAX_QUEUED_REFUSALS waiting;
    refusals beyond that are counted and the count goes into the next entry written."""

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit
        self._queue: queue.Queue[str | None] = queue.Queue(MAX_QUEUED_REFUSALS)
        self._dropped = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="wsg-console-refusals", daemon=True)
        self._thread.start()

    def refused(self, why: str) -> None:
        try:
            self._queue.put_nowait(why)
        except queue.Full:
            with self._lock:
                self._dropped += 1

    def _run(self) -> None:
        while (why := self._queue.get()) is not None:
            with self._lock:
                dropped, self._dropped = self._dropped, 0
            try:
                self._audit.append(
                    ConsoleRefused(
                        principal=None,
                        why=why,
                        method=None,
                        path=None,
                        more_refused=dropped,
                    )
                )
            except GatewayError as exc:
                log.error("cannot audit a refused console handshake", why=exc.message)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=SHUTDOWN_SECONDS)


def tls_context(pki: PkiPaths, refused: Callable[[str], None]) -> ssl.SSLContext:
    """Our server certificate; clients must present one from our CA (as on gRPC)."""
    missing = [p for p in (pki.server_key, pki.server_cert, pki.ca_cert) if not p.exists()]
    if missing:
        raise FailedPrecondition(
            f"the console's HTTPS needs {', '.join(map(str, missing))}: run "
            f"`wsg init --data {pki.root}` (or use --insecure on loopback for development)"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(pki.ca_cert)
    context.verify_mode = ssl.CERT_REQUIRED

    class _RefusingSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise  # the handshake is still under way
            except ssl.SSLError as exc:
                refused(f"TLS handshake refused: {_reason(exc)}")
                raise

    context.sslobject_class = _RefusingSSLObject
    return context


def _reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"client certificate not accepted ({exc.verify_message})"
    return str(exc.reason or exc).replace("_", " ").lower()


class _ClientCertProtocol(H11Protocol):
    """uvicorn's h11 protocol, adding the verified client certificate to every request's scope
    (the ASGI TLS extension's `client_cert_chain`; empty without TLS)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):  # a stream server's are, always
            raise TypeError(f"not a stream transport: {type(transport).__name__}")
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        app = self.app

        async def with_tls(scope: Any, receive: Any, send: Any) -> None:
            if ssl_object is not None:
                extensions = dict(scope.get("extensions") or {})
                extensions["tls"] = {"client_cert_chain": chain}
                scope = {**scope, "extensions": extensions}
            await app(scope, receive, send)

        self.app = with_tls


def bind(address: str) -> socket.socket:
    """A listening socket on HOST:PORT (port 0: any free one), or InvalidArgument."""
    host, port = split_address(address)
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, where = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(where)
        sock.listen(128)
    except OSError as exc:
        raise InvalidArgument(
            f"console: cannot listen on {address} ({exc.strerror or exc})"
        ) from None
    sock.setblocking(False)
    return sock


class ConsoleServer:
    """The console's ASGI app served by uvicorn in its own thread."""

    def __init__(
        self, app: Any, address: str, insecure: bool, pki: PkiPaths, audit: AuditLog
    ) -> None:
        if insecure:
            require_loopback(address)
        self._recorder = None if insecure else RefusalRecorder(audit)
        context = None if self._recorder is None else tls_context(pki, self._recorder.refused)
        self._socket = bind(address)
        self.port = self._socket.getsockname()[1]
        host = split_address(address)[0]
        self.url = f"{'http' if insecure else 'https'}://{host}:{self.port}"
        config = uvicorn.Config(
            app,
            http=_ClientCertProtocol,
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(SHUTDOWN_SECONDS),
            ssl_context_factory=None if context is None else (lambda cfg, default: context),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="wsg-console",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()
        log.info("wsg console serving", url=self.url, tls=self._recorder is not None)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=SHUTDOWN_SECONDS * 2)
        else:
            self._socket.close()
        if self._recorder is not None:
            self._recorder.close()
