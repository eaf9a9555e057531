"""StoreService: which accounts a target names, and what the store holds, for officers who have
no direct access to it. Authorized by the API policy; every call is an audit entry."""

from __future__ import annotations

import datetime as dt

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.api.auth import Authenticator
from gateway.api.calls import unary
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.audit.events import StoreInspected, StoreSearched
from gateway.audit.log import AuditLog
from gateway.errors import GatewayError
from gateway.policy.api import ApiGuard
from gateway.stores.base import Store
from gateway.warrants.validation import MAX_TEXT, target


def _ts(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


class StoreServicer(pb_grpc.StoreServiceServicer):
    def __init__(self, store: Store, audit: AuditLog, auth: Authenticator, guard: ApiGuard):
        self._store = store
        self._audit = audit
        self._auth = auth
        self._guard = guard

    @unary
    def FindAccounts(
        self, request: pb.FindAccountsRequest, context: grpc.ServicerContext
    ) -> pb.FindAccountsResponse:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, "FindAccounts")
        asked = request.target
        try:
            # The warrant's own rule for a target (normalization, look-alikes refused), so a
            # search finds exactly what a warrant naming the same target would.
            normalized = target("target", asked)
            kind, _, value = normalized.partition(":")
            found = self._store.resolve(kind, value)
        except GatewayError as exc:
            self._audit.append(
                StoreSearched(
                    principal=principal, target=asked[:MAX_TEXT], matches=0, why=exc.message
                )
            )
            raise
        # Write-ahead, like a release: the look-up is durable before its answer leaves.
        self._audit.append(
            StoreSearched(principal=principal, target=normalized, matches=len(found))
        )
        return pb.FindAccountsResponse(account_ids=found)

    @unary
    def GetStats(
        self, request: pb.GetStatsRequest, context: grpc.ServicerContext
    ) -> pb.GetStatsResponse:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, "GetStats")
        counts = getattr(self._store, "counts", None)  # the reference stores count; others not
        span = getattr(self._store, "time_span", None)
        reply = pb.GetStatsResponse(counts=counts() if callable(counts) else {})
        first_last = span() if callable(span) else None
        if first_last is not None:
            reply.earliest_message.CopyFrom(_ts(first_last[0]))
            reply.latest_message.CopyFrom(_ts(first_last[1]))
        self._audit.append(StoreInspected(principal=principal))
        return reply
