"""Preservation holds over their life: frozen at approval, extended once, purged at expiry or
revocation (each audited), and the source of any later request that names one.

The warrant book owns one `Holds` and calls it at the steps of a warrant's life that touch a
hold; the copy itself, and the store that reads it, are gateway.warrants.preservation's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

from gateway.audit import events
from gateway.audit.log import AuditLog
from gateway.errors import FailedPrecondition, InvalidArgument
from gateway.model import (
    WARRANT_ID,
    Scope,
    Tier,
    Warrant,
    WarrantSpec,
    WarrantState,
    format_time,
)
from gateway.policy.instruments import Catalogue
from gateway.stores.base import Store
from gateway.warrants.preservation import FrozenCopy, FrozenStore, Hold, freeze
from gateway.warrants.table import WarrantRows, WarrantTable
from gateway.warrants.validation import MAX_TEXT

GATEWAY = "gateway"  # the principal of a purge the gateway's own sweep finds due


def hold_scope(warrant: Warrant) -> Scope:
    """What a preservation request freezes: its targets' records in its categories and window."""
    return Scope(
        targets=frozenset(warrant.target_accounts),
        categories=frozenset(warrant.spec.categories),
        window=warrant.spec.window,
        include_received_direct=warrant.spec.include_received_direct,
        tier=Tier.PRESERVATION,
    )


class _NothingToDo(Exception):
    """Inside a write: another call or replica got there first; no entry, no change."""


class Holds:
    def __init__(
        self,
        table: WarrantTable,
        store: Store,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
        catalogue: Catalogue,
    ) -> None:
        self._table = table
        self._store = store
        self._audit = audit
        self._clock = clock
        self._catalogue = catalogue

    # -- at approval ------------------------------------------------------------------------

    def freeze(self, warrant: Warrant) -> FrozenCopy:
        """The store's records in the preservation's scope, as they are now (read before the
        approval's transaction, which then keeps them: `keep`)."""
        return freeze(self._store, hold_scope(warrant))

    def keep(self, rows: WarrantRows, warrant: Warrant, copy: FrozenCopy) -> dict[str, Any]:
        """Inside the approval's transaction: keep the copy; what its audit entry says of it."""
        now = self._clock()
        expires_at = now + self._catalogue.preservation
        rows.insert_hold(
            Hold(warrant.id, now, expires_at, len(copy.lines), copy.content_sha256), copy
        )
        return {**copy.summary(), "expires_at": format_time(expires_at)}

    # -- extension and purge ----------------------------------------------------------------

    def extend(self, warrant: Warrant, principal: str, reason: str) -> Hold:
        """Extend a live hold once, by as long again as the catalogue holds one (audited, and
        so is a refusal: preservation.extended_refused)."""
        if len(reason) > MAX_TEXT:
            raise InvalidArgument(f"reason: longer than {MAX_TEXT} characters")
        now = self._clock()

        def change(rows: WarrantRows) -> tuple[events.Event, BaseException | None]:
            try:
                hold = self._hold_on(rows, warrant.id)
                if hold.extended_at is not None:
                    raise FailedPrecondition(
                        f"preservation {warrant.id} was extended already (by "
                        f"{hold.extended_by} at {format_time(hold.extended_at)}); a hold is "
                        "extended once",
                        reason="HOLD_EXTENDED",
                    )
                self._require_live(rows, hold, now)
            except FailedPrecondition as refused:
                return events.PreservationExtendRefused(
                    warrant=warrant.id, principal=principal, why=refused.message
                ), refused
            expires_at = hold.expires_at + self._catalogue.preservation
            if not rows.extend_hold(
                warrant.id, format_time(expires_at), principal, format_time(now)
            ):
                raise FailedPrecondition(f"preservation {warrant.id} changed meanwhile; retry")
            return events.PreservationExtended(
                warrant=warrant.id,
                principal=principal,
                expires_at=format_time(expires_at),
                reason=reason or None,
            ), None

        self._table.write(change)
        return self.hold(warrant.id)

    def sweep(self, principal: str = GATEWAY) -> list[str]:
        """Purge every hold past its expiry or whose request was revoked (each audited, once,
        by whichever call or replica gets there first); the warrants purged."""
        now = self._clock()
        with self._table.reading() as rows:
            due = [
                (h, why)
                for h in rows.holds()
                if h.purged_at is None and (why := self._ended(rows, h, now)) is not None
            ]
        purged = []
        for hold, why in due:
            with contextlib.suppress(_NothingToDo):
                self._table.write(self._purge(hold, why, principal, now))
                purged.append(hold.warrant)
        return purged

    def _purge(
        self, hold: Hold, why: str, principal: str, now: dt.datetime
    ) -> Callable[[WarrantRows], tuple[events.Event, BaseException | None]]:
        def change(rows: WarrantRows) -> tuple[events.Event, BaseException | None]:
            if not rows.purge_hold(hold.warrant, format_time(now)):
                raise _NothingToDo
            return events.PreservationPurged(
                warrant=hold.warrant,
                principal=principal,
                why=why,
                records=hold.records,
                content_sha256=hold.content_sha256,
            ), None

        return change

    @staticmethod
    def _ended(rows: WarrantRows, hold: Hold, now: dt.datetime) -> str | None:
        warrant = rows.get(hold.warrant)
        if warrant is not None and warrant.state is WarrantState.REVOKED:
            return "revoked"
        return "expired" if now >= hold.expires_at else None

    # -- reads ------------------------------------------------------------------------------

    def hold(self, warrant_id: str) -> Hold:
        with self._table.reading() as rows:
            return self._hold_on(rows, warrant_id)

    def holds(self) -> dict[str, Hold]:
        with self._table.reading() as rows:
            return {h.warrant: h for h in rows.holds()}

    @staticmethod
    def _hold_on(rows: WarrantRows, warrant_id: str) -> Hold:
        hold = rows.hold(warrant_id)
        if hold is None:
            raise FailedPrecondition(
                f"warrant {warrant_id} holds no preserved copy (not an approved preservation "
                "request)",
                reason="NO_HOLD",
            )
        return hold

    def _require_live(self, rows: WarrantRows, hold: Hold, now: dt.datetime) -> None:
        why = self._ended(rows, hold, now) if hold.purged_at is None else "purged"
        if why is not None:
            ended = hold.purged_at or hold.expires_at
            raise FailedPrecondition(
                f"preservation {hold.warrant} is {why} (its hold ended "
                f"{format_time(ended)}); its copy can no longer be used",
                reason="HOLD_ENDED",
            )

    # -- a request releasing from a hold ----------------------------------------------------

    def check_reference(self, spec: WarrantSpec, accounts: tuple[str, ...], tier: Tier) -> None:
        """At intake: InvalidArgument unless `spec.preserved_by` names a live hold whose copy
        holds everything the request asks for (same accounts; categories, window and received
        direct messages within it)."""
        name = spec.preserved_by or ""
        field = "spec.preserved_by"
        if tier is Tier.PRESERVATION:
            raise InvalidArgument(f"{field}: a preservation request cannot release from another")
        if not WARRANT_ID.fullmatch(name):
            raise InvalidArgument(f"{field}: {name[:40]!r} is not a warrant id (w- and 16 hex)")
        with self._table.reading() as rows:
            held = rows.get(name)
            if held is None:
                raise InvalidArgument(f"{field}: no warrant {name!r}")
            hold = rows.hold(name)
            if hold is None:
                raise InvalidArgument(
                    f"{field}: {name} holds no preserved copy (only an approved preservation "
                    "request does)"
                )
            try:
                self._require_live(rows, hold, self._clock())
            except FailedPrecondition as exc:
                raise InvalidArgument(f"{field}: {exc.message}") from None
        problems = _beyond(spec, accounts, held)
        if problems:
            raise InvalidArgument(
                f"{field}: {name} froze less than this asks: {'; '.join(problems)}"
            )

    def source(self, warrant: Warrant, store: Store) -> tuple[Store, dict[str, str] | None]:
        """Where a release of `warrant` reads: `store`, or the frozen copy it names (then its
        name for the audit entries). FailedPrecondition when that hold has ended, or its copy no
        longer hashes to what was frozen (fail closed: never the store instead)."""
        name = warrant.spec.preserved_by
        if name is None:
            return store, None
        with self._table.reading() as rows:
            hold = self._hold_on(rows, name)
            self._require_live(rows, hold, self._clock())
            held = rows.get(name)
            copy = rows.frozen_copy(name)
        if held is None or copy is None:
            raise FailedPrecondition(f"preservation {name}: its copy is gone", reason="HOLD_ENDED")
        if copy.content_sha256 != hold.content_sha256:
            # The entries would name a hash the records released from do not have: fail closed.
            raise FailedPrecondition(
                f"preservation {name}: its copy no longer matches what was frozen (content "
                f"sha256 {copy.content_sha256[:12]}... kept, {hold.content_sha256[:12]}... in "
                "the approval's audit entry); nothing is released from it",
                reason="HOLD_CORRUPT",
            )
        frozen = FrozenStore(copy, hold_scope(held), store.shapes())
        return frozen, {"warrant": name, "content_sha256": hold.content_sha256}


def _beyond(spec: WarrantSpec, accounts: tuple[str, ...], held: Warrant) -> list[str]:
    """What `spec` asks for that the preservation `held` did not freeze."""
    problems = []
    if set(accounts) != set(held.target_accounts):
        problems.append(
            f"targets resolve to {', '.join(sorted(accounts))}, it froze "
            f"{', '.join(sorted(held.target_accounts))} (the same accounts are required)"
        )
    extra = [c.value for c in spec.categories if c not in held.spec.categories]
    if extra:
        problems.append(f"categories {', '.join(extra)} were not frozen")
    w, h = spec.window, held.spec.window
    if w.start < h.start or w.end > h.end:
        problems.append(
            f"window [{format_time(w.start)}, {format_time(w.end)}) is not within the frozen "
            f"[{format_time(h.start)}, {format_time(h.end)})"
        )
    if spec.include_received_direct and not held.spec.include_received_direct:
        problems.append("received direct messages were not frozen")
    return problems
