"""Legal process as it arrives, beyond submit and decide: the deadlines page, a preservation's
hold extension, and the deferral of a request's user notices under a court order.

Each answers as its RPC does (ListDue through gateway.api.servicers.warrants.due_for,
ExtendPreservation, DeferNotice), through the same API policy, checks and audit entries: a
clock found passed for the first time gets its `clock.passed` entry, whoever looks first.
"""

from __future__ import annotations

import dataclasses

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.api.servicers.warrants import due_for
from gateway.console.forms import utc_input
from gateway.console.pages import Pages, relative
from gateway.console.web import Visit, posted
from gateway.errors import FailedPrecondition
from gateway.model import Warrant, WarrantState
from gateway.warrants.book import WarrantBook
from gateway.warrants.outbox import Deferral, Notice
from gateway.warrants.preservation import Hold

STATUSES = ("overdue", "due", "pending")  # as gateway.warrants.clocks names them
CLOCKS = {  # what each clock means, for people
    "response": "answer the request",
    "emergency_follow_up": "legal process must follow the emergency disclosure",
    "preservation": "the preserved copy is purged",
    "nondisclosure": "non-disclosure ends: the person named may be told",
    "expiry": "the warrant stops releasing",
}


class ProcessPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.book = pages.services.book
        self.guard = pages.services.guard

    def due(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        principal = visit.require_principal()
        found = due_for(self.book, self.guard, principal)
        status = request.query_params.get("status", "")
        shown = [d for d in found if d.status == status] if status in STATUSES else found
        now = self.book.now()
        return self.pages.render(
            visit,
            "process/due.html",
            rows=[(d, CLOCKS.get(d.clock, d.clock), relative(d.due_at, now)) for d in shown],
            counts={s: sum(d.status == s for d in found) for s in STATUSES},
            chosen=status if status in STATUSES else "",
            statuses=STATUSES,
        )

    def extend_hold(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        """ExtendPreservation: once, by as long again (the book refuses and audits the rest)."""
        principal = visit.require_principal()
        warrant = self.pages.warrant_for(principal, "ExtendPreservation", request.path_params["id"])
        self.book.holds.extend(warrant, principal, str(posted(form).get("reason") or ""))
        return RedirectResponse(f"/warrants/{warrant.id}#preservation", status_code=303)

    def defer_notices(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        """DeferNotice: a court order extending non-disclosure holds the notices back until
        its end (the book checks and audits it, with the order's sha256)."""
        principal = visit.require_principal()
        warrant = self.pages.warrant_for(principal, "DeferNotice", request.path_params["id"])
        values = posted(form)
        until = utc_input(str(values.get("until") or ""), "until")
        order = str(values.get("order_sha256") or "").strip().lower()
        self.book.notices.defer(warrant, until, order, principal)
        return RedirectResponse(f"/warrants/{warrant.id}#notices", status_code=303)


@dataclasses.dataclass(frozen=True)
class RequestNotices:
    """A request's user notices as its page shows them."""

    queued: list[Notice]
    deferral: Deferral | None

    @property
    def all_sent(self) -> bool:
        """Every notice queued was sent: nothing is left to defer."""
        return bool(self.queued) and all(n.sent_at is not None for n in self.queued)


RELEASING = (WarrantState.APPROVED, WarrantState.EXPIRED, WarrantState.REVOKED)


def notices_of(book: WarrantBook, warrant: Warrant, state: WarrantState) -> RequestNotices | None:
    """A request's notices and their deferral; None where there is nothing to say (a request
    that could not have released, with no notice and no deferral)."""
    queued, deferral = book.notices.of_warrant(warrant)
    if state not in RELEASING and not queued and deferral is None:
        return None
    return RequestNotices(queued, deferral)


def hold_of(book: WarrantBook, warrant: Warrant) -> Hold | None:
    """An approved preservation request's frozen copy as the gateway keeps it; None for any
    other request (its page then shows no hold)."""
    try:
        return book.holds.hold(warrant.id)
    except FailedPrecondition:
        return None
