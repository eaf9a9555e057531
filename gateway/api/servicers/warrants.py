"""WarrantService: submit, read and decide warrants (authenticate, authorize, call the book)."""

from __future__ import annotations

import grpc

from gateway.api import pages
from gateway.api.auth import Authenticator
from gateway.api.calls import unary, warrant_id
from gateway.api.convert import (
    deadline_to_pb,
    hold_to_pb,
    participation_to_pb,
    spec_from_pb,
    state_from_pb,
    step_to_pb,
    warrant_to_pb,
)
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.errors import InvalidArgument
from gateway.model import Tier, Warrant
from gateway.policy.api import ApiGuard
from gateway.warrants.book import WarrantBook
from gateway.warrants.clocks import Deadline

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def due_for(book: WarrantBook, guard: ApiGuard, principal: str) -> list[Deadline]:
    """ListDue's answer, for gRPC and the console alike: once the API policy allows the call,
    every deadline clock of the warrants `principal` may see, soonest first."""
    guard.require(principal, "ListDue")
    found = book.due(principal)
    seen = {w.id for w in guard.visible(principal, book.list(limit=None))}
    return [d for d in found if d.warrant in seen]


class WarrantServicer(pb_grpc.WarrantServiceServicer):
    def __init__(self, book: WarrantBook, auth: Authenticator, guard: ApiGuard) -> None:
        self._book = book
        self._auth = auth
        self._guard = guard

    def _allowed(
        self, context: grpc.ServicerContext, rpc: str, requested: str
    ) -> tuple[str, Warrant]:
        """(principal, warrant) once the API policy allows this call on that warrant."""
        principal = self._auth.authenticate(context)
        warrant = self._book.get(warrant_id(requested))
        self._guard.require(principal, rpc, warrant.id, warrant.submitted_by)
        return principal, warrant

    def _reply(self, warrant: Warrant) -> pb.Warrant:
        return warrant_to_pb(warrant, self._book.now())

    @unary
    def Submit(
        self, request: pb.WarrantServiceSubmitRequest, context: grpc.ServicerContext
    ) -> pb.Warrant:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, "Submit")
        if not request.HasField("spec"):
            raise InvalidArgument("spec: required")
        spec = spec_from_pb(request.spec)
        return self._reply(self._book.submit(spec, principal, request.request_id or None))

    @unary
    def Get(
        self, request: pb.WarrantServiceGetRequest, context: grpc.ServicerContext
    ) -> pb.Warrant:
        _, warrant = self._allowed(context, "Get", request.id)
        return self._reply(warrant)

    @unary
    def List(
        self, request: pb.WarrantServiceListRequest, context: grpc.ServicerContext
    ) -> pb.WarrantServiceListResponse:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, "List")
        state = state_from_pb(request.state)
        size = pages.page_size(request.page_size or request.limit, DEFAULT_PAGE, MAX_PAGE)
        query = {"state": request.state}
        # Keyset on the newest-first order: a page starts after the warrant the token names,
        # so warrants submitted meanwhile (they come first) never shift or repeat a page.
        after = pages.decode(request.page_token, query) if request.page_token else None
        everything = self._book.list(None, limit=None)
        start = 0
        if after is not None:
            start = next((i + 1 for i, w in enumerate(everything) if w.id == after), -1)
            if start < 0:
                raise InvalidArgument("page_token: names no warrant of this gateway")
        now = self._book.now()
        page: list[Warrant] = []
        more = False
        for w in everything[start:]:
            if (state is None or w.live_state(now) is state) and self._guard.visible(
                principal, [w]
            ):
                if len(page) == size:
                    more = True
                    break
                page.append(w)
        token = pages.encode(page[-1].id, query) if more else ""
        return pb.WarrantServiceListResponse(
            warrants=[self._reply(w) for w in page], next_page_token=token
        )

    @unary
    def ListDue(
        self, request: pb.ListDueRequest, context: grpc.ServicerContext
    ) -> pb.ListDueResponse:
        principal = self._auth.authenticate(context)
        found = due_for(self._book, self._guard, principal)
        return pb.ListDueResponse(deadlines=[deadline_to_pb(d) for d in found])

    @unary
    def ExtendPreservation(
        self, request: pb.ExtendPreservationRequest, context: grpc.ServicerContext
    ) -> pb.ExtendPreservationResponse:
        principal, warrant = self._allowed(context, "ExtendPreservation", request.id)
        hold = self._book.holds.extend(warrant, principal, request.reason)
        return pb.ExtendPreservationResponse(preservation=hold_to_pb(hold))

    @unary
    def RecordParticipation(
        self, request: pb.RecordParticipationRequest, context: grpc.ServicerContext
    ) -> pb.RecordParticipationResponse:
        principal, warrant = self._allowed(context, "RecordParticipation", request.warrant_id)
        participation = self._book.participation
        step = participation.record(
            warrant, principal, request.step, request.document_sha256, request.note
        )
        return pb.RecordParticipationResponse(
            step=step_to_pb(step), complete=participation.status(warrant).complete
        )

    @unary
    def ListParticipation(
        self, request: pb.ListParticipationRequest, context: grpc.ServicerContext
    ) -> pb.ListParticipationResponse:
        _, warrant = self._allowed(context, "ListParticipation", request.warrant_id)
        return participation_to_pb(self._book.participation.status(warrant))

    @unary
    def Approve(
        self, request: pb.WarrantServiceApproveRequest, context: grpc.ServicerContext
    ) -> pb.Warrant:
        principal, warrant = self._allowed(context, "Approve", request.id)
        if self._book.tier(warrant) is Tier.EMERGENCY:
            self._guard.require(principal, "ApproveEmergency", warrant.id, warrant.submitted_by)
        second = self._guard.may(principal, "SecondReview", warrant.submitted_by)
        return self._reply(self._book.approve(warrant.id, principal, request.note, second))

    @unary
    def Reject(
        self, request: pb.WarrantServiceRejectRequest, context: grpc.ServicerContext
    ) -> pb.Warrant:
        principal, warrant = self._allowed(context, "Reject", request.id)
        return self._reply(self._book.reject(warrant.id, principal, request.reason))

    @unary
    def Revoke(
        self, request: pb.WarrantServiceRevokeRequest, context: grpc.ServicerContext
    ) -> pb.Warrant:
        principal, warrant = self._allowed(context, "Revoke", request.id)
        return self._reply(self._book.revoke(warrant.id, principal, request.reason))

    @unary
    def LookupAccount(
        self, request: pb.WarrantServiceLookupAccountRequest, context: grpc.ServicerContext
    ) -> pb.WarrantServiceLookupAccountResponse:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, "LookupAccount")
        account = self._book.lookup(request.target, principal)
        return pb.WarrantServiceLookupAccountResponse(
            found=account is not None, account=account or ""
        )
