"""The warrant form: its fields to the wire message, and every field checked where it is.

A form becomes the same `pb.WarrantSpec` a gRPC client sends, then goes through the API's own
conversion (gateway.api.convert.spec_from_pb) and the warrant book's validation, so the console
shows exactly the API's messages ("spec.case_number: required"). To check one field while the
officer types, the other fields are replaced by values known to be valid: the one error left is
that field's, in the same words a submission would get.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping

from google.protobuf.timestamp_pb2 import Timestamp
from starlette.datastructures import FormData

from gateway.api.convert import spec_from_pb
from gateway.api.v1 import wsg_pb2 as pb
from gateway.errors import InvalidArgument
from gateway.model import SPEC_FIELDS, Kind, SpecField, WarrantSpec
from gateway.warrants.book import WarrantBook


def inputs(f: SpecField) -> tuple[str, ...]:
    """The form's inputs for spec field `f`: a window is two (NAME_start, NAME_end)."""
    return (f"{f.name}_start", f"{f.name}_end") if f.kind is Kind.WINDOW else (f.name,)


FIELDS = tuple(name for f in SPEC_FIELDS for name in inputs(f))
LISTS = tuple(f.name for f in SPEC_FIELDS if f.kind is Kind.CHOICE and f.many)  # checkboxes
TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
_FLAG = {"": False, "false": False, "off": False, "on": True, "true": True}
_FIELD_OF = re.compile(r"^spec\.([a-z_0-9]+)(?:\.([a-z]+)|\[\d+\])?:")


@dataclasses.dataclass
class WarrantForm:
    """What the officer typed, as strings (re-shown as typed when something is wrong); `lists`
    hold the checked boxes of each list of choices (the categories)."""

    values: dict[str, str]
    lists: dict[str, list[str]]

    @classmethod
    def parse(cls, form: Mapping[str, object], lists: Mapping[str, list[str]]) -> WarrantForm:
        values = {name: str(form.get(name) or "") for name in FIELDS if name not in LISTS}
        return cls(
            values,
            {n: [c for c in lists.get(n, []) if isinstance(c, str)] for n in LISTS},
        )

    @classmethod
    def from_post(cls, form: FormData) -> WarrantForm:
        return cls.parse(form, {n: [str(c) for c in form.getlist(n)] for n in LISTS})

    @classmethod
    def empty(cls) -> WarrantForm:
        return cls(dict.fromkeys(FIELDS, ""), {n: [] for n in LISTS})

    def lines(self, name: str) -> list[str]:
        """A list of text typed one per line (the targets)."""
        return [t.strip() for t in self.values.get(name, "").splitlines() if t.strip()]

    def flag(self, name: str) -> bool:
        """A checkbox: a browser sends "on" or nothing; any other value is refused, never
        read as yes (the warrant file's rule: only a boolean is a boolean)."""
        value = self.values.get(name, "").strip().lower()
        if value in _FLAG:
            return _FLAG[value]
        raise InvalidArgument(f"spec.{name}: expected true or false, got {value[:20]!r}")

    def to_pb(self) -> pb.WarrantSpec:
        """The wire message; a time that does not parse is InvalidArgument naming its field."""
        msg = pb.WarrantSpec()
        v = self.values
        for f in SPEC_FIELDS:
            if f.kind is Kind.WINDOW:
                start, end = (_time(v, name) for name in inputs(f))
                window = getattr(msg, f.proto)
                if start is not None:
                    window.start.CopyFrom(start)
                if end is not None:
                    window.end.CopyFrom(end)
            elif f.kind is Kind.TIME:
                value = _time(v, f.name)
                if value is not None:
                    getattr(msg, f.proto).CopyFrom(value)
            elif f.kind is Kind.FLAG:
                setattr(msg, f.proto, self.flag(f.name))
            elif f.many:
                items = self.lists[f.name] if f.kind is Kind.CHOICE else self.lines(f.name)
                getattr(msg, f.proto).extend(items)
            else:
                text = v.get(f.name, "")
                if f.about.multiline:
                    text = text.replace("\r\n", "\n")
                if f.optional:  # left blank (spaces too): not given
                    text = text.strip()
                setattr(msg, f.proto, text)
        return msg

    def spec(self) -> WarrantSpec:
        return spec_from_pb(self.to_pb())


def _time(values: Mapping[str, str], name: str) -> Timestamp | None:
    text = values.get(name, "").strip()
    if not text:
        return None
    ts = Timestamp()
    ts.FromDatetime(utc_input(text, _path(name)))
    return ts


def utc_input(text: str, path: str, formats: tuple[str, ...] = TIME_FORMATS) -> dt.datetime:
    """A datetime-local input's value (or one of `formats`), read as UTC; InvalidArgument
    naming `path` otherwise."""
    for fmt in formats:
        try:
            return dt.datetime.strptime(text.strip(), fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    raise InvalidArgument(f"{path}: {text[:40]!r} is not a time (YYYY-MM-DDTHH:MM, in UTC)")


def _path(name: str) -> str:
    """The API's path of a form input: spec.expires_at, spec.window.start."""
    for f in SPEC_FIELDS:
        if f.kind is Kind.WINDOW and name in inputs(f):
            return f"spec.{f.name}.{name.rsplit('_', 1)[1]}"
    return f"spec.{name}"


def field_of(message: str) -> str:
    """Which form input an API message is about ("spec.window.start: ..." -> window_start)."""
    match = _FIELD_OF.match(message)
    if match is None:
        return ""
    name, sub = match.group(1), match.group(2)
    if f"{name}_end" in FIELDS:  # a window: its own message goes to the end input
        return f"{name}_start" if sub == "start" else f"{name}_end"
    return name if name in FIELDS else ""


def _valid_placeholders(now: dt.datetime) -> tuple[dict[str, str], dict[str, list[str]]]:
    """A valid value for every input: the form's other fields while one is checked."""

    def local(t: dt.datetime) -> str:
        return t.strftime(TIME_FORMATS[0])

    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for f in SPEC_FIELDS:
        if f.kind is Kind.WINDOW:
            start, end = inputs(f)
            values[start] = local(now - dt.timedelta(days=2))
            values[end] = local(now - dt.timedelta(days=1))
        elif f.kind is Kind.CHOICE and f.choices is not None:
            first = [str(next(iter(f.choices)).value)] if f.required else []
            if f.many:
                lists[f.name] = first
            else:
                values[f.name] = first[0] if first else ""
        elif not f.required:
            values[f.name] = ""
        elif f.kind is Kind.TIME:
            values[f.name] = local(now + dt.timedelta(days=2))
        else:
            values[f.name] = f.about.example or "Check"
    return values, lists


def check_field(book: WarrantBook, form: WarrantForm, field: str) -> str:
    """The API's message about `field` of this form, or "" if that field is fine."""
    if field not in FIELDS:
        return ""
    values, lists = _valid_placeholders(book.now())
    group = next(inputs(f) for f in SPEC_FIELDS if field in inputs(f))
    for name in group:
        if name in LISTS:
            lists[name] = form.lists.get(name, [])
        else:
            values[name] = form.values.get(name, "")
    try:
        book.validate(WarrantForm(values, lists).spec())
    except InvalidArgument as exc:
        return exc.message if field_of(exc.message) in group or not field_of(exc.message) else ""
    return ""


def check_all(book: WarrantBook, form: WarrantForm) -> dict[str, str]:
    """Every field's message (only the fields with one)."""
    errors = {}
    for f in SPEC_FIELDS:
        name = inputs(f)[-1]  # a window is checked once, as a whole
        message = check_field(book, form, name)
        if message:
            errors[field_of(message) or name] = message
    return errors
