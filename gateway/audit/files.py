"""Reading an embedded audit log file (or an auditor's copy of one) with no gateway running."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

from gateway.audit.entries import parse_all


def read_lines(path: pathlib.Path) -> Iterator[bytes]:
    """The log's lines (leaves) in file order, without newlines; a torn tail is included."""
    with path.open("rb") as handle:
        for raw in handle:
            yield raw[:-1] if raw.endswith(b"\n") else raw


def read_entries(path: pathlib.Path) -> Iterator[dict[str, Any]]:
    """Entries of a log file as dicts, in file order (for `wsg audit tail`)."""
    return parse_all(read_lines(path))
