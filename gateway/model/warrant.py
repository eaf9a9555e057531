"""A warrant as the gateway keeps it: the spec an officer submitted and its lifecycle so far.

States (docs/architecture.md): SUBMITTED -> APPROVED | REJECTED; APPROVED -> REVOKED | EXPIRED
(by time).
EXPIRED is derived from the clock, never stored, so an expired warrant cannot be missed by a
process that was down when it expired. The rules that move a warrant live in gateway.warrants.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from gateway.model.fields import SpecField, about, describe
from gateway.model.records import Window
from gateway.model.review import Review
from gateway.model.vocabulary import Category, WarrantState


@dataclasses.dataclass(frozen=True)
class WarrantSpec:
    """What the legal process names (the warrant file's fields, docs/architecture.md).

    A new field is declared here alone (its type and `about`): the wire, the stored rows, the
    warrant file and the console derive from these declarations (gateway.model.fields); add it
    to pb.WarrantSpec (`make protos`), and a rule in gateway.warrants.validation if it has one.
    A field added after warrants were stored needs a default: older rows lack it.
    """

    case_number: str = dataclasses.field(metadata=about(label="Case number", identifier=True))
    authority: str = dataclasses.field(metadata=about(label="Issuing authority", title="Authority"))
    legal_basis: str = dataclasses.field(
        metadata=about(label="Legal basis", may_omit=True, multiline=True)
    )
    targets: tuple[str, ...] = dataclasses.field(
        metadata=about(
            label="Targets, one per line",
            title="Targets",
            hint="<code>account:ID</code>, <code>phone:NUMBER</code>, <code>email:ADDRESS</code>"
            " or a Matrix id <code>@user:server</code>; each must name exactly one account.",
            example="account:check",
        )
    )
    window: Window = dataclasses.field(
        metadata=about(
            label="Time window (UTC): from, and up to but not including", title="Window (UTC)"
        )
    )
    categories: tuple[Category, ...] = dataclasses.field(
        metadata=about(label="Data categories", title="Categories", noun="category")
    )
    expires_at: dt.datetime = dataclasses.field(
        metadata=about(label="Warrant expires (UTC)", title="Expires")
    )
    nondisclosure_until: dt.datetime | None = dataclasses.field(
        default=None,
        metadata=about(label="Non-disclosure until (UTC, optional)", title="Non-disclosure until"),
    )
    include_received_direct: bool = dataclasses.field(
        default=False,
        metadata=about(
            label="Include direct messages the target received (the senders are pseudonymized)",
            title="Received direct messages",
            yes="included, senders pseudonymized",
            no="not included",
        ),
    )
    document_sha256: str | None = dataclasses.field(
        default=None,
        metadata=about(
            label="SHA-256 of the scanned warrant (optional)",
            title="Document SHA-256",
            lowercase=True,
        ),
    )
    # The kind of legal process, a key of the instrument catalogue (policies/instruments.yaml,
    # gateway.policy.instruments); None: a search warrant, as before instruments existed.
    instrument: str | None = dataclasses.field(
        default=None,
        metadata=about(
            label="Instrument (the kind of legal process; empty: a search warrant)",
            title="Instrument",
            example="kr.search_warrant",
        ),
    )
    # Why an emergency disclosure cannot wait for legal process (required for the emergency
    # tier: gateway.warrants.book).
    justification: str | None = dataclasses.field(
        default=None,
        metadata=about(label="Emergency justification", title="Justification", multiline=True),
    )
    # The emergency disclosure this request is the follow-up legal process of (its warrant id).
    follows_up: str | None = dataclasses.field(
        default=None,
        metadata=about(
            label="Follow-up of emergency request (warrant id)",
            title="Follows up",
            example="w-0123456789abcdef",
        ),
    )
    # The approved preservation request whose frozen copy this request releases from (its
    # warrant id): the records as they were when it was approved (gateway.warrants.preservation).
    preserved_by: str | None = dataclasses.field(
        default=None,
        metadata=about(
            label="Release from the preservation (warrant id)",
            title="Preserved by",
            example="w-0123456789abcdef",
        ),
    )


@dataclasses.dataclass(frozen=True)
class Warrant:
    id: str
    spec: WarrantSpec
    state: WarrantState  # as stored; see live_state
    target_accounts: tuple[str, ...]
    submitted_by: str
    submitted_at: dt.datetime
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    revoked_by: str | None = None
    revoked_at: dt.datetime | None = None
    reason: str | None = None
    # The overbreadth dry run's figures at submission (None: submitted before it existed).
    review: Review | None = None
    # Who approved first, when the review asked for a second reviewer (still SUBMITTED).
    first_approved_by: str | None = None

    def live_state(self, now: dt.datetime) -> WarrantState:
        if self.state is WarrantState.APPROVED and now >= self.spec.expires_at:
            return WarrantState.EXPIRED
        return self.state


SPEC_FIELDS: tuple[SpecField, ...] = describe(WarrantSpec)
"""WarrantSpec's fields, each with its kind and About, in declaration order."""
