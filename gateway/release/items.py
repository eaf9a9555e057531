"""What a release yields, in order: Started, then Batch..., then Summary (with its proofs)."""

from __future__ import annotations

import dataclasses

from gateway.audit.proofs import Proof

__all__ = ["Batch", "Proof", "Released", "Started", "Summary"]


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
    first_batch: int = 0  # the first batch this run sends (a resumed release skips some)


@dataclasses.dataclass(frozen=True)
class Resume:
    """What a client holds of an interrupted release: batches 0 .. batches-1, the sha256 of
    their records (as records.jsonl), and the audit entry of the last of them."""

    batches: int
    records_sha256: str
    last_batch_audit_index: int


@dataclasses.dataclass(frozen=True)
class Batch:
    index: int
    records: list[Released]
    examined: int
    audit_index: int


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
    identifiers_replaced: dict[str, int] = dataclasses.field(default_factory=dict)  # by kind
    quotes_withheld: int = 0
    texts_withheld: int = 0
