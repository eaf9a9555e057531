"""PolicyService: read the rules in force; replace them through any replica (PostgreSQL).

A replacement is checked exactly as a replica would load it (Casbin parses it, the decision table
compiles, the release guarantees hold) before anything is written; then the new rows and a
`policy.changed` audit entry (who, why, the rules' sha256) commit in one transaction. The trigger
on casbin_rule notifies every replica; this one switches at once.
"""

from __future__ import annotations

import hashlib
import pathlib
from collections.abc import Callable

import grpc

from gateway import policy_table
from gateway.api import wsg_pb2 as pb
from gateway.api import wsg_pb2_grpc as pb_grpc
from gateway.api_policy import API_POLICY_FILE, ApiGuard
from gateway.auth import Authenticator
from gateway.db import Database
from gateway.errors import FailedPrecondition, InvalidArgument
from gateway.live_policy import Policies, check_rules
from gateway.policy import POLICY_FILE
from gateway.servicers import unary

MAX_RULES_BYTES = 256 << 10
MAX_REASON = 2000


class PolicyServicer(pb_grpc.PolicyServiceServicer):
    def __init__(self, policies: Policies, policy_dir: pathlib.Path, database: Database | None,
                 audit: object, auth: Authenticator, guard: ApiGuard,
                 on_changed: Callable[[], None]) -> None:
        self._policies = policies
        self._policy_dir = policy_dir
        self._database = database
        self._audit = audit  # gateway.pg_audit.PgAuditLog when there is a database
        self._auth = auth
        self._guard = guard
        self._on_changed = on_changed

    def _rules(self, name: str) -> pb.PolicyRules:
        current = self._policies.current()
        if self._database is not None:
            text = policy_table.snapshot(self._database).texts[name]
        else:
            file = POLICY_FILE if name == "release" else API_POLICY_FILE
            text = policy_table.rules_text(policy_table.parse_rules(
                (self._policy_dir / file).read_text(), file))
        return pb.PolicyRules(
            name=name, rules=text, rules_sha256=hashlib.sha256(text.encode()).hexdigest(),
            policy_version=current.release.version if name == "release" else "",
            table_version=current.table_version or 0)

    @unary
    def GetPolicy(self, request: pb.GetPolicyRequest, context: grpc.ServicerContext) -> pb.PolicyRules:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, "GetPolicy")
        policy_table.require_name(request.name)
        return self._rules(request.name)

    @unary
    def SetPolicy(self, request: pb.SetPolicyRequest, context: grpc.ServicerContext) -> pb.PolicyRules:
        principal = self._auth.authenticate(context)
        self._guard.require(principal, "SetPolicy")
        if self._database is None:
            raise FailedPrecondition(
                "this gateway runs on the embedded SQLite and reads its rules from "
                f"{self._policy_dir}: edit the files and restart (shared rules need PostgreSQL)")
        if len(request.rules.encode()) > MAX_RULES_BYTES:
            raise InvalidArgument(f"rules: larger than {MAX_RULES_BYTES} bytes")
        if len(request.reason) > MAX_REASON:
            raise InvalidArgument(f"reason: longer than {MAX_REASON} characters")
        canonical = check_rules(request.name, request.rules, self._policy_dir, "rules")
        policy_table.replace_audited(
            self._audit, request.name, canonical,
            ("policy.changed", {
                "principal": principal, "policy": request.name, "reason": request.reason or None,
                "rules_sha256": hashlib.sha256(canonical.encode()).hexdigest()}))
        self._on_changed()
        return self._rules(request.name)
