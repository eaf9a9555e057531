"""Where warrants are kept: the interface the warrant book writes through.

The book decides; a table only stores, and runs each action under write-ahead auditing: the
action's row change and its audit entry are durable together or not at all (group commit,
gateway.backends.group_commit). Implementations: DIR/state.db (gateway.backends.embedded) and
the warrants table in PostgreSQL (gateway.backends.postgres).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from gateway.audit.events import Event
from gateway.model import Warrant, WarrantState
from gateway.warrants.outbox import Deferral, Notice
from gateway.warrants.preservation import FrozenCopy, Hold

if TYPE_CHECKING:  # participation.py writes through this table
    from gateway.warrants.participation import Recorded


class WarrantRows(Protocol):
    """The warrant rows as one connection sees them (inside the write transaction, for writes)."""

    def insert(self, warrant: Warrant, request: tuple[str, str] | None = None) -> None:
        """Store a new warrant; `request` is (request id, sha256 of its spec) when one was sent."""
        ...

    def by_request(self, principal: str, request_id: str) -> tuple[Warrant, str] | None:
        """The warrant `principal` submitted with `request_id`, and its spec's sha256."""
        ...

    def get(self, warrant_id: str) -> Warrant | None: ...

    def set_state(
        self,
        warrant_id: str,
        source: WarrantState,
        target: WarrantState,
        who: str,
        principal: str,
        at: str,
        reason: str | None,
    ) -> bool:
        """Move a warrant from `source` to `target` if it is still in `source`; `who` is
        "decided" or "revoked" (which columns name the principal)."""
        ...

    def newest_first(self) -> list[Warrant]: ...

    def mark_clock(self, warrant_id: str, clock: str, due_at: str) -> bool:
        """Record that a deadline clock has passed; False if it was recorded before."""
        ...

    def clocks_passed(self) -> set[tuple[str, str]]:
        """(warrant, clock) of every clock whose passing is recorded."""
        ...

    def set_first_approval(self, warrant_id: str, principal: str) -> bool:
        """Record the first of two approvals of a SUBMITTED warrant; False if it moved."""
        ...

    def set_target_accounts(self, warrant_id: str, accounts: tuple[str, ...]) -> None:
        """The accounts an approval unmasks, in the order of the spec's targets."""
        ...

    def insert_hold(self, hold: Hold, copy: FrozenCopy) -> None:
        """Keep a preservation's frozen copy (gateway.warrants.preservation)."""
        ...

    def hold(self, warrant_id: str) -> Hold | None: ...

    def holds(self) -> list[Hold]:
        """Every preservation hold, the purged ones too (their copies gone)."""
        ...

    def frozen_copy(self, warrant_id: str) -> FrozenCopy | None:
        """The copy a hold keeps; None once purged."""
        ...

    def extend_hold(self, warrant_id: str, expires_at: str, principal: str, at: str) -> bool:
        """Move a hold's expiry, once; False if it was extended before or is purged."""
        ...

    def purge_hold(self, warrant_id: str, at: str) -> bool:
        """Delete a hold's copy, keeping its record; False if it was purged before."""
        ...

    def queue_notice(self, notice: Notice) -> bool:
        """Put a notice in the outbox; False if one for its warrant and account is there."""
        ...

    def notices(self) -> list[Notice]:
        """Every notice in the outbox, sent ones too, by due time."""
        ...

    def notice(self, notice_id: str) -> Notice | None: ...

    def mark_notice_sent(self, notice_id: str, principal: str, at: str) -> bool:
        """Record a notice's delivery; False if it was marked before."""
        ...

    def defer_notices(self, deferral: Deferral) -> int:
        """Keep `deferral` as its warrant's latest and move its unsent notices' due time to
        its end; how many it moved."""
        ...

    def deferral(self, warrant_id: str) -> Deferral | None: ...

    def deferrals(self) -> list[Deferral]: ...

    def insert_participation(self, step: Recorded) -> None:
        """Keep one participation step (gateway.warrants.participation)."""
        ...

    def participation(self, warrant_id: str) -> list[Recorded]:
        """A warrant's participation steps, in the order recorded."""
        ...


# An action runs on the rows inside the write transaction and returns the audit entry to write,
# plus the refusal its caller gets (a refusal is audited too).
Action = Callable[[WarrantRows], tuple[Event, BaseException | None]]


class WarrantTable(Protocol):
    def reading(self) -> AbstractContextManager[WarrantRows]:
        """Rows to read (no transaction held open beyond the block)."""
        ...

    def write(self, action: Action) -> None:
        """Run `action` and make its rows and entry durable together; raise its refusal."""
        ...

    def close(self) -> None: ...
