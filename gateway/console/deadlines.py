"""The deadlines page: every clock that runs on the requests a person may see (ListDue).

The same answer as `wsg due` and WarrantService.ListDue (gateway.api.servicers.warrants.due_for):
a clock found passed for the first time gets its `clock.passed` entry, whoever looks first.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.servicers.warrants import due_for
from gateway.console.pages import Pages, relative
from gateway.console.web import Visit

STATUSES = ("overdue", "due", "pending")  # as gateway.warrants.clocks names them
CLOCKS = {  # what each clock means, for people
    "response": "answer the request",
    "emergency_follow_up": "legal process must follow the emergency disclosure",
    "preservation": "the preserved copy is purged",
    "nondisclosure": "non-disclosure ends: the person named may be told",
    "expiry": "the warrant stops releasing",
}


class DeadlinePages:
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
            "deadlines/due.html",
            rows=[(d, CLOCKS.get(d.clock, d.clock), relative(d.due_at, now)) for d in shown],
            counts={s: sum(d.status == s for d in found) for s in STATUSES},
            chosen=status if status in STATUSES else "",
            statuses=STATUSES,
        )
