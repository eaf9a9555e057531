"""The words every part of the gateway shares: categories, relations, effects, states, targets."""

from __future__ import annotations

import enum
import re


class Category(enum.StrEnum):
    SUBSCRIBER = "subscriber"
    LOGINS = "logins"
    MESSAGE_METADATA = "message_metadata"
    MESSAGE_CONTENT = "message_content"
    MEMBERSHIPS = "memberships"
    CONTACTS = "contacts"


class Relation(enum.StrEnum):
    """How a record relates to the warrant's targets (docs/architecture.md, concepts)."""

    SELF = "self"  # a target is its subject or author
    DIRECT_PEER = "direct_peer"  # written by a non-target to a target in a one-to-one room
    GROUP_PEER = "group_peer"  # written by a non-target in a group a target belongs to
    UNRELATED = "unrelated"


class Effect(enum.StrEnum):
    RELEASE = "release"
    RELEASE_PSEUDONYMIZED = "release_pseudonymized"
    WITHHOLD = "withhold"


class TextMode(enum.StrEnum):
    """How the free text of a released record leaves (the release policy's `text` column)."""

    PSEUDONYMIZE = "pseudonymize"  # every third party's identifier found is replaced
    WITHHOLD_UNRESOLVED = "withhold_unresolved"  # as pseudonymize, but a text that still names
    # someone the store does not know (a phone, e-mail, id of no one in the directory) is withheld
    WITHHOLD = "withhold"  # no free text leaves at all
    CLEAR = "clear"  # as written: refused by the guarantee check wherever a record is released


class WindowPosition(enum.StrEnum):
    """Where a record's time falls against the warrant's window."""

    INSIDE = "inside"
    OUTSIDE = "outside"
    TIMELESS = "timeless"  # records with no time of their own (the account record)


class Tier(enum.StrEnum):
    """The kind of legal process as the release policy sees it (an instrument's tier, from the
    catalogue gateway.legal.catalogue reads): each tier reaches less than the one after it."""

    SUBSCRIBER = "subscriber"  # subscriber-data request: the account record only
    COMMUNICATION_RECORDS = "communication_records"  # records of communication, no content
    SEARCH_WARRANT = "search_warrant"  # the above and content
    EMERGENCY = "emergency"  # emergency disclosure: what the emergency rows allow
    PRESERVATION = "preservation"  # nothing leaves: the records are frozen


class WarrantState(enum.StrEnum):
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


TARGET_KINDS = ("account", "phone", "email", "matrix", "pseudonym")

# A warrant's id as the gateway makes it ("w-" and 16 hex digits); matched whole (fullmatch).
WARRANT_ID = re.compile(r"w-[0-9a-f]{16}")

# A pseudonym released under an earlier warrant, named as a target to unmask it under a new,
# separately approved request: `pseudonym:<warrant id>:<pseudonym>` (gateway.warrants.unmasking).
PSEUDONYM_TARGET = re.compile(rf"({WARRANT_ID.pattern}):(pseud(?:-[a-z_]+)?:[a-z2-7]{{24}})")

# A Matrix user id, `@localpart:server` (the spec's grammar, historical localparts included):
# a target may be written `matrix:@user:server` or just `@user:server`.
MATRIX_USER_ID = re.compile(r"@[\x21-\x39\x3b-\x7e]+:[A-Za-z0-9.\-\[\]:]+")
