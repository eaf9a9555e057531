"""The notice outbox's rows: what a user notice tells, and a court order deferring notices.

A notice is kept as its id, warrant, account, due time, and a body: the canonical JSON of what
it tells the person (gateway.warrants.notices decides when one is due and queues it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def notice_id(warrant: str, account: str) -> str:
    """One id per warrant and account, the same on every replica (the outbox's key)."""
    return "n-" + hashlib.sha256(f"{warrant}\n{account}".encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Notice:
    """A notice for one target account of one warrant.

    `body` holds what the person is told: authority, legal_basis, instrument, tier,
    categories, window {start, end}, released_at (the first completed release that released
    records), releases (how many completed releases released any) and records and
    records_by_category (what they released, summed over them)."""

    id: str
    warrant: str
    account: str
    due_at: dt.datetime
    queued_at: dt.datetime
    body: dict[str, Any]
    sent_by: str | None = None
    sent_at: dt.datetime | None = None

    @property
    def body_json(self) -> str:
        return canonical(self.body)

    @property
    def body_sha256(self) -> str:
        return hashlib.sha256(self.body_json.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Deferral:
    """The latest court order extending a warrant's non-disclosure: its notices wait until
    `until`."""

    warrant: str
    until: dt.datetime
    order_sha256: str
    deferred_by: str
    deferred_at: dt.datetime
