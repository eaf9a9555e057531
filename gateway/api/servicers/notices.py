"""NoticeService: the user-notice outbox a delivery service reads and marks, and the court
orders that defer a warrant's notices (authenticate, authorize, call the warrant book's
notices)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from gateway.api.auth import Authenticator
from gateway.api.calls import streaming, unary, warrant_id
from gateway.api.convert import notice_to_pb, time_field
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.errors import InvalidArgument
from gateway.policy.api import ApiGuard
from gateway.warrants.book import WarrantBook


class NoticeServicer(pb_grpc.NoticeServiceServicer):
    def __init__(self, book: WarrantBook, auth: Authenticator, guard: ApiGuard) -> None:
        self._book = book
        self._auth = auth
        self._guard = guard

    @streaming
    def StreamPendingNotices(
        self, request: pb.StreamPendingNoticesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.StreamPendingNoticesResponse]:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, "StreamPendingNotices")
        for notice in self._book.notices.pending(principal):
            yield pb.StreamPendingNoticesResponse(notice=notice_to_pb(notice))

    @unary
    def MarkNoticeSent(
        self, request: pb.MarkNoticeSentRequest, context: grpc.ServicerContext
    ) -> pb.MarkNoticeSentResponse:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, "MarkNoticeSent")
        notice = self._book.notices.mark_sent(request.id, principal)
        return pb.MarkNoticeSentResponse(notice=notice_to_pb(notice))

    @unary
    def DeferNotice(
        self, request: pb.DeferNoticeRequest, context: grpc.ServicerContext
    ) -> pb.DeferNoticeResponse:
        principal = self._auth.authenticate(context)
        warrant = self._book.get(warrant_id(request.warrant_id))
        self._guard.require(principal, "DeferNotice", warrant.id, warrant.submitted_by)
        until = time_field(request, "until", "until")
        if until is None:  # required: time_field raised already
            raise InvalidArgument("until: required")
        deferral, moved = self._book.notices.defer(warrant, until, request.order_sha256, principal)
        reply = pb.DeferNoticeResponse(warrant_id=warrant.id, notices=moved)
        reply.until.FromDatetime(deferral.until)
        return reply
