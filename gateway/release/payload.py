"""A released record's exact bytes: people pseudonymized, text minimized, canonical JSON, sha256.

Two ways in, one result: `of_record` takes a StoreRecord (any store), `of_values` a store
part's Values (the same record as one dict of fields and people, which it takes over: no copy).
Both refuse, by reason, what must not leave even when the policy releases it: a store's own
veto, a "release in clear" that would name a third party, a field the store's RecordShape does
not declare. tests/test_release_parts.py proves the two give the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from gateway.audit.canonical import canonical_bytes
from gateway.model import Category, Effect, StoreRecord, TextMode
from gateway.release.decide import Answer
from gateway.release.items import Released
from gateway.release.minimize import Plan, RecordMinimizer
from gateway.release.pseudonyms import Pseudonymizer

EXPOSES_THIRD_PARTY = "policy_would_expose_third_party"
# A record carrying a field (or a people field) its store's RecordShape does not declare: no
# decision was ever made on how it may leave, so it does not.
UNDECLARED_FIELD = "undeclared_field"
# A record too large to be sent at all (gateway.release.pipeline.MAX_RECORD_BYTES).
RECORD_TOO_LARGE = "record_too_large"
WITHHELD = "withheld"  # the reason of a withhold decision that names none

_sha256 = hashlib.sha256
_dumps = orjson.dumps
_SORTED = orjson.OPT_SORT_KEYS


class Payloads:
    """Makes the released records of one release (its pseudonyms, its text minimizer)."""

    def __init__(
        self,
        targets: frozenset[str],
        plans: Mapping[Category, Plan],
        texts: RecordMinimizer,
        pseudonyms: Pseudonymizer,
    ) -> None:
        self._targets = targets
        self._plans = plans
        self._texts = texts
        self._pseudonyms = pseudonyms
        # Per category: the names a record may carry (fields and people), and its people's.
        self._allowed = {c: p.fields | p.people for c, p in plans.items()}
        self._people = {c: tuple(sorted(p.people)) for c, p in plans.items()}
        # The same three, in one look-up per record (of_values).
        self._of_category = {c: (self._allowed[c], self._people[c], p) for c, p in plans.items()}

    def _names_third_party(self, people: Iterable[object]) -> bool:
        targets = self._targets
        for value in people:
            if isinstance(value, str):
                if value not in targets:
                    return True
            elif isinstance(value, (tuple, list)):
                if any(p not in targets for p in value):
                    return True
            else:  # neither an id nor ids (StoreRecord.people): nothing to check, not in clear
                return True
        return False

    def of_record(self, record: StoreRecord, answer: Answer) -> Released | str:
        """The record as released under `answer` (which releases it), or why it is withheld:
        the store's own veto (e.g. redacted) first, then a field its shape does not declare,
        then a release in clear that would name a third party."""
        decision, effect, category = answer
        if record.withheld is not None:
            return record.withheld
        plan = self._plans.get(record.category)
        fields, people = record.fields, record.people
        if plan is None or not (fields.keys() <= plan.fields and people.keys() <= plan.people):
            return UNDECLARED_FIELD
        if decision.effect is Effect.RELEASE and self._names_third_party(people.values()):
            # The policy said "release in clear" for a record naming third parties: refuse
            # rather than guess which of the two is wrong.
            return EXPOSES_THIRD_PARTY
        pseudonym, targets = self._pseudonyms, self._targets
        payload: dict[str, object] = dict(fields)
        for name, value in people.items():
            if isinstance(value, str):
                payload[name] = value if value in targets else pseudonym(value)
            else:  # sorted by pseudonym: the order of real ids would link warrants
                payload[name] = sorted(p if p in targets else pseudonym(p) for p in value)
        self._texts.apply(payload, people, plan, decision.text or TextMode.WITHHOLD)
        payload["id"] = record.id
        payload["category"] = category
        data = canonical_bytes(payload)
        return Released(record.id, category, effect, data, _sha256(data).hexdigest())

    def of_values(
        self, record_id: str, category: Category, values: dict[str, Any], answer: Answer
    ) -> Released | str:
        """What of_record gives for the same record, from its Values (the hot path)."""
        decision, effect, category_name = answer
        known = self._of_category.get(category)
        if known is None or not values.keys() <= known[0]:
            return UNDECLARED_FIELD
        _, names, plan = known
        if decision.effect is Effect.RELEASE and self._names_third_party(
            values[n] for n in names if n in values
        ):
            return EXPOSES_THIRD_PARTY
        # The text first, while the people are still their real ids (whom a quote names).
        self._texts.apply(values, values, plan, decision.text or TextMode.WITHHOLD)
        targets = self._targets
        for name in names:
            value = values.get(name)
            if value is None:
                continue
            if isinstance(value, str):
                if value not in targets:
                    values[name] = self._pseudonyms(value)
            else:  # sorted by pseudonym: the order of real ids would link warrants
                pseudonym = self._pseudonyms
                values[name] = sorted(p if p in targets else pseudonym(p) for p in value)
        values["id"] = record_id
        values["category"] = category_name
        try:
            data = _dumps(values, option=_SORTED)
        except orjson.JSONEncodeError:  # what only the standard library writes (big integers)
            data = canonical_bytes(values)
        return Released(record_id, category_name, effect, data, _sha256(data).hexdigest())
