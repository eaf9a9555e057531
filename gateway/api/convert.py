"""Translation between the wire messages (gateway.api) and the domain (warrants, releases).

Everything that arrives from the wire is checked here or in warrants.validate_spec, and every
problem becomes InvalidArgument naming the field.
"""

from __future__ import annotations

import datetime as dt

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.api.v1 import wsg_pb2 as pb
from gateway.errors import InvalidArgument
from gateway.model import Warrant, WarrantSpec, WarrantState, Window
from gateway.release.items import Batch, Proof, Started, Summary
from gateway.warrants.validation import parse_category


def time_field(msg: Message, field: str, path: str, required: bool = True) -> dt.datetime | None:
    """A Timestamp field as an aware UTC datetime; INVALID_ARGUMENT naming `path` if bad."""
    if not msg.HasField(field):
        if required:
            raise InvalidArgument(f"{path}: required")
        return None
    ts: Timestamp = getattr(msg, field)
    try:
        return ts.ToDatetime(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(f"{path}: not a valid timestamp") from None


def spec_from_pb(msg: pb.WarrantSpec) -> WarrantSpec:
    if len(msg.targets) > 1000 or len(msg.categories) > 1000:
        raise InvalidArgument("spec: too many targets or categories")
    if not msg.HasField("window"):
        raise InvalidArgument("spec.window: required")
    start = time_field(msg.window, "start", "spec.window.start")
    end = time_field(msg.window, "end", "spec.window.end")
    expires = time_field(msg, "expires_at", "spec.expires_at")
    if start is None or end is None or expires is None:  # required above: never None here
        raise InvalidArgument("spec: window and expires_at are required")
    return WarrantSpec(
        case_number=msg.case_number,
        authority=msg.authority,
        legal_basis=msg.legal_basis,
        targets=tuple(t.strip() for t in msg.targets),
        window=Window(start, end),
        categories=tuple(
            parse_category(c, f"spec.categories[{i}]") for i, c in enumerate(msg.categories)
        ),
        expires_at=expires,
        nondisclosure_until=time_field(
            msg, "nondisclosure_until", "spec.nondisclosure_until", False
        ),
        include_received_direct=msg.include_received_direct,
        document_sha256=msg.document_sha256.lower() or None,
    )


def _ts(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def spec_to_pb(spec: WarrantSpec) -> pb.WarrantSpec:
    msg = pb.WarrantSpec(
        case_number=spec.case_number,
        authority=spec.authority,
        legal_basis=spec.legal_basis,
        targets=list(spec.targets),
        window=pb.Window(start=_ts(spec.window.start), end=_ts(spec.window.end)),
        categories=[c.value for c in spec.categories],
        expires_at=_ts(spec.expires_at),
        include_received_direct=spec.include_received_direct,
        document_sha256=spec.document_sha256 or "",
    )
    if spec.nondisclosure_until:
        msg.nondisclosure_until.CopyFrom(_ts(spec.nondisclosure_until))
    return msg


def state_to_pb(state: WarrantState) -> int:
    return int(pb.WarrantState.Value(f"WARRANT_STATE_{state.value}"))


def state_from_pb(value: int) -> WarrantState | None:
    if value == pb.WARRANT_STATE_UNSPECIFIED:
        return None
    try:
        name = pb.WarrantState.Name(pb.WarrantState.ValueType(value))
        return WarrantState(name.removeprefix("WARRANT_STATE_"))
    except ValueError:
        raise InvalidArgument(f"state: unknown value {value}") from None


def warrant_to_pb(w: Warrant, now: dt.datetime) -> pb.Warrant:
    msg = pb.Warrant(
        id=w.id,
        spec=spec_to_pb(w.spec),
        state=state_to_pb(w.live_state(now)),  # type: ignore[arg-type]
        target_accounts=list(w.target_accounts),
        submitted_by=w.submitted_by,
        submitted_at=_ts(w.submitted_at),
        decided_by=w.decided_by or "",
        revoked_by=w.revoked_by or "",
        reason=w.reason or "",
    )
    if w.decided_at:
        msg.decided_at.CopyFrom(_ts(w.decided_at))
    if w.revoked_at:
        msg.revoked_at.CopyFrom(_ts(w.revoked_at))
    return msg


def release_item_to_pb(warrant_id: str, item: Started | Batch | Summary) -> pb.ReleaseResponse:
    """One step of a ReleaseRun as the stream message the client receives."""
    if isinstance(item, Started):
        return pb.ReleaseResponse(
            started=pb.ReleaseStarted(
                warrant_id=warrant_id,
                candidate_records=item.candidates,
                first_batch=item.first_batch,
            )
        )
    if isinstance(item, Batch):
        return pb.ReleaseResponse(
            batch=pb.RecordBatch(
                index=item.index,
                examined=item.examined,
                audit_index=item.audit_index,
                records=[
                    pb.Record(
                        id=r.id,
                        category=r.category,
                        effect=r.effect,
                        payload=r.payload,
                        sha256=r.sha256,
                    )
                    for r in item.records
                ],
            )
        )
    return pb.ReleaseResponse(
        summary=pb.ReleaseSummary(
            warrant_id=warrant_id,
            released=item.released,
            released_by_effect=item.released_by_effect,
            released_by_category=item.released_by_category,
            withheld=item.withheld,
            pseudonymized_parties=item.pseudonymized_parties,
            batches=item.batches,
            audit_index=item.audit_index,
            checkpoint=item.checkpoint,
            last_batch_proof=proof_to_pb(item.last_batch_proof) if item.last_batch_proof else None,
            completed_proof=proof_to_pb(item.completed_proof) if item.completed_proof else None,
            records_sha256=item.records_sha256,
            identifiers_replaced=item.identifiers_replaced,
            quotes_withheld=item.quotes_withheld,
            texts_withheld=item.texts_withheld,
        )
    )


def proof_to_pb(proof: Proof) -> pb.InclusionProof:
    return pb.InclusionProof(
        index=proof.index, tree_size=proof.tree_size, leaf=proof.leaf, hashes=proof.hashes
    )
