"""What every page handler has at hand: the gateway's services, the templates, the navigation.

The services are the gateway's own objects (the warrant book, the API guard, the audit reader,
the release pipeline): the console calls them exactly as the gRPC servicers do, with the
principal of the request, so the API policy decides here too and every action is audited once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from gateway.audit.reader import AuditReader
from gateway.console.web import Visit
from gateway.model import SPEC_FIELDS, Warrant, WarrantState
from gateway.policy.api import ApiGuard
from gateway.release.items import Batch, Started, Summary
from gateway.warrants.book import WarrantBook

ReleaseItems = Iterator[Started | Batch | Summary]
VERIFIER_SCRIPT = "verify-v1.mjs"
HTMX_SCRIPT = "htmx-2.0.11.min.js"


@dataclasses.dataclass(frozen=True)
class Services:
    """The gateway's components the console acts through (nothing else reaches the data)."""

    book: WarrantBook
    guard: ApiGuard
    reader: AuditReader
    release_run: Callable[[Warrant, str, int], ReleaseItems]
    roles: Callable[[], Mapping[str, tuple[str, ...]]]
    insecure: bool


class Pages:
    """Rendering with the navigation and facts every page shows."""

    def __init__(self, services: Services, env: jinja2.Environment) -> None:
        self.services = services
        self.env = env
        env.globals.update(
            format_time=_format_time,
            relative=relative,
            spec_fields=SPEC_FIELDS,  # the warrant form and summary draw every field from these
            shown=shown,
            state_label=state_label,
            static=lambda name: f"/static/{name}",
            htmx_script=HTMX_SCRIPT,
            verifier_script=VERIFIER_SCRIPT,
            insecure=services.insecure,
        )

    def may(self, visit: Visit, rpc: str, submitted_by: str | None = None) -> bool:
        return visit.principal is not None and self.services.guard.may(
            visit.principal, rpc, submitted_by
        )

    def warrant_for(self, principal: str, rpc: str, warrant_id: str) -> Warrant:
        """The warrant, once the API policy lets `principal` make `rpc` on it (as gRPC asks)."""
        warrant = self.services.book.get(warrant_id)
        self.services.guard.require(principal, rpc, warrant.id, warrant.submitted_by)
        return warrant

    def nav(self, visit: Visit) -> list[tuple[str, str]]:
        """The links this person's roles can use (the API policy decides, as for every call)."""
        links = [
            ("/warrants", "Requests", "List", None),
            ("/warrants/new", "New request", "Submit", None),
            ("/review", "Review queue", "Approve", ""),
            ("/due", "Deadlines", "ListDue", None),
            ("/audit", "Audit log", "ListEntries", None),
            ("/audit/checkpoint", "Checkpoint", "GetCheckpoint", None),
            ("/audit/report", "Transparency report", "GetTransparencyReport", None),
        ]
        return [(href, label) for href, label, rpc, rel in links if self.may(visit, rpc, rel)]

    def render(
        self, visit: Visit, template: str, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        body = self.env.get_template(template).render(
            visit=visit,
            nav=self.nav(visit) if visit.principal else [],
            now=self.services.book.now(),
            **context,
        )
        return HTMLResponse(body, status_code=status)

    def error(self, visit: Visit | None, status: int, title: str, message: str) -> HTMLResponse:
        body = self.env.get_template("error.html").render(
            visit=visit,
            nav=self.nav(visit) if visit is not None and visit.principal else [],
            title=title,
            message=message,
        )
        return HTMLResponse(body, status_code=status)

    def fragment(self, visit: Visit, template: str, **context: Any) -> HTMLResponse:
        """A piece of a page for htmx to swap in."""
        return HTMLResponse(self.env.get_template(template).render(visit=visit, **context))


def shown(value: object) -> str:
    """An audit entry's field as the tables show it (and as the browser's check expects)."""
    return "—" if value is None else str(value)


def _format_time(value: dt.datetime | str | None) -> str:
    """A time for people: UTC to the minute, or to the second when it has seconds."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    value = value.astimezone(dt.UTC)
    pattern = "%Y-%m-%d %H:%M" if value.second == value.microsecond == 0 else "%Y-%m-%d %H:%M:%S"
    return value.strftime(pattern) + " UTC"


def state_label(warrant: Warrant, now: dt.datetime) -> str:
    return warrant.live_state(now).value


def deadline(warrant: Warrant, now: dt.datetime) -> str:
    """How long the warrant has left, for people ("expires in 3 days"); a request that was
    never decided says it expired and can no longer be approved."""
    state = warrant.live_state(now)
    if state in (WarrantState.REJECTED, WarrantState.REVOKED, WarrantState.EXPIRED):
        return ""
    when = relative(warrant.spec.expires_at, now)
    if warrant.spec.expires_at <= now:
        return f"expired {when}: it can no longer be approved"
    return f"expires {when}"


def relative(at: dt.datetime, now: dt.datetime) -> str:
    """'in 3 days', '5 hours ago': how far `at` is from now, in the largest whole unit."""
    seconds = (at - now).total_seconds()
    span = abs(seconds)
    if span >= 2 * 86400:
        amount = f"{int(span // 86400)} days"
    elif span >= 3600:
        hours = int(span // 3600)
        amount = f"{hours} hour{'' if hours == 1 else 's'}"
    else:
        return "within the hour" if seconds > 0 else "less than an hour ago"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"
