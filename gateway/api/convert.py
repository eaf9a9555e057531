"""Translation between the wire messages (gateway.api) and the domain (warrants, releases).

Everything that arrives from the wire is checked here or in warrants.validate_spec, and every
problem becomes InvalidArgument naming the field.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.api.v1 import wsg_pb2 as pb
from gateway.errors import InvalidArgument
from gateway.model import (
    SPEC_FIELDS,
    Kind,
    SpecField,
    Warrant,
    WarrantSpec,
    WarrantState,
    Window,
    parse_time,
)
from gateway.release.items import Batch, Proof, Started, Summary
from gateway.warrants.clocks import Deadline
from gateway.warrants.outbox import Notice
from gateway.warrants.participation import Recorded, Status
from gateway.warrants.preservation import Hold
from gateway.warrants.validation import parse_choice


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


MAX_LIST = 1000  # items in one list field of a spec, before any rule looks at them


def _field_from_pb(msg: Message, f: SpecField) -> Any:
    """One spec field of the wire message as the dataclass holds it (gateway.model.fields)."""
    path = f"spec.{f.name}"
    if f.kind is Kind.TIME:
        return time_field(msg, f.proto, path, required=f.required)
    if f.kind is Kind.WINDOW:
        if not msg.HasField(f.proto):
            raise InvalidArgument(f"{path}: required")
        window = getattr(msg, f.proto)
        start = time_field(window, "start", f"{path}.start")
        end = time_field(window, "end", f"{path}.end")
        if start is None or end is None:  # required above: never None here
            raise InvalidArgument(f"{path}: required")
        return Window(start, end)
    raw = getattr(msg, f.proto)
    if f.kind is Kind.FLAG:
        return bool(raw)
    if f.many:
        items = [str(v) for v in raw]
        if f.kind is Kind.CHOICE:
            return tuple(parse_choice(f, value, f"{path}[{i}]") for i, value in enumerate(items))
        return tuple(value.strip() for value in items)
    text = str(raw).lower() if f.about.lowercase else str(raw)
    if f.kind is Kind.TEXT:
        return None if f.optional and not text else text  # "" is unset on the wire
    if text:
        return parse_choice(f, text, path)
    if f.required:
        raise InvalidArgument(f"{path}: required")
    return f.empty()


def spec_from_pb(msg: pb.WarrantSpec) -> WarrantSpec:
    for f in SPEC_FIELDS:
        if f.many and len(getattr(msg, f.proto)) > MAX_LIST:
            raise InvalidArgument(f"spec.{f.name}: more than {MAX_LIST} items")
    return WarrantSpec(**{f.name: _field_from_pb(msg, f) for f in SPEC_FIELDS})


def _ts(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def spec_to_pb(spec: WarrantSpec) -> pb.WarrantSpec:
    msg = pb.WarrantSpec()
    for f in SPEC_FIELDS:
        value = getattr(spec, f.name)
        if value is None:
            continue  # unset on the wire: "" or no Timestamp
        if f.kind is Kind.TIME:
            getattr(msg, f.proto).CopyFrom(_ts(value))
        elif f.kind is Kind.WINDOW:
            getattr(msg, f.proto).CopyFrom(pb.Window(start=_ts(value.start), end=_ts(value.end)))
        elif f.many:
            getattr(msg, f.proto).extend(
                [v.value for v in value] if f.kind is Kind.CHOICE else list(value)
            )
        else:
            setattr(msg, f.proto, value.value if f.kind is Kind.CHOICE else value)
    return msg


def state_to_pb(state: WarrantState) -> pb.WarrantState.ValueType:
    return pb.WarrantState.Value(f"WARRANT_STATE_{state.value}")


def state_from_pb(value: int) -> WarrantState | None:
    if value == pb.WARRANT_STATE_UNSPECIFIED:
        return None
    try:
        name = pb.WarrantState.Name(pb.WarrantState.ValueType(value))
        return WarrantState(name.removeprefix("WARRANT_STATE_"))
    except ValueError:
        raise InvalidArgument(f"state: unknown value {value}") from None


def deadline_to_pb(d: Deadline) -> pb.Deadline:
    return pb.Deadline(
        warrant_id=d.warrant,
        case_number=d.case_number,
        instrument=d.instrument or "",
        clock=d.clock,
        due_at=_ts(d.due_at),
        status=d.status,
    )


def hold_to_pb(h: Hold) -> pb.Preservation:
    msg = pb.Preservation(
        warrant_id=h.warrant,
        frozen_at=_ts(h.frozen_at),
        expires_at=_ts(h.expires_at),
        records=h.records,
        content_sha256=h.content_sha256,
        extended_by=h.extended_by or "",
    )
    if h.purged_at is not None:
        msg.purged_at.CopyFrom(_ts(h.purged_at))
    return msg


def notice_to_pb(n: Notice) -> pb.Notice:
    body = n.body
    msg = pb.Notice(
        id=n.id,
        warrant_id=n.warrant,
        account=n.account,
        authority=body["authority"],
        legal_basis=body["legal_basis"],
        instrument=body["instrument"] or "",
        tier=body["tier"] or "",
        categories=body["categories"],
        window=pb.Window(
            start=_ts(parse_time(body["window"]["start"])),
            end=_ts(parse_time(body["window"]["end"])),
        ),
        released_at=_ts(parse_time(body["released_at"])),
        records=body["records"],
        records_by_category=body["records_by_category"],
        due_at=_ts(n.due_at),
        queued_at=_ts(n.queued_at),
        sent_by=n.sent_by or "",
    )
    if n.sent_at is not None:
        msg.sent_at.CopyFrom(_ts(n.sent_at))
    return msg


def step_to_pb(s: Recorded) -> pb.ParticipationStep:
    return pb.ParticipationStep(
        warrant_id=s.warrant,
        seq=s.seq,
        step=s.step.value,
        document_sha256=s.document_sha256,
        note=s.note or "",
        recorded_by=s.principal,
        recorded_at=_ts(s.recorded_at),
    )


def participation_to_pb(status: Status) -> pb.ListParticipationResponse:
    return pb.ListParticipationResponse(
        required=status.required,
        complete=status.complete,
        steps=[step_to_pb(s) for s in status.steps],
    )


def warrant_to_pb(w: Warrant, now: dt.datetime) -> pb.Warrant:
    msg = pb.Warrant(
        id=w.id,
        spec=spec_to_pb(w.spec),
        state=state_to_pb(w.live_state(now)),
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
    if w.review is not None:
        r = w.review
        msg.review.CopyFrom(
            pb.OverbreadthReview(
                in_scope=dict(r.in_scope),
                released=dict(r.released),
                withheld=dict(r.withheld),
                third_parties=r.third_parties,
                pseudonymized_parties=r.pseudonymized_parties,
                group_rooms=r.group_rooms,
                share_withheld=r.share_withheld,
                second_review=list(r.second_review),
            )
        )
    msg.first_approved_by = w.first_approved_by or ""
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
