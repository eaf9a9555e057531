"""The warrant book: the state machine and the rules every action follows.

States (docs/architecture.md; gateway.model.warrant): SUBMITTED -> APPROVED | REJECTED; APPROVED ->
REVOKED | EXPIRED (by time, derived from the clock). Every transition is one conditional UPDATE
(state must still be what was checked), run by the warrant table (gateway.warrants.table) so that
its audit entry is durable with it: an action either happened and is audited, or neither. Refusals
(the two-person rule, a warrant in the wrong state) are audited too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any

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
from gateway.model import (
    WARRANT_ID,
    Category,
    Tier,
    Warrant,
    WarrantSpec,
    WarrantState,
    format_time,
)
from gateway.model.review import Review
from gateway.policy.instruments import DEFAULT_TIER, Catalogue
from gateway.stores.base import Store
from gateway.warrants.clocks import Deadline, deadlines
from gateway.warrants.holds import Holds
from gateway.warrants.notices import Notices
from gateway.warrants.participation import Participation
from gateway.warrants.table import WarrantRows, WarrantTable
from gateway.warrants.unmasking import (
    Recompute,
    Unmasked,
    Unmasker,
    is_pseudonym,
    parts,
    shown,
)
from gateway.warrants.validation import MAX_TARGETS, MAX_TEXT, MAX_WINDOW, target, validate_spec

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


class _AlreadyPassed(Exception):
    """Not an error: another call recorded this clock's passing first (nothing written)."""


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
        catalogue: Catalogue | None = None,
        reach: Callable[[Tier], frozenset[Category]] | None = None,
        dry_run: Callable[[WarrantSpec, tuple[str, ...], Tier, str], Review] | None = None,
        unmask: Recompute | None = None,
    ) -> None:
        """`catalogue` names the instruments a request may name (None: only requests naming
        none, search warrants); `reach` is what the release policy in force lets a tier reach
        (None: every category)."""
        self.catalogue = catalogue or Catalogue(instruments={})
        self._reach = reach
        self._dry_run = dry_run
        self._table = table
        self._store = store
        self._audit = audit
        self._clock = clock
        self._max_targets = max_targets
        self._longest_window = longest_window
        self.holds = Holds(table, store, audit, clock, self.catalogue)
        self._unmasker = Unmasker(self.get, unmask)
        self.notices = Notices(table, audit, clock, self.catalogue)
        self.participation = Participation(table, clock, self.catalogue)

    def close(self) -> None:
        self._table.close()

    # -- reads ---------------------------------------------------------------------------

    def get(self, warrant_id: str) -> Warrant:
        if not WARRANT_ID.fullmatch(warrant_id):
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
            if is_pseudonym(asked.strip()):
                raise InvalidArgument(
                    "target: a pseudonym is unmasked only by a separately approved request "
                    "naming it (submit one with the target pseudonym:WARRANT:PSEUDONYM)"
                )
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
        if is_pseudonym(normalized):
            return normalized, self._unmasker.resolve(field, normalized)
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
            tier = self._within_tier(spec)
            accounts = tuple(self._resolve(i, t) for i, t in enumerate(spec.targets))
            if spec.preserved_by is not None:
                self.holds.check_reference(spec, accounts, tier)
            warrant_id = "w-" + secrets.token_hex(8)
            review = self._review(spec, accounts, tier, warrant_id)
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
            id=warrant_id,
            review=review,
            spec=spec,
            state=WarrantState.SUBMITTED,
            target_accounts=shown(spec.targets, accounts),  # nobody unmasked before approval
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
                target_accounts=list(warrant.target_accounts),
                categories=[c.value for c in spec.categories],
                window=[format_time(spec.window.start), format_time(spec.window.end)],
                expires_at=format_time(spec.expires_at),
                instrument=spec.instrument,
                tier=tier.value,
            ), None

        try:
            self._table.write(insert)
        except _Replayed as replay:
            return _replayed(replay.made, replay.request)
        return warrant

    def _review(
        self, spec: WarrantSpec, accounts: tuple[str, ...], tier: Tier, warrant_id: str
    ) -> Review | None:
        """The dry run's figures, with the review thresholds the request crosses."""
        if self._dry_run is None:
            return None
        review = self._dry_run(spec, accounts, tier, warrant_id)
        days = (spec.window.end - spec.window.start).total_seconds() / 86400
        content = Category.MESSAGE_CONTENT in spec.categories
        crossed = self.catalogue.crossed(review, days, content)
        return dataclasses.replace(review, second_review=crossed)

    def due(self, principal: str) -> Sequence[Deadline]:
        """Every deadline clock, soonest first; a clock found passed for the first time gets
        its `clock.passed` entry now (once: the table's key decides between replicas)."""
        self.holds.sweep()  # a hold past its end is purged before anyone reads the list
        now = self._clock()
        with self._table.reading() as rows:
            warrants = rows.newest_first()
            recorded = rows.clocks_passed()
            holds = {h.warrant: h.expires_at for h in rows.holds()}
        found = deadlines(warrants, self.catalogue, now, holds)
        for deadline in found:
            if deadline.passed and (deadline.warrant, deadline.clock) not in recorded:
                self._passed(deadline, principal)
        return found

    def _passed(self, deadline: Deadline, principal: str) -> None:
        def mark(rows: WarrantRows) -> tuple[events.Event, None]:
            if not rows.mark_clock(deadline.warrant, deadline.clock, format_time(deadline.due_at)):
                raise _AlreadyPassed
            return events.ClockPassed(
                warrant=deadline.warrant,
                principal=principal,
                clock=deadline.clock,
                due_at=format_time(deadline.due_at),
                instrument=deadline.instrument,
            ), None

        with contextlib.suppress(_AlreadyPassed):
            self._table.write(mark)

    def tier(self, warrant: Warrant) -> Tier:
        """The tier of `warrant`'s instrument in the catalogue; FailedPrecondition if the
        catalogue no longer knows it (nothing is released under an instrument nobody defines)."""
        entry = self.catalogue.of_warrant(warrant.id, warrant.spec.instrument)
        return DEFAULT_TIER if entry is None else entry.tier

    def _within_tier(self, spec: WarrantSpec) -> Tier:
        """The tier of the spec's instrument, or InvalidArgument naming the categories it
        names that the release policy does not let that tier reach."""
        tier = self.catalogue.tier_of(spec.instrument)
        if tier is Tier.EMERGENCY and not (spec.justification or "").strip():
            raise InvalidArgument(
                "spec.justification: an emergency request must say why it cannot wait for "
                "legal process"
            )
        if spec.follows_up is not None:
            self._emergency_followed(spec.follows_up)
        if self._reach is None or tier is Tier.PRESERVATION:  # a preservation keeps, never sends
            return tier
        reach = self._reach(tier)
        beyond = [c.value for c in spec.categories if c not in reach]
        if beyond:
            what = "a search warrant" if spec.instrument is None else repr(spec.instrument)
            allowed = ", ".join(c.value for c in Category if c in reach) or "nothing"
            raise InvalidArgument(
                f"spec.categories: {', '.join(beyond)} beyond what {what} ({tier.value}) may "
                f"reach under the release policy ({allowed})"
            )
        return tier

    def _emergency_followed(self, warrant_id: str) -> None:
        """InvalidArgument unless `warrant_id` is an emergency request (what a follow-up
        attaches to)."""
        try:
            followed = self.get(warrant_id)
        except NotFound:
            raise InvalidArgument(f"spec.follows_up: no warrant {warrant_id[:40]!r}") from None
        if self.catalogue.tier_of(followed.spec.instrument) is not Tier.EMERGENCY:
            raise InvalidArgument(
                f"spec.follows_up: {warrant_id} is not an emergency request; only those "
                "have a follow-up"
            )

    def approve(
        self, warrant_id: str, principal: str, note: str = "", may_be_second: bool = True
    ) -> Warrant:
        """Approve; a warrant whose dry run crossed a review threshold needs two reviewers:
        the first approval is recorded (it stays SUBMITTED), the second, by another person
        whom the API policy lets be one (`may_be_second`), approves it."""

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
            if w.review is None or not w.review.needs_second_reviewer:
                return
            if w.first_approved_by == principal:
                raise PermissionDenied(
                    f"second reviewer: {principal!r} approved warrant {w.id} first; its review "
                    f"asks for another reviewer ({'; '.join(w.review.second_review)})",
                    reason="SECOND_REVIEWER",
                )
            if w.first_approved_by is not None and not may_be_second:
                raise PermissionDenied(
                    f"second reviewer: the API policy does not let {principal!r} be the second "
                    f"reviewer of warrant {w.id} (SecondReview)",
                    reason="SECOND_REVIEWER",
                )

        def first(w: Warrant, rows: WarrantRows) -> events.Event | None:
            if w.review is None or not w.review.needs_second_reviewer:
                return None
            if w.first_approved_by is not None:
                return None
            if not rows.set_first_approval(w.id, principal):
                raise FailedPrecondition(f"warrant {w.id} changed state meanwhile")
            return events.WarrantFirstApproval(
                warrant=w.id, principal=principal, review=w.review.as_dict(), reason=note or None
            )

        final = self._final_approval(warrant_id)
        copy = None
        if final is not None and self.tier(final) is Tier.PRESERVATION:
            copy = self.holds.freeze(final)  # read from the store before the transaction
        unmasked = None if final is None else self._unmasked(final)

        def on_approval(w: Warrant, rows: WarrantRows) -> dict[str, Any]:
            """What an approval keeps beside its state, as fields of its entry."""
            extra: dict[str, Any] = {}
            if self.tier(w) is Tier.PRESERVATION:
                if copy is None:  # a first approval landed meanwhile: this one is the last
                    raise FailedPrecondition(
                        f"warrant {w.id} changed state meanwhile; approve again"
                    )
                extra["frozen"] = self.holds.keep(rows, w, copy)
            if any(is_pseudonym(t) for t in w.spec.targets):
                if unmasked is None:
                    raise FailedPrecondition(
                        f"warrant {w.id} changed state meanwhile; approve again"
                    )
                accounts, found = unmasked
                rows.set_target_accounts(w.id, accounts)
                extra["unmasked"] = found
            return extra

        approved = self._transition(
            warrant_id,
            principal,
            WarrantState.SUBMITTED,
            WarrantState.APPROVED,
            note,
            check,
            "decided",
            first,
            on_approval,
        )
        if approved.state is WarrantState.APPROVED and unmasked is not None:
            for link in unmasked[1]:  # the original warrant's story says it was unmasked
                self._audit.append(
                    events.PseudonymUnmasked(
                        warrant=link["warrant"],
                        principal=principal,
                        pseudonym=link["pseudonym"],
                        unmasked_by=approved.id,
                    )
                )
        return approved

    def _final_approval(self, warrant_id: str) -> Warrant | None:
        """The warrant, when the approval about to be made would approve it (not the first of
        two): what the approval keeps is read before its transaction."""
        with contextlib.suppress(NotFound):
            w = self.get(warrant_id)
            if w.state is not WarrantState.SUBMITTED:
                return None
            if w.review is not None and w.review.needs_second_reviewer and not w.first_approved_by:
                return None
            return w
        return None

    def _unmasked(self, w: Warrant) -> Unmasked | None:
        """A request naming pseudonyms: its real target accounts, and for each pseudonym the
        warrant, pseudonym and account (resolved again now: the approval discloses them)."""
        if not any(is_pseudonym(t) for t in w.spec.targets):
            return None
        accounts = list(w.target_accounts)
        found: list[dict[str, str]] = []
        for i, named in enumerate(w.spec.targets):
            if not is_pseudonym(named):
                continue
            try:
                (accounts[i],) = self._unmasker.resolve(f"spec.targets[{i}]", named)
            except InvalidArgument as exc:
                raise FailedPrecondition(f"warrant {w.id}: {exc.message}") from None
            original, pseudonym = parts(named)
            found.append({"warrant": original, "pseudonym": pseudonym, "account": accounts[i]})
        return tuple(accounts), found

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
        """Revoke; a revoked preservation's copy is purged at once (audited)."""
        revoked = self._transition(
            warrant_id,
            principal,
            WarrantState.APPROVED,
            WarrantState.REVOKED,
            reason,
            lambda w, now: None,
            "revoked",
        )
        with contextlib.suppress(FailedPrecondition):
            if self.tier(revoked) is Tier.PRESERVATION:
                self.holds.sweep(principal)
        return revoked

    def _transition(
        self,
        warrant_id: str,
        principal: str,
        source: WarrantState,
        target: WarrantState,
        reason: str,
        check: Callable[[Warrant, dt.datetime], None],
        who: str,
        instead: Callable[[Warrant, WarrantRows], events.Event | None] | None = None,
        keep: Callable[[Warrant, WarrantRows], dict[str, Any]] | None = None,
    ) -> Warrant:
        """`instead`, if given, may record a step short of the transition (the first of two
        approvals) and return its entry; None: the transition happens. `keep`, if given, runs
        with an approval's change: what it keeps beside the state (a preservation's copy, the
        accounts a request unmasks), returned as fields of the approval's entry."""
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
            step = None if instead is None else instead(warrant, rows)
            if step is not None:
                return step, None
            if not rows.set_state(
                warrant_id, source, target, who, principal, format_time(now), reason or None
            ):
                raise FailedPrecondition(f"warrant {warrant_id} changed state meanwhile")
            if done is events.WarrantApproved:
                return events.WarrantApproved(
                    warrant=warrant_id,
                    principal=principal,
                    reason=reason or None,
                    review=None if warrant.review is None else warrant.review.as_dict(),
                    first_approved_by=warrant.first_approved_by,
                    **({} if keep is None else keep(warrant, rows)),
                ), None
            return done(warrant=warrant_id, principal=principal, reason=reason or None), None

        self._table.write(change)
        return self.get(warrant_id)

    @staticmethod
    def _get_on(rows: WarrantRows, warrant_id: str) -> Warrant:
        if not WARRANT_ID.fullmatch(warrant_id):
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
