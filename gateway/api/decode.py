"""Requests that do not decode: INVALID_ARGUMENT naming the field, never INTERNAL.

grpcio turns an exception in a request deserializer into INTERNAL ("Exception deserializing
request!"), and protobuf refuses a message whose string field holds invalid UTF-8 as a whole.
So the interceptor (gateway.api.observe) installs `tolerant(deserializer)`: a message that does
not parse becomes an `Undecodable` the call then refuses, and `bad_field` walks the wire format
against the message's descriptor to say which field is at fault (`spec.case_number: not valid
UTF-8`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

_MAX_DEPTH = 32  # deeper than any message of the API; a bound, not a limit anyone reaches


@dataclasses.dataclass(frozen=True)
class Undecodable:
    """A request that did not parse, and why (in words for the caller)."""

    why: str


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def bad_field(descriptor: Descriptor, data: bytes, prefix: str = "", depth: int = 0) -> str | None:
    """The path of the first string field in `data` that is not UTF-8 (`spec.targets[1]`),
    or None if there is none (or the bytes are not a message at all)."""
    if depth > _MAX_DEPTH:
        return None
    counts: dict[str, int] = {}
    pos = 0
    try:
        while pos < len(data):
            key, pos = _varint(data, pos)
            number, wire_type = key >> 3, key & 7
            if wire_type == 0:
                _, pos = _varint(data, pos)
                continue
            if wire_type in (1, 5):
                pos += 8 if wire_type == 1 else 4
                continue
            if wire_type != 2:
                return None
            length, pos = _varint(data, pos)
            chunk = data[pos : pos + length]
            pos += length
            field = descriptor.fields_by_number.get(number)
            if field is None:
                continue
            name = prefix + field.name
            if field.is_repeated:
                index = counts.get(field.name, 0)
                counts[field.name] = index + 1
                name += f"[{index}]"
            if field.type == FieldDescriptor.TYPE_STRING:
                try:
                    chunk.decode("utf-8")
                except UnicodeDecodeError:
                    return name
            elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
                if field.message_type.GetOptions().map_entry:
                    name = prefix + field.name
                found = bad_field(field.message_type, chunk, name + ".", depth + 1)
                if found is not None:
                    return found
    except ValueError:
        return None
    return None


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserializer`, returning an Undecodable instead of raising."""
    if deserializer is None:
        return None
    message_class = getattr(deserializer, "__self__", None)
    descriptor = getattr(message_class, "DESCRIPTOR", None)

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError:
            where = bad_field(descriptor, data) if isinstance(descriptor, Descriptor) else None
            if where is not None:
                return Undecodable(f"{where}: not valid UTF-8")
            return Undecodable("request: not a valid protobuf message of this RPC")

    return parse


class DecodeGuard(grpc.ServerInterceptor):
    """The same for a server without the call observer (the plaintext health port)."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None:
            return None
        parse = tolerant(handler.request_deserializer)
        if handler.unary_unary is not None:
            inner_unary = handler.unary_unary

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                if isinstance(request, Undecodable):
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.why)
                return inner_unary(request, context)

            return grpc.unary_unary_rpc_method_handler(unary, parse, handler.response_serializer)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            def stream(request: Any, context: grpc.ServicerContext) -> Any:
                if isinstance(request, Undecodable):
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.why)
                yield from inner_stream(request, context)

            return grpc.unary_stream_rpc_method_handler(stream, parse, handler.response_serializer)
        return handler
