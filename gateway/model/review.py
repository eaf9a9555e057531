"""The overbreadth review: what a request would touch, found by a dry run at submission.

The dry run (gateway.release.dryrun) decides every record in the request's scope as the release
would under an APPROVED warrant, and releases nothing. Its figures are kept with the warrant,
shown to reviewers (`wsg warrant show`, WarrantService.Get) and written into the approval's
audit entry; above the thresholds of the instrument catalogue (gateway.policy.instruments,
`review:`) approval needs a second reviewer.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Review:
    """A dry run's figures (at submission, under the release policy then in force)."""

    in_scope: Mapping[str, int]  # records the store holds in the scope, by category
    released: Mapping[str, int]  # ... the release would let out, by effect
    withheld: Mapping[str, int]  # ... it would withhold, by reason
    third_parties: int  # distinct non-targets named in any record in scope
    pseudonymized_parties: int  # ... of whom the released records would carry pseudonyms
    group_rooms: int  # distinct group rooms (not one-to-one) the records in scope come from
    share_withheld: float  # withheld / in scope (0 when nothing is in scope)
    second_review: tuple[str, ...] = ()  # the thresholds crossed: a second reviewer is needed

    @property
    def needs_second_reviewer(self) -> bool:
        return bool(self.second_review)

    def as_dict(self) -> dict[str, Any]:
        """The figures as the audit entry and the stored row keep them."""
        return {
            "in_scope": dict(sorted(self.in_scope.items())),
            "released": dict(sorted(self.released.items())),
            "withheld": dict(sorted(self.withheld.items())),
            "third_parties": self.third_parties,
            "pseudonymized_parties": self.pseudonymized_parties,
            "group_rooms": self.group_rooms,
            "share_withheld": self.share_withheld,
            "second_review": list(self.second_review),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Review:
        raw = json.loads(text)
        return cls(
            in_scope=raw["in_scope"],
            released=raw["released"],
            withheld=raw["withheld"],
            third_parties=raw["third_parties"],
            pseudonymized_parties=raw["pseudonymized_parties"],
            group_rooms=raw["group_rooms"],
            share_withheld=raw["share_withheld"],
            second_review=tuple(raw["second_review"]),
        )
