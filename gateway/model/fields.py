"""A spec's fields described once, from its dataclass: every representation derives from this.

A warrant field is declared once, on `WarrantSpec` (gateway.model.warrant), with its type
annotation and an `about(...)` entry as the field's metadata (its label and hint for the
console, its YAML or proto name where they differ). The wire conversion (api.convert), the
stored JSON (backends.warrant_rows), the warrant file (warrants.file) and the console form
(console.forms and its templates) loop over `describe(WarrantSpec)`, so a field cannot be
forgotten by one of them; an annotation no representation knows is a TypeError at import.

Types a field may have (the `Kind`, with `many` for a tuple of it and `optional` for `| None`):
str, an Enum of strings, bool, datetime, Window; tuples of str or of an Enum.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
from typing import Any

from gateway.model.records import Window

_ABOUT = "wsg"  # the metadata key of a field's About


class Kind(enum.Enum):
    TEXT = "text"
    CHOICE = "choice"  # a value of an Enum (its .value on the wire, in files and stored)
    FLAG = "flag"
    TIME = "time"
    WINDOW = "window"


@dataclasses.dataclass(frozen=True)
class About:
    """What the annotation cannot say about a field."""

    label: str  # the console's label ("Case number")
    hint: str = ""  # the console's help text under the label (HTML allowed: it is ours)
    title: str = ""  # the label in a warrant's summary, if shorter than `label`
    yaml: str = ""  # the key in a warrant file, if not the field's name
    proto: str = ""  # the field in pb.WarrantSpec, if not the field's name
    may_omit: bool = False  # a file or form may leave it out although it has no default: ""
    multiline: bool = False  # text with line breaks (a textarea; validation keeps \n and \t)
    identifier: bool = False  # text held to one script (gateway.warrants.validation)
    example: str = ""  # a valid value, if "Check" is not one (the console checks a field
    # while the officer types by filling the others with valid values)
    lowercase: bool = False  # text whose case means nothing (hex): read in lowercase
    noun: str = ""  # what one choice is called in errors ("category"); default: the name
    yes: str = "yes"  # a flag's summary when true
    no: str = "no"  # a flag's summary when false


def about(**kwargs: Any) -> dict[str, About]:
    """A field's metadata: `dataclasses.field(metadata=about(label="Case number"))`."""
    return {_ABOUT: About(**kwargs)}


@dataclasses.dataclass(frozen=True)
class SpecField:
    """One field of a spec, as every representation sees it."""

    name: str
    kind: Kind
    many: bool  # a tuple of `kind`
    optional: bool  # `| None`: None means not given
    choices: type[enum.Enum] | None  # the Enum of a CHOICE
    default: Any  # dataclasses.MISSING: required
    about: About

    @property
    def required(self) -> bool:
        """Whether a file or form must give it."""
        return self.default is dataclasses.MISSING and not self.about.may_omit

    @property
    def yaml(self) -> str:
        return self.about.yaml or self.name

    @property
    def proto(self) -> str:
        return self.about.proto or self.name

    @property
    def noun(self) -> str:
        return self.about.noun or self.name.replace("_", " ")

    def empty(self) -> Any:
        """The value when a file, form or old stored row does not give it."""
        if self.default is not dataclasses.MISSING:
            return self.default
        if self.optional:
            return None
        if self.many:
            return ()
        if self.kind is Kind.TEXT:
            return ""
        if self.kind is Kind.FLAG:
            return False
        raise ValueError(f"{self.name}: required")

    def choice(self, value: str) -> enum.Enum:
        """The Enum member named by `value`; ValueError if none."""
        if self.choices is None:
            raise ValueError(f"{self.name}: not a choice")
        return self.choices(value)


def _kind_of(name: str, hint: Any) -> tuple[Kind, bool, bool, type[enum.Enum] | None]:
    optional = False
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1 or len(args) != 2:
            raise TypeError(f"{name}: only `X | None` unions are supported")
        optional, hint = True, rest[0]
        args = typing.get_args(hint)
    many = False
    if typing.get_origin(hint) is tuple:
        if len(args) != 2 or args[1] is not Ellipsis or optional:
            raise TypeError(f"{name}: a list field is `tuple[X, ...]` (empty, not None)")
        many, hint = True, args[0]
    if hint is str:
        return Kind.TEXT, many, optional, None
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return Kind.CHOICE, many, optional, hint
    if many:
        raise TypeError(f"{name}: a list field holds str or an Enum, not {hint}")
    if hint is bool and not optional:
        return Kind.FLAG, False, False, None
    if hint is dt.datetime:
        return Kind.TIME, False, optional, None
    if hint is Window and not optional:
        return Kind.WINDOW, False, False, None
    raise TypeError(f"{name}: no representation knows the type {hint}")


def describe(cls: type) -> tuple[SpecField, ...]:
    """The fields of dataclass `cls`, each with its kind and About; TypeError if a field has
    no About or a type no representation knows."""
    hints = typing.get_type_hints(cls)
    described = []
    for f in dataclasses.fields(cls):
        info = f.metadata.get(_ABOUT)
        if not isinstance(info, About):
            raise TypeError(f"{cls.__name__}.{f.name}: declare it with about(label=...)")
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: a spec field's default is a constant")
        kind, many, optional, choices = _kind_of(f"{cls.__name__}.{f.name}", hints[f.name])
        described.append(SpecField(f.name, kind, many, optional, choices, f.default, info))
    return tuple(described)
