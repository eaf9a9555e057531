"""The release policy's answers during one release: each question asked once per policy.

A release asks the same few questions for every record: (relation, category, window position,
live warrant state), with the warrant's named categories and received-direct flag. The answers
come from the policy snapshot the current batch took (`take`), so a batch never mixes two
policy versions; a new snapshot forgets them. A store part decided whole (stores.base.Part) is
asked once per category for all of its records: a part withheld for every category is then
counted, never read.

`held`: categories the release withholds whatever the policy decides, with the reason counted
(message content while a participation step is pending, gateway.warrants.participation). It
only narrows: a record the policy withholds keeps the policy's reason, and one it would release
is withheld under the held reason instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway import tracing
from gateway.model import Category, Effect, Relation, Scope, StoreRecord, WarrantState
from gateway.model import WindowPosition as Position
from gateway.policy.release import Decision, ReleasePolicy
from gateway.stores.base import Part

# A decision with the wire names of its effect and of the record's category (built once).
Answer = tuple[Decision, str, str]


class Decisions:
    """The answers of the policy snapshot in force for the current batch."""

    def __init__(
        self, scope: Scope, policy: ReleasePolicy, held: Mapping[Category, str] | None = None
    ) -> None:
        self._scope = scope
        self.policy = policy
        self._held = {c: Decision(Effect.WITHHOLD, why) for c, why in (held or {}).items()}
        self._known: dict[tuple[Relation, Category, Position, WarrantState], Answer] = {}

    def take(self, policy: ReleasePolicy) -> None:
        """At a batch's start: answer its questions with `policy` (the one in force now)."""
        if policy is not self.policy:
            self.policy = policy
            self._known.clear()

    def answer(
        self, relation: Relation, category: Category, position: Position, state: WarrantState
    ) -> Answer:
        key = (relation, category, position, state)
        known = self._known.get(key)
        if known is None:
            scope = self._scope
            with tracing.tracer().start_as_current_span("policy.decide"):
                decision = self.policy.decide_key(
                    relation,
                    category,
                    position,
                    state,
                    category in scope.categories,
                    scope.include_received_direct,
                    scope.tier,
                )
            if decision.effect is not Effect.WITHHOLD:
                decision = self._held.get(category, decision)
            known = self._known[key] = (decision, decision.effect.value, category.value)
        return known

    def of_record(self, record: StoreRecord, state: WarrantState) -> Answer:
        position = record.window_position(self._scope.window)
        return self.answer(record.relation, record.category, position, state)

    def of_part(self, part: Part, state: WarrantState) -> dict[Category, Answer] | None:
        """The answer for each of a whole part's categories; None for a part whose records
        are decided one by one."""
        if not part.whole or part.relation is None or part.position is None:
            return None
        relation, position = part.relation, part.position
        return {c: self.answer(relation, c, position, state) for c in part.categories}


def withheld_whole(answers: dict[Category, Answer] | None) -> bool:
    """Whether a part's answers withhold every one of its records."""
    return answers is not None and all(
        decision.effect is Effect.WITHHOLD for decision, _, _ in answers.values()
    )
