"""The overbreadth dry run: the release a request would make, decided but never sent.

At submission the warrant book asks for it (gateway.warrants.book): every record the store holds
in the request's scope is decided by the release policy in force as if the warrant were
APPROVED, and a released record's payload is built as the release builds it (pseudonyms,
minimized text), so the figures are the release's own: what it would withhold by reason and
release by effect, and how many third parties its records would carry as pseudonyms. Nothing is
written anywhere but the figures; the pseudonyms are made under a throwaway key (only their
number is kept, which no key changes).
"""

from __future__ import annotations

import collections
import secrets
from collections.abc import Iterable

from gateway.model import Effect, Relation, Scope, StoreRecord, WarrantState
from gateway.model.review import Review
from gateway.policy.release import ReleasePolicy
from gateway.release.decide import Decisions
from gateway.release.minimize import RecordMinimizer, plans
from gateway.release.payload import Payloads
from gateway.release.pseudonyms import Pseudonymizer
from gateway.stores.base import Store

WITHHELD = "withheld"


def _people(record: StoreRecord) -> Iterable[str]:
    for value in record.people.values():
        if isinstance(value, str):
            yield value
        elif isinstance(value, list | tuple):
            yield from (v for v in value if isinstance(v, str))


def _group_room(record: StoreRecord) -> str | None:
    """The group room a record comes from, if the store says (a direct room is not a group)."""
    room = record.fields.get("room")
    if not isinstance(room, str) or record.fields.get("direct") is True:
        return None
    if record.relation is Relation.GROUP_PEER or record.fields.get("direct") is False:
        return room
    return None


def dry_run(store: Store, scope: Scope, policy: ReleasePolicy, warrant_id: str) -> Review:
    """The figures of the release of `scope` under `policy`, releasing nothing."""
    decisions = Decisions(scope, policy)
    pseudonyms = Pseudonymizer(secrets.token_bytes(32), warrant_id)
    texts = RecordMinimizer(lambda: store.directory(scope), scope.targets, pseudonyms)
    payloads = Payloads(scope.targets, plans(store.shapes()), texts, pseudonyms)
    in_scope: collections.Counter[str] = collections.Counter()
    released: collections.Counter[str] = collections.Counter()
    withheld: collections.Counter[str] = collections.Counter()
    others: set[str] = set()
    rooms: set[str] = set()
    for record in store.records(scope):
        in_scope[record.category.value] += 1
        others.update(p for p in _people(record) if p not in scope.targets)
        room = _group_room(record)
        if room is not None:
            rooms.add(room)
        answer = decisions.of_record(record, WarrantState.APPROVED)
        decision = answer[0]
        if decision.effect is Effect.WITHHOLD:
            withheld[decision.reason or WITHHELD] += 1
            continue
        made = payloads.of_record(record, answer)
        if isinstance(made, str):
            withheld[made] += 1
            continue
        released[decision.effect.value] += 1
    total = sum(in_scope.values())
    return Review(
        in_scope=dict(in_scope),
        released=dict(released),
        withheld=dict(withheld),
        third_parties=len(others),
        pseudonymized_parties=pseudonyms.parties,
        group_rooms=len(rooms),
        share_withheld=round(sum(withheld.values()) / total, 4) if total else 0.0,
    )
