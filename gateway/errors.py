"""The gateway's exceptions, each carrying the gRPC status code it becomes at the edge.

    GatewayError (INTERNAL)
    ├── InvalidArgument (INVALID_ARGUMENT)   bad input; the message names the field or line
    ├── Unauthenticated (UNAUTHENTICATED)    no usable identity on the call
    ├── PermissionDenied (PERMISSION_DENIED) the caller may not do this (e.g. two-person rule)
    ├── NotFound (NOT_FOUND)
    ├── FailedPrecondition (FAILED_PRECONDITION) warrant in the wrong state, policy not loadable
    └── Unavailable (UNAVAILABLE)            a dependency (store, audit log) cannot be used

Servicers raise these; one interceptor-like wrapper (gateway.servicers) turns them into statuses,
so no stack trace ever reaches a caller.
"""

from __future__ import annotations

import grpc


class GatewayError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(GatewayError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class Unauthenticated(GatewayError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(GatewayError):
    code = grpc.StatusCode.PERMISSION_DENIED


class NotFound(GatewayError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(GatewayError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(GatewayError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(GatewayError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class ResourceExhausted(GatewayError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
