"""The gRPC client the CLI uses; transport errors become ClientError in this one place."""

from __future__ import annotations

import builtins
import datetime as dt
import pathlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError
from google.rpc.error_details_pb2 import BadRequest, ErrorInfo
from google.rpc.status_pb2 import Status

from gateway.api.auth import PRINCIPAL_HEADER, require_loopback
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.errors import FailedPrecondition
from gateway.identity.pki import PkiPaths

Reply = TypeVar("Reply")

DEFAULT_DATA = "wsg-data"
LIST_PAGE = 500  # warrants per List call when the client pages through all of them
# Release batches may be larger than gRPC's default 4 MB; the server caps what it sends.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 64 << 20)]


class ClientError(Exception):
    """A call failed; `code` is the gRPC status, `message` the server's human message, `reason`
    the stable google.rpc.ErrorInfo reason and `field` the BadRequest field, when sent."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.field = field


DETAILS_KEY = "grpc-status-details-bin"  # google.rpc.Status, as grpcio-status writes it


def _details(exc: grpc.RpcError) -> tuple[str | None, str | None]:
    """(ErrorInfo reason, first BadRequest field) from the status details, if any."""
    trailing = getattr(exc, "trailing_metadata", None)  # the call's, on a failed call
    raw = next(
        (v for k, v in (trailing() or () if callable(trailing) else ()) if k == DETAILS_KEY), None
    )
    if not isinstance(raw, bytes):
        return None, None
    try:
        status = Status.FromString(raw)
    except DecodeError:
        return None, None
    reason = field = None
    for detail in status.details:
        info, bad = ErrorInfo(), BadRequest()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(bad) and bad.field_violations:
            field = bad.field_violations[0].field
    return reason, field


def _wrap(exc: grpc.RpcError) -> ClientError:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    if code is grpc.StatusCode.UNAVAILABLE and "connect" in (details or "").lower():
        details = f"cannot reach the gateway ({details})"
    return ClientError(code, details or code.name, *_details(exc))


def _credentials(pki: PkiPaths, identity: str) -> grpc.ChannelCredentials:
    files = (pki.ca_cert, pki.client_key(identity), pki.client_cert(identity))
    missing = [str(p) for p in files if not p.exists()]
    if missing:  # a local problem, found before any call (the CLI's exit status 2)
        raise FailedPrecondition(
            f"no certificate for {identity!r} ({', '.join(missing)} missing): run "
            f"`wsg init --data {pki.root} --principal {identity}:ROLE`, pass --data DIR, "
            "or use --insecure against a development server",
        )
    ca, key, cert = (p.read_bytes() for p in files)
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


class Client:
    def __init__(
        self,
        server: str,
        identity: str,
        insecure: bool,
        timeout: float = 30.0,
        data: pathlib.Path | str = DEFAULT_DATA,
    ) -> None:
        """With mutual TLS (the default) the client presents DATA/pki/clients/IDENTITY.crt and
        trusts only DATA/pki/ca.crt; --insecure is the loopback-only development mode."""
        if insecure:
            require_loopback(server)
            self._channel = grpc.insecure_channel(server, options=CHANNEL_OPTIONS)
        else:
            self._channel = grpc.secure_channel(
                server,
                _credentials(PkiPaths(pathlib.Path(data)), identity),
                options=CHANNEL_OPTIONS,
            )
        self._metadata = ((PRINCIPAL_HEADER, identity),)
        self._timeout = timeout
        self.warrants = pb_grpc.WarrantServiceStub(self._channel)
        self.releases = pb_grpc.ReleaseServiceStub(self._channel)
        self.audit = pb_grpc.AuditServiceStub(self._channel)
        self.policies = pb_grpc.PolicyServiceStub(self._channel)
        self.store = pb_grpc.StoreServiceStub(self._channel)
        self.notices = pb_grpc.NoticeServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: Callable[..., Reply], request: Any) -> Reply:
        try:
            return method(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _wrap(exc) from None

    def submit(self, spec: pb.WarrantSpec, request_id: str = "") -> pb.Warrant:
        """Submit; with a request id, a retry returns the warrant the first call made."""
        return self._call(
            self.warrants.Submit, pb.WarrantServiceSubmitRequest(spec=spec, request_id=request_id)
        )

    def get(self, warrant_id: str) -> pb.Warrant:
        return self._call(self.warrants.Get, pb.WarrantServiceGetRequest(id=warrant_id))

    def list(
        self, state: pb.WarrantState.ValueType = pb.WARRANT_STATE_UNSPECIFIED, limit: int = 0
    ) -> list[pb.Warrant]:
        """The warrants the caller may see, newest first: all of them, page after page, or
        the first `limit`."""
        found: list[pb.Warrant] = []
        token = ""
        while True:
            want = min(limit - len(found), LIST_PAGE) if limit else LIST_PAGE
            reply = self._call(
                self.warrants.List,
                pb.WarrantServiceListRequest(state=state, page_size=want, page_token=token),
            )
            found += reply.warrants
            token = reply.next_page_token
            if not token or (limit and len(found) >= limit):
                return found

    def approve(self, warrant_id: str, note: str = "") -> pb.Warrant:
        return self._call(
            self.warrants.Approve, pb.WarrantServiceApproveRequest(id=warrant_id, note=note)
        )

    def reject(self, warrant_id: str, reason: str = "") -> pb.Warrant:
        return self._call(
            self.warrants.Reject, pb.WarrantServiceRejectRequest(id=warrant_id, reason=reason)
        )

    def revoke(self, warrant_id: str, reason: str = "") -> pb.Warrant:
        return self._call(
            self.warrants.Revoke, pb.WarrantServiceRevokeRequest(id=warrant_id, reason=reason)
        )

    def extend_preservation(self, warrant_id: str, reason: str = "") -> pb.Preservation:
        request = pb.ExtendPreservationRequest(id=warrant_id, reason=reason)
        return self._call(self.warrants.ExtendPreservation, request).preservation

    def record_participation(
        self, warrant_id: str, step: str, document_sha256: str, note: str = ""
    ) -> pb.RecordParticipationResponse:
        """Record a participation step (notice, attendance, objection, waiver)."""
        request = pb.RecordParticipationRequest(
            warrant_id=warrant_id, step=step, document_sha256=document_sha256, note=note
        )
        return self._call(self.warrants.RecordParticipation, request)

    def list_participation(self, warrant_id: str) -> pb.ListParticipationResponse:
        """A warrant's participation: required, complete, and its steps."""
        request = pb.ListParticipationRequest(warrant_id=warrant_id)
        return self._call(self.warrants.ListParticipation, request)

    def lookup_account(self, target: str) -> pb.WarrantServiceLookupAccountResponse:
        return self._call(
            self.warrants.LookupAccount, pb.WarrantServiceLookupAccountRequest(target=target)
        )

    def list_due(self) -> pb.ListDueResponse:
        """Every deadline clock of the warrants the caller may see, soonest first."""
        return self._call(self.warrants.ListDue, pb.ListDueRequest())

    def pending_notices(self) -> builtins.list[pb.Notice]:
        """Every user notice due and not yet sent, oldest due first."""
        stream = self.notices.StreamPendingNotices(
            pb.StreamPendingNoticesRequest(), metadata=self._metadata, timeout=self._timeout
        )
        return [item.notice for item in self._stream(stream)]

    def mark_notice_sent(self, notice_id: str) -> pb.Notice:
        request = pb.MarkNoticeSentRequest(id=notice_id)
        return self._call(self.notices.MarkNoticeSent, request).notice

    def defer_notice(
        self, warrant_id: str, until: dt.datetime, order_sha256: str
    ) -> pb.DeferNoticeResponse:
        """A court order extending non-disclosure: the warrant's notices wait until `until`."""
        request = pb.DeferNoticeRequest(warrant_id=warrant_id, order_sha256=order_sha256)
        request.until.FromDatetime(until)
        return self._call(self.notices.DeferNotice, request)

    def checkpoint(self) -> pb.Checkpoint:
        return self._call(self.audit.GetCheckpoint, pb.GetCheckpointRequest())

    def inclusion_proof(self, index: int, tree_size: int = 0) -> pb.InclusionProof:
        return self._call(
            self.audit.GetInclusionProof,
            pb.GetInclusionProofRequest(index=index, tree_size=tree_size),
        )

    def consistency_proof(self, old_size: int, new_size: int = 0) -> pb.ConsistencyProof:
        return self._call(
            self.audit.GetConsistencyProof,
            pb.GetConsistencyProofRequest(old_size=old_size, new_size=new_size),
        )

    def transparency_report(self, start: dt.datetime, end: dt.datetime, band_width: int = 0) -> str:
        """The transparency report of [start, end) as JSON (gateway.reports.transparency)."""
        request = pb.GetTransparencyReportRequest(band_width=band_width)
        request.period_start.FromDatetime(start)
        request.period_end.FromDatetime(end)
        return self._call(self.audit.GetTransparencyReport, request).report

    def find_accounts(self, target: str) -> tuple[str, ...]:
        reply = self._call(self.store.FindAccounts, pb.FindAccountsRequest(target=target))
        return tuple(reply.account_ids)

    def store_stats(self) -> pb.GetStatsResponse:
        return self._call(self.store.GetStats, pb.GetStatsRequest())

    def get_policy(self, name: str = "release") -> pb.PolicyRules:
        return self._call(self.policies.GetPolicy, pb.GetPolicyRequest(name=name))

    def set_policy(self, name: str, rules: str, reason: str = "") -> pb.PolicyRules:
        """Always refused by the gateway (a change needs two policy administrators)."""
        return self._call(
            self.policies.SetPolicy, pb.SetPolicyRequest(name=name, rules=rules, reason=reason)
        )

    def propose_policy(self, name: str, rules: str, reason: str = "") -> pb.PolicyProposal:
        request = pb.ProposePolicyRequest(name=name, rules=rules, reason=reason)
        return self._call(self.policies.ProposePolicy, request).proposal

    def approve_policy(self, proposal_id: str) -> pb.PolicyRules:
        request = pb.ApprovePolicyRequest(id=proposal_id)
        return self._call(self.policies.ApprovePolicy, request).rules

    def policy_proposals(self) -> pb.ListPolicyProposalsResponse:
        return self._call(self.policies.ListPolicyProposals, pb.ListPolicyProposalsRequest())

    def entries(self, request: pb.ListEntriesRequest) -> Iterator[pb.ListEntriesResponse]:
        """Every entry the request selects, following next_page_token page after page."""
        page = pb.ListEntriesRequest()
        page.CopyFrom(request)
        while True:
            token = ""
            for entry in self._stream(self.audit.ListEntries(page, metadata=self._metadata)):
                token = entry.next_page_token or token
                yield entry
            if not token:
                return
            page.page_token = token

    def release(
        self, warrant_id: str, batch_size: int = 0, resume: pb.ReleaseResume | None = None
    ) -> Iterator[pb.ReleaseResponse]:
        """The release stream; with `resume`, the rest of an interrupted one. The call is made
        when the stream is first read, not here: whoever writes it somewhere checks that place
        first (gateway.api.package), so the gateway audits no release whose records would go
        nowhere."""
        request = pb.ReleaseRequest(warrant_id=warrant_id, batch_size=batch_size, resume=resume)

        def call() -> Iterator[pb.ReleaseResponse]:
            yield from self._stream(self.releases.Release(request, metadata=self._metadata))

        return call()

    @staticmethod
    def _stream(stream: Any) -> Iterator[Any]:
        try:
            yield from stream
        except grpc.RpcError as exc:
            raise _wrap(exc) from None
        finally:
            stream.cancel()
