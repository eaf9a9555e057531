"""A warrant as the gateway keeps it: the spec an officer submitted and its lifecycle so far.

States (docs/architecture.md): SUBMITTED -> APPROVED | REJECTED; APPROVED -> REVOKED | EXPIRED
(by time).
EXPIRED is derived from the clock, never stored, so an expired warrant cannot be missed by a
process that was down when it expired. The rules that move a warrant live in gateway.warrants.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from gateway.model.records import Window
from gateway.model.vocabulary import Category, WarrantState


@dataclasses.dataclass(frozen=True)
class WarrantSpec:
    """What the legal process names (the warrant file's fields, docs/architecture.md)."""

    case_number: str
    authority: str
    legal_basis: str
    targets: tuple[str, ...]
    window: Window
    categories: tuple[Category, ...]
    expires_at: dt.datetime
    nondisclosure_until: dt.datetime | None = None
    include_received_direct: bool = False
    document_sha256: str | None = None


@dataclasses.dataclass(frozen=True)
class Warrant:
    id: str
    spec: WarrantSpec
    state: WarrantState  # as stored; see live_state
    target_accounts: tuple[str, ...]
    submitted_by: str
    submitted_at: dt.datetime
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    revoked_by: str | None = None
    revoked_at: dt.datetime | None = None
    reason: str | None = None

    def live_state(self, now: dt.datetime) -> WarrantState:
        if self.state is WarrantState.APPROVED and now >= self.spec.expires_at:
            return WarrantState.EXPIRED
        return self.state
