"""Every kind of audit entry, with its fields, their types and who may read it: the log's schema.

An entry is written only from one of these classes (`AuditLog.append(WarrantApproved(...))`), so
a field name or type mistake is a type error, not a silently different log. The chain fields
`event`, `index`, `prev` and `ts` are the log's own (gateway.audit.entries adds them last); a
kind may not declare them. Adding a kind is one class here; tests check that every entry any
test wrote matches its kind (`check_entry`) and that no kind is written without being here.

Who may read an entry through AuditService (`Readers`): auditors read everything; the principal
named in an entry reads it when its kind says the actor may; the officer who submitted a warrant
reads the entries about that warrant when its kind says so. Nothing depends on a key's name
beyond what the kind declares.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import pydantic

from gateway.logs import current_request_id

RESERVED = frozenset({"event", "index", "prev", "ts"})


class Readers(enum.Enum):
    """Who besides auditors may read an entry of a kind."""

    AUDITORS = "auditors"  # nobody else: the gateway's own events
    ACTOR = "actor"  # the principal named in the entry
    ACTOR_AND_OWNER = "actor_and_owner"  # ...and the officer who submitted its warrant


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """Base of every audit event kind; subclasses are registered with @kind."""

    KIND: ClassVar[str] = ""
    READERS: ClassVar[Readers] = Readers.AUDITORS

    # The request id of the call that wrote the entry (gateway.api.observe), to join an entry
    # with the call's access-log line and trace; absent when no call did (start, policy
    # watcher) and in logs written before it existed, which therefore still check and verify.
    request_id: str | None = dataclasses.field(default_factory=current_request_id)

    def fields(self) -> dict[str, Any]:
        """The entry's own fields (without the chain fields; request_id only when set)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if values["request_id"] is None:
            del values["request_id"]
        return values

    @property
    def actor(self) -> str | None:
        value = getattr(self, "principal", None)
        return value if isinstance(value, str) else None

    @property
    def warrant_id(self) -> str | None:
        value = getattr(self, "warrant", None)
        return value if isinstance(value, str) else None


REGISTRY: dict[str, type[Event]] = {}
E = TypeVar("E", bound=type[Event])


def kind(name: str, readers: Readers) -> Callable[[E], E]:
    """Register an event class under its kind name."""

    def register(cls: E) -> E:
        if name in REGISTRY:
            raise ValueError(f"audit event kind {name!r} is registered twice")
        names = {f.name for f in dataclasses.fields(cls)}
        if names & RESERVED:
            raise ValueError(f"{name}: {sorted(names & RESERVED)} are the log's chain fields")
        if readers is not Readers.AUDITORS and "principal" not in names:
            raise ValueError(f"{name}: readable by its actor, but it names no principal")
        if readers is Readers.ACTOR_AND_OWNER and "warrant" not in names:
            raise ValueError(f"{name}: readable by the warrant's owner, but it names no warrant")
        cls.KIND = name
        cls.READERS = readers
        REGISTRY[name] = cls
        return cls

    return register


# -- warrants ------------------------------------------------------------------------------


@kind("warrant.submitted", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WarrantSubmitted(Event):
    warrant: str
    principal: str
    case_number: str
    target_accounts: list[str]
    categories: list[str]
    window: list[str]  # [start, end) in RFC 3339
    expires_at: str
    # The instrument (a catalogue key; None: a search warrant) and its tier at submission;
    # entries written before instruments lack both.
    instrument: str | None = None
    tier: str | None = None


@kind("warrant.submit_refused", Readers.ACTOR)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WarrantSubmitRefused(Event):
    """A submission refused before a warrant existed: a bad field, or a target that matches
    no account or several (every resolution attempt leaves a trace, not only the found)."""

    principal: str
    case_number: str
    targets: list[str]  # as given
    why: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WarrantDecision(Event):
    warrant: str
    principal: str
    reason: str | None


@kind("warrant.approved", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WarrantApproved(WarrantDecision):
    # The overbreadth dry run's figures the reviewers saw (gateway.model.review), and the
    # first reviewer when they asked for two; absent on warrants submitted before it existed.
    review: dict[str, Any] | None = None
    first_approved_by: str | None = None
    # A preservation request's frozen copy (gateway.warrants.preservation): records, by
    # category, people in its directory, content_sha256, expires_at. Absent on other requests.
    frozen: dict[str, Any] | None = None
    # A request naming pseudonyms (gateway.warrants.unmasking): per pseudonym, the warrant
    # that released it, the pseudonym and the account it stands for. Absent on other requests.
    unmasked: list[dict[str, str]] | None = None


@kind("pseudonym.unmasked", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PseudonymUnmasked(Event):
    """A pseudonym `warrant` released was unmasked by the approval of `unmasked_by` (whose
    approval entry names the account; this one, about the original warrant, does not)."""

    warrant: str
    principal: str
    pseudonym: str
    unmasked_by: str


@kind("preservation.extended", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PreservationExtended(Event):
    """A preservation's hold extended, once, by as long again as the catalogue holds one."""

    warrant: str
    principal: str
    expires_at: str  # the new expiry
    reason: str | None


@kind("preservation.purged", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PreservationPurged(Event):
    """A preservation's frozen copy deleted: its hold expired, or the request was revoked
    (`principal`: the gateway's own sweep, or the caller who found it so)."""

    warrant: str
    principal: str
    why: str  # "expired" or "revoked"
    records: int
    content_sha256: str


@kind("notice.queued", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class NoticeQueued(Event):
    """A user notice put in the outbox for one target account of a warrant that released
    records, once its non-disclosure ended (gateway.warrants.notices): written once, by
    whichever call or replica queued it (`principal`: who was asking, or the gateway's sweep)."""

    notice: str
    warrant: str
    account: str
    principal: str
    due_at: str
    records: int  # what the notice tells: records the warrant's completed releases released
    body_sha256: str  # of the notice's canonical JSON, as the outbox keeps it


@kind("notice.sent", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class NoticeSent(Event):
    """A delivery service says it delivered a notice (it leaves the outbox's pending list)."""

    notice: str
    warrant: str
    account: str
    principal: str


@kind("notice.deferred", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class NoticeDeferred(Event):
    """A court order extending non-disclosure defers a warrant's notices to `until`
    (`order_sha256`: the order's sha256; `notices`: queued, unsent notices it moved)."""

    warrant: str
    principal: str
    until: str
    order_sha256: str
    notices: int


@kind("participation.recorded", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ParticipationRecorded(Event):
    """A step of the participation of the person searched (gateway.warrants.participation):
    notice, attendance, objection or waiver, with its document's sha256."""

    warrant: str
    principal: str
    step: str
    document_sha256: str
    note: str | None
    seq: int  # 0, 1, ... per warrant
    complete: bool  # whether participation is complete with this step


@kind("clock.passed", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ClockPassed(Event):
    """A deadline clock's time passed (gateway.warrants.clocks): written once, by the call that
    saw it first (`principal`: who was asking, or the gateway's own check)."""

    warrant: str
    principal: str
    clock: str
    due_at: str
    instrument: str | None


@kind("warrant.first_approval", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WarrantFirstApproval(Event):
    """The first of two approvals a broad request needs; it stays SUBMITTED until a second
    reviewer (another person, whom the API policy lets be one) approves."""

    warrant: str
    principal: str
    review: dict[str, Any]
    reason: str | None


@kind("warrant.rejected", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WarrantRejected(WarrantDecision):
    pass


@kind("warrant.revoked", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WarrantRevoked(WarrantDecision):
    pass


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WarrantRefusal(Event):
    warrant: str
    principal: str
    why: str


@kind("warrant.approved_refused", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WarrantApproveRefused(WarrantRefusal):
    pass


@kind("warrant.rejected_refused", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WarrantRejectRefused(WarrantRefusal):
    pass


@kind("warrant.revoked_refused", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WarrantRevokeRefused(WarrantRefusal):
    pass


@kind("preservation.extended_refused", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PreservationExtendRefused(WarrantRefusal):
    """An extension refused: no hold, one extended already, or one that has ended."""


@kind("participation.recorded_refused", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ParticipationRecordRefused(WarrantRefusal):
    """A participation step refused: an instrument that requires none, a warrant past
    SUBMITTED or APPROVED, a concluding step before a notice, or the same step again."""


# -- releases ------------------------------------------------------------------------------


@kind("release.started", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ReleaseStarted(Event):
    warrant: str
    principal: str
    policy: str  # the release policy's version
    candidates: int
    # A release from a preservation's frozen copy (gateway.warrants.preservation): that
    # preservation's warrant and the copy's content_sha256. Absent: from the store.
    frozen_copy: dict[str, str] | None = None
    # Under an instrument that requires participation (gateway.warrants.participation):
    # "pending" (message content withheld for the whole release) or "complete". Absent: not
    # required.
    participation: str | None = None


@kind("release.resumed", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ReleaseResumed(Event):
    """A release continued from the batches a client already holds (instead of
    release.started): they were checked against this run and are not sent again."""

    warrant: str
    principal: str
    policy: str
    candidates: int
    batches: int  # batches 0 .. batches-1 the client holds
    records_sha256: str  # of the records the client holds
    resumed_from: int  # the release.batch entry of the last batch it holds
    participation: str | None = None  # as in release.started


@kind("release.batch", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ReleaseBatch(Event):
    """Written and made durable before the batch leaves (write-ahead): every record's id and
    the sha256 of its exact bytes."""

    warrant: str
    principal: str
    batch: int
    policy: str
    counts: dict[str, dict[str, int]]  # {"released": effect -> n, "withheld": reason -> n}
    records: list[list[str]]  # [id, sha256] per record, in the order sent


@kind("release.completed", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ReleaseCompleted(Event):
    warrant: str
    principal: str
    released: int
    released_by_effect: dict[str, int]
    released_by_category: dict[str, int]  # what left, per data category
    withheld: dict[str, int]
    pseudonymized_parties: int
    batches: int
    examined: int
    records_sha256: str  # of records.jsonl as the client writes it
    # What the text minimizer did: identifiers replaced in released text by kind, quotes of
    # others withheld, texts withheld whole.
    identifiers_replaced: dict[str, int]
    quotes_withheld: int
    texts_withheld: int
    # The sha256 of the approved warrant as the evidence package's manifest shows it (canonical
    # JSON of its wire form: spec, targets, submission and decision; audit.evidence), so every
    # manifest field is bound to this entry. Absent in entries written before it existed.
    warrant_sha256: str = ""
    frozen_copy: dict[str, str] | None = None  # as in release.started


@kind("release.refused", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ReleaseRefused(Event):
    warrant: str
    principal: str
    state: str


@kind("release.stopped", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ReleaseStopped(Event):
    warrant: str
    principal: str
    why: str
    state: str | None = None  # the warrant's live state, when that is why


@kind("release.failed", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ReleaseFailed(Event):
    warrant: str
    principal: str
    why: str
    # Batches whose release.batch entry was written but which were not (or not surely)
    # delivered: the call ended while they were being sent, or before.
    undelivered: list[int] = dataclasses.field(default_factory=list)


# -- looking up accounts -------------------------------------------------------------------


@kind("account.looked_up", Readers.ACTOR)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class AccountLookedUp(Event):
    """Someone asked whether a would-be target names exactly one account (LookupAccount)."""

    principal: str
    target: str  # as asked, normalized (account:ID, phone:..., email:..., matrix:@...)
    account: str | None  # the one account it names, or None (no match, or several)
    why: str | None = None  # why it could not be looked up (a malformed target, the store)


# -- the store ------------------------------------------------------------------------------


@kind("store.searched", Readers.ACTOR)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class StoreSearched(Event):
    """Someone asked which accounts a target names (StoreService.FindAccounts)."""

    principal: str
    target: str
    matches: int
    why: str | None = None  # why it could not be searched (a malformed target, the store)


@kind("store.inspected", Readers.ACTOR)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class StoreInspected(Event):
    """Someone asked what the store holds (StoreService.GetStats)."""

    principal: str


# -- the API policy ------------------------------------------------------------------------


@kind("api.denied", Readers.ACTOR_AND_OWNER)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ApiDenied(Event):
    principal: str
    rpc: str
    warrant: str | None
    roles: list[str]


# -- the web console -----------------------------------------------------------------------


@kind("console.refused", Readers.ACTOR)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ConsoleRefused(Event):
    """The web console refused a request before any action: a TLS handshake without an
    acceptable client certificate, a form without its CSRF token, another origin or host.
    (A role without the permission is an api.denied entry, as on gRPC.)"""

    principal: str | None  # None when the request named nobody the console could trust
    why: str
    method: str | None
    path: str | None
    more_refused: int = 0  # handshakes refused meanwhile but not written one by one (a flood)


# -- the release and API policies ----------------------------------------------------------


@kind("policy.changed", Readers.ACTOR)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PolicyChanged(Event):
    """New rules in force: `principal` approved the proposal another policy administrator
    made (entries written before proposals existed name the one who changed them)."""

    principal: str
    policy: str  # "release" or "api"
    reason: str | None
    rules_sha256: str
    proposal: str | None = None  # the proposal approved
    proposed_by: str | None = None


@kind("policy.proposed", Readers.ACTOR)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PolicyProposed(Event):
    """A policy administrator proposed new rules; nothing changes until another approves."""

    principal: str
    proposal: str
    policy: str  # "release" or "api"
    reason: str | None
    rules_sha256: str  # of the proposed rules (canonical)
    base_sha256: str  # of the rules in force it would replace
    expires_at: str


@kind("policy.change_refused", Readers.ACTOR)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PolicyChangeRefused(Event):
    """A policy change was refused: rules that would not load or would break a guarantee, a
    proposal approved by its own proposer, expired, or made against rules since changed."""

    principal: str
    action: str  # "set", "propose" or "approve"
    policy: str | None
    proposal: str | None
    rules_sha256: str | None  # of the rules as they were sent, or of the proposal's
    why: str


@kind("policy.loaded", Readers.AUDITORS)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PolicyLoaded(Event):
    policy: str  # the release policy's version
    table_version: int | None


@kind("policy.refused", Readers.AUDITORS)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PolicyRefused(Event):
    why: str


# -- role bindings ---------------------------------------------------------------------------


@kind("roles.loaded", Readers.AUDITORS)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RolesLoaded(Event):
    """New role bindings in force (DIR/roles.json changed while the gateway ran: `wsg roles
    add|remove` edits it, the running gateway applies it without a restart)."""

    sha256: str  # of the file's bytes
    principals: int
    added: list[str]  # "name:role" bindings new since the bindings before
    removed: list[str]


@kind("roles.refused", Readers.AUDITORS)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RolesRefused(Event):
    """A changed roles file that does not check; the last good bindings stay in force."""

    why: str
    sha256: str | None  # of the refused file (None: it is missing)


# -- the gateway and its log ---------------------------------------------------------------


@kind("gateway.start_refused", Readers.AUDITORS)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class StartRefused(Event):
    why: str


@kind("audit.recovered", Readers.AUDITORS)
@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class AuditRecovered(Event):
    """A torn last line (a crash during its write) was cut off at start: what it held."""

    why: str
    torn_bytes: int
    torn_sha256: str
    torn_head_b64: str


# -- reading entries back ------------------------------------------------------------------


@functools.cache
def _adapter(name: str) -> pydantic.TypeAdapter[Any]:
    """A strict validator of an entry's own fields for the kind registered as `name`."""
    cls = REGISTRY[name]
    hints = typing.get_type_hints(cls)
    fields = {f.name: (hints[f.name], _default(f)) for f in dataclasses.fields(cls)}
    # create_model's field keywords are typed per field; a mapping built at run time fits none
    # of its overloads, though it is exactly what pydantic documents for dynamic models.
    model = pydantic.create_model(  # type: ignore[call-overload]  # a run-time mapping: see above
        f"{cls.__name__}Entry",
        __config__=pydantic.ConfigDict(strict=True, extra="forbid"),
        **fields,
    )
    return pydantic.TypeAdapter(model)


def _default(f: dataclasses.Field[Any]) -> Any:
    """A field with a default may be absent from an entry (written before it existed)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    return None if f.default_factory is not dataclasses.MISSING else ...


def check_entry(entry: Mapping[str, Any]) -> list[str]:
    """What is wrong with a parsed log entry against its kind (empty: nothing)."""
    name = entry.get("event")
    cls = REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        return [f"unregistered event kind {name!r}"]
    problems = [f"{name}: chain field {f!r} missing" for f in sorted(RESERVED) if f not in entry]
    body = {k: v for k, v in entry.items() if k not in RESERVED}
    try:
        _adapter(name).validate_python(body)
    except pydantic.ValidationError as exc:
        problems += [f"{name}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return problems


def readable_by(
    entry: Mapping[str, Any],
    principal: str,
    is_auditor: bool,
    submitter_of: Callable[[str], str | None],
) -> bool:
    """Whether `principal` may read `entry` (a parsed line), by its kind's Readers."""
    if is_auditor:
        return True
    name = entry.get("event")
    cls = REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None or cls.READERS is Readers.AUDITORS:
        return False
    if entry.get("principal") == principal:
        return True
    warrant = entry.get("warrant")
    return (
        cls.READERS is Readers.ACTOR_AND_OWNER
        and isinstance(warrant, str)
        and submitter_of(warrant) == principal
    )
