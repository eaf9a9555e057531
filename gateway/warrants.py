"""Warrants: validated specs, the state machine, and the rules every action follows.

States (DESIGN.md): SUBMITTED -> APPROVED | REJECTED; APPROVED -> REVOKED | EXPIRED (by time).
EXPIRED is derived from the clock, never written, so an expired warrant cannot be missed by a
process that was down when it expired. Every transition is one conditional UPDATE (state must
still be what was checked), run by the warrant table (gateway.warrant_tables: SQLite or
PostgreSQL) so that its audit entry is durable with it: an action either happened and is
audited, or neither.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
from collections.abc import Callable

from gateway import validation
from gateway.audit import AuditLog
from gateway.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from gateway.group_commit import Entry
from gateway.warrant_tables import PgWarrantTable, Rows, SqliteWarrantTable
from gateway.model import MATRIX_USER_ID, TARGET_KINDS, Category, WarrantState, Window, format_time
from gateway.stores.base import Store

MAX_TARGETS = 20
MAX_TEXT = 2000
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^w-[0-9a-f]{16}$")


@dataclasses.dataclass(frozen=True)
class WarrantSpec:
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


def validate_spec(spec: WarrantSpec, now: dt.datetime, max_targets: int = MAX_TARGETS,
                  longest_window: dt.timedelta = validation.MAX_WINDOW) -> WarrantSpec:
    """The spec with its text normalized (gateway.validation), or InvalidArgument naming the
    first bad field."""
    case_number = validation.identifier("spec.case_number", spec.case_number, MAX_TEXT)
    authority = validation.text("spec.authority", spec.authority, MAX_TEXT)
    legal_basis = validation.text("spec.legal_basis", spec.legal_basis, MAX_TEXT, multiline=True)
    for name, value in (("case_number", case_number), ("authority", authority)):
        if not value.strip():
            raise InvalidArgument(f"spec.{name}: required")
    if not spec.targets:
        raise InvalidArgument("spec.targets: at least one target is required")
    if len(spec.targets) > max_targets:
        raise InvalidArgument(f"spec.targets: at most {max_targets} targets")
    targets = []
    for i, target in enumerate(spec.targets):
        target = validation.identifier(f"spec.targets[{i}]", target)
        if target.startswith("@"):
            target = "matrix:" + target  # a bare Matrix user id, @user:server
        kind, sep, value = target.partition(":")
        if not sep or kind not in TARGET_KINDS or not value.strip() or (
                kind == "matrix" and not (len(value) <= 255 and MATRIX_USER_ID.fullmatch(value))):
            raise InvalidArgument(
                f"spec.targets[{i}]: {target[:80]!r} is not account:ID, phone:NUMBER, "
                "email:ADDRESS or a Matrix user id (@user:server)"
            )
        targets.append(target)
    validation.window("spec.window", spec.window.start, spec.window.end, longest_window)
    if not spec.categories:
        raise InvalidArgument("spec.categories: at least one category is required")
    if len(set(spec.categories)) != len(spec.categories):
        raise InvalidArgument("spec.categories: a category is named twice")
    if spec.expires_at <= now:
        raise InvalidArgument(f"spec.expires_at: {format_time(spec.expires_at)} is not in the future")
    if spec.document_sha256 is not None and not _HEX64.match(spec.document_sha256):
        raise InvalidArgument("spec.document_sha256: must be 64 lowercase hex digits")
    return dataclasses.replace(spec, case_number=case_number, authority=authority,
                               legal_basis=legal_basis, targets=tuple(targets))


def parse_category(value: str, field: str) -> Category:
    try:
        return Category(value)
    except ValueError:
        known = ", ".join(c.value for c in Category)
        raise InvalidArgument(f"{field}: unknown category {value[:80]!r} (known: {known})") from None


class WarrantBook:
    """The warrant lifecycle: validation, target resolution, two-person rule, durable state."""

    def __init__(
        self,
        table: SqliteWarrantTable | PgWarrantTable,
        store: Store,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
        max_targets: int = MAX_TARGETS,
        longest_window: dt.timedelta = validation.MAX_WINDOW,
    ) -> None:
        self._table = table
        self._store = store
        self._audit = audit
        self._clock = clock
        self._max_targets = max_targets
        self._longest_window = longest_window

    def close(self) -> None:
        self._table.close()

    # -- reads ---------------------------------------------------------------------------

    def get(self, warrant_id: str) -> Warrant:
        if not _ID.match(warrant_id):
            raise NotFound(f"no warrant {warrant_id[:80]!r}")
        with self._table.reading() as rows:
            return self._get_on(rows, warrant_id)

    def list(self, state: WarrantState | None = None, limit: int = 100) -> list[Warrant]:
        with self._table.reading() as rows:
            warrants = rows.newest_first()
        now = self._clock()
        if state is not None:
            warrants = [w for w in warrants if w.live_state(now) is state]
        return warrants[:limit]

    def live_state(self, warrant_id: str) -> WarrantState:
        return self.get(warrant_id).live_state(self._clock())

    def now(self) -> dt.datetime:
        return self._clock()

    # -- actions -------------------------------------------------------------------------

    def submit(self, spec: WarrantSpec, principal: str) -> Warrant:
        now = self._clock()
        spec = validate_spec(spec, now, self._max_targets, self._longest_window)
        accounts = tuple(self._resolve(i, t) for i, t in enumerate(spec.targets))
        warrant = Warrant(
            id="w-" + secrets.token_hex(8),
            spec=spec,
            state=WarrantState.SUBMITTED,
            target_accounts=accounts,
            submitted_by=principal,
            submitted_at=now,
        )
        def insert(rows: Rows) -> tuple[Entry, None]:
            rows.insert(warrant)
            return ("warrant.submitted", {
                "warrant": warrant.id,
                "principal": principal,
                "case_number": spec.case_number,
                "target_accounts": list(accounts),
                "categories": [c.value for c in spec.categories],
                "window": [format_time(spec.window.start), format_time(spec.window.end)],
                "expires_at": format_time(spec.expires_at),
            }), None

        self._table.write(insert)
        return warrant

    def approve(self, warrant_id: str, principal: str, note: str = "") -> Warrant:
        def check(w: Warrant, now: dt.datetime) -> None:
            if w.submitted_by == principal:
                raise PermissionDenied(
                    f"two-person rule: {principal!r} submitted warrant {w.id} and cannot approve it"
                )
            if now >= w.spec.expires_at:
                raise FailedPrecondition(f"warrant {w.id} expired at {format_time(w.spec.expires_at)}")

        return self._transition(
            warrant_id, principal, WarrantState.SUBMITTED, WarrantState.APPROVED, note, check,
            "decided",
        )

    def reject(self, warrant_id: str, principal: str, reason: str = "") -> Warrant:
        def check(w: Warrant, now: dt.datetime) -> None:
            if w.submitted_by == principal:
                raise PermissionDenied(
                    f"two-person rule: {principal!r} submitted warrant {w.id} and cannot reject it"
                )

        return self._transition(
            warrant_id, principal, WarrantState.SUBMITTED, WarrantState.REJECTED, reason, check,
            "decided",
        )

    def revoke(self, warrant_id: str, principal: str, reason: str = "") -> Warrant:
        return self._transition(
            warrant_id, principal, WarrantState.APPROVED, WarrantState.REVOKED, reason,
            lambda w, now: None, "revoked",
        )

    def _transition(
        self,
        warrant_id: str,
        principal: str,
        source: WarrantState,
        target: WarrantState,
        reason: str,
        check: Callable[[Warrant, dt.datetime], None],
        who: str,
    ) -> Warrant:
        if len(reason) > MAX_TEXT:
            raise InvalidArgument(f"reason: longer than {MAX_TEXT} characters")
        now = self._clock()
        action = target.value.lower()
        def change(rows: Rows) -> tuple[Entry, BaseException | None]:
            warrant = self._get_on(rows, warrant_id)
            live = warrant.live_state(now)
            try:
                if live is not source:
                    raise FailedPrecondition(
                        f"warrant {warrant_id} is {live.value}; only a {source.value} warrant can be "
                        f"{action}"
                    )
                check(warrant, now)
            except (FailedPrecondition, PermissionDenied) as refused:
                return (f"warrant.{action}_refused",
                        {"warrant": warrant_id, "principal": principal, "why": refused.message}), refused
            if not rows.set_state(warrant_id, source, target, who, principal, format_time(now),
                                  reason or None):
                raise FailedPrecondition(f"warrant {warrant_id} changed state meanwhile")
            return (f"warrant.{action}",
                    {"warrant": warrant_id, "principal": principal, "reason": reason or None}), None

        self._table.write(change)
        return self.get(warrant_id)

    @staticmethod
    def _get_on(rows: Rows, warrant_id: str) -> Warrant:
        if not _ID.match(warrant_id):
            raise NotFound(f"no warrant {warrant_id[:80]!r}")
        warrant = rows.get(warrant_id)
        if warrant is None:
            raise NotFound(f"no warrant {warrant_id!r}")
        return warrant

    def _resolve(self, index: int, target: str) -> str:
        kind, _, value = target.partition(":")
        found = self._store.resolve(kind, value.strip())
        if len(found) != 1:
            what = "no account" if not found else f"{len(found)} accounts"
            raise InvalidArgument(
                f"spec.targets[{index}]: {target!r} matches {what}; a target must match exactly one"
            )
        return found[0]
