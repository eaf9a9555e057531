"""The gateway's exceptions, each carrying the gRPC status code it becomes at the edge.

    GatewayError (INTERNAL)
    ├── InvalidArgument (INVALID_ARGUMENT)   bad input; the message names the field or line
    ├── Unauthenticated (UNAUTHENTICATED)    no usable identity on the call
    ├── PermissionDenied (PERMISSION_DENIED) the caller may not do this (e.g. two-person rule)
    ├── NotFound (NOT_FOUND)
    ├── FailedPrecondition (FAILED_PRECONDITION) warrant in the wrong state, policy not loadable
    ├── AlreadyExists (ALREADY_EXISTS)       a request id reused for another request
    ├── ResourceExhausted (RESOURCE_EXHAUSTED), DeadlineExceeded (DEADLINE_EXCEEDED)
    └── Unavailable (UNAVAILABLE)            a dependency (store, audit log) cannot be used

Servicers raise these; one wrapper (gateway.api.calls) turns them into statuses, so no stack
trace ever reaches a caller. Each also has a stable `reason` (the google.rpc.ErrorInfo reason
callers switch on; the class's by default, a more precise one where given) and an
InvalidArgument names its `field` (the google.rpc.BadRequest field violation).
"""

from __future__ import annotations

import re

import grpc

# "spec.targets[2]: ..." -> spec.targets[2]: the field an InvalidArgument message starts with.
_FIELD = re.compile(r"^([a-z_][a-z0-9_]*(?:\[\d+\])?(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])?)*): ")


class GatewayError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    default_reason = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason


class InvalidArgument(GatewayError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    def __init__(self, message: str, *, field: str | None = None, reason: str | None = None):
        super().__init__(message, reason=reason)
        found = _FIELD.match(message)
        self.field = field or (found.group(1) if found else None)


class Unauthenticated(GatewayError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(GatewayError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class NotFound(GatewayError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class FailedPrecondition(GatewayError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class Unavailable(GatewayError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class DeadlineExceeded(GatewayError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


class ResourceExhausted(GatewayError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


class AlreadyExists(GatewayError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"
