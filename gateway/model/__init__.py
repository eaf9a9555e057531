"""The gateway's vocabulary, free of I/O: every package below the edges shares these words.

vocabulary  categories, relations, effects, window positions, tiers, warrant states, target
            kinds
records     Window, Scope (what a store is asked) and StoreRecord (what it answers)
warrant     WarrantSpec and Warrant (the lifecycle's data; its rules are gateway.warrants)
fields      a spec's fields described once (kind, label, names) for every representation
times       UTC timestamps in RFC 3339
"""

from __future__ import annotations

from gateway.model.fields import Kind, SpecField
from gateway.model.records import FieldKind, Person, RecordShape, Scope, StoreRecord, Window, shape
from gateway.model.times import format_time, parse_time, utc
from gateway.model.vocabulary import (
    MATRIX_USER_ID,
    PSEUDONYM_TARGET,
    TARGET_KINDS,
    WARRANT_ID,
    Category,
    Effect,
    Relation,
    TextMode,
    Tier,
    WarrantState,
    WindowPosition,
)
from gateway.model.warrant import SPEC_FIELDS, Warrant, WarrantSpec

__all__ = [
    "MATRIX_USER_ID",
    "PSEUDONYM_TARGET",
    "SPEC_FIELDS",
    "TARGET_KINDS",
    "WARRANT_ID",
    "Category",
    "Effect",
    "FieldKind",
    "Kind",
    "Person",
    "RecordShape",
    "Relation",
    "Scope",
    "SpecField",
    "StoreRecord",
    "TextMode",
    "Tier",
    "Warrant",
    "WarrantSpec",
    "WarrantState",
    "Window",
    "WindowPosition",
    "format_time",
    "parse_time",
    "shape",
    "utc",
]
