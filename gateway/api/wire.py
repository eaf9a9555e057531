"""A release batch's stream message as protobuf wire bytes, written by hand.

A batch is most of what a release sends, and building a `pb.Record` per record and then
serializing them costs more than the rest of the record's way out (bench/README.md). The wire
format of `ReleaseResponse{batch: RecordBatch{index, records, examined, audit_index}}` is
simple and fixed by proto/wsg/v1/wsg.proto, so `batch_bytes` writes it directly: the bytes the
generated class serializes (proto3 leaves out fields holding their default, and writes known
fields in field-number order); tests/test_wire.py proves them equal for any batch.
The Release RPC's serializer (`serialize`) sends such bytes as they are.
"""

from __future__ import annotations

from typing import Any

import grpc

from gateway.api.v1 import wsg_pb2 as pb
from gateway.release.items import Batch, Released

RELEASE_SERVICE = pb.DESCRIPTOR.services_by_name["ReleaseService"].full_name

# Tags: (field number << 3) | wire type; 0 = varint, 2 = length-delimited.
_RESPONSE_BATCH = b"\x12"  # ReleaseResponse.batch = 2
_BATCH_INDEX = 0x08  # RecordBatch.index = 1
_BATCH_RECORD = b"\x12"  # RecordBatch.records = 2
_BATCH_EXAMINED = 0x18  # RecordBatch.examined = 3
_BATCH_AUDIT_INDEX = 0x20  # RecordBatch.audit_index = 4
_RECORD_ID = b"\x0a"  # Record.id = 1
_RECORD_CATEGORY = b"\x12"  # Record.category = 2
_RECORD_EFFECT = b"\x1a"  # Record.effect = 3
_RECORD_PAYLOAD = b"\x22"  # Record.payload = 4
_RECORD_SHA256 = b"\x2a"  # Record.sha256 = 5


def varint(n: int) -> bytes:
    """A non-negative integer as a protobuf varint."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [varint(n) for n in range(1 << 14)]  # every length a short field has: one look-up


def _length(n: int) -> bytes:
    return _SMALL[n] if n < 16384 else varint(n)


def _text(tag: bytes, value: str) -> bytes:
    """A string field, or nothing for the empty string (proto3's default)."""
    if not value:
        return b""
    data = value.encode()
    return tag + _length(len(data)) + data


def _number(tag: int, value: int) -> bytes:
    return bytes((tag,)) + varint(value) if value else b""


class _Prefixes:
    """A record's category and effect fields, written once per (category, effect)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], bytes] = {}

    def __call__(self, category: str, effect: str) -> bytes:
        known = self._known.get((category, effect))
        if known is None:
            known = _text(_RECORD_CATEGORY, category) + _text(_RECORD_EFFECT, effect)
            if len(self._known) < 1024:
                self._known[category, effect] = known
        return known


_prefixes = _Prefixes()


def record_bytes(r: Released) -> bytes:
    """One `Record` message's bytes (without its own tag and length)."""
    payload = r.payload
    return b"".join(
        (
            _text(_RECORD_ID, r.id),
            _prefixes(r.category, r.effect),
            _RECORD_PAYLOAD + _length(len(payload)) + payload if payload else b"",
            _text(_RECORD_SHA256, r.sha256),
        )
    )


def batch_bytes(batch: Batch) -> bytes:
    """`ReleaseResponse(batch=RecordBatch(...))` serialized, for the batch `release_item_to_pb`
    converts."""
    parts: list[bytes] = [_number(_BATCH_INDEX, batch.index)]
    append, length, prefixes = parts.append, _SMALL, _prefixes
    for r in batch.records:
        rid, payload, sha = r.id.encode(), r.payload, r.sha256.encode()
        if rid and payload and sha and max(len(rid), len(payload), len(sha)) < 16384:
            # every field present, every length one look-up: a released record, as always.
            # Tags: \n id, then category and effect, " payload, * sha256 (_RECORD_* above).
            record = b'\n%b%b%b"%b%b*%b%b' % (
                length[len(rid)],
                rid,
                prefixes(r.category, r.effect),
                length[len(payload)],
                payload,
                length[len(sha)],
                sha,
            )
        else:
            record = record_bytes(r)
        size = length[len(record)] if len(record) < 16384 else varint(len(record))
        append(b"\x12%b%b" % (size, record))  # _BATCH_RECORD
    append(_number(_BATCH_EXAMINED, batch.examined))
    append(_number(_BATCH_AUDIT_INDEX, batch.audit_index))
    body = b"".join(parts)
    return _RESPONSE_BATCH + varint(len(body)) + body


def serialize(message: Any) -> bytes:
    """The Release RPC's response serializer: bytes already written (a batch) go as they are,
    messages are serialized by their class."""
    if isinstance(message, bytes):
        return message
    data: bytes = message.SerializeToString()
    return data


def add_release_servicer(servicer: Any, server: grpc.Server) -> None:
    """pb_grpc.add_ReleaseServiceServicer_to_server, with `serialize` as the response
    serializer: the servicer may yield a batch's bytes instead of its message."""
    handlers = {
        "Release": grpc.unary_stream_rpc_method_handler(
            servicer.Release,
            request_deserializer=pb.ReleaseRequest.FromString,
            response_serializer=serialize,
        )
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(RELEASE_SERVICE, handlers),)
    )
    server.add_registered_method_handlers(RELEASE_SERVICE, handlers)
