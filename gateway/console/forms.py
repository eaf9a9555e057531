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
from gateway.model import Category, WarrantSpec
from gateway.warrants.book import WarrantBook

FIELDS = (
    "case_number",
    "authority",
    "legal_basis",
    "targets",
    "window_start",
    "window_end",
    "categories",
    "expires_at",
    "nondisclosure_until",
    "include_received_direct",
    "document_sha256",
)
TIME_FIELDS = {
    "window_start": "spec.window.start",
    "window_end": "spec.window.end",
    "expires_at": "spec.expires_at",
    "nondisclosure_until": "spec.nondisclosure_until",
}
TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
_FLAG = {"": False, "false": False, "off": False, "on": True, "true": True}
_FIELD_OF = re.compile(r"^spec\.([a-z_]+)(?:\.([a-z]+)|\[\d+\])?:")


@dataclasses.dataclass
class WarrantForm:
    """What the officer typed, as strings (re-shown as typed when something is wrong)."""

    values: dict[str, str]
    categories: list[str]

    @classmethod
    def parse(cls, form: Mapping[str, object], categories: list[str]) -> WarrantForm:
        values = {name: str(form.get(name) or "") for name in FIELDS if name != "categories"}
        return cls(values, [c for c in categories if isinstance(c, str)])

    @classmethod
    def from_post(cls, form: FormData) -> WarrantForm:
        return cls.parse(form, [str(c) for c in form.getlist("categories")])

    @classmethod
    def empty(cls) -> WarrantForm:
        return cls(dict.fromkeys(FIELDS, ""), [])

    @property
    def targets(self) -> list[str]:
        return [t.strip() for t in self.values.get("targets", "").splitlines() if t.strip()]

    @property
    def received_direct(self) -> bool:
        """The checkbox: a browser sends "on" or nothing; any other value is refused, never
        read as yes (the warrant file's rule: only a boolean is a boolean)."""
        value = self.values.get("include_received_direct", "").strip().lower()
        if value in _FLAG:
            return _FLAG[value]
        raise InvalidArgument(
            f"spec.include_received_direct: expected true or false, got {value[:20]!r}"
        )

    def to_pb(self) -> pb.WarrantSpec:
        """The wire message; a time that does not parse is InvalidArgument naming its field."""
        v = self.values
        msg = pb.WarrantSpec(
            case_number=v["case_number"],
            authority=v["authority"],
            legal_basis=v["legal_basis"].replace("\r\n", "\n"),
            targets=self.targets,
            categories=self.categories,
            include_received_direct=self.received_direct,
            document_sha256=v["document_sha256"].strip(),
        )
        start, end = _time(v, "window_start"), _time(v, "window_end")
        if start is not None or end is not None:
            window = pb.Window()
            if start is not None:
                window.start.CopyFrom(start)
            if end is not None:
                window.end.CopyFrom(end)
            msg.window.CopyFrom(window)
        for name in ("expires_at", "nondisclosure_until"):
            value = _time(v, name)
            if value is not None:
                getattr(msg, name).CopyFrom(value)
        return msg

    def spec(self) -> WarrantSpec:
        return spec_from_pb(self.to_pb())


def _time(values: Mapping[str, str], name: str) -> Timestamp | None:
    text = values.get(name, "").strip()
    if not text:
        return None
    for fmt in TIME_FORMATS:
        try:
            parsed = dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)
            break
        except ValueError:
            continue
    else:
        raise InvalidArgument(
            f"{TIME_FIELDS[name]}: {text[:40]!r} is not a time (YYYY-MM-DDTHH:MM, in UTC)"
        )
    ts = Timestamp()
    ts.FromDatetime(parsed)
    return ts


def field_of(message: str) -> str:
    """Which form field an API message is about ("spec.window.start: ..." -> window_start)."""
    match = _FIELD_OF.match(message)
    if match is None:
        return ""
    name, sub = match.group(1), match.group(2)
    if name == "window":
        return "window_end" if sub in (None, "end") else "window_start"
    return name if name in FIELDS else ""


def _valid_placeholders(now: dt.datetime) -> dict[str, str]:
    def local(t: dt.datetime) -> str:
        return t.strftime(TIME_FORMATS[0])

    return {
        "case_number": "CHECK-1",
        "authority": "Check",
        "legal_basis": "",
        "targets": "account:check",
        "window_start": local(now - dt.timedelta(days=2)),
        "window_end": local(now - dt.timedelta(days=1)),
        "expires_at": local(now + dt.timedelta(days=2)),
        "nondisclosure_until": "",
        "include_received_direct": "",
        "document_sha256": "",
    }


def check_field(book: WarrantBook, form: WarrantForm, field: str) -> str:
    """The API's message about `field` of this form, or "" if that field is fine."""
    if field not in FIELDS:
        return ""
    values = _valid_placeholders(book.now())
    group = ("window_start", "window_end") if field.startswith("window_") else (field,)
    for name in group:
        values[name] = form.values.get(name, "")
    categories = form.categories if field == "categories" else [Category.SUBSCRIBER.value]
    try:
        book.validate(WarrantForm(values, categories).spec())
    except InvalidArgument as exc:
        return exc.message if field_of(exc.message) in group or not field_of(exc.message) else ""
    return ""


def check_all(book: WarrantBook, form: WarrantForm) -> dict[str, str]:
    """Every field's message (only the fields with one)."""
    errors = {}
    for name in FIELDS:
        if name == "window_start":
            continue  # checked together with window_end
        message = check_field(book, form, name)
        if message:
            errors[field_of(message) or name] = message
    return errors
