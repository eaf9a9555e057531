"""The participation record: the person searched takes part in selecting electronic information.

Korean courts require that the suspect, or counsel, can take part when a search selects
electronic information (Supreme Court en banc, 2015모2357, and the decisions after it). Where
the instrument catalogue says so for an instrument (`participation: required`,
gateway.policy.instruments), the message content a warrant under it reaches is withheld, as
`participation_pending`, until its participation is complete:

- `notice`: notice given to the suspect or counsel (the notice's document hash), then
- one of `attendance` (they attended the selection), `objection` (they objected: the document
  records the objections and the decision on them) or `waiver` (they waived taking part).

A step other than a notice is refused until a notice is recorded; the same step with the same
document is recorded once. Each step is a row written with its `participation.recorded` audit
entry through the warrant table's write-ahead path, so the log names every step and its hash.

A release reads the state once, when it starts (`status`, then `held`): a release started
while participation is pending withholds content in every batch even if the steps complete
meanwhile; the next release then releases it. The gate only ever withholds more than the
release policy decides (never releases what a rule withholds), and a state it cannot read
fails the release before anything leaves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from collections.abc import Callable, Mapping, Sequence

from gateway.audit import events
from gateway.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from gateway.model import Category, Warrant, WarrantState
from gateway.policy.instruments import Catalogue
from gateway.warrants.table import WarrantRows, WarrantTable
from gateway.warrants.validation import MAX_TEXT, text

# What a release withholds while participation is pending, and the reason it is counted under.
PENDING_REASON = "participation_pending"
HELD_CATEGORIES = frozenset({Category.MESSAGE_CONTENT})
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}\Z")
# A warrant in these (live) states takes steps: before approval, or while it may release.
_OPEN = frozenset({WarrantState.SUBMITTED, WarrantState.APPROVED})


class Step(enum.Enum):
    NOTICE = "notice"
    ATTENDANCE = "attendance"
    OBJECTION = "objection"
    WAIVER = "waiver"


# The steps that complete participation once a notice precedes them.
CONCLUDING = frozenset({Step.ATTENDANCE, Step.OBJECTION, Step.WAIVER})


@dataclasses.dataclass(frozen=True)
class Recorded:
    """One recorded step of one warrant's participation."""

    warrant: str
    seq: int  # 0, 1, ... in the order recorded
    step: Step
    document_sha256: str
    note: str | None
    principal: str
    recorded_at: dt.datetime


def complete(steps: Sequence[Recorded]) -> bool:
    """A notice, and after it an attendance, an objection or a waiver."""
    notices = [s.seq for s in steps if s.step is Step.NOTICE]
    return bool(notices) and any(s.step in CONCLUDING and s.seq > min(notices) for s in steps)


@dataclasses.dataclass(frozen=True)
class Status:
    """A warrant's participation: whether its instrument requires it, and its steps."""

    required: bool
    steps: tuple[Recorded, ...]

    @property
    def complete(self) -> bool:
        return complete(self.steps)

    @property
    def pending(self) -> bool:
        return self.required and not self.complete

    @property
    def label(self) -> str | None:
        """As release.started names it: "pending", "complete", or None (not required)."""
        if not self.required:
            return None
        return "pending" if self.pending else "complete"


def parse_step(value: str) -> Step:
    try:
        return Step(value)
    except ValueError:
        known = ", ".join(s.value for s in Step)
        raise InvalidArgument(f"step: {value[:40]!r} is not one of {known}") from None


def parse_hash(value: str) -> str:
    if not _HEX64.match(value):
        raise InvalidArgument(
            "document_sha256: must be 64 hex digits (the sha256 of the step's document)"
        )
    return value.lower()


class Participation:
    """Records steps and says what a release of a warrant must withhold meanwhile."""

    def __init__(
        self, table: WarrantTable, clock: Callable[[], dt.datetime], catalogue: Catalogue
    ) -> None:
        self._table = table
        self._clock = clock
        self._catalogue = catalogue

    def required(self, warrant: Warrant) -> bool:
        """Whether `warrant`'s instrument requires participation; FailedPrecondition when the
        catalogue no longer knows it (fail closed: never "not required" by default)."""
        entry = self._catalogue.of_warrant(warrant.id, warrant.spec.instrument)
        return entry is not None and entry.participation

    def status(self, warrant: Warrant) -> Status:
        required = self.required(warrant)
        with self._table.reading() as rows:
            steps = rows.participation(warrant.id)
        return Status(required, tuple(steps))

    @staticmethod
    def held(status: Status) -> Mapping[Category, str]:
        """What a release started in `status` withholds whatever the policy decides, with the
        reason counted (nothing unless participation is required and pending)."""
        return dict.fromkeys(HELD_CATEGORIES, PENDING_REASON) if status.pending else {}

    def record(
        self, warrant: Warrant, principal: str, step: str, document_sha256: str, note: str = ""
    ) -> Recorded:
        """Record one step (audited: participation.recorded). InvalidArgument for a bad step,
        hash or note; FailedPrecondition when the instrument does not require participation,
        the warrant is not SUBMITTED or APPROVED, or no notice precedes a concluding step;
        AlreadyExists for the same step with the same document again (each refusal audited:
        participation.recorded_refused)."""
        kind = parse_step(step)
        digest = parse_hash(document_sha256)
        shown = text("note", note, MAX_TEXT, multiline=True) or None
        now = self._clock()
        made: list[Recorded] = []

        def change(rows: WarrantRows) -> tuple[events.Event, BaseException | None]:
            try:
                steps = self._allowed(rows, warrant, kind, digest, now)
            except (FailedPrecondition, AlreadyExists) as refused:
                return events.ParticipationRecordRefused(
                    warrant=warrant.id, principal=principal, why=refused.message
                ), refused
            recorded = Recorded(warrant.id, len(steps), kind, digest, shown, principal, now)
            rows.insert_participation(recorded)
            made.append(recorded)
            return events.ParticipationRecorded(
                warrant=warrant.id,
                principal=principal,
                step=kind.value,
                document_sha256=digest,
                note=shown,
                seq=recorded.seq,
                complete=complete([*steps, recorded]),
            ), None

        self._table.write(change)
        return made[0]

    def _allowed(
        self, rows: WarrantRows, warrant: Warrant, kind: Step, digest: str, now: dt.datetime
    ) -> list[Recorded]:
        """The steps recorded so far, once `kind` may follow them; else the refusal."""
        if not self.required(warrant):
            instrument = warrant.spec.instrument or "a search warrant naming no instrument"
            raise FailedPrecondition(
                f"warrant {warrant.id}: its instrument ({instrument}) does not require a "
                "participation record (policies/instruments.yaml)",
                reason="PARTICIPATION_NOT_REQUIRED",
            )
        current = rows.get(warrant.id)
        state = warrant.state if current is None else current.live_state(now)
        if state not in _OPEN:
            raise FailedPrecondition(
                f"warrant {warrant.id} is {state.value}; participation is recorded only "
                "for a SUBMITTED or APPROVED warrant",
                reason="WARRANT_STATE",
            )
        steps = rows.participation(warrant.id)
        if any(s.step is kind and s.document_sha256 == digest for s in steps):
            raise AlreadyExists(
                f"warrant {warrant.id}: a {kind.value} with document {digest[:12]}... is "
                "recorded already",
                reason="PARTICIPATION_RECORDED",
            )
        if kind in CONCLUDING and not any(s.step is Step.NOTICE for s in steps):
            raise FailedPrecondition(
                f"warrant {warrant.id}: record the notice given to the suspect or counsel "
                f"before a {kind.value}",
                reason="NOTICE_FIRST",
            )
        return steps
