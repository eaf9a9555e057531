"""The guarantees 1 and 2 (docs/architecture.md) as data: what no release decision may say.

Rules can change at run time (the policy table, on PostgreSQL), so whatever they say, the
compiled decision table is checked against every `Limit` below before a policy is put in
force: one decision that breaks one limit and the whole policy is refused. A limit covers the
decision requests its pattern matches (a request field's name -> the values it covers; a field
it does not name: any value) and says what a decision on those requests may be: which effects,
and for a released record which text modes. Checked over every compiled decision, so a limit
holds for every combination of the fields it does not name, `received_direct` included.

The legal-process tier (gateway.policy.instruments) is a request field like the others: what
the law lets each tier reach at most is a row here (`TIER_REACH`), so no rule can make a
subscriber-data request release content or a preservation request release anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from gateway.model import (
    Category,
    Effect,
    Relation,
    TextMode,
    Tier,
    WarrantState,
    WindowPosition,
)

WITHHOLD_ONLY = frozenset({Effect.WITHHOLD})
PSEUDONYMIZED_AT_MOST = frozenset({Effect.WITHHOLD, Effect.RELEASE_PSEUDONYMIZED})
ANY_EFFECT = frozenset(Effect)
SAFE_TEXT = frozenset(TextMode) - {TextMode.CLEAR}
# Categories whose records name people besides their subject (correspondents, members,
# contacts): they never leave without pseudonyms.
NAMING_OTHERS = frozenset(
    {Category.MESSAGE_METADATA, Category.MESSAGE_CONTENT, Category.MEMBERSHIPS, Category.CONTACTS}
)
MESSAGES = frozenset({Category.MESSAGE_METADATA, Category.MESSAGE_CONTENT})


@dataclasses.dataclass(frozen=True)
class Limit:
    """On the requests `when` covers, a decision's effect is one of `effects` and, if it
    releases, its text mode one of `texts`."""

    guarantee: str  # "guarantee 1" or "guarantee 2" (docs/architecture.md)
    what: str  # the records it protects, as the refusal names them
    when: Mapping[str, frozenset[object]]  # request field -> the values covered
    effects: frozenset[Effect] = WITHHOLD_ONLY
    texts: frozenset[TextMode] = frozenset(TextMode)

    def covers(self, request: Mapping[str, object]) -> bool:
        return all(request[name] in values for name, values in self.when.items())

    def allows(self, effect: Effect, text: TextMode | None) -> bool:
        if effect not in self.effects:
            return False
        return effect is Effect.WITHHOLD or text in self.texts


def _values(*values: object) -> frozenset[object]:
    return frozenset(values)


# The most each tier of legal process may reach, whatever the rules say (issue 15's table): a
# subscriber-data request the account record; a communication-records order no content and no
# address book; a search warrant and an emergency disclosure (whose rows decide less) anything
# the other limits allow; a preservation request nothing at all.
TIER_REACH: Mapping[Tier, frozenset[Category]] = {
    Tier.SUBSCRIBER: frozenset({Category.SUBSCRIBER}),
    Tier.COMMUNICATION_RECORDS: frozenset(Category) - {Category.MESSAGE_CONTENT, Category.CONTACTS},
    Tier.SEARCH_WARRANT: frozenset(Category),
    Tier.EMERGENCY: frozenset(Category),
    Tier.PRESERVATION: frozenset(),
}


def _tier_limits() -> tuple[Limit, ...]:
    return tuple(
        Limit(
            "guarantee 2",
            f"a category beyond what a {tier.value} request may reach",
            {"tier": _values(tier), "category": frozenset(Category) - reach},
        )
        for tier, reach in TIER_REACH.items()
        if reach != frozenset(Category)
    )


LIMITS: tuple[Limit, ...] = (
    Limit(
        "guarantee 1",
        "a group peer's or unrelated record",
        {"relation": _values(Relation.GROUP_PEER, Relation.UNRELATED)},
    ),
    Limit(
        "guarantee 2", "a record outside the window", {"window": _values(WindowPosition.OUTSIDE)}
    ),
    Limit("guarantee 2", "a category the warrant does not name", {"named": _values(False)}),
    Limit(
        "guarantee 2",
        "a record under a warrant that is not APPROVED",
        {"state": frozenset(WarrantState) - {WarrantState.APPROVED}},
    ),
    Limit(
        "guarantee 1",
        "a peer's direct message to a warrant that did not ask for received direct messages",
        {"relation": _values(Relation.DIRECT_PEER), "received_direct": _values(False)},
    ),
    Limit(
        "guarantee 1",
        "a direct peer's record that is not a message",
        {"relation": _values(Relation.DIRECT_PEER), "category": frozenset(Category) - MESSAGES},
    ),
    Limit(
        "guarantee 1",
        "a direct peer's message with its sender in clear (it must be pseudonymized)",
        {"relation": _values(Relation.DIRECT_PEER)},
        PSEUDONYMIZED_AT_MOST,
    ),
    Limit(
        "guarantee 1",
        "a record naming other people without pseudonyms (it must be release_pseudonymized)",
        {"category": NAMING_OTHERS},
        PSEUDONYMIZED_AT_MOST,
    ),
    Limit(
        "guarantee 1",
        "its free text in clear (text must be pseudonymize, withhold_unresolved or withhold)",
        {},
        ANY_EFFECT,
        SAFE_TEXT,
    ),
    *_tier_limits(),
)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def breach(
    decisions: Iterable[tuple[Mapping[str, object], Effect, TextMode | None]],
    limits: Iterable[Limit] = LIMITS,
) -> str | None:
    """The first decision (request fields, effect, text mode) that breaks a limit, in words;
    None when every decision keeps every limit."""
    limits = tuple(limits)
    for request, effect, text in decisions:
        for limit in limits:
            if limit.covers(request) and not limit.allows(effect, text):
                fields = ", ".join(
                    f"{name}={_shown(value)}" if isinstance(value, bool) else _shown(value)
                    for name, value in request.items()
                )
                return (
                    f"the rules would {effect.value} {limit.guarantee}: {limit.what} ({fields}); "
                    "refused"
                )
    return None
