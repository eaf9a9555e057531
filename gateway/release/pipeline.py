"""The release pipeline: store parts -> Casbin decisions -> payloads -> audited batches.

The store gives the release in parts, all from one read snapshot (stores.base.Part). The policy
decides (decide.py) from (relation, category, window position, live warrant state, category
named, received-direct flag): once per part where the store's query fixes those for all of its
records (a part withheld whole is counted, never read), else per record. Released records
become canonical JSON with every non-target id replaced by a per-warrant pseudonym and their
text minimized (payload.py). Per batch: the policy in force is taken anew at its start; at its
end the batch's audit entry, naming every record's id and sha256, is written and fsynced only
if the warrant is still live (revocation or expiry stops the release), asked under the log's
lock with the write (AuditLog.append_checked), and only then is the batch handed out
(write-ahead). A long scan that releases nothing looks at the live state every
LOOK_EVERY_RECORDS records or LOOK_EVERY_SECONDS. The summary ends with a signed checkpoint
covering the whole release and the inclusion proof of the last batch's entry in it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from typing import Any, NoReturn

from gateway import tracing
from gateway.audit import events
from gateway.audit.checkpoints import Checkpointer
from gateway.audit.log import AuditLog
from gateway.errors import DeadlineExceeded, FailedPrecondition, GatewayError, Unavailable
from gateway.metrics import RECORDS_RELEASED, RECORDS_WITHHELD
from gateway.model import Category, Effect, Scope, Tier, Warrant, WarrantState
from gateway.policy.release import ReleasePolicy
from gateway.release import lane
from gateway.release.decide import Decisions, withheld_whole
from gateway.release.items import Batch, Proof, Released, Resume, Started, Summary
from gateway.release.lane import MessageLane
from gateway.release.minimize import RecordMinimizer, plans
from gateway.release.payload import (
    EXPOSES_THIRD_PARTY,
    RECORD_TOO_LARGE,
    UNDECLARED_FIELD,
    WITHHELD,
    Payloads,
)
from gateway.release.pseudonyms import Pseudonymizer
from gateway.release.resume import held_batch_entry, resumed_entry
from gateway.release.spans import BatchReads
from gateway.release.writer import EntryWriter, Sealed
from gateway.stores.base import MessageRows, Part, Store, Values, parts_of

__all__ = [
    "EXPOSES_THIRD_PARTY",
    "UNDECLARED_FIELD",
    "Batch",
    "ReleaseRun",
    "Started",
    "Stopped",
    "Summary",
    "scope_of",
]

DEFAULT_BATCH = 500
MAX_BATCH = 2000
# During a long scan (records examined, none released: no entry is written for a while) the
# warrant's live state is read again every LOOK_EVERY_RECORDS records or LOOK_EVERY_SECONDS,
# whichever comes first; the clock is looked at every LOOK_STRIDE records.
LOOK_EVERY_RECORDS = 5000
LOOK_EVERY_SECONDS = 0.25
LOOK_STRIDE = 64
# A batch is also cut by size: its records' payloads plus RECORD_OVERHEAD each stay under
# MAX_BATCH_BYTES, so a batch fits any client's default 4 MiB receive limit (and far under
# the server's send limit). A record that alone exceeds MAX_RECORD_BYTES cannot be sent at
# all: it is withheld, counted as RECORD_TOO_LARGE, never audited as released.
MAX_BATCH_BYTES = (4 << 20) - (256 << 10)
MAX_RECORD_BYTES = MAX_BATCH_BYTES
RECORD_OVERHEAD = 160


class Stopped(Unavailable):
    """The release was stopped on purpose between batches (the gateway is draining); its
    release.stopped entry is written. UNAVAILABLE: the caller may retry on another replica."""


def scope_of(warrant: Warrant, tier: Tier = Tier.SEARCH_WARRANT) -> Scope:
    """What the store is asked for; `tier` is the warrant's instrument's tier (the gateway's
    catalogue, gateway.policy.instruments)."""
    return Scope(
        targets=frozenset(warrant.target_accounts),
        categories=frozenset(warrant.spec.categories),
        window=warrant.spec.window,
        include_received_direct=warrant.spec.include_received_direct,
        tier=tier,
    )


class ReleaseRun:
    """One release of one warrant; iterate it to get Started, Batch..., Summary."""

    def __init__(
        self,
        warrant: Warrant,
        principal: str,
        store: Store,
        policy: ReleasePolicy | Callable[[], ReleasePolicy],
        audit: AuditLog,
        checkpoints: Checkpointer,
        secret: bytes,
        live_state: Callable[[], WarrantState],
        batch_size: int = DEFAULT_BATCH,
        max_seconds: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        resume: Resume | None = None,
        tier: Tier = Tier.SEARCH_WARRANT,
        phone_regions: tuple[str, ...] | None = None,
        warrant_sha256: str = "",
        frozen_copy: dict[str, str] | None = None,
        held: Mapping[Category, str] | None = None,
        participation: str | None = None,
        use_lane: bool = True,
    ) -> None:
        """`warrant_sha256`: the approved warrant as the client's manifest will show it
        (audit.evidence.warrant_sha256), bound into release.completed. `frozen_copy`: the
        preservation copy `store` reads, named in release.started and release.completed.
        `held`: categories withheld whatever the policy decides, with their reason, for the
        whole release (participation pending, gateway.warrants.participation: read once, at
        the start); `participation`: that state, named in release.started. `use_lane`: False
        makes every part the general way (the reference the fast lane is tested against)."""
        self.warrant = warrant
        self._frozen_copy = frozen_copy
        self._participation = participation
        self._warrant_sha256 = warrant_sha256
        self.principal = principal
        self._store = store
        # The policy in force is taken once per batch: a batch never mixes two versions.
        self._policy_now = policy if callable(policy) else (lambda: policy)
        self._decisions = Decisions(scope_of(warrant, tier), self._policy_now(), held)
        self._audit = audit
        self._checkpoints = checkpoints
        self._pseudonyms = Pseudonymizer(secret, warrant.id)
        self._live_state = live_state
        self._state = WarrantState.APPROVED  # as last read; _run reads it before anything
        self._look_at_examined = 0  # when the next look at the live state is due in a scan
        self._look_at_time = 0.0
        self._batch_size = max(1, min(batch_size or DEFAULT_BATCH, MAX_BATCH))
        self._monotonic = monotonic
        self._deadline = None if max_seconds is None else monotonic() + max_seconds
        self._drain: tuple[float, str] | None = None  # set by stop_at (a gateway draining)
        self._cut: str | None = None  # set by cut (a client that stopped reading)
        self._completed = False  # release.completed is written: nothing left to stop
        self._resume = resume  # batches the client holds: checked, not sent (resume.py)
        self._skip = 0 if resume is None else resume.batches
        self._held: dict[str, Any] = {}  # the release.batch entry of the last batch held
        self._scope = scope_of(warrant, tier)
        # The text minimizer (its directory is read from the store on the first record with
        # text, once per release) and how each category's fields leave.
        self._texts = RecordMinimizer(
            lambda: store.directory(self._scope),
            self._scope.targets,
            self._pseudonyms,
            phone_regions,
        )
        self._plans = plans(store.shapes())
        self._payloads = Payloads(self._scope.targets, self._plans, self._texts, self._pseudonyms)
        self._use_lane = use_lane
        self._records_hash = hashlib.sha256()  # of records.jsonl as the client will write it
        # The batch being filled, and the release's totals so far.
        self._batch: list[Released] = []
        self._batch_bytes = 0  # its records' size on the wire, about (MAX_BATCH_BYTES)
        self._sending: int | None = None  # the batch handed out, until the next step is asked
        self._batch_withheld: Counter[str] = collections.Counter()
        self._examined = 0
        self._index = 0  # of the batch being filled
        self._last_index = -1  # the audit entry of the last batch emitted
        self._by_effect: Counter[str] = collections.Counter()
        self._by_category: Counter[str] = collections.Counter()
        self._withheld: Counter[str] = collections.Counter()
        self._reads = BatchReads()
        self._writer = EntryWriter()
        self._sealed: Sealed | None = None  # the full batch whose entry is being written

    @property
    def _policy(self) -> ReleasePolicy:
        """The policy snapshot of the batch being filled."""
        return self._decisions.policy

    def stop_at(self, deadline: float, why: str) -> None:
        """Stop between batches once `deadline` (monotonic) has passed, audited with `why`;
        the caller gets UNAVAILABLE (retry elsewhere, or resume). For a draining gateway."""
        self._drain = (deadline, why)

    def _require_not_draining(self) -> None:
        if self._drain is not None and self._monotonic() > self._drain[0]:
            why = self._drain[1]
            self._audit.append(
                events.ReleaseStopped(warrant=self.warrant.id, principal=self.principal, why=why)
            )
            raise Stopped(
                f"release of {self.warrant.id} stopped: {why}; release again to continue",
                reason="DRAINING",
            )

    def cut(self, why: str) -> None:
        """The call is about to be cut from outside (its client stopped reading): `why` is
        what the log will say ended the release."""
        self._cut = why

    def _cut_why(self) -> str:
        if self._cut is not None:
            return self._cut
        if self._drain is not None:
            return f"{self._drain[1]}; the client was not reading, so the call was cut"
        return "the client went away before the release ended"

    def _require_time(self) -> None:
        """The server's cap on one release: checked between batches, during long scans, and
        just before each batch's entry, like the warrant's state."""
        stop = self._over_time()
        if stop is not None:
            self._audit.append(stop[0])
            raise stop[1]

    def _over_time(self) -> tuple[events.Event, GatewayError] | None:
        if self._deadline is None or self._monotonic() <= self._deadline:
            return None
        return (
            events.ReleaseStopped(
                warrant=self.warrant.id,
                principal=self.principal,
                why="the release ran longer than the server allows one call",
            ),
            DeadlineExceeded(
                f"release of {self.warrant.id} stopped: it ran longer than the "
                "server allows one call; release again to continue"
            ),
        )

    def _not_live(self, when: str) -> tuple[events.Event, GatewayError] | None:
        """The entry and the error that stop the release if the warrant is not APPROVED and
        live now ("before": it never starts; "during": it stops), else None."""
        state = self._live_state()
        if state is WarrantState.APPROVED:
            return None
        entry: events.Event
        if when == "during":
            entry = events.ReleaseStopped(
                warrant=self.warrant.id,
                principal=self.principal,
                why=f"the warrant is {state.value}",
                state=state.value,
            )
        else:
            entry = events.ReleaseRefused(
                warrant=self.warrant.id, principal=self.principal, state=state.value
            )
        return entry, FailedPrecondition(
            f"warrant {self.warrant.id} is {state.value}"
            + ("; the release stopped" if when == "during" else "; nothing is released"),
            reason="WARRANT_NOT_APPROVED",
        )

    def _append_live(self, event: events.Event, when: str) -> int:
        """Write `event` only if the warrant is live and the call within its time cap, asked
        under the log's write lock with the write (AuditLog.append_checked): no revocation or
        expiry can fall between the look and the entry. Otherwise the stop is written in its
        place and raised."""
        stopped: list[GatewayError] = []

        def veto() -> events.Event | None:
            stop = self._not_live(when) or (self._over_time() if when == "during" else None)
            if stop is None:
                return None
            stopped.append(stop[1])
            return stop[0]

        index = self._audit.append_checked(event, veto)
        if index is None:
            raise stopped[0]
        self._looked()
        return index

    def _require_live(self, when: str) -> WarrantState:
        """Stop (audited) unless the warrant is live now; used where no entry follows at once
        (a long scan of withheld records), the entries themselves use _append_live."""
        stop = self._not_live(when)
        if stop is not None:
            self._audit.append(stop[0])
            raise stop[1]
        return WarrantState.APPROVED

    def _looked(self) -> None:
        """The warrant's state was just read: the next look during a scan is due in
        LOOK_EVERY_RECORDS records or LOOK_EVERY_SECONDS, whichever comes first."""
        self._look_at_examined = self._examined + LOOK_EVERY_RECORDS
        self._look_at_time = self._monotonic() + LOOK_EVERY_SECONDS

    def _look_during_scan(self, examined: int) -> int:
        """Called every LOOK_STRIDE records examined: when a look is due, read the warrant's
        live state and the call's time cap again (a scan of withheld records writes no entry
        for a long time). Returns the record count of the next call."""
        if examined >= self._look_at_examined or self._monotonic() >= self._look_at_time:
            self._examined = examined
            self._require_live("during")
            self._require_time()
            self._looked()
        return examined + LOOK_STRIDE

    def __iter__(self) -> Iterator[Started | Batch | Summary]:
        """The release; if a store or the disk fails midway it stops, and says so in the log
        when the log itself still works (fail closed: what was sent is already audited)."""
        try:
            yield from self._run()
        except GeneratorExit:
            # Closed before its end: the client went away, or stopped reading and the server
            # cut the call (a drain past its margin). What was sent is audited already; the
            # log says the release ends here, as it does for every other way a release ends.
            if not self._completed:
                self._writer.close()  # the entry in flight first: the log stays in order
                undelivered = self._undelivered()
                with contextlib.suppress(GatewayError):
                    self._audit.append(
                        events.ReleaseFailed(
                            warrant=self.warrant.id,
                            principal=self.principal,
                            why=f"{self._cut_why()}; batches {undelivered} were audited "
                            "but not delivered",
                            undelivered=undelivered,
                        )
                        if undelivered
                        else events.ReleaseStopped(
                            warrant=self.warrant.id, principal=self.principal, why=self._cut_why()
                        )
                    )
            raise
        except Unavailable as exc:
            if isinstance(exc, Stopped):
                raise  # audited as release.stopped already
            self._writer.close()  # the entry in flight first: the log stays in order
            with contextlib.suppress(GatewayError):
                self._audit.append(
                    events.ReleaseFailed(
                        warrant=self.warrant.id, principal=self.principal, why=exc.message
                    )
                )
            raise
        finally:
            self._writer.close()

    def _undelivered(self) -> list[int]:
        """Batches whose entry is written but which did not surely reach the caller: the one
        being handed out when the call ended, and a sealed one whose entry was written."""
        undelivered = [] if self._sending is None else [self._sending]
        sealed = self._sealed
        if sealed is not None and sealed.send and sealed.index != self._sending:
            with contextlib.suppress(Exception):
                if sealed.entry_index() >= 0:
                    undelivered.append(sealed.index)
        return undelivered

    def _run(self) -> Iterator[Started | Batch | Summary]:
        self._state = self._require_live("before")
        with parts_of(self._store, self._scope) as parts:
            with tracing.tracer().start_as_current_span("store.count"):
                counts = [part.count() for part in parts]
            candidates = sum(counts)
            if self._resume is None:
                self._append_live(
                    events.ReleaseStarted(
                        warrant=self.warrant.id,
                        principal=self.principal,
                        policy=self._policy.version,
                        candidates=candidates,
                        frozen_copy=self._frozen_copy,
                        participation=self._participation,
                    ),
                    "before",
                )
            else:
                self._held = held_batch_entry(self._audit, self._resume, self.warrant.id)
                resumed = resumed_entry(
                    self.warrant.id, self.principal, self._policy.version, self._resume, candidates
                )
                self._append_live(
                    dataclasses.replace(resumed, participation=self._participation), "before"
                )
            yield Started(candidates, self._skip)

            self._decisions.take(self._policy_now())
            for part, count in zip(parts, counts, strict=True):
                yield from self._part(part, count)
            self._reads.pause(self._examined)
        yield from self._send_sealed()
        if self._batch:
            self._seal()
            yield from self._send_sealed(last=True)
        index = self._index
        if index < self._skip:  # the store now holds fewer batches than the client
            self._resume_refused("the store holds fewer records than the batches kept")
        self._tally(self._batch, self._batch_withheld, index - 1 if self._batch else index)
        summary = Summary(
            released=sum(self._by_effect.values()),
            released_by_effect=dict(self._by_effect),
            released_by_category=dict(self._by_category),
            withheld=dict(self._withheld),
            pseudonymized_parties=self._pseudonyms.parties,
            batches=index,
            audit_index=0,
            identifiers_replaced=self._texts.replaced,
            quotes_withheld=self._texts.quotes_withheld,
            texts_withheld=self._texts.texts_withheld,
        )
        records_sha256 = self._records_hash.hexdigest()
        index_done = self._audit.append(
            events.ReleaseCompleted(
                warrant=self.warrant.id,
                principal=self.principal,
                released=summary.released,
                released_by_effect=summary.released_by_effect,
                released_by_category=summary.released_by_category,
                withheld=summary.withheld,
                pseudonymized_parties=summary.pseudonymized_parties,
                batches=summary.batches,
                examined=self._examined,
                records_sha256=records_sha256,
                identifiers_replaced=summary.identifiers_replaced,
                quotes_withheld=summary.quotes_withheld,
                texts_withheld=summary.texts_withheld,
                warrant_sha256=self._warrant_sha256,
                frozen_copy=self._frozen_copy,
            )
        )
        self._completed = True
        signed = self._checkpoints.latest()
        last_index = self._last_index
        yield dataclasses.replace(
            summary,
            audit_index=index_done,
            checkpoint=signed.note,
            last_batch_proof=self._proof(
                last_index if last_index >= 0 else index_done, signed.checkpoint.size
            ),
            completed_proof=self._proof(index_done, signed.checkpoint.size),
            records_sha256=records_sha256,
        )

    def _part(self, part: Part, count: int) -> Iterator[Batch]:
        """One part of the store's release: counted if the policy withholds it whole, else
        read record by record (its Values where the store gives them)."""
        answers = self._decisions.of_part(part, self._state)
        if answers is not None and withheld_whole(answers):
            if count:  # (a reason counts only records it withheld)
                per_category = count // len(answers)
                for decision, _, _ in answers.values():
                    self._batch_withheld[decision.reason or WITHHELD] += per_category
                self._examined += count
                self._reads.skipped(part.name, count)
            return
        self._reads.open(self._examined)
        if answers is None or part.values is None:
            yield from self._records(part)
        elif part.messages is not None and self._lane_takes(part):
            yield from self._lane(part, part.messages)
        else:
            yield from self._values(part, part.values())

    def _lane_takes(self, part: Part) -> bool:
        """Whether the fast lane makes this part's records (gateway.release.lane): message
        content alone, its category's plan what the lane was written for."""
        plan = self._plans.get(Category.MESSAGE_CONTENT)
        return (
            self._use_lane
            and part.categories == (Category.MESSAGE_CONTENT,)
            and plan is not None
            and lane.takes(plan)
        )

    def _lane(self, part: Part, messages: MessageRows) -> Iterator[Batch]:
        """A message content part made by the fast lane, batch by batch: what `_values` makes
        of the same part's Values, with the same looks at the live state during a scan."""
        maker = MessageLane(
            messages.rows(),
            messages.room,
            messages.seen,
            messages.time_text,
            messages.prefix,
            self._scope.targets,
            self._pseudonyms,
            self._texts,
            MAX_RECORD_BYTES,
            RECORD_OVERHEAD,
        )
        examined = self._examined
        look = examined + LOOK_STRIDE
        while not maker.done:
            answer = (self._decisions.of_part(part, self._state) or {})[Category.MESSAGE_CONTENT]
            batch = self._batch
            took, self._batch_bytes, full = maker.fill(
                batch,
                self._batch_withheld,
                answer,
                self._batch_size - len(batch),
                self._batch_bytes,
                MAX_BATCH_BYTES,
                look - examined,
            )
            examined += took
            if examined >= look and not full:
                look = self._look_during_scan(examined)
            if full:
                self._examined = examined
                yield from self._next_batch()
        self._examined = examined

    def _records(self, part: Part) -> Iterator[Batch]:
        """A part whose records are decided one by one (any store)."""
        decide, make = self._decisions.of_record, self._payloads.of_record
        look = self._examined + LOOK_STRIDE
        for record in part.records():
            self._examined += 1
            if self._examined >= look:
                look = self._look_during_scan(self._examined)
            answer = decide(record, self._state)
            decision = answer[0]
            if decision.effect is Effect.WITHHOLD:
                self._batch_withheld[decision.reason or WITHHELD] += 1
                continue
            released = make(record, answer)
            if isinstance(released, str):
                self._batch_withheld[released] += 1
                continue
            size = len(released.payload) + len(released.id) + RECORD_OVERHEAD
            if size > MAX_RECORD_BYTES:
                self._batch_withheld[RECORD_TOO_LARGE] += 1
                continue
            if self._batch and self._batch_bytes + size > MAX_BATCH_BYTES:
                yield from self._next_batch()
            self._batch.append(released)
            self._batch_bytes += size
            if len(self._batch) >= self._batch_size:
                yield from self._next_batch()

    def _values(self, part: Part, records: Iterator[Values]) -> Iterator[Batch]:
        """A part decided whole, read as Values: the release's hot path."""
        answers = self._decisions.of_part(part, self._state) or {}
        make, size, withhold = self._payloads.of_values, self._batch_size, Effect.WITHHOLD
        batch, withheld, examined = self._batch, self._batch_withheld, self._examined
        look = examined + LOOK_STRIDE
        for record_id, category, values in records:
            examined += 1
            if examined >= look:
                look = self._look_during_scan(examined)
            answer = answers[category]
            decision = answer[0]
            if decision.effect is withhold:
                withheld[decision.reason or WITHHELD] += 1
                continue
            released = make(record_id, category, values, answer)
            if isinstance(released, str):
                withheld[released] += 1
                continue
            weight = len(released.payload) + len(record_id) + RECORD_OVERHEAD
            if weight > MAX_RECORD_BYTES:
                withheld[RECORD_TOO_LARGE] += 1
                continue
            if batch and self._batch_bytes + weight > MAX_BATCH_BYTES:
                self._examined = examined - 1  # this record goes into the next batch
                yield from self._next_batch()
                answers = self._decisions.of_part(part, self._state) or {}
                batch, withheld = self._batch, self._batch_withheld
            batch.append(released)
            self._batch_bytes += weight
            if len(batch) >= size:
                self._examined = examined
                yield from self._next_batch()
                answers = self._decisions.of_part(part, self._state) or {}
                batch, withheld = self._batch, self._batch_withheld
        self._examined = examined

    def _next_batch(self) -> Iterator[Batch]:
        """The batch is full: send the one before it (its entry is durable by now), then seal
        this one (its entry written in the background while the next batch is made) and take
        the policy in force for the next batch."""
        self._reads.pause(self._examined)
        yield from self._send_sealed()
        self._seal()
        self._decisions.take(self._policy_now())
        self._reads.open(self._examined)

    def _seal(self) -> None:
        """Close the batch being filled: its records join records.jsonl's hash, and its
        release.batch entry is written on the writer thread, unless the warrant is no longer
        live or the call is past its cap (asked with the write, under the log's lock)."""
        index, batch, withheld = self._index, self._batch, self._batch_withheld
        self._batch, self._batch_withheld = [], collections.Counter()
        self._batch_bytes = 0
        self._index += 1
        self._hash_records(batch)
        entry: Future[int] | int
        if index < self._skip:  # resuming: the client holds this batch; check, do not resend
            entry = self._check_held(index, batch)
        else:
            event = self._batch_entry(index, batch, withheld)  # here: the call's request id

            def write() -> int:
                # Every batch, the first and a last partial one included: the warrant's live
                # state and the time cap, asked under the log's lock with the write.
                return self._append_live(event, "during")

            entry = self._writer.submit(write)
        self._sealed = Sealed(index, batch, withheld, self._examined, entry, index >= self._skip)

    def _send_sealed(self, last: bool = False) -> Iterator[Batch]:
        """The sealed batch, once its entry is durable (write-ahead); then, unless it was the
        last, the server's limits on the call are checked before the next is sealed."""
        sealed, self._sealed = self._sealed, None
        if sealed is None:
            return
        audit_index = sealed.entry_index()
        if sealed.send:
            attributes = {"wsg.batch": sealed.index, "wsg.records": len(sealed.records)}
            with tracing.tracer().start_as_current_span("send", attributes=attributes):
                self._sending = sealed.index
                yield Batch(sealed.index, sealed.records, sealed.examined, audit_index)
                self._sending = None  # the caller asked for more: it was taken
        self._last_index = audit_index
        self._tally(sealed.records, sealed.withheld, sealed.index)
        if not last:
            self._require_time()
            self._require_not_draining()

    def _check_held(self, index: int, batch: list[Released]) -> int:
        """At the last batch the client holds: its records so far and that batch's audited
        records must be what this run made, else the store changed and resuming would mix two
        releases. Returns the held batch's audit entry index."""
        resume = self._resume
        if resume is None or index < resume.batches - 1:
            return -1
        if self._records_hash.hexdigest() != resume.records_sha256:
            self._resume_refused("the records kept differ from what the store gives now")
        if self._held.get("records") != [[r.id, r.sha256] for r in batch]:
            self._resume_refused("the last batch kept is not the one this release makes")
        return resume.last_batch_audit_index

    def _resume_refused(self, why: str) -> NoReturn:
        self._audit.append(
            events.ReleaseStopped(
                warrant=self.warrant.id, principal=self.principal, why=f"resume refused: {why}"
            )
        )
        raise FailedPrecondition(
            f"cannot resume the release of {self.warrant.id}: {why}; the store changed since, "
            "so release again into a new directory",
            reason="RESUME_MISMATCH",
        )

    def _proof(self, index: int, size: int) -> Proof:
        return Proof(index, size, self._audit.line(index), self._audit.inclusion_proof(index, size))

    def _tally(self, batch: list[Released], withheld: Counter[str], index: int) -> None:
        """Add a batch to the release's totals, and to the metrics once per batch, not per
        record (a label lookup takes a lock); not for the batches a resumed release only
        checks (they were counted when they were sent)."""
        kinds = Counter((r.category, r.effect) for r in batch)
        for (category, effect), n in kinds.items():
            self._by_effect[effect] += n
            self._by_category[category] += n
        self._withheld.update(withheld)
        if index < self._skip:
            return
        for (category, effect), n in kinds.items():
            RECORDS_RELEASED.labels(category, effect).inc(n)
        for reason, n in withheld.items():
            RECORDS_WITHHELD.labels(reason).inc(n)

    def _hash_records(self, batch: list[Released]) -> None:
        """records.jsonl grows by the batch's records, a line each."""
        if batch:
            self._records_hash.update(b"\n".join([r.payload for r in batch]))
            self._records_hash.update(b"\n")

    def _batch_entry(
        self, index: int, batch: list[Released], withheld: collections.Counter[str]
    ) -> events.ReleaseBatch:
        """The write-ahead entry of a batch: every record's id and sha256, in the order sent,
        and the policy version that decided it."""
        return events.ReleaseBatch(
            warrant=self.warrant.id,
            principal=self.principal,
            batch=index,
            policy=self._policy.version,
            counts={
                "released": dict(collections.Counter(r.effect for r in batch)),
                "withheld": dict(withheld),
            },
            records=[[r.id, r.sha256] for r in batch],
        )
