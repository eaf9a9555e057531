"""Every call's error translation, in one place: a GatewayError becomes its status and message,
anything else INTERNAL with a reference to the server log, never a stack trace.

The status also carries `google.rpc.Status` details (the `grpc-status-details-bin` trailer, read
by grpcio-status, Go's status.FromError, grpc-js and the others): always a `google.rpc.ErrorInfo`
with the error's stable reason (domain "wsg.v1"), and for INVALID_ARGUMENT a
`google.rpc.BadRequest` whose field violation names the field. The message text is the same.
"""

from __future__ import annotations

import collections
import functools
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, TypeVar

import grpc
import structlog
from google.protobuf import any_pb2
from google.rpc.error_details_pb2 import BadRequest, ErrorInfo
from google.rpc.status_pb2 import Status
from grpc_status import rpc_status

from gateway.errors import GatewayError, InvalidArgument
from gateway.logs import current_request_id

log = structlog.get_logger("wsg.server")
S = TypeVar("S")  # the servicer
Q = TypeVar("Q")  # the request message
R = TypeVar("R")  # the reply (or each streamed reply)
MAX_ID = 200
DOMAIN = "wsg.v1"
REQUEST_ID_HEADER = "x-request-id"


class _Status(
    collections.namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status
):
    """What ServicerContext.abort_with_status takes."""


def _packed(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def status_of(
    code: grpc.StatusCode, message: str, reason: str, field: str | None = None, **meta: str
) -> grpc.Status:
    """The status to end a call with: code, text, details, and the call's request id."""
    details = [_packed(ErrorInfo(reason=reason, domain=DOMAIN, metadata=meta))]
    if field is not None:
        violation = BadRequest.FieldViolation(field=field, description=message)
        details.append(_packed(BadRequest(field_violations=[violation])))
    status = Status(code=code.value[0], message=message, details=details)
    trailing: Sequence[tuple[str, str | bytes]] = rpc_status.to_status(status).trailing_metadata
    request_id = current_request_id()
    if request_id is not None:
        trailing = (*trailing, (REQUEST_ID_HEADER, request_id))
    return _Status(code, message, tuple(trailing))


def abort(context: grpc.ServicerContext, exc: BaseException, method: str) -> NoReturn:
    """End the call with `exc` as its status (details included); never returns."""
    if isinstance(exc, GatewayError):
        field = exc.field if isinstance(exc, InvalidArgument) else None
        # The caller gets the whole message. The server log, which reaches more people than
        # the audit log, gets the field of bad input but not its words: they echo what the
        # caller sent, and that may name a person (a warrant's target, a phone number).
        why = {"field": field} if isinstance(exc, InvalidArgument) else {"why": exc.message}
        log.info("call refused", method=method, code=exc.code.name, reason=exc.reason, **why)
        context.abort_with_status(status_of(exc.code, exc.message, exc.reason, field))
    ref = uuid.uuid4().hex[:12]
    log.exception("internal error", method=method, ref=ref)
    context.abort_with_status(
        status_of(
            grpc.StatusCode.INTERNAL,
            f"internal error (server log reference {ref})",
            "INTERNAL",
            log_reference=ref,
        )
    )
    raise AssertionError("abort_with_status returned")  # it raises; for the type checker


def unary(
    method: Callable[[S, Q, grpc.ServicerContext], R],
) -> Callable[[S, Q, grpc.ServicerContext], R]:
    """Turn GatewayError into its status, anything else into INTERNAL without details."""
    name = getattr(method, "__name__", "?")

    @functools.wraps(method)
    def wrapper(self: S, request: Q, context: grpc.ServicerContext) -> R:
        try:
            return method(self, request, context)
        except Exception as exc:  # noqa: BLE001 - translated, never leaked
            abort(context, exc, name)

    return wrapper


def streaming(
    method: Callable[[S, Q, grpc.ServicerContext], Iterator[R]],
) -> Callable[[S, Q, grpc.ServicerContext], Iterator[R]]:
    name = getattr(method, "__name__", "?")

    @functools.wraps(method)
    def wrapper(self: S, request: Q, context: grpc.ServicerContext) -> Iterator[R]:
        try:
            yield from method(self, request, context)
        except Exception as exc:  # noqa: BLE001 - translated, never leaked
            abort(context, exc, name)

    return wrapper


def warrant_id(value: str) -> str:
    """A request's warrant id field, bounded."""
    if not value:
        raise InvalidArgument("id: required")
    if len(value) > MAX_ID:
        raise InvalidArgument(f"id: longer than {MAX_ID} characters")
    return value
