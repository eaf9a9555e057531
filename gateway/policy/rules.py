"""Where the rules of the two Casbin policies come from: the interface, and their text form.

The models (model.conf, api_model.conf) are always files in the policy directory. The rules are
the files policy.csv and api_policy.csv on the embedded gateway
(gateway.backends.embedded.rules), or the casbin_rule table every replica shares on PostgreSQL
(gateway.backends.postgres.rules). Either way they reach Casbin as canonical CSV text, so a
policy's version is the same whichever source it came from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol, TypeVar

from gateway.audit.events import Event
from gateway.errors import InvalidArgument
from gateway.policy.proposals import Proposal, ProposalRows

T = TypeVar("T")

RELEASE_RULES_FILE = "policy.csv"
API_RULES_FILE = "api_policy.csv"
POLICY_NAMES = {"release": RELEASE_RULES_FILE, "api": API_RULES_FILE}
MAX_FIELDS = 10  # v0..v9: Casbin's usual layout, the release policy's tier and text columns


@dataclasses.dataclass(frozen=True)
class RuleSnapshot:
    """Both policies' rules as one read saw them, with the source's version counter."""

    version: int | None  # None: a source that never changes while the gateway runs
    texts: dict[str, str]  # policy name -> canonical CSV ("p, a, b, ..." per line)


class Watch(Protocol):
    def close(self) -> None: ...


class RuleSource(Protocol):
    """Where the rules live; the policies in force are compiled from its snapshots."""

    @property
    def description(self) -> str:
        """Where the rules are, for the posture log line."""
        ...

    def snapshot(self) -> RuleSnapshot:
        """Both policies' rules, consistently."""
        ...

    def version(self) -> int | None:
        """The version counter now (cheap: compared before re-reading)."""
        ...

    def require_writable(self) -> None:
        """FailedPrecondition, saying what to do instead, where rules cannot change at run time."""
        ...

    def changes(self, work: Callable[[ProposalRows], tuple[list[Event], T]]) -> T:
        """Run `work` over the proposals and rules in one transaction with the entries it
        returns (all commit, or nothing does); FailedPrecondition, saying what to do instead,
        where rules cannot change at run time."""
        ...

    def pending(self) -> list[Proposal]:
        """Every proposal still waiting for approval (expired ones included), oldest first."""
        ...

    def watch(self, on_change: Callable[[], None], on_refused: Callable[[str], None]) -> Watch:
        """Call `on_change` whenever the rules may have changed (from any replica)."""
        ...


def require_name(name: str) -> None:
    if name not in POLICY_NAMES:
        raise InvalidArgument(
            f"name: unknown policy {name[:40]!r} (known: {', '.join(POLICY_NAMES)})"
        )


def parse_rules(text: str, source: str) -> list[list[str]]:
    """CSV rule lines (comments and blanks skipped) as [ptype, v0, ...] rows."""
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) - 1 > MAX_FIELDS:
            raise InvalidArgument(
                f"{source} line {number}: more than {MAX_FIELDS} fields after {fields[0]!r}"
            )
        rows.append(fields)
    return rows


def rules_text(rows: list[list[str]] | list[tuple[str | None, ...]]) -> str:
    """Rows back to CSV lines: the canonical text a policy's version is computed from."""
    return "".join(", ".join(v for v in row if v is not None) + "\n" for row in rows)


def canonical(text: str, source: str) -> str:
    """Rule text as the canonical CSV Casbin is handed."""
    return rules_text(parse_rules(text, source))
