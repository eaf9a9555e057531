"""A proposed policy change, and the rows a rule source keeps proposals in.

The rules of a deployment change only with two policy administrators: one proposes
(`Proposal`), another approves (gateway.policy.changes). A rule source that can change at run
time (the policy table, on PostgreSQL) keeps proposals next to the rules, so that an approval
checks and replaces them in one transaction (`ProposalRows`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Protocol


@dataclasses.dataclass(frozen=True)
class Proposal:
    id: str  # "pp-" and 16 hex digits
    policy: str  # "release" or "api"
    rules: str  # canonical CSV
    rules_sha256: str
    base_sha256: str  # of the rules in force when proposed: approval needs them unchanged
    reason: str | None
    proposed_by: str
    proposed_at: dt.datetime
    expires_at: dt.datetime
    approved_by: str | None = None  # None while pending


class ProposalRows(Protocol):
    """The proposals and the rules, inside one transaction of the rule source."""

    def get(self, proposal_id: str) -> Proposal | None:
        """The proposal, locked until the transaction ends; None if there is none."""
        ...

    def insert(self, proposal: Proposal) -> None: ...

    def mark_approved(self, proposal_id: str, by: str, at: dt.datetime) -> None: ...

    def rules(self, policy: str) -> str:
        """The policy's rules in force, canonical CSV."""
        ...

    def replace_rules(self, policy: str, text: str) -> None:
        """Replace the policy's rules with `text` (canonical CSV, already checked)."""
        ...
