"""A small hand-made messenger data set whose correct release is known by heart."""

from __future__ import annotations

import datetime as dt
from typing import Any

JAN1 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FEB1 = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


def at(day: int, month: int = 1, hour: int = 12) -> str:
    return f"2026-{month:02d}-{day:02d}T{hour:02d}:00:00Z"


ROWS = [
    {
        "kind": "account",
        "id": "u1",
        "display_name": "Target",
        "phone": "+821011112222",
        "email": "target@example.org",
        "created_at": "2025-06-01T00:00:00Z",
    },
    {
        "kind": "account",
        "id": "u10",
        "display_name": "Prefix Person",
        "phone": "+821099990000",
        "email": "prefix@example.org",
        "created_at": "2025-06-01T00:00:00Z",
    },
    {
        "kind": "account",
        "id": "u2",
        "display_name": "Friend",
        "phone": "+821033334444",
        "email": "friend@example.org",
        "created_at": "2025-06-01T00:00:00Z",
    },
    {
        "kind": "account",
        "id": "u3",
        "display_name": "Other",
        "phone": "+821055556666",
        "email": "shared@example.org",
        "created_at": "2025-06-01T00:00:00Z",
    },
    {
        "kind": "account",
        "id": "u4",
        "display_name": "Twin",
        "phone": "+821077778888",
        "email": "shared@example.org",
        "created_at": "2025-06-01T00:00:00Z",
    },
    {"kind": "room", "id": "r-group", "name": "crew", "direct": False},
    {"kind": "room", "id": "r-dm", "name": "dm", "direct": True},
    {"kind": "room", "id": "r-other", "name": "elsewhere", "direct": False},
    {
        "kind": "membership",
        "room": "r-group",
        "account": "u1",
        "joined_at": "2025-12-01T00:00:00Z",
        "left_at": None,
    },
    {
        "kind": "membership",
        "room": "r-group",
        "account": "u2",
        "joined_at": "2025-12-01T00:00:00Z",
        "left_at": None,
    },
    {
        "kind": "membership",
        "room": "r-group",
        "account": "u3",
        "joined_at": "2025-12-01T00:00:00Z",
        "left_at": None,
    },
    {
        "kind": "membership",
        "room": "r-dm",
        "account": "u1",
        "joined_at": "2025-12-01T00:00:00Z",
        "left_at": None,
    },
    {
        "kind": "membership",
        "room": "r-dm",
        "account": "u2",
        "joined_at": "2025-12-01T00:00:00Z",
        "left_at": None,
    },
    {
        "kind": "membership",
        "room": "r-other",
        "account": "u2",
        "joined_at": "2025-12-01T00:00:00Z",
        "left_at": None,
    },
    {
        "kind": "membership",
        "room": "r-other",
        "account": "u10",
        "joined_at": "2025-12-01T00:00:00Z",
        "left_at": None,
    },
    {
        "kind": "message",
        "id": "m1",
        "room": "r-group",
        "sender": "u1",
        "sent_at": at(5),
        "body": "hello crew",
    },
    {
        "kind": "message",
        "id": "m2",
        "room": "r-group",
        "sender": "u2",
        "sent_at": at(6),
        "body": "hi back",
    },
    {
        "kind": "message",
        "id": "m3",
        "room": "r-dm",
        "sender": "u2",
        "sent_at": at(7),
        "body": "psst",
    },
    {
        "kind": "message",
        "id": "m4",
        "room": "r-dm",
        "sender": "u1",
        "sent_at": at(8),
        "body": "yes",
    },
    {
        "kind": "message",
        "id": "m5",
        "room": "r-other",
        "sender": "u2",
        "sent_at": at(9),
        "body": "not here",
    },
    {
        "kind": "message",
        "id": "m6",
        "room": "r-group",
        "sender": "u1",
        "sent_at": at(5, 2),
        "body": "late",
    },
    {
        "kind": "message",
        "id": "m7",
        "room": "r-group",
        "sender": "u1",
        "sent_at": "2026-01-01T00:00:00Z",
        "body": "first instant",
    },
    {
        "kind": "message",
        "id": "m8",
        "room": "r-group",
        "sender": "u1",
        "sent_at": "2026-02-01T00:00:00Z",
        "body": "end instant",
    },
    {
        "kind": "message",
        "id": "m9",
        "room": "r-other",
        "sender": "u10",
        "sent_at": at(10),
        "body": "prefix talk",
    },
    {"kind": "contact", "owner": "u1", "contact": "u2", "added_at": at(3)},
    {"kind": "contact", "owner": "u2", "contact": "u1", "added_at": at(3)},
    {"kind": "login", "account": "u1", "at": at(2), "ip": "203.0.113.7", "device": "phone"},
    {"kind": "login", "account": "u2", "at": at(2), "ip": "203.0.113.8", "device": "laptop"},
]

NON_TARGETS = {
    "u10",
    "u2",
    "u3",
    "u4",
    "+821033334444",
    "friend@example.org",
    "Friend",
    "+821099990000",
    "+821055556666",
    "shared@example.org",
}


def strings_in(value: Any) -> set[str]:
    """Every string value (and key) in a JSON document."""
    found: set[str] = set()
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            found.add(k)
            found |= strings_in(v)
    elif isinstance(value, list):
        for v in value:
            found |= strings_in(v)
    return found


def many_messages(count: int) -> list[dict[str, Any]]:
    """The small data set plus `count` of the target's own messages in its direct room."""
    base = JAN1 + dt.timedelta(days=10)
    extra = [
        {
            "kind": "message",
            "id": f"bulk-{i}",
            "room": "r-dm",
            "sender": "u1",
            "sent_at": (base + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "body": f"bulk message number {i} " + "x" * 200,
        }
        for i in range(count)
    ]
    return ROWS + extra
