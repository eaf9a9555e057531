"""Policy changes under the two-person rule: one policy administrator proposes, another approves.

As a warrant needs a second person to approve it, so does a change of the rules that decide
what every warrant releases. A proposal is checked as a replica would load it (Casbin parses
it, the table compiles, every limit of gateway.policy.guarantees holds) and kept, with the
sha256 of the rules in force it would replace; nothing changes yet (`policy.proposed`). A
different policy administrator approves it before it expires, while the rules it was proposed
against are still in force: then its rules replace them in the same transaction as the
`policy.changed` entry (who approved, who proposed, why). Every refusal is audited too
(`policy.change_refused`: who, what, why, the sha256 of the rules refused). Replacing the
rules directly (SetPolicy) is refused and audited the same way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from typing import NoReturn

from gateway.audit import events
from gateway.audit.log import AuditLog
from gateway.errors import (
    FailedPrecondition,
    GatewayError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from gateway.model import format_time
from gateway.policy.live import Policies
from gateway.policy.proposals import Proposal, ProposalRows
from gateway.policy.rules import require_name

PROPOSAL_TTL = dt.timedelta(hours=24)  # a proposal nobody approved in a day is stale
MAX_RULES_BYTES = 256 << 10
MAX_REASON = 2000
_ID = re.compile(r"^pp-[0-9a-f]{16}$")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PolicyChanges:
    """Propose, approve and list policy changes; every outcome is an audit entry."""

    def __init__(
        self,
        policies: Policies,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
        ttl: dt.timedelta = PROPOSAL_TTL,
    ) -> None:
        self._policies = policies
        self._audit = audit
        self._clock = clock
        self._ttl = ttl

    def refuse_set(self, principal: str, name: str, rules: str) -> None:
        """A direct replacement: always refused, saying how a change is made."""
        self._refused(
            principal,
            "set",
            FailedPrecondition(
                "a policy change needs a second policy administrator: propose it "
                "(`wsg policy propose FILE`, ProposePolicy) and another policy_admin approves "
                "it (`wsg policy approve ID`, ApprovePolicy)",
                reason="TWO_PERSON_RULE",
            ),
            policy=name,
            rules_sha256=sha256(rules),
        )

    def propose(self, principal: str, name: str, rules: str, reason: str) -> Proposal:
        """A new proposal (nothing changes yet), or the refusal, audited either way."""
        sent = sha256(rules)
        try:
            require_name(name)
            if len(rules.encode()) > MAX_RULES_BYTES:
                raise InvalidArgument(f"rules: larger than {MAX_RULES_BYTES} bytes")
            if len(reason) > MAX_REASON:
                raise InvalidArgument(f"reason: longer than {MAX_REASON} characters")
            self._policies.source.require_writable()
            canonical = self._policies.check(name, rules, "rules")
        except GatewayError as exc:
            self._refused(principal, "propose", exc, policy=name, rules_sha256=sent)
        now = self._clock()
        made = Proposal(
            id="pp-" + secrets.token_hex(8),
            policy=name,
            rules=canonical,
            rules_sha256=sha256(canonical),
            base_sha256="",
            reason=reason or None,
            proposed_by=principal,
            proposed_at=now,
            expires_at=now + self._ttl,
        )

        def work(rows: ProposalRows) -> tuple[list[events.Event], Proposal | GatewayError]:
            base = sha256(rows.rules(name))
            if base == made.rules_sha256:
                refused = FailedPrecondition(
                    f"the proposed {name} rules are the rules in force; nothing to change"
                )
                return [self._refusal(principal, "propose", refused, name, None, sent)], refused
            proposal = dataclasses.replace(made, base_sha256=base)
            rows.insert(proposal)
            return [
                events.PolicyProposed(
                    principal=principal,
                    proposal=proposal.id,
                    policy=name,
                    reason=proposal.reason,
                    rules_sha256=proposal.rules_sha256,
                    base_sha256=base,
                    expires_at=format_time(proposal.expires_at),
                )
            ], proposal

        return self._run(principal, "propose", work, policy=name, rules_sha256=sent)

    def approve(self, principal: str, proposal_id: str) -> Proposal:
        """Put a proposal's rules in force, or the refusal, audited either way."""
        if not _ID.match(proposal_id):
            self._refused(
                principal, "approve", NotFound(f"no policy proposal {proposal_id[:80]!r}")
            )
        now = self._clock()

        def work(rows: ProposalRows) -> tuple[list[events.Event], Proposal | GatewayError]:
            proposal = rows.get(proposal_id)
            try:
                if proposal is None:
                    raise NotFound(f"no policy proposal {proposal_id!r}")
                self._check_approval(principal, proposal, rows.rules(proposal.policy), now)
            except GatewayError as refused:
                return [
                    self._refusal(
                        principal,
                        "approve",
                        refused,
                        None if proposal is None else proposal.policy,
                        proposal_id,
                        None if proposal is None else proposal.rules_sha256,
                    )
                ], refused
            rows.replace_rules(proposal.policy, proposal.rules)
            rows.mark_approved(proposal.id, principal, now)
            return [
                events.PolicyChanged(
                    principal=principal,
                    policy=proposal.policy,
                    reason=proposal.reason,
                    rules_sha256=proposal.rules_sha256,
                    proposal=proposal.id,
                    proposed_by=proposal.proposed_by,
                )
            ], proposal

        return self._run(principal, "approve", work, proposal=proposal_id)

    def _check_approval(
        self, principal: str, proposal: Proposal, in_force: str, now: dt.datetime
    ) -> None:
        if proposal.approved_by is not None:
            raise FailedPrecondition(
                f"policy proposal {proposal.id} was approved by {proposal.approved_by!r} already"
            )
        if proposal.proposed_by == principal:
            raise PermissionDenied(
                f"two-person rule: {principal!r} proposed {proposal.id} and cannot approve it",
                reason="TWO_PERSON_RULE",
            )
        if now >= proposal.expires_at:
            raise FailedPrecondition(
                f"policy proposal {proposal.id} expired at {format_time(proposal.expires_at)}; "
                "propose it again"
            )
        if sha256(in_force) != proposal.base_sha256:
            raise FailedPrecondition(
                f"the {proposal.policy} rules changed since {proposal.id} was proposed; propose "
                "again against the rules in force"
            )
        # The models (files) may have changed since: the rules must still load.
        self._policies.check(proposal.policy, proposal.rules, f"proposal {proposal.id}")

    def pending(self) -> list[Proposal]:
        """The proposals waiting for approval and not expired, oldest first."""
        now = self._clock()
        return [p for p in self._policies.source.pending() if now < p.expires_at]

    # -- refusals ---------------------------------------------------------------------------

    def _run(
        self,
        principal: str,
        action: str,
        work: Callable[[ProposalRows], tuple[list[events.Event], Proposal | GatewayError]],
        policy: str | None = None,
        proposal: str | None = None,
        rules_sha256: str | None = None,
    ) -> Proposal:
        try:
            outcome = self._policies.source.changes(work)
        except FailedPrecondition as exc:  # rules that cannot change here: refused, audited
            self._refused(principal, action, exc, policy, proposal, rules_sha256)
        if isinstance(outcome, GatewayError):
            raise outcome
        return outcome

    @staticmethod
    def _refusal(
        principal: str,
        action: str,
        refused: GatewayError,
        policy: str | None = None,
        proposal: str | None = None,
        rules_sha256: str | None = None,
    ) -> events.PolicyChangeRefused:
        return events.PolicyChangeRefused(
            principal=principal,
            action=action,
            policy=policy if policy in ("release", "api") else None,
            proposal=proposal,
            rules_sha256=rules_sha256,
            why=refused.message,
        )

    def _refused(
        self,
        principal: str,
        action: str,
        refused: GatewayError,
        policy: str | None = None,
        proposal: str | None = None,
        rules_sha256: str | None = None,
    ) -> NoReturn:
        """Audit the refusal, then raise it (a log that cannot be written is the error then)."""
        self._audit.append(
            self._refusal(principal, action, refused, policy, proposal, rules_sha256)
        )
        raise refused
