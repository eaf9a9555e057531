"""AuditService: the audit log as a transparency log over gRPC (checkpoints, proofs, entries).

Who may read which entry, and the proofs, are gateway.audit.reader's (shared with the web
console); this servicer authenticates, asks the API policy, and converts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import grpc

from gateway.api import pages
from gateway.api.auth import Authenticator
from gateway.api.calls import streaming, unary
from gateway.api.convert import proof_to_pb, time_field
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.audit.reader import AuditReader, EntryFilter
from gateway.errors import FailedPrecondition, InvalidArgument
from gateway.policy.api import ApiGuard
from gateway.reports import transparency
from gateway.reports.formats import to_json

DEFAULT_PAGE = 1000
MAX_PAGE = 10_000


class AuditServicer(pb_grpc.AuditServiceServicer):
    def __init__(self, reader: AuditReader, auth: Authenticator, guard: ApiGuard) -> None:
        self._reader = reader
        self._auth = auth
        self._guard = guard

    def _caller(self, context: grpc.ServicerContext, rpc: str) -> str:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, rpc)
        return principal

    @unary
    def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: grpc.ServicerContext
    ) -> pb.Checkpoint:
        self._caller(context, "GetCheckpoint")
        signed = self._reader.checkpoint()
        return pb.Checkpoint(
            note=signed.note,
            tree_size=signed.checkpoint.size,
            root_hash=signed.checkpoint.root,
            verifier_key=self._reader.verifier_key,
        )

    @unary
    def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.ServicerContext
    ) -> pb.InclusionProof:
        principal = self._caller(context, "GetInclusionProof")
        return proof_to_pb(self._reader.inclusion(principal, request.index, request.tree_size))

    @unary
    def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> pb.ConsistencyProof:
        self._caller(context, "GetConsistencyProof")
        new_size, hashes = self._reader.consistency(request.old_size, request.new_size)
        return pb.ConsistencyProof(old_size=request.old_size, new_size=new_size, hashes=hashes)

    @streaming
    def ListEntries(
        self, request: pb.ListEntriesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ListEntriesResponse]:
        principal = self._caller(context, "ListEntries")
        since = time_field(request, "since", "since", required=False)
        until = time_field(request, "until", "until", required=False)
        size = pages.page_size(request.page_size, DEFAULT_PAGE, MAX_PAGE)
        query = [request.warrant_id, str(since), str(until)]
        start = (
            _index(pages.decode(request.page_token, query))
            if request.page_token
            else request.start_index
        )
        wanted = EntryFilter(warrant=request.warrant_id or None, since=since, until=until)
        entries = self._reader.entries(principal, wanted, start)
        for sent, (index, line, _) in enumerate(entries, start=1):
            last = sent == size and index + 1 < self._reader.size
            token = pages.encode(index + 1, query) if last else ""
            yield pb.ListEntriesResponse(index=index, line=line, next_page_token=token)
            if sent == size:
                return

    @unary
    def GetTransparencyReport(
        self, request: pb.GetTransparencyReportRequest, context: grpc.ServicerContext
    ) -> pb.GetTransparencyReportResponse:
        """Over the latest signed checkpoint's entries, exactly as `wsg report verify` redoes it."""
        self._caller(context, "GetTransparencyReport")
        start = time_field(request, "period_start", "period_start")
        end = time_field(request, "period_end", "period_end")
        if start is None or end is None:  # required: time_field refused it already
            raise InvalidArgument("period_start and period_end: required")
        report = transparency_report(self._reader, start, end, request.band_width)
        return pb.GetTransparencyReportResponse(report=to_json(report))


def transparency_report(
    reader: AuditReader, start: dt.datetime, end: dt.datetime, band_width: int
) -> dict[str, Any]:
    """GetTransparencyReport's document, for gRPC and the console alike: the period's report
    over the latest signed checkpoint's entries, exactly as `wsg report verify` redoes it; a
    log that no longer gives that checkpoint's root yields FailedPrecondition, no figures."""
    try:
        period = transparency.Period(start, end)
    except transparency.ReportError as exc:
        raise InvalidArgument(f"period_end: {exc}") from None
    signed = reader.checkpoint()
    try:
        return transparency.build(
            reader.leaves(signed.checkpoint.size),
            signed.note,
            signed.checkpoint,
            period,
            band_width,
        )
    except transparency.ReportError as exc:  # the log does not give its checkpoint: fail closed
        raise FailedPrecondition(
            f"no transparency report: {exc}", reason="LOG_DOES_NOT_VERIFY"
        ) from None


def _index(position: object) -> int:
    if not isinstance(position, int) or position < 0:
        raise InvalidArgument("page_token: not a token this gateway made")
    return position
