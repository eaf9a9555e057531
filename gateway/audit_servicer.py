"""AuditService: the audit log as a transparency log over gRPC (checkpoints, proofs, entries).

Checkpoints and consistency proofs hold only hashes, so any authenticated caller may have them.
Entries (and the leaf inside an inclusion proof) say who did what under which warrant: auditors
read them all; anyone else only entries they made or about warrants they submitted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import grpc

from gateway.api import wsg_pb2 as pb
from gateway.api import wsg_pb2_grpc as pb_grpc
from gateway.audit import AuditLog
from gateway.api_policy import ApiGuard
from gateway.auth import Authenticator
from gateway.checkpoints import Checkpointer
from gateway.errors import InvalidArgument, NotFound, PermissionDenied
from gateway.model import parse_time
from gateway.servicers import streaming, unary
from gateway.warrants import WarrantBook


class AuditServicer(pb_grpc.AuditServiceServicer):
    def __init__(self, audit: AuditLog, checkpoints: Checkpointer, book: WarrantBook,
                 auth: Authenticator, guard: ApiGuard, auditors: frozenset[str]) -> None:
        self._audit = audit
        self._checkpoints = checkpoints
        self._book = book
        self._auth = auth
        self._guard = guard
        self._auditors = auditors

    def _may_read(self, principal: str, entry: dict[str, object],
                  submitters: dict[str, str | None] | None = None) -> bool:
        """Auditors read all; others what they did or what concerns warrants they submitted.
        `submitters` memoizes warrant -> submitter across one call's entries (one read each)."""
        if principal in self._auditors or entry.get("principal") == principal:
            return True
        warrant = entry.get("warrant")
        if not isinstance(warrant, str):
            return False
        submitters = {} if submitters is None else submitters
        if warrant not in submitters:
            try:
                submitters[warrant] = self._book.get(warrant).submitted_by
            except NotFound:
                submitters[warrant] = None
        return submitters[warrant] == principal

    def _caller(self, context: grpc.ServicerContext, rpc: str) -> str:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, rpc)
        return principal

    def _size(self, requested: int, field: str = "tree_size") -> int:
        latest = self._checkpoints.latest().checkpoint.size
        if requested > latest:
            raise InvalidArgument(f"{field}: {requested} is beyond the latest checkpoint ({latest})")
        return requested or latest

    @unary
    def GetCheckpoint(self, request: pb.GetCheckpointRequest, context: grpc.ServicerContext) -> pb.Checkpoint:
        self._caller(context, "GetCheckpoint")
        signed = self._checkpoints.latest()
        return pb.Checkpoint(note=signed.note, tree_size=signed.checkpoint.size,
                             root_hash=signed.checkpoint.root, verifier_key=self._checkpoints.verifier_key)

    @unary
    def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.ServicerContext
    ) -> pb.InclusionProof:
        principal = self._caller(context, "GetInclusionProof")
        size = self._size(request.tree_size)
        if request.index >= size:
            raise InvalidArgument(f"index: {request.index} is not below tree_size {size}")
        leaf = self._audit.line(request.index)
        if not self._may_read(principal, _parse(leaf)):
            raise PermissionDenied(f"{principal!r} may not read audit entry {request.index}")
        return pb.InclusionProof(index=request.index, tree_size=size, leaf=leaf,
                                 hashes=self._audit.inclusion_proof(request.index, size))

    @unary
    def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> pb.ConsistencyProof:
        self._caller(context, "GetConsistencyProof")
        new_size = self._size(request.new_size, "new_size")
        if request.old_size == 0:
            raise InvalidArgument("old_size: must be at least 1 (every tree extends the empty one)")
        if request.old_size > new_size:
            raise InvalidArgument(f"old_size: {request.old_size} is larger than new_size {new_size}")
        return pb.ConsistencyProof(old_size=request.old_size, new_size=new_size,
                                   hashes=self._audit.consistency_proof(request.old_size, new_size))

    @streaming
    def ListEntries(
        self, request: pb.ListEntriesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.AuditEntry]:
        principal = self._caller(context, "ListEntries")
        since = _bound(request, "since")
        until = _bound(request, "until")
        submitters: dict[str, str | None] = {}
        self._audit.sync()  # on PostgreSQL, with what the other replicas wrote
        for index, line in self._audit.lines():
            entry = _parse(line)
            if request.warrant_id and entry.get("warrant") != request.warrant_id:
                continue
            if since or until:
                ts = _entry_time(entry)
                if ts is None or (since and ts < since) or (until and ts >= until):
                    continue
            if self._may_read(principal, entry, submitters):
                yield pb.AuditEntry(index=index, line=line)


def _parse(line: bytes) -> dict[str, object]:
    try:
        entry = json.loads(line)
    except ValueError:
        return {}
    return entry if isinstance(entry, dict) else {}


def _bound(request: pb.ListEntriesRequest, field: str) -> dt.datetime | None:
    if not request.HasField(field):
        return None
    try:
        return getattr(request, field).ToDatetime(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(f"{field}: not a valid timestamp") from None


def _entry_time(entry: dict[str, object]) -> dt.datetime | None:
    try:
        return parse_time(str(entry.get("ts")))
    except ValueError:
        return None
