"""The release pipeline: store records -> Casbin decision -> pseudonyms -> audited batches.

Per record: the policy decides the effect from (relation, category, window position, live warrant
state, category named, received-direct flag). Released records become canonical JSON with every
non-target account id replaced by a per-warrant pseudonym. Per batch: the warrant's live state is
read again (revocation or expiry stops the release), then the batch's audit entry is written and
fsynced, and only then is the batch handed out (write-ahead). The summary ends with a signed
checkpoint covering the whole release and the inclusion proof of the last batch's entry in it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterator

from gateway.audit import AuditLog, canonical_bytes
from gateway.checkpoints import Checkpointer
from gateway.errors import DeadlineExceeded, FailedPrecondition, GatewayError, Unavailable
from gateway.model import Effect, Scope, StoreRecord, WarrantState
from gateway.policy import ReleasePolicy
from gateway.pseudonyms import Pseudonymizer
from gateway.stores.base import Store
from gateway.warrants import Warrant

DEFAULT_BATCH = 500
MAX_BATCH = 2000
EXPOSES_THIRD_PARTY = "policy_would_expose_third_party"


@dataclasses.dataclass(slots=True)  # not frozen: one per released record, on the hot path
class Released:
    id: str
    category: str
    effect: str
    payload: bytes
    sha256: str


@dataclasses.dataclass(frozen=True)
class Started:
    candidates: int


@dataclasses.dataclass(frozen=True)
class Batch:
    index: int
    records: list[Released]
    examined: int
    audit_index: int


@dataclasses.dataclass(frozen=True)
class Proof:
    """Inclusion of one audit entry (its exact bytes, the leaf) in the tree of `tree_size`."""

    index: int
    tree_size: int
    leaf: bytes
    hashes: list[bytes]


@dataclasses.dataclass(frozen=True)
class Summary:
    released: int
    released_by_effect: dict[str, int]
    released_by_category: dict[str, int]
    withheld: dict[str, int]
    pseudonymized_parties: int
    batches: int
    audit_index: int
    checkpoint: str = ""
    last_batch_proof: Proof | None = None
    completed_proof: Proof | None = None
    records_sha256: str = ""


def scope_of(warrant: Warrant) -> Scope:
    return Scope(
        targets=frozenset(warrant.target_accounts),
        categories=frozenset(warrant.spec.categories),
        window=warrant.spec.window,
        include_received_direct=warrant.spec.include_received_direct,
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
    ) -> None:
        self.warrant = warrant
        self.principal = principal
        self._store = store
        # The policy in force is taken once per batch: a batch never mixes two versions.
        self._policy_now = policy if callable(policy) else (lambda: policy)
        self._policy = self._policy_now()
        self._audit = audit
        self._checkpoints = checkpoints
        self._pseudonyms = Pseudonymizer(secret, warrant.id)
        self._live_state = live_state
        self._batch_size = max(1, min(batch_size or DEFAULT_BATCH, MAX_BATCH))
        self._monotonic = monotonic
        self._deadline = None if max_seconds is None else monotonic() + max_seconds
        self._scope = scope_of(warrant)
        self._records_hash = hashlib.sha256()  # of records.jsonl as the client will write it
        # The policy's decision per (relation, category, window position, state): a release
        # asks the same few questions for every record.
        self._decisions: dict[tuple, tuple] = {}

    def _require_time(self) -> None:
        """The server's cap on one release: checked between batches, like the warrant's state."""
        if self._deadline is not None and self._monotonic() > self._deadline:
            self._audit.append("release.stopped", warrant=self.warrant.id, principal=self.principal,
                               why="the release ran longer than the server allows one call")
            raise DeadlineExceeded(f"release of {self.warrant.id} stopped: it ran longer than the "
                                   "server allows one call; release again to continue")

    def _require_live(self, when: str) -> WarrantState:
        state = self._live_state()
        if state is not WarrantState.APPROVED:
            self._audit.append(
                "release.stopped" if when == "during" else "release.refused",
                warrant=self.warrant.id, principal=self.principal, state=state.value,
            )
            raise FailedPrecondition(
                f"warrant {self.warrant.id} is {state.value}"
                + ("; the release stopped" if when == "during" else "; nothing is released")
            )
        return state

    def __iter__(self) -> Iterator[Started | Batch | Summary]:
        """The release; if a store or the disk fails midway it stops, and says so in the log
        when the log itself still works (fail closed: what was sent is already audited)."""
        try:
            yield from self._run()
        except Unavailable as exc:
            with contextlib.suppress(GatewayError):
                self._audit.append("release.failed", warrant=self.warrant.id,
                                   principal=self.principal, why=exc.message)
            raise

    def _run(self) -> Iterator[Started | Batch | Summary]:
        state = self._require_live("before")
        candidates = self._store.count(self._scope)
        self._audit.append(
            "release.started", warrant=self.warrant.id, principal=self.principal,
            policy=self._policy.version, candidates=candidates,
        )
        yield Started(candidates)

        totals_effect: collections.Counter[str] = collections.Counter()
        totals_category: collections.Counter[str] = collections.Counter()
        totals_withheld: collections.Counter[str] = collections.Counter()
        batch: list[Released] = []
        batch_withheld: collections.Counter[str] = collections.Counter()
        examined = 0
        index = 0
        last_index = -1
        self._take_policy()
        for record in self._store.records(self._scope):
            examined += 1
            released, reason = self._decide(record, state)
            if released is None:
                batch_withheld[reason] += 1
                continue
            batch.append(released)
            if len(batch) >= self._batch_size:
                last_index = self._write_batch(index, batch, batch_withheld)
                yield Batch(index, batch, examined, last_index)
                self._tally(batch, batch_withheld, totals_effect, totals_category, totals_withheld)
                index += 1
                batch, batch_withheld = [], collections.Counter()
                state = self._require_live("during")
                self._require_time()
                self._take_policy()
        if batch:
            last_index = self._write_batch(index, batch, batch_withheld)
            yield Batch(index, batch, examined, last_index)
            index += 1
        self._tally(batch, batch_withheld, totals_effect, totals_category, totals_withheld)
        summary = Summary(
            released=sum(totals_effect.values()),
            released_by_effect=dict(totals_effect),
            released_by_category=dict(totals_category),
            withheld=dict(totals_withheld),
            pseudonymized_parties=self._pseudonyms.parties,
            batches=index,
            audit_index=0,
        )
        records_sha256 = self._records_hash.hexdigest()
        index_done = self._audit.append(
            "release.completed", warrant=self.warrant.id, principal=self.principal,
            released=summary.released, released_by_effect=summary.released_by_effect,
            withheld=summary.withheld, pseudonymized_parties=summary.pseudonymized_parties,
            batches=summary.batches, examined=examined, records_sha256=records_sha256,
        )
        signed = self._checkpoints.latest()
        yield dataclasses.replace(
            summary, audit_index=index_done, checkpoint=signed.note,
            last_batch_proof=self._proof(last_index if last_index >= 0 else index_done,
                                         signed.checkpoint.size),
            completed_proof=self._proof(index_done, signed.checkpoint.size),
            records_sha256=records_sha256,
        )

    def _take_policy(self) -> None:
        """At a batch's start: the policy in force now, for every decision of this batch."""
        policy = self._policy_now()
        if policy is not self._policy:
            self._policy = policy
            self._decisions.clear()

    def _proof(self, index: int, size: int) -> Proof:
        return Proof(index, size, self._audit.line(index), self._audit.inclusion_proof(index, size))

    @staticmethod
    def _tally(
        batch: list[Released],
        withheld: collections.Counter[str],
        by_effect: collections.Counter[str],
        by_category: collections.Counter[str],
        totals_withheld: collections.Counter[str],
    ) -> None:
        for r in batch:
            by_effect[r.effect] += 1
            by_category[r.category] += 1
        totals_withheld.update(withheld)

    def _write_batch(self, index: int, batch: list[Released], withheld: collections.Counter[str]) -> int:
        effects = collections.Counter(r.effect for r in batch)
        for r in batch:
            self._records_hash.update(r.payload + b"\n")
        return self._audit.append(
            "release.batch",
            warrant=self.warrant.id,
            principal=self.principal,
            batch=index,
            policy=self._policy.version,
            counts={"released": dict(effects), "withheld": dict(withheld)},
            records=[[r.id, r.sha256] for r in batch],
        )

    def _decide(self, record: StoreRecord, state: WarrantState) -> tuple[Released | None, str]:
        scope = self._scope
        key = (record.relation, record.category, record.window_position(scope.window), state)
        known = self._decisions.get(key)
        if known is None:
            decision = self._policy.decide_key(
                record.relation, record.category, key[2], state,
                record.category in scope.categories, scope.include_received_direct,
            )
            known = self._decisions[key] = (decision, decision.effect.value, record.category.value)
        decision, effect, category = known
        if decision.effect is Effect.WITHHOLD:
            return None, decision.reason or "withheld"
        if record.withheld is not None:
            return None, record.withheld  # the store's own veto (e.g. redacted), after the policy's
        targets = scope.targets
        if decision.effect is Effect.RELEASE and any(
            (v not in targets) if isinstance(v, str) else any(p not in targets for p in v)
            for v in record.people.values()
        ):
            # The policy said "release in clear" for a record naming third parties: refuse
            # rather than guess which of the two is wrong.
            return None, EXPOSES_THIRD_PARTY
        pseudonym = self._pseudonyms
        payload: dict[str, object] = {"id": record.id, "category": category}
        payload.update(record.fields)
        for name, value in record.people.items():
            if isinstance(value, str):
                payload[name] = value if value in targets else pseudonym(value)
            else:
                payload[name] = [p if p in targets else pseudonym(p) for p in value]
        data = canonical_bytes(payload)
        return Released(record.id, category, effect, data, hashlib.sha256(data).hexdigest()), ""
