"""The one entry builder both audit logs use: an event's fields, then the chain fields, as bytes.

An entry is the event's own fields plus four the log owns: `event` (the kind), `index` (its leaf
index), `prev` (the sha256 of the line before it; GENESIS for the first) and `ts`. They are
applied last, so no event can set or override them (gateway.audit.events also refuses kinds that
declare them). The bytes are canonical JSON: the Merkle leaf, the line in the file, the row in
PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from gateway.audit.canonical import canonical_bytes
from gateway.audit.events import REGISTRY, Event

GENESIS = "0" * 64


@dataclasses.dataclass(frozen=True)
class Rendered:
    """Lines ready to append at `first`, and the hash the next entry must name as `prev`."""

    first: int
    lines: list[bytes]
    last_hash: str


def render(events: Sequence[Event], first: int, prev: str, ts: str) -> Rendered:
    """Entries `first`, `first + 1`, ... chained from `prev`, all stamped `ts`."""
    lines: list[bytes] = []
    for offset, event in enumerate(events):
        if REGISTRY.get(event.KIND) is not type(event):
            raise TypeError(f"{type(event).__name__} is not a registered audit event kind")
        entry = event.fields()
        entry["event"] = event.KIND
        entry["index"] = first + offset
        entry["prev"] = prev
        entry["ts"] = ts
        line = canonical_bytes(entry)
        lines.append(line)
        prev = hashlib.sha256(line).hexdigest()
    return Rendered(first, lines, prev)


def parse(line: bytes) -> dict[str, Any]:
    """A line as a dict; {} if it is not a JSON object (a damaged line)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return {}
    return entry if isinstance(entry, dict) else {}


def parse_all(lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """Entries as dicts in order; a damaged line is shown as such (for `wsg audit tail`)."""
    for number, line in enumerate(lines):
        yield parse(line) or {"event": "unreadable line", "line": number}
