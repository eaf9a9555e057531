"""AIP-158 pagination: page sizes and page tokens for the list RPCs.

A token is opaque to callers (URL-safe base64 of a small JSON object): where the next page
starts, and a digest of the request's other fields, so that a token is refused with
INVALID_ARGUMENT if those changed (AIP-158 asks for that). It grants nothing: every item of a
page is still checked against the caller's permissions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from gateway.errors import InvalidArgument

MAX_TOKEN = 1024


def page_size(requested: int, default: int, maximum: int) -> int:
    """The page size to use: the default for 0, capped at `maximum`; negative is refused."""
    if requested < 0:
        raise InvalidArgument(f"page_size: must not be negative (got {requested})")
    return min(requested or default, maximum)


def _digest(query: Any) -> str:
    text = json.dumps(query, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(position: Any, query: Any) -> str:
    """A token for the page that starts at `position`, valid for `query` only."""
    raw = json.dumps({"at": position, "q": _digest(query)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str, query: Any) -> Any:
    """The position a token names; INVALID_ARGUMENT if it is not one, or is for another query."""
    if len(token) > MAX_TOKEN:
        raise InvalidArgument("page_token: not a token this gateway made")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidArgument("page_token: not a token this gateway made") from None
    if not isinstance(data, dict) or "at" not in data:
        raise InvalidArgument("page_token: not a token this gateway made")
    if data.get("q") != _digest(query):
        raise InvalidArgument(
            "page_token: made for a request with other fields; repeat them, or start over"
        )
    return data["at"]
