"""Who may call which RPC: a Casbin policy beside the release policy, and the guard servicers use.

policies/api_model.conf and the API rules decide (role, rpc, relation to the warrant); the roles
come from DIR/roles.json (gateway.identity.roles), in mutual TLS and in the development mode
alike. The RPC names are the service descriptors' (gateway.api.rpcs), handed in by the API: a
rule naming an RPC or role that does not exist is refused at load. The decisions are compiled
once from Casbin into a table (every role x rpc x relation), so a call costs a lookup; every
denial is an audit entry.
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Callable, Iterable, Mapping, Sequence

import casbin

from gateway.audit.events import ApiDenied
from gateway.audit.log import AuditLog
from gateway.errors import FailedPrecondition, GatewayError, PermissionDenied
from gateway.identity.roles import ROLES
from gateway.model import Warrant
from gateway.policy.enforcer import CASBIN_LOCK, TextAdapter, one_line
from gateway.policy.rules import API_RULES_FILE

API_MODEL_FILE = "api_model.conf"
RELATIONS = ("own", "other", "none")
# What the API rules may grant besides calling an RPC: being the second reviewer of a request
# whose overbreadth review asks for two (gateway.warrants.book.approve).
# And approving an emergency disclosure (still never one's own: the two-person rule holds).
ACTIONS = ("SecondReview", "ApproveEmergency")


class ApiPolicy:
    def __init__(self, table: Mapping[tuple[str, str, str], bool], rpcs: Sequence[str]) -> None:
        self._table = dict(table)
        self.rpcs = tuple(rpcs)

    @classmethod
    def load(
        cls,
        policy_dir: pathlib.Path,
        rpcs: Sequence[str],
        rules_text: str | None = None,
        source: str | None = None,
    ) -> ApiPolicy:
        """The model from policy_dir and the rules from api_policy.csv, or `rules_text` (read
        from `source`); FailedPrecondition if anything is wrong."""
        model, rules = policy_dir / API_MODEL_FILE, policy_dir / API_RULES_FILE
        for path in (model, rules) if rules_text is None else (model,):
            if not path.is_file():
                raise FailedPrecondition(f"API policy file {path} is missing")
        text = rules.read_text() if rules_text is None else rules_text
        rpcs = (*rpcs, *(a for a in ACTIONS if a not in rpcs))
        with CASBIN_LOCK:
            try:
                enforcer = casbin.Enforcer(str(model), TextAdapter(text))
                for role, rpc, relation, *_ in enforcer.get_policy():
                    if role not in ROLES or rpc not in rpcs or relation not in (*RELATIONS, "any"):
                        raise ValueError(
                            f"unknown role, rpc or relation in rule {role}, {rpc}, {relation}"
                        )
                table = {
                    (role, rpc, relation): bool(enforcer.enforce(role, rpc, relation))
                    for role in ROLES
                    for rpc in rpcs
                    for relation in RELATIONS
                }
            except Exception as exc:  # noqa: BLE001 - any parse problem means: do not start
                where = source or str(policy_dir)
                raise FailedPrecondition(
                    f"API policy in {where} is invalid: {one_line(exc)}"
                ) from None
        return cls(table, rpcs)

    def allows(self, role: str, rpc: str, relation: str) -> bool:
        return self._table.get((role, rpc, relation), False)

    def unreachable(self) -> list[str]:
        """RPCs no role may call in any relation (a missing rule denies everyone silently)."""
        return [
            rpc
            for rpc in self.rpcs
            if not any(allowed for (_, r, _), allowed in self._table.items() if r == rpc)
        ]


class ApiGuard:
    """Authorizes each call of an authenticated principal; denials are refused and audited."""

    def __init__(
        self,
        policy: ApiPolicy | Callable[[], ApiPolicy],
        roles: Mapping[str, tuple[str, ...]] | Callable[[], Mapping[str, tuple[str, ...]]],
        audit: AuditLog,
        roles_file: str = "DIR/roles.json",
    ) -> None:
        # Callables give what is in force now (policies change on replicas without a restart).
        self._policy = policy if callable(policy) else (lambda: policy)
        self._roles = roles if callable(roles) else (lambda: roles)
        self._audit = audit
        self._roles_file = roles_file  # named in the refusal of a principal without a role

    def roles_of(self, principal: str) -> tuple[str, ...]:
        return tuple(self._roles().get(principal, ()))

    def may(self, principal: str, rpc: str, submitted_by: str | None = None) -> bool:
        relation = (
            "none" if submitted_by is None else "own" if submitted_by == principal else "other"
        )
        policy = self._policy()
        return any(policy.allows(role, rpc, relation) for role in self.roles_of(principal))

    def visible(self, principal: str, warrants: Iterable[Warrant]) -> list[Warrant]:
        """The warrants `principal` may Get (a listing shows nothing the caller may not read)."""
        return [w for w in warrants if self.may(principal, "Get", w.submitted_by)]

    def require(
        self,
        principal: str,
        rpc: str,
        warrant_id: str | None = None,
        submitted_by: str | None = None,
    ) -> None:
        if self.may(principal, rpc, submitted_by):
            return
        roles = self.roles_of(principal)
        why = (
            f"{principal!r} has no role in {self._roles_file}; an administrator gives one with "
            f"`wsg roles add {principal} ROLE --data {pathlib.PurePath(self._roles_file).parent}`"
            if not roles
            else f"{'/'.join(roles)} {principal!r} may not call {rpc}"
            + (
                ""
                if submitted_by is None
                else f" on {'their own' if submitted_by == principal else 'another'} warrant"
            )
        )
        with contextlib.suppress(GatewayError):  # the denial stands whether or not it is logged
            self._audit.append(
                ApiDenied(principal=principal, rpc=rpc, warrant=warrant_id, roles=list(roles))
            )
        raise PermissionDenied(why, reason="API_POLICY_DENIED")
