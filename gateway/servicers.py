"""Thin gRPC servicers: authenticate, call the domain, map errors to statuses in one place."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
import structlog

from gateway.api import wsg_pb2 as pb
from gateway.api import wsg_pb2_grpc as pb_grpc
from gateway.api_policy import ApiGuard
from gateway.auth import Authenticator
from gateway.convert import MAX_LIST, release_item_to_pb, spec_from_pb, state_from_pb, warrant_to_pb
from gateway.errors import GatewayError, InvalidArgument
from gateway.release import Batch, Started, Summary
from gateway.warrants import WarrantBook

log = structlog.get_logger("wsg.server")
F = TypeVar("F", bound=Callable[..., Any])
MAX_ID = 200


def _abort(context: grpc.ServicerContext, exc: BaseException, method: str) -> None:
    if isinstance(exc, GatewayError):
        log.info("call refused", method=method, code=exc.code.name, why=exc.message)
        context.abort(exc.code, exc.message)
    ref = uuid.uuid4().hex[:12]
    log.exception("internal error", method=method, ref=ref)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error (server log reference {ref})")


def unary(method: F) -> F:
    """Turn GatewayError into its status, anything else into INTERNAL without details."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:  # noqa: BLE001 - translated, never leaked
            _abort(context, exc, method.__name__)

    return wrapper  # type: ignore[return-value]


def streaming(method: F) -> F:
    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            yield from method(self, request, context)
        except Exception as exc:  # noqa: BLE001 - translated, never leaked
            _abort(context, exc, method.__name__)

    return wrapper  # type: ignore[return-value]


def _warrant_id(value: str) -> str:
    if not value:
        raise InvalidArgument("id: required")
    if len(value) > MAX_ID:
        raise InvalidArgument(f"id: longer than {MAX_ID} characters")
    return value


class WarrantServicer(pb_grpc.WarrantServiceServicer):
    def __init__(self, book: WarrantBook, auth: Authenticator, guard: ApiGuard) -> None:
        self._book = book
        self._auth = auth
        self._guard = guard

    def _allowed(self, context: grpc.ServicerContext, rpc: str, warrant_id: str) -> tuple[str, Any]:
        """(principal, warrant) once the API policy allows this call on that warrant."""
        principal = self._auth.authenticate(context)
        warrant = self._book.get(_warrant_id(warrant_id))
        self._guard.require(principal, rpc, warrant.id, warrant.submitted_by)
        return principal, warrant

    def _reply(self, warrant: Any) -> pb.Warrant:
        return warrant_to_pb(warrant, self._book.now())

    @unary
    def Submit(self, request: pb.SubmitWarrantRequest, context: grpc.ServicerContext) -> pb.Warrant:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, "Submit")
        if not request.HasField("spec"):
            raise InvalidArgument("spec: required")
        return self._reply(self._book.submit(spec_from_pb(request.spec), principal))

    @unary
    def Get(self, request: pb.GetWarrantRequest, context: grpc.ServicerContext) -> pb.Warrant:
        _, warrant = self._allowed(context, "Get", request.id)
        return self._reply(warrant)

    @unary
    def List(
        self, request: pb.ListWarrantsRequest, context: grpc.ServicerContext
    ) -> pb.ListWarrantsResponse:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, "List")
        limit = min(request.limit or 100, MAX_LIST)
        warrants = [w for w in self._book.list(state_from_pb(request.state), MAX_LIST)
                    if self._guard.may(principal, "Get", w.submitted_by)][:limit]
        return pb.ListWarrantsResponse(warrants=[self._reply(w) for w in warrants])

    @unary
    def Approve(self, request: pb.ApproveWarrantRequest, context: grpc.ServicerContext) -> pb.Warrant:
        principal, warrant = self._allowed(context, "Approve", request.id)
        return self._reply(self._book.approve(warrant.id, principal, request.note))

    @unary
    def Reject(self, request: pb.RejectWarrantRequest, context: grpc.ServicerContext) -> pb.Warrant:
        principal, warrant = self._allowed(context, "Reject", request.id)
        return self._reply(self._book.reject(warrant.id, principal, request.reason))

    @unary
    def Revoke(self, request: pb.RevokeWarrantRequest, context: grpc.ServicerContext) -> pb.Warrant:
        principal, warrant = self._allowed(context, "Revoke", request.id)
        return self._reply(self._book.revoke(warrant.id, principal, request.reason))


class ReleaseServicer(pb_grpc.ReleaseServiceServicer):
    def __init__(self, book: WarrantBook, auth: Authenticator, guard: ApiGuard,
                 make_run: Callable[..., Iterator[Started | Batch | Summary]]) -> None:
        self._book = book
        self._auth = auth
        self._guard = guard
        self._make_run = make_run

    @streaming
    def Release(
        self, request: pb.ReleaseRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ReleaseResponse]:
        principal = self._auth.authenticate(context)
        warrant = self._book.get(_warrant_id(request.warrant_id))
        self._guard.require(principal, "Release", warrant.id, warrant.submitted_by)
        run = self._make_run(warrant, principal, request.batch_size)
        for item in run:
            if not context.is_active():
                log.info("release abandoned by client", warrant=warrant.id)
                return
            yield release_item_to_pb(warrant.id, item)
