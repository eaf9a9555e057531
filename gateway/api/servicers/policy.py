"""PolicyService: read the rules in force; change them with two policy administrators.

One proposes (ProposePolicy: checked exactly as a replica would load it, kept, nothing changes),
another approves (ApprovePolicy: the rules replace the old ones in one transaction with the
`policy.changed` entry; the trigger on casbin_rule notifies every replica, this one switches at
once). SetPolicy is refused. Every refusal is a `policy.change_refused` entry
(gateway.policy.changes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.api.auth import Authenticator
from gateway.api.calls import unary
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.policy.api import ApiGuard
from gateway.policy.changes import PolicyChanges
from gateway.policy.live import Policies
from gateway.policy.proposals import Proposal
from gateway.policy.rules import canonical, require_name


def _ts(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def proposal_to_pb(p: Proposal) -> pb.PolicyProposal:
    return pb.PolicyProposal(
        id=p.id,
        name=p.policy,
        rules=p.rules,
        rules_sha256=p.rules_sha256,
        base_rules_sha256=p.base_sha256,
        reason=p.reason or "",
        proposed_by=p.proposed_by,
        proposed_at=_ts(p.proposed_at),
        expires_at=_ts(p.expires_at),
    )


class PolicyServicer(pb_grpc.PolicyServiceServicer):
    def __init__(
        self,
        policies: Policies,
        changes: PolicyChanges,
        auth: Authenticator,
        guard: ApiGuard,
        on_changed: Callable[[], None],
    ) -> None:
        self._policies = policies
        self._changes = changes
        self._auth = auth
        self._guard = guard
        self._on_changed = on_changed

    def _rules(self, name: str) -> pb.PolicyRules:
        current = self._policies.current()
        text = canonical(self._policies.source.snapshot().texts[name], name)
        return pb.PolicyRules(
            name=name,
            rules=text,
            rules_sha256=hashlib.sha256(text.encode()).hexdigest(),
            policy_version=current.release.version if name == "release" else "",
            table_version=current.table_version or 0,
        )

    def _principal(self, context: grpc.ServicerContext, rpc: str) -> str:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, rpc)
        return principal

    @unary
    def GetPolicy(
        self, request: pb.GetPolicyRequest, context: grpc.ServicerContext
    ) -> pb.PolicyRules:
        self._principal(context, "GetPolicy")
        require_name(request.name)
        return self._rules(request.name)

    @unary
    def SetPolicy(
        self, request: pb.SetPolicyRequest, context: grpc.ServicerContext
    ) -> pb.PolicyRules:
        principal = self._principal(context, "SetPolicy")
        self._changes.refuse_set(principal, request.name, request.rules)
        raise AssertionError("refuse_set raises")  # for the type checker

    @unary
    def ProposePolicy(
        self, request: pb.ProposePolicyRequest, context: grpc.ServicerContext
    ) -> pb.ProposePolicyResponse:
        principal = self._principal(context, "ProposePolicy")
        made = self._changes.propose(principal, request.name, request.rules, request.reason)
        return pb.ProposePolicyResponse(proposal=proposal_to_pb(made))

    @unary
    def ApprovePolicy(
        self, request: pb.ApprovePolicyRequest, context: grpc.ServicerContext
    ) -> pb.ApprovePolicyResponse:
        principal = self._principal(context, "ApprovePolicy")
        approved = self._changes.approve(principal, request.id)
        self._on_changed()
        return pb.ApprovePolicyResponse(rules=self._rules(approved.policy))

    @unary
    def ListPolicyProposals(
        self, request: pb.ListPolicyProposalsRequest, context: grpc.ServicerContext
    ) -> pb.ListPolicyProposalsResponse:
        self._principal(context, "ListPolicyProposals")
        return pb.ListPolicyProposalsResponse(
            proposals=[proposal_to_pb(p) for p in self._changes.pending()]
        )
