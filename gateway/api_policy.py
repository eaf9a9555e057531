"""Who may call which RPC: a Casbin policy beside the release policy, and the guard servicers use.

policies/api_model.conf and api_policy.csv decide (role, rpc, relation to the warrant); the
roles come from DIR/roles.json (`wsg init --principal NAME:ROLE`), in mutual TLS and in the
development mode alike. The decisions are compiled once from Casbin into a table (every role x
rpc x relation), so a call costs a lookup; every denial is an audit entry.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping

import casbin

from gateway.audit import AuditLog
from gateway.errors import FailedPrecondition, GatewayError, PermissionDenied
from gateway.pki import ROLES
from gateway.policy import CASBIN_LOCK, TextAdapter

API_MODEL_FILE = "api_model.conf"
API_POLICY_FILE = "api_policy.csv"
RPCS = ("Submit", "Get", "List", "Approve", "Reject", "Revoke", "Release", "GetCheckpoint",
        "GetInclusionProof", "GetConsistencyProof", "ListEntries", "GetPolicy", "SetPolicy")
RELATIONS = ("own", "other", "none")


class ApiPolicy:
    def __init__(self, table: Mapping[tuple[str, str, str], bool]) -> None:
        self._table = dict(table)

    @classmethod
    def load(cls, policy_dir: pathlib.Path, rules_text: str | None = None) -> ApiPolicy:
        """The model from policy_dir and the rules from api_policy.csv, or `rules_text` (the
        policy table, on PostgreSQL); FailedPrecondition if anything is wrong."""
        model, rules = policy_dir / API_MODEL_FILE, policy_dir / API_POLICY_FILE
        for path in (model, rules) if rules_text is None else (model,):
            if not path.is_file():
                raise FailedPrecondition(f"API policy file {path} is missing")
        with CASBIN_LOCK:
            try:
                adapter = str(rules) if rules_text is None else TextAdapter(rules_text)
                enforcer = casbin.Enforcer(str(model), adapter)
                for role, rpc, relation, *_ in enforcer.get_policy():
                    if role not in ROLES or rpc not in RPCS or relation not in (*RELATIONS, "any"):
                        raise ValueError(f"unknown role, rpc or relation in rule {role}, {rpc}, {relation}")
                table = {(role, rpc, relation): bool(enforcer.enforce(role, rpc, relation))
                         for role in ROLES for rpc in RPCS for relation in RELATIONS}
            except Exception as exc:  # noqa: BLE001 - any parse problem means: do not start
                raise FailedPrecondition(f"API policy in {policy_dir} is invalid: {exc}") from None
        return cls(table)

    def allows(self, role: str, rpc: str, relation: str) -> bool:
        return self._table.get((role, rpc, relation), False)


class ApiGuard:
    """Authorizes each call of an authenticated principal; denials are refused and audited."""

    def __init__(self, policy: ApiPolicy | Callable[[], ApiPolicy],
                 roles: Mapping[str, tuple[str, ...]], audit: AuditLog) -> None:
        # A callable gives the policy in force now (it changes on replicas without a restart).
        self._policy = policy if callable(policy) else (lambda: policy)
        self._roles = roles
        self._audit = audit

    def may(self, principal: str, rpc: str, submitted_by: str | None = None) -> bool:
        relation = "none" if submitted_by is None else ("own" if submitted_by == principal else "other")
        policy = self._policy()
        return any(policy.allows(role, rpc, relation) for role in self._roles.get(principal, ()))

    def require(self, principal: str, rpc: str, warrant_id: str | None = None,
                submitted_by: str | None = None) -> None:
        if self.may(principal, rpc, submitted_by):
            return
        roles = self._roles.get(principal, ())
        why = (f"{principal!r} has no role; bind one with `wsg init --principal {principal}:ROLE`"
               if not roles else
               f"{'/'.join(roles)} {principal!r} may not call {rpc}"
               + ("" if submitted_by is None else
                  f" on {'their own' if submitted_by == principal else 'another'} warrant"))
        try:
            self._audit.append("api.denied", principal=principal, rpc=rpc, warrant=warrant_id,
                               roles=list(roles))
        except GatewayError:
            pass  # the denial stands whether or not it could be logged
        raise PermissionDenied(why)
