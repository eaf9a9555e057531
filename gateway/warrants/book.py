"""The warrant book: the state machine and the rules every action follows.

States (docs/architecture.md; gateway.model.warrant): SUBMITTED -> APPROVED | REJECTED; APPROVED ->
REVOKED | EXPIRED (by time, derived from the clock). Every transition is one conditional UPDATE
(state must still be what was checked), run by the warrant table (gateway.warrants.table) so that
its audit entry is durable with it: an action either happened and is audited, or neither. Refusals
(the two-person rule, a warrant in the wrong state) are audited too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Sequence

from gateway.audit import events
from gateway.audit.log import AuditLog
from gateway.errors import (
    AlreadyExists,
    FailedPrecondition,
    GatewayError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from gateway.model import Warrant, WarrantSpec, WarrantState, format_time
from gateway.stores.base import Store
from gateway.warrants.table import WarrantRows, WarrantTable
from gateway.warrants.validation import MAX_TARGETS, MAX_TEXT, MAX_WINDOW, target, validate_spec

_ID = re.compile(r"^w-[0-9a-f]{16}$")

# For each transition: its audit event, and the event of its refusal.
_EVENTS: dict[WarrantState, tuple[type[events.WarrantDecision], type[events.WarrantRefusal]]] = {
    WarrantState.APPROVED: (events.WarrantApproved, events.WarrantApproveRefused),
    WarrantState.REJECTED: (events.WarrantRejected, events.WarrantRejectRefused),
    WarrantState.REVOKED: (events.WarrantRevoked, events.WarrantRevokeRefused),
}


REQUEST_ID = re.compile(r"^[!-~]{1,128}$")


def check_request_id(value: str) -> str:
    if not REQUEST_ID.match(value):
        raise InvalidArgument("request_id: 1 to 128 printable ASCII characters (a UUID, say)")
    return value


def spec_sha256(spec: WarrantSpec) -> str:
    """A digest of the spec as submitted: equal specs, equal digests."""
    text = json.dumps(dataclasses.asdict(spec), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class _Replayed(Exception):
    """Not an error: the warrant the request made before (out of the write, no new entry)."""

    def __init__(self, made: tuple[Warrant, str], request: tuple[str, str]) -> None:
        super().__init__(made[0].id)
        self.made = made
        self.request = request


def _replayed(made: tuple[Warrant, str], request: tuple[str, str]) -> Warrant:
    warrant, sha256 = made
    if sha256 != request[1]:
        raise AlreadyExists(
            f"request_id: {request[0]!r} already made warrant {warrant.id} from another spec; "
            "use a new request id for a new warrant",
            reason="REQUEST_ID_REUSED",
        )
    return warrant


class WarrantBook:
    """The warrant lifecycle: validation, target resolution, two-person rule, durable state."""

    def __init__(
        self,
        table: WarrantTable,
        store: Store,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
        max_targets: int = MAX_TARGETS,
        longest_window: dt.timedelta = MAX_WINDOW,
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
            raise NotFound(f"no warrant {warrant_id[:80]!r}", reason="WARRANT_NOT_FOUND")
        with self._table.reading() as rows:
            return self._get_on(rows, warrant_id)

    def list(self, state: WarrantState | None = None, limit: int | None = 100) -> list[Warrant]:
        """Newest first; only those in `state` (live) if given; at most `limit` (None: all)."""
        with self._table.reading() as rows:
            warrants = rows.newest_first()
        now = self._clock()
        if state is not None:
            warrants = [w for w in warrants if w.live_state(now) is state]
        return warrants[:limit]

    def submitter(self, warrant_id: str) -> str | None:
        """Who submitted `warrant_id`, or None if there is no such warrant."""
        try:
            return self.get(warrant_id).submitted_by
        except NotFound:
            return None

    def lookup(self, asked: str, principal: str) -> str | None:
        """The one account `asked` (a target as a warrant names it) resolves to, or None when
        none or several do; audited whatever the outcome (a malformed target and a store that
        fails included), and the answer says nothing more."""
        try:
            normalized, found = self._find(asked, "target")
        except GatewayError as exc:
            self._audit.append(
                events.AccountLookedUp(
                    principal=principal, target=_shown(asked), account=None, why=exc.message
                )
            )
            raise
        account = found[0] if len(found) == 1 else None
        self._audit.append(
            events.AccountLookedUp(principal=principal, target=normalized, account=account)
        )
        return account

    def _find(self, asked: str, field: str) -> tuple[str, Sequence[str]]:
        """(the target normalized, the accounts it matches): the one way a target is resolved."""
        normalized = target(field, asked)
        return normalized, self._store.resolve(*_kind_and_value(normalized))

    def live_state(self, warrant_id: str) -> WarrantState:
        return self.get(warrant_id).live_state(self._clock())

    def now(self) -> dt.datetime:
        return self._clock()

    # -- actions -------------------------------------------------------------------------

    def validate(self, spec: WarrantSpec) -> WarrantSpec:
        """`spec` normalized as a submission would take it, or InvalidArgument naming the first
        bad field (targets are not resolved: that is submit's, or lookup's)."""
        return validate_spec(spec, self._clock(), self._max_targets, self._longest_window)

    def submit(self, spec: WarrantSpec, principal: str, request_id: str | None = None) -> Warrant:
        """A new SUBMITTED warrant. With a `request_id` it is idempotent (AIP-155): the same id
        and spec from the same principal again return the warrant the first call made (no new
        entry); the same id with another spec is ALREADY_EXISTS."""
        request = None
        if request_id is not None:
            request = (check_request_id(request_id), spec_sha256(spec))
            with self._table.reading() as rows:
                made = rows.by_request(principal, request_id)
            if made is not None:
                return _replayed(made, request)
        now = self._clock()
        try:
            spec = validate_spec(spec, now, self._max_targets, self._longest_window)
            accounts = tuple(self._resolve(i, t) for i, t in enumerate(spec.targets))
        except GatewayError as exc:
            # Every resolution attempt is audited, the failed ones too: a refused submission
            # would otherwise tell an officer, without a trace, whether a number has an account.
            self._audit.append(
                events.WarrantSubmitRefused(
                    principal=principal,
                    case_number=_shown(spec.case_number),
                    targets=[_shown(t) for t in spec.targets[: self._max_targets]],
                    why=exc.message,
                )
            )
            raise
        warrant = Warrant(
            id="w-" + secrets.token_hex(8),
            spec=spec,
            state=WarrantState.SUBMITTED,
            target_accounts=accounts,
            submitted_by=principal,
            submitted_at=now,
        )

        def insert(rows: WarrantRows) -> tuple[events.Event, None]:
            if request is not None:  # a retry racing the first call: the table decides
                made = rows.by_request(principal, request[0])
                if made is not None:
                    raise _Replayed(made, request)
            rows.insert(warrant, request)
            return events.WarrantSubmitted(
                warrant=warrant.id,
                principal=principal,
                case_number=spec.case_number,
                target_accounts=list(accounts),
                categories=[c.value for c in spec.categories],
                window=[format_time(spec.window.start), format_time(spec.window.end)],
                expires_at=format_time(spec.expires_at),
            ), None

        try:
            self._table.write(insert)
        except _Replayed as replay:
            return _replayed(replay.made, replay.request)
        return warrant

    def approve(self, warrant_id: str, principal: str, note: str = "") -> Warrant:
        def check(w: Warrant, now: dt.datetime) -> None:
            if w.submitted_by == principal:
                raise PermissionDenied(
                    f"two-person rule: {principal!r} submitted warrant {w.id} "
                    "and cannot approve it",
                    reason="TWO_PERSON_RULE",
                )
            if now >= w.spec.expires_at:
                raise FailedPrecondition(
                    f"warrant {w.id} expired at {format_time(w.spec.expires_at)}",
                    reason="WARRANT_EXPIRED",
                )

        return self._transition(
            warrant_id,
            principal,
            WarrantState.SUBMITTED,
            WarrantState.APPROVED,
            note,
            check,
            "decided",
        )

    def reject(self, warrant_id: str, principal: str, reason: str = "") -> Warrant:
        def check(w: Warrant, now: dt.datetime) -> None:
            if w.submitted_by == principal:
                raise PermissionDenied(
                    f"two-person rule: {principal!r} submitted warrant {w.id} and cannot reject it",
                    reason="TWO_PERSON_RULE",
                )

        return self._transition(
            warrant_id,
            principal,
            WarrantState.SUBMITTED,
            WarrantState.REJECTED,
            reason,
            check,
            "decided",
        )

    def revoke(self, warrant_id: str, principal: str, reason: str = "") -> Warrant:
        return self._transition(
            warrant_id,
            principal,
            WarrantState.APPROVED,
            WarrantState.REVOKED,
            reason,
            lambda w, now: None,
            "revoked",
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
        done, refused_event = _EVENTS[target]

        def change(rows: WarrantRows) -> tuple[events.Event, BaseException | None]:
            warrant = self._get_on(rows, warrant_id)
            live = warrant.live_state(now)
            try:
                if live is not source:
                    raise FailedPrecondition(
                        f"warrant {warrant_id} is {live.value}; only a {source.value} warrant "
                        f"can be {action}",
                        reason="WARRANT_STATE",
                    )
                check(warrant, now)
            except (FailedPrecondition, PermissionDenied) as refused:
                return refused_event(
                    warrant=warrant_id, principal=principal, why=refused.message
                ), refused
            if not rows.set_state(
                warrant_id, source, target, who, principal, format_time(now), reason or None
            ):
                raise FailedPrecondition(f"warrant {warrant_id} changed state meanwhile")
            return done(warrant=warrant_id, principal=principal, reason=reason or None), None

        self._table.write(change)
        return self.get(warrant_id)

    @staticmethod
    def _get_on(rows: WarrantRows, warrant_id: str) -> Warrant:
        if not _ID.match(warrant_id):
            raise NotFound(f"no warrant {warrant_id[:80]!r}", reason="WARRANT_NOT_FOUND")
        warrant = rows.get(warrant_id)
        if warrant is None:
            raise NotFound(f"no warrant {warrant_id!r}", reason="WARRANT_NOT_FOUND")
        return warrant

    def _resolve(self, index: int, target: str) -> str:
        _, found = self._find(target, f"spec.targets[{index}]")
        if len(found) != 1:
            what = "no account" if not found else f"{len(found)} accounts"
            raise InvalidArgument(
                f"spec.targets[{index}]: {target!r} matches {what}; a target must match exactly one"
            )
        return found[0]


def _shown(text: str) -> str:
    """Caller-supplied text as an audit entry keeps it: bounded."""
    return text[:MAX_TEXT]


def _kind_and_value(target: str) -> tuple[str, str]:
    kind, _, value = target.partition(":")
    return kind, value.strip()
