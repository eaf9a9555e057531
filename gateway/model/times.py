"""Timestamps: always aware, always UTC, RFC 3339 on the wire and in the audit log."""

from __future__ import annotations

import datetime as dt


def utc(value: dt.datetime) -> dt.datetime:
    """Normalize an aware datetime to UTC; naive datetimes are refused, never guessed."""
    if value.tzinfo is None:
        raise ValueError("timestamp has no time zone; give it in UTC (e.g. 2026-01-01T00:00:00Z)")
    return value.astimezone(dt.UTC)


def parse_time(text: str) -> dt.datetime:
    """Parse an RFC 3339 timestamp that must carry a zone (Z or an offset)."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}") from None
    return utc(value)


def format_time(value: dt.datetime) -> str:
    """RFC 3339 in UTC with a Z, seconds precision unless there are microseconds."""
    value = utc(value)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")
