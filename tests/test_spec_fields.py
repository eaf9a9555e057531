"""A warrant field is declared once, on WarrantSpec: every representation derives from it.

Two kinds of test. The first checks the real WarrantSpec against the real wire message, the
warrant file's table, the stored JSON and the console form, both ways, so a field missing from
any of them (or one the proto has and the dataclass lacks) fails here. The second declares new
fields of every kind on a subclass of WarrantSpec alone, with a proto message extended to carry
them, and sends them through the wire conversion, the stored rows (also rows stored before the
fields existed), the warrant file (its strict reader, with lines in its errors), the validation
and the console's form and summary: no line of those modules names the new fields.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import types
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor

from gateway.api import convert
from gateway.api.v1 import wsg_pb2 as pb
from gateway.backends import warrant_rows
from gateway.console import forms
from gateway.console.pages import _format_time
from gateway.console.web import templates
from gateway.errors import InvalidArgument
from gateway.model import SPEC_FIELDS, Category, Kind, Warrant, WarrantSpec, WarrantState, Window
from gateway.model.fields import about, describe
from gateway.warrants import file as warrant_file
from gateway.warrants import validation

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 1, tzinfo=UTC)
_PROTO_TYPE = {  # what each kind is on the wire
    Kind.TEXT: FieldDescriptor.TYPE_STRING,
    Kind.CHOICE: FieldDescriptor.TYPE_STRING,
    Kind.FLAG: FieldDescriptor.TYPE_BOOL,
    Kind.TIME: FieldDescriptor.TYPE_MESSAGE,
    Kind.WINDOW: FieldDescriptor.TYPE_MESSAGE,
}


def _spec(**changes: Any) -> WarrantSpec:
    spec = WarrantSpec(
        case_number="2026-F-1",
        authority="Court",
        legal_basis="basis\nline two",
        targets=("account:u1", "phone:+821012345678"),
        window=Window(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 2, 1, tzinfo=UTC)),
        categories=(Category.SUBSCRIBER, Category.MESSAGE_CONTENT),
        expires_at=dt.datetime(2026, 6, 1, tzinfo=UTC),
        nondisclosure_until=dt.datetime(2026, 9, 1, 12, 30, tzinfo=UTC),
        include_received_direct=True,
        document_sha256="ab" * 32,
    )
    return dataclasses.replace(spec, **changes)


# -- the real WarrantSpec in every representation --------------------------------------------


def test_the_wire_message_has_every_field_and_no_other() -> None:
    wire = {f.name: f for f in pb.WarrantSpec.DESCRIPTOR.fields}
    assert sorted(wire) == sorted(f.proto for f in SPEC_FIELDS)
    for f in SPEC_FIELDS:
        field = wire[f.proto]
        assert field.type == _PROTO_TYPE[f.kind], f.name
        assert field.is_repeated == f.many, f.name
        if f.kind is Kind.TIME:
            assert field.message_type.full_name == "google.protobuf.Timestamp"
        if f.kind is Kind.WINDOW:
            assert field.message_type.full_name == "wsg.v1.Window"


def test_every_field_in_the_file_table_the_form_and_the_stored_json() -> None:
    assert list(warrant_file.FIELDS) == [f.yaml for f in SPEC_FIELDS]
    for f in SPEC_FIELDS:
        assert all(name in forms.FIELDS for name in forms.inputs(f)), f.name
    assert sorted(json.loads(warrant_rows.spec_to_json(_spec()))) == sorted(
        f.name for f in SPEC_FIELDS
    )


@pytest.mark.parametrize(
    "spec",
    [_spec(), _spec(nondisclosure_until=None, document_sha256=None, include_received_direct=False)],
)
def test_the_real_spec_round_trips(spec: WarrantSpec) -> None:
    assert convert.spec_from_pb(convert.spec_to_pb(spec)) == spec
    assert warrant_rows.spec_from_json(warrant_rows.spec_to_json(spec)) == spec


def test_the_summary_and_the_form_show_every_field() -> None:
    """Each field's label is on the new-request form and its title on a warrant's summary."""
    page = _render_form(SPEC_FIELDS)
    summary = _render_scope(SPEC_FIELDS, _warrant(_spec()))
    for f in SPEC_FIELDS:
        assert f.about.label in page, f.name
        assert f">{f.about.title or f.about.label}</dt>" in summary, f.name


# -- new fields declared on the dataclass alone ----------------------------------------------


class Tier(enum.Enum):
    SUBPOENA = "us.subpoena"
    SEARCH_WARRANT = "us.search_warrant"


@dataclasses.dataclass(frozen=True)
class Extended(WarrantSpec):
    """WarrantSpec and five more fields, one of each kind, none of them named in the code."""

    process: Tier | None = dataclasses.field(
        default=None, metadata=about(label="Instrument", noun="process")
    )
    ticket: str = dataclasses.field(default="", metadata=about(label="Ticket", yaml="ticket_no"))
    related: tuple[str, ...] = dataclasses.field(default=(), metadata=about(label="Related"))
    served_at: dt.datetime | None = dataclasses.field(
        default=None, metadata=about(label="Served at")
    )
    urgent: bool = dataclasses.field(
        default=False, metadata=about(label="Urgent", yes="urgent!", no="routine")
    )


EXTENDED = describe(Extended)
NEW = {"process", "ticket", "related", "served_at", "urgent"}


def _extended_pb() -> types.SimpleNamespace:
    """wsg.proto's WarrantSpec with the five fields added (numbers 90-94), in a pool of its own."""
    file = descriptor_pb2.FileDescriptorProto()
    pb.DESCRIPTOR.CopyToProto(file)
    file.name, file.package = "wsg/test/extended.proto", "wsg.test"
    message = next(m for m in file.message_type if m.name == "WarrantSpec")
    string, repeated = FieldDescriptor.TYPE_STRING, FieldDescriptor.LABEL_REPEATED
    for number, (name, kind, label, type_name) in enumerate(
        [
            ("process", string, None, ""),
            ("ticket_no_wire", string, None, ""),
            ("related", string, repeated, ""),
            ("served_at", FieldDescriptor.TYPE_MESSAGE, None, ".google.protobuf.Timestamp"),
            ("urgent", FieldDescriptor.TYPE_BOOL, None, ""),
        ],
        start=90,
    ):
        added = message.field.add(name=name, number=number, type=kind)
        added.label = label or FieldDescriptor.LABEL_OPTIONAL
        if type_name:
            added.type_name = type_name
    for m in file.message_type:  # references inside the file move to the new package
        for field in m.field:
            if field.HasField("type_name"):
                field.type_name = field.type_name.replace(".wsg.v1.", ".wsg.test.")
    for service in file.service:
        for method in service.method:
            method.input_type = method.input_type.replace(".wsg.v1.", ".wsg.test.")
            method.output_type = method.output_type.replace(".wsg.v1.", ".wsg.test.")
    pool = descriptor_pool.Default()  # the one Timestamp class: convert's CopyFrom needs it
    try:
        pool.FindFileByName(file.name)
    except KeyError:
        pool.Add(file)
    return types.SimpleNamespace(
        WarrantSpec=message_factory.GetMessageClass(
            pool.FindMessageTypeByName("wsg.test.WarrantSpec")
        ),
        Window=message_factory.GetMessageClass(pool.FindMessageTypeByName("wsg.test.Window")),
    )


@pytest.fixture
def extended(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Every representation reads the extended dataclass (as it would after a field is added
    to WarrantSpec) and the wire is the extended message (as after `make protos`)."""
    fields = tuple(
        dataclasses.replace(f, about=dataclasses.replace(f.about, proto="ticket_no_wire"))
        if f.name == "ticket"
        else f
        for f in EXTENDED
    )
    wire = _extended_pb()
    for module in (convert, warrant_rows, warrant_file, forms, validation):
        monkeypatch.setattr(module, "SPEC_FIELDS", fields)
        monkeypatch.setattr(module, "WarrantSpec", Extended)
    for module in (convert, forms):
        monkeypatch.setattr(module, "pb", wire)
    monkeypatch.setattr(
        warrant_file,
        "FIELDS",
        {
            f.yaml: warrant_file.Field(warrant_file._field_type(f), f.required, f.optional)
            for f in fields
        },
    )
    monkeypatch.setattr(forms, "FIELDS", tuple(n for f in fields for n in forms.inputs(f)))
    monkeypatch.setattr(
        forms, "LISTS", tuple(f.name for f in fields if f.kind is Kind.CHOICE and f.many)
    )
    return types.SimpleNamespace(fields=fields, pb=wire)


def _ext(**changes: Any) -> Extended:
    base = dataclasses.asdict(_spec())
    base["window"] = _spec().window
    values = {
        **base,
        "process": Tier.SUBPOENA,
        "ticket": "T-7",
        "related": ("w-1", "w-2"),
        "served_at": dt.datetime(2026, 1, 15, 9, 0, tzinfo=UTC),
        "urgent": True,
        **changes,
    }
    return Extended(**values)


def test_the_new_fields_are_described_from_their_annotations() -> None:
    kinds = {f.name: (f.kind, f.many, f.optional) for f in EXTENDED if f.name in NEW}
    assert kinds == {
        "process": (Kind.CHOICE, False, True),
        "ticket": (Kind.TEXT, False, False),
        "related": (Kind.TEXT, True, False),
        "served_at": (Kind.TIME, False, True),
        "urgent": (Kind.FLAG, False, False),
    }


@pytest.mark.parametrize(
    "changes",
    [{}, {"process": None, "ticket": "", "related": (), "served_at": None, "urgent": False}],
)
def test_new_fields_round_trip_the_wire_and_the_stored_rows(
    extended: types.SimpleNamespace, changes: dict[str, Any]
) -> None:
    spec = _ext(**changes)
    wire = convert.spec_to_pb(spec)
    assert isinstance(wire, extended.pb.WarrantSpec)
    assert wire.ticket_no_wire == spec.ticket  # its proto name, where it differs
    assert convert.spec_from_pb(wire) == spec
    stored = warrant_rows.spec_to_json(spec)
    assert set(json.loads(stored)) >= NEW
    assert warrant_rows.spec_from_json(stored) == spec


OLD_ROW = warrant_rows.spec_to_json(_spec())  # what the gateway wrote before the new fields


def test_a_row_stored_before_the_fields_existed_reads_with_their_defaults(
    extended: types.SimpleNamespace,
) -> None:
    assert warrant_rows.spec_from_json(OLD_ROW) == _ext(
        process=None, ticket="", related=(), served_at=None, urgent=False
    )


def test_a_new_choice_is_checked_on_the_wire(extended: types.SimpleNamespace) -> None:
    wire = convert.spec_to_pb(_ext())
    wire.process = "us.warrant_of_the_moon"
    with pytest.raises(
        InvalidArgument,
        match=r"^spec.process: unknown process 'us\.warrant_of_the_moon' "
        r"\(known: us.subpoena, us.search_warrant\)$",
    ):
        convert.spec_from_pb(wire)


YAML = """\
case_number: 2026-F-1
authority: Court
legal_basis: "basis\\nline two"
targets: ["account:u1", "phone:+821012345678"]
window: {start: 2026-01-01T00:00:00Z, end: 2026-02-01T00:00:00Z}
categories: [subscriber, message_content]
expires_at: 2026-06-01T00:00:00Z
nondisclosure_until: 2026-09-01T12:30:00Z
include_received_direct: true
document_sha256: "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"
process: us.subpoena
ticket_no: T-7
related: [w-1, w-2]
served_at: 2026-01-15T09:00:00Z
urgent: true
"""


def test_new_fields_are_read_from_a_warrant_file(extended: types.SimpleNamespace) -> None:
    assert warrant_file.parse_warrant_text(YAML) == _ext()
    without = "\n".join(YAML.splitlines()[:10]) + "\n"
    assert warrant_file.parse_warrant_text(without) == _ext(
        process=None, ticket="", related=(), served_at=None, urgent=False
    )


@pytest.mark.parametrize(
    ("line", "replacement", "error"),
    [
        (15, 'urgent: "true"', "urgent: expected true or false (unquoted), got the string 'true'"),
        (15, "urgent: yes", "urgent: expected true or false (unquoted), got a YAML boolean (yes)"),
        (14, "served_at: 12", "served_at: expected an RFC 3339 timestamp, got a number (12)"),
        (12, "ticket_no: 12", "ticket_no: expected a string, got a number (12); quote it"),
        (12, "ticket: T-7", "ticket: unknown field (known: "),
        (11, "process: moon", "process: unknown process 'moon' (known: us.subpoena"),
        (13, "related: w-1", "related: expected a list of strings, got the string 'w-1'"),
        (12, 'ticket_no: "T\\u0007"', "ticket: contains the invisible or control character U+0007"),
    ],
)
def test_new_fields_in_a_file_are_read_strictly(
    extended: types.SimpleNamespace, line: int, replacement: str, error: str
) -> None:
    """Only the declared type, a YAML boolean only, each error naming the line and field."""
    lines = YAML.splitlines()
    lines[line - 1] = replacement
    with pytest.raises(warrant_file._Bad) as bad:
        warrant_file.parse_warrant_text("\n".join(lines) + "\n")
    assert bad.value.line == line
    assert bad.value.message.startswith(error), bad.value.message


def test_a_new_text_field_gets_the_text_rule(extended: types.SimpleNamespace) -> None:
    """No line of validation names it, yet it is NFC-normalized and control characters are
    refused, as for every text field."""
    with pytest.raises(InvalidArgument, match=r"^spec.related\[1\]: contains the invisible"):
        validation.validate_spec(_ext(related=("w-1", "w\u200b2")), NOW)
    checked = validation.validate_spec(_ext(ticket="Cafe\u0301"), NOW)
    assert checked.ticket == "Caf\u00e9"


def test_new_fields_come_from_the_console_form(extended: types.SimpleNamespace) -> None:
    typed = {
        "case_number": "2026-F-1",
        "authority": "Court",
        "legal_basis": "basis\r\nline two",
        "targets": "account:u1\nphone:+821012345678\n",
        "window_start": "2026-01-01T00:00",
        "window_end": "2026-02-01T00:00",
        "expires_at": "2026-06-01T00:00",
        "nondisclosure_until": "2026-09-01T12:30",
        "include_received_direct": "on",
        "document_sha256": " " + "AB" * 32 + " ",
        "process": "us.subpoena",
        "ticket": "T-7",
        "related": "w-1\nw-2",
        "served_at": "2026-01-15T09:00",
        "urgent": "on",
    }
    lists = {"categories": ["subscriber", "message_content"]}
    assert forms.WarrantForm.parse(typed, lists).spec() == _ext()
    blank = {**typed, "process": "", "ticket": "", "related": "", "served_at": "", "urgent": ""}
    assert forms.WarrantForm.parse(blank, lists).spec() == _ext(
        process=None, ticket="", related=(), served_at=None, urgent=False
    )
    with pytest.raises(InvalidArgument, match=r"^spec.served_at: 'soon' is not a time"):
        forms.WarrantForm.parse({**typed, "served_at": "soon"}, lists).spec()
    with pytest.raises(InvalidArgument, match=r"^spec.urgent: expected true or false"):
        forms.WarrantForm.parse({**typed, "urgent": "maybe"}, lists).spec()
    assert forms.field_of("spec.served_at: 'soon' is not a time") == "served_at"


def test_new_fields_on_the_form_page_and_the_summary(extended: types.SimpleNamespace) -> None:
    page = _render_form(extended.fields)
    assert 'name="ticket"' in page and 'name="related"' in page
    assert 'id="served_at" name="served_at" type="datetime-local"' in page
    assert 'type="checkbox" id="urgent" name="urgent"' in page
    assert '<option value="us.subpoena">us.subpoena</option>' in page
    summary = _render_scope(extended.fields, _warrant(_ext()))
    for shown in (
        "<dt>Instrument</dt>",
        "us.subpoena",
        "T-7",
        "<bdi>w-2</bdi>",
        "2026-01-15 09:00 UTC",
        "urgent!",
    ):
        assert shown in summary


def _warrant(spec: WarrantSpec) -> Warrant:
    return Warrant(
        id="w-0000000000000001",
        spec=spec,
        state=WarrantState.SUBMITTED,
        target_accounts=("u1", "u2"),
        submitted_by="off",
        submitted_at=NOW,
    )


def _env(fields: Any) -> Any:
    env = templates()
    env.globals.update(
        format_time=_format_time,
        spec_fields=fields,
        static=lambda name: name,
        htmx_script="htmx.js",
        insecure=False,
    )
    return env


def _render_form(fields: Any) -> str:
    form = forms.WarrantForm(dict.fromkeys(forms.FIELDS, ""), {n: [] for n in forms.LISTS})
    return str(
        _env(fields)
        .get_template("warrants/new.html")
        .render(
            form=form,
            errors={},
            may_lookup=False,
            visit=types.SimpleNamespace(principal=None, csrf="c"),
            nav=[],
        )
    )


def _render_scope(fields: Any, warrant: Warrant) -> str:
    return str(_env(fields).get_template("warrants/_scope.html").render(warrant=warrant))
