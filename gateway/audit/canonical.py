"""The one byte form of an audit entry and of a released record: canonical JSON.

Sorted keys, no spaces, UTF-8 as is. The same bytes are hashed into the Merkle tree, written to
the log, sent to the client and stored in an evidence package, so every party computes the same
sha256 from them.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def canonical_bytes(value: Any) -> bytes:
    """orjson writes exactly what json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False) writes, several times faster (the release hot path); the standard
    library covers what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_json(value: Any) -> str:
    """canonical_bytes as text."""
    return canonical_bytes(value).decode()
