"""The console's routes, and the Console a gateway serves beside its gRPC API.

Server-rendered pages (Starlette routes, Jinja2 templates autoescaping every value) with htmx
for the few partial updates (a field's message, a look-up's answer). Where to add a page for a
new concept (legal-process tiers, accountability): a handler class in its own module beside
officer.py, its routes in `routes` below, its templates under templates/<concept>/, and a link
in Pages.nav keyed to the RPC that guards it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography import x509
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.api.auth import is_loopback, split_address
from gateway.console.auditor import AuditorPages
from gateway.console.officer import OfficerPages
from gateway.console.pages import Pages, Services
from gateway.console.process import ProcessPages
from gateway.console.releases import ReleasePages
from gateway.console.reviewer import ReviewerPages
from gateway.console.server import ConsoleServer
from gateway.console.web import HERE, Gate, Handler, SecurityHeaders, Sessions, endpoint, templates
from gateway.identity.pki import PkiPaths

if TYPE_CHECKING:
    from gateway.api.server import Gateway

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def routes(pages: Pages, gate: Gate) -> list[BaseRoute]:
    officer = OfficerPages(pages)
    reviewer = ReviewerPages(pages)
    auditor = AuditorPages(pages)
    releases = ReleasePages(pages)
    process = ProcessPages(pages)

    def page(path: str, handler: Handler, methods: tuple[str, ...] = ("GET",)) -> Route:
        return Route(path, endpoint(gate, pages.error, handler), methods=list(methods))

    return [
        page("/", officer.home),
        page("/signin", officer.signin_page),
        page("/signin", officer.signin, ("POST",)),
        page("/signout", officer.signout, ("POST",)),
        page("/warrants", officer.list),
        page("/warrants/new", officer.new),
        page("/warrants/new", officer.submit, ("POST",)),
        page("/warrants/check/{field}", officer.check, ("POST",)),
        page("/lookup", officer.lookup, ("POST",)),
        page("/warrants/{id}", officer.detail),
        page("/warrants/{id}/release", officer.release, ("POST",)),
        page("/warrants/{id}/revoke", officer.revoke, ("POST",)),
        page("/warrants/{id}/extend-hold", process.extend_hold, ("POST",)),
        page("/warrants/{id}/defer-notices", process.defer_notices, ("POST",)),
        page("/warrants/{id}/{action}", reviewer.decide, ("POST",)),
        page("/review", reviewer.queue),
        page("/due", process.due),
        page("/audit", auditor.log),
        page("/audit/checkpoint", auditor.checkpoint),
        page("/audit/report", auditor.report),
        page("/audit/report.json", auditor.report_json),
        page("/audit/proofs.json", auditor.proofs),
        page("/audit/consistency.json", auditor.consistency),
        page("/audit/{index:int}", auditor.entry),
        page("/releases/{index:int}", releases.detail),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


def served_hosts(address: str, pki: PkiPaths, insecure: bool) -> frozenset[str]:
    """The host names requests may name: the listen address's, loopback's when it listens
    there, and (with TLS) every name of the server certificate."""
    host = split_address(address)[0].strip("[]").lower()
    hosts = {host}
    if is_loopback(host) or host in ("0.0.0.0", "::"):  # noqa: S104 - names, not a bind
        hosts |= LOOPBACK_NAMES
    if not insecure and pki.server_cert.exists():
        cert = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            sans = x509.SubjectAlternativeName([])
        hosts |= {n.lower() for n in sans.get_values_for_type(x509.DNSName)}
        hosts |= {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    return frozenset(hosts)


class Console:
    """The web console of one gateway: same process, same components (a gateway Companion)."""

    def __init__(self, gateway: Gateway, address: str) -> None:
        config = gateway.config
        services = Services(
            book=gateway.book,
            guard=gateway.guard,
            reader=gateway.reader,
            release_run=gateway.release_run,
            roles=lambda: gateway.roles,
            insecure=config.insecure,
        )
        gate = Gate(
            sessions=Sessions(gateway.secret),
            audit=gateway.audit,
            roles=services.roles,
            insecure=config.insecure,
            hosts=served_hosts(address, gateway.pki, config.insecure),
        )
        pages = Pages(services, templates())
        app = SecurityHeaders(Starlette(routes=routes(pages, gate)), gate, not config.insecure)
        self._server = ConsoleServer(app, address, config.insecure, gateway.pki, gateway.audit)
        self.url = self._server.url
        self.port = self._server.port

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()


def attach_console(gateway: Gateway) -> Console | None:
    """The console the gateway's settings ask for (`console = HOST:PORT`), served with it."""
    if gateway.config.console is None:
        return None
    console = Console(gateway, gateway.config.console)
    gateway.attach(console)
    return console
