"""The request plumbing every console page shares: who is asking, sessions, CSRF, origins,
security headers, templates and errors.

Who is asking. With TLS (the default) the principal is the common name of the client certificate
the handshake verified against the deployment's CA, exactly as on gRPC (gateway.api.auth), and
its roles are DIR/roles.json's. In the loopback-only development mode the person picks a
principal of roles.json on a sign-in page and the session remembers it.

Sessions are one signed cookie (itsdangerous, key derived from the gateway's secret, so replicas
sharing keys accept each other's): Secure, HttpOnly, SameSite=Strict, `__Host-` prefixed, eight
hours. It carries the CSRF token every form posts back. A post is refused, and audited as
`console.refused`, unless its Origin (or, lacking one, its Referer) is the console itself and its
token matches the session's; a request naming a host the console does not serve is refused too
(DNS rebinding). The Content-Security-Policy allows scripts and styles from the console's own
static files only: nothing inline, nothing from elsewhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import pathlib
import secrets
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import itsdangerous
import jinja2
import structlog
from cryptography import x509
from cryptography.x509.oid import NameOID
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.audit.events import ConsoleRefused
from gateway.audit.log import AuditLog
from gateway.errors import GatewayError, InvalidArgument, PermissionDenied, Unauthenticated
from gateway.identity.roles import check_principal_name

log = structlog.get_logger("wsg.console")
HERE = pathlib.Path(__file__).resolve().parent
SESSION_COOKIE = "__Host-wsg-console"
SESSION_SECONDS = 8 * 3600
MAX_FORM_BYTES = 256 << 10

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]

# HTTP status for each gRPC status a GatewayError carries.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "FAILED_PRECONDITION": 409,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


class Refused(Exception):
    """A request the console will not act on (audited as console.refused)."""

    def __init__(self, why: str, status: int = 403) -> None:
        super().__init__(why)
        self.why = why
        self.status = status


def templates() -> jinja2.Environment:
    """Every value autoescaped; a missing variable is an error, never an empty string."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


@dataclasses.dataclass
class Visit:
    """One request's caller: the principal (None before a development sign-in), their roles, and
    the session that carries the CSRF token."""

    principal: str | None
    roles: tuple[str, ...]
    session: dict[str, Any]
    fresh_session: bool = False  # new: no form can carry its token yet; sent with the response
    save_session: bool = False  # changed by the page (sign-in): sent with the response

    @property
    def csrf(self) -> str:
        return str(self.session["csrf"])

    def require_principal(self) -> str:
        if self.principal is None:
            raise Unauthenticated("sign in first")
        return self.principal


class Sessions:
    """Signed session cookies (itsdangerous) carrying principal and CSRF token."""

    def __init__(self, secret: bytes) -> None:
        key = hmac.new(secret, b"wsg console session v1", hashlib.sha256).digest()
        self._serializer = itsdangerous.URLSafeTimedSerializer(key, salt="wsg-console")

    def load(self, request: Request) -> tuple[dict[str, Any], bool]:
        """(session, whether it is new)."""
        raw = request.cookies.get(SESSION_COOKIE)
        if raw:
            try:
                data = self._serializer.loads(raw, max_age=SESSION_SECONDS)
            except itsdangerous.BadData:
                data = None
            if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                return data, False
        return {"csrf": secrets.token_urlsafe(32)}, True

    def save(self, response: Response, session: dict[str, Any]) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self._serializer.dumps(session),
            max_age=SESSION_SECONDS,
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )


def certificate_principal(scope: Scope) -> str:
    """The common name of the verified client certificate (the ASGI TLS extension's chain)."""
    chain = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or []
    if not chain:
        raise Unauthenticated("no verified client certificate on the request")
    cert = x509.load_pem_x509_certificate(chain[0].encode())
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise Unauthenticated("the client certificate must name exactly one principal")
    value = names[0].value
    return check_principal_name(value if isinstance(value, str) else value.decode())


@dataclasses.dataclass(frozen=True)
class Gate:
    """The checks before any page runs, with what they need."""

    sessions: Sessions
    audit: AuditLog
    roles: Callable[[], Mapping[str, tuple[str, ...]]]
    insecure: bool
    hosts: frozenset[str]

    async def visit(self, request: Request) -> Visit:
        session, fresh = self.sessions.load(request)
        principal: str | None
        if self.insecure:
            named = session.get("principal")
            principal = named if isinstance(named, str) and named in self.roles() else None
        else:
            principal = certificate_principal(request.scope)
            if session.get("principal") != principal:  # another person's cookie: start afresh
                session, fresh = {"csrf": secrets.token_urlsafe(32), "principal": principal}, True
        roles = tuple(self.roles().get(principal, ())) if principal else ()
        return Visit(principal, roles, session, fresh)

    async def check_post(self, request: Request, visit: Visit) -> FormData:
        """The form of a post that came from the console itself with the session's token."""
        self.check_origin(request)
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():  # browsers always say how long a form is
            raise Refused("form without a Content-Length", 411)
        if int(length) > MAX_FORM_BYTES:
            raise Refused(f"form larger than {MAX_FORM_BYTES} bytes", 413)
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind not in FORM_TYPES:
            raise Refused(f"form of type {kind[:60]!r}, not {' or '.join(FORM_TYPES)}", 415)
        require_utf8_form(kind, await request.body())
        form = await request.form(max_files=0, max_fields=200)
        token = form.get("csrf")
        if visit.fresh_session or not isinstance(token, str):
            raise Refused("form without the session's CSRF token")
        if not hmac.compare_digest(token.encode(), visit.csrf.encode()):
            raise Refused("form with a CSRF token that is not this session's")
        return form

    def check_origin(self, request: Request) -> None:
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        origin = request.headers.get("origin")
        if origin is not None:
            if origin != own:
                raise Refused(f"post from another origin ({origin[:100]})")
            return
        referer = request.headers.get("referer")
        if referer is None or not (referer == own or referer.startswith(own + "/")):
            raise Refused("post with neither Origin nor a Referer of this console")

    def check_host(self, scope: Scope) -> None:
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        name = host.rpartition(":")[0] if host.rpartition(":")[2].isdigit() else host
        if name.strip("[]").lower() not in self.hosts:
            raise Refused(
                f"request for host {host[:100]!r}, which this console does not serve", 421
            )

    async def refuse(self, request: Request, visit: Visit | None, refused: Refused) -> None:
        principal = visit.principal if visit is not None else None
        event = ConsoleRefused(
            principal=principal,
            why=refused.why,
            method=request.method,
            path=request.url.path[:200],
        )
        try:
            await run_in_threadpool(self.audit.append, event)
        except GatewayError as exc:
            log.error("cannot audit a console refusal", why=exc.message)
        log.info("console refused", why=refused.why, principal=principal, path=request.url.path)


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every response (streams untouched), and
    the host check before anything else runs."""

    def __init__(self, app: ASGIApp, gate: Gate, tls: bool) -> None:
        self._app = app
        self._gate = gate
        self._extra = [(b"strict-transport-security", b"max-age=31536000")] if tls else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if static or k.lower() != b"cache-control"
                ]
                headers += SECURITY_HEADERS + self._extra
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            self._gate.check_host(scope)
        except Refused as refused:
            request = Request(scope, receive)
            await self._gate.refuse(request, None, refused)
            response = Response(refused.why, status_code=refused.status, media_type="text/plain")
            await response(scope, receive, with_headers)
            return
        await self._app(scope, receive, with_headers)


Handler = Callable[[Request, Visit, FormData | None], Response]
FORM_TYPE = "application/x-www-form-urlencoded"
FORM_TYPES = (FORM_TYPE, "multipart/form-data")


def require_utf8_form(kind: str, body: bytes) -> None:
    """InvalidArgument naming the field whose value is not UTF-8. Starlette reads such bytes
    as Latin-1 or as U+FFFD without a word, so "A\\xffB" would arrive as another text. A
    multipart form (files are refused) is text throughout: the whole body must be UTF-8."""
    if kind != FORM_TYPE:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"form: not valid UTF-8 (byte {exc.start})") from None
        return
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidArgument("form: bytes outside ASCII in an urlencoded form") from None
    for pair in text.split("&"):
        name, _, value = pair.partition("=")
        shown = urllib.parse.unquote_to_bytes(name.replace("+", " "))
        for part in (shown, urllib.parse.unquote_to_bytes(value.replace("+", " "))):
            try:
                part.decode("utf-8")
            except UnicodeDecodeError:
                label = shown.decode("utf-8", "replace")[:40]
                raise InvalidArgument(f"form field {label!r}: not valid UTF-8") from None


def posted(form: FormData | None) -> FormData:
    """The checked form of a post (the endpoint parsed it; GET handlers have none)."""
    if form is None:
        raise InvalidArgument("a form is required")
    return form


ErrorPage = Callable[[Visit | None, int, str, str], Response]


def endpoint(
    gate: Gate, error_page: ErrorPage, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    """An ASGI endpoint around a page handler: identify the caller, check a post (origin, CSRF),
    run the handler in a thread (the domain blocks: SQLite, fsync), map errors to pages."""

    async def run(request: Request) -> Response:
        visit: Visit | None = None
        try:
            visit = await gate.visit(request)
            form = await gate.check_post(request, visit) if request.method == "POST" else None
            response = await run_in_threadpool(handler, request, visit, form)
        except Refused as refused:
            await gate.refuse(request, visit, refused)
            response = error_page(visit, refused.status, "Refused", refused.why)
        except GatewayError as exc:
            status = HTTP_STATUS.get(exc.code.name, 500)
            title = "Not allowed" if isinstance(exc, PermissionDenied) else "Cannot do that"
            if isinstance(exc, Unauthenticated):
                title = "Sign in"
            response = error_page(visit, status, title, exc.message)
        except Exception:  # logged with a reference, never shown to the person
            ref = uuid.uuid4().hex[:12]
            log.exception("console internal error", path=request.url.path, ref=ref)
            response = error_page(
                visit, 500, "Internal error", f"internal error (server log reference {ref})"
            )
        if visit is not None and (visit.fresh_session or visit.save_session):
            gate.sessions.save(response, visit.session)
        return response

    return run
