"""Pages for legal reviewers: the approval queue, approve or reject with a reason.

The two-person rule is the warrant book's (it refuses and audits a decision on one's own
warrant); the queue shows it before anyone tries: a warrant the reviewer submitted carries no
decision buttons and says who must decide instead.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.console.pages import Pages, deadline
from gateway.console.web import Visit, posted
from gateway.errors import InvalidArgument
from gateway.model import Tier, WarrantState


class ReviewerPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.book = pages.services.book
        self.guard = pages.services.guard

    def queue(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        principal = visit.require_principal()
        self.guard.require(principal, "List")
        now = self.book.now()
        waiting = self.guard.visible(principal, self.book.list(WarrantState.SUBMITTED, 500))
        items = [
            {
                "warrant": w,
                "deadline": deadline(w, now),
                "own": w.submitted_by == principal,
                "may_decide": self.pages.may(visit, "Approve", w.submitted_by),
            }
            for w in reversed(waiting)  # oldest first: first come, first reviewed
        ]
        return self.pages.render(visit, "review/queue.html", items=items)

    def decide(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        """Approve or reject (the URL says which), with the reviewer's reason."""
        principal = visit.require_principal()
        action = request.path_params["action"]
        rpc = {"approve": "Approve", "reject": "Reject"}.get(action)
        if rpc is None:
            raise InvalidArgument(f"action: {action[:20]!r} is neither approve nor reject")
        warrant = self.pages.warrant_for(principal, rpc, request.path_params["id"])
        reason = str(posted(form).get("reason") or "")
        if rpc == "Reject" and not reason.strip():
            raise InvalidArgument("reason: say why the warrant is rejected")
        if rpc == "Approve":
            if self.book.tier(warrant) is Tier.EMERGENCY:
                self.guard.require(principal, "ApproveEmergency", warrant.id, warrant.submitted_by)
            second = self.guard.may(principal, "SecondReview", warrant.submitted_by)
            self.book.approve(warrant.id, principal, reason, second)
        else:
            self.book.reject(warrant.id, principal, reason)
        back = str(posted(form).get("back") or "")
        return RedirectResponse(back if back in ("/review",) else f"/warrants/{warrant.id}", 303)
