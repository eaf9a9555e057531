"""Warrant files (YAML, docs/architecture.md) to a WarrantSpec, read strictly.

A warrant file decides what leaves the gateway, so nothing in it is guessed: each field has one
declared type (`FIELDS`) and a value of any other type is refused, never coerced (a quoted
"false" is a string, not a boolean, and `include_received_direct: "no"` is an error, not a yes).
The YAML is read from PyYAML's event stream, not its object constructor, so that nothing a file
can say costs more than its size: anchors, aliases and tags are refused (a warrant has no use
for them, and aliases are how a 600-byte file expands to gigabytes), nesting is bounded, the file
is bounded, and duplicate or unknown keys are refused. Every error is one line,
`FILE:LINE: FIELD: what is wrong`, in the API's words where the API has a rule for the field
(gateway.warrants.validation).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import pathlib
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import yaml
import yaml.resolver

from gateway.errors import InvalidArgument
from gateway.model import SPEC_FIELDS, Kind, SpecField, WarrantSpec, Window, parse_time
from gateway.warrants import validation

MAX_BYTES = 64 << 10  # a warrant file is a page of fields, never more
MAX_DEPTH = 4  # the file's mapping > window > its fields; lists one level down
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_YAML_TYPES = {  # the implicit tags of PyYAML's safe resolver, as words for error messages
    "tag:yaml.org,2002:bool": "a YAML boolean",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a timestamp",
}
_RESOLVER = yaml.resolver.Resolver()
T = TypeVar("T")


class Type(enum.Enum):
    """What a field holds; anything else is refused."""

    STRING = "a string"
    STRINGS = "a list of strings"
    TIMESTAMP = "an RFC 3339 timestamp"
    BOOLEAN = "true or false"
    WINDOW = "a mapping {start: TIMESTAMP, end: TIMESTAMP}"


@dataclasses.dataclass(frozen=True)
class Field:
    type: Type
    required: bool = False
    nullable: bool = False  # `null` means absent


def _field_type(f: SpecField) -> Type:
    if f.many:
        return Type.STRINGS
    return {
        Kind.TEXT: Type.STRING,
        Kind.CHOICE: Type.STRING,
        Kind.TIME: Type.TIMESTAMP,
        Kind.FLAG: Type.BOOLEAN,
        Kind.WINDOW: Type.WINDOW,
    }[f.kind]


# The warrant file's fields (docs/warrants.md), by their YAML key: WarrantSpec's fields
# (gateway.model.fields), each with the one type its annotation gives.
FIELDS: dict[str, Field] = {
    f.yaml: Field(_field_type(f), required=f.required, nullable=f.optional) for f in SPEC_FIELDS
}
WINDOW_FIELDS = ("start", "end")


class WarrantFileError(ValueError):
    pass


# -- the YAML, as a small tree that remembers lines -----------------------------------------


@dataclasses.dataclass
class Scalar:
    line: int
    value: str
    plain: bool  # unquoted: YAML gives it a type (true, 12, null, ...)

    @property
    def yaml_type(self) -> str | None:
        """What YAML makes of a plain scalar other than a string (None: a string)."""
        if not self.plain:
            return None
        # types-PyYAML leaves Resolver.resolve unannotated; it returns the tag, a str.
        tag: str = _RESOLVER.resolve(yaml.ScalarNode, self.value, (True, False))  # type: ignore[no-untyped-call]
        return _YAML_TYPES.get(tag)


@dataclasses.dataclass
class Sequence:
    line: int
    items: list[Node]


@dataclasses.dataclass
class Mapping:
    line: int
    items: dict[str, tuple[int, Node]]  # key -> (its line, value)


Node = Scalar | Sequence | Mapping


class _Bad(Exception):
    """A problem at a line of the file (1-based); the caller adds the file's name."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _events(text: str) -> Iterator[yaml.Event]:
    try:
        yield from yaml.parse(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = 1 if mark is None else mark.line + 1
        raise _Bad(at, f"not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise _Bad(1, f"not valid YAML: {exc}") from None


def read_tree(text: str) -> Node | None:
    """The one document in `text` as a tree; no anchors, aliases, tags, duplicate keys or
    nesting deeper than MAX_DEPTH. None for an empty file."""
    stack: list[tuple[Sequence | Mapping, str | None, int]] = []  # container, pending key
    root: Node | None = None
    documents = 0

    def add(node: Node) -> None:
        nonlocal root
        if not stack:
            root = node
            return
        parent, key, key_line = stack[-1]
        if isinstance(parent, Sequence):
            parent.items.append(node)
        elif key is None:  # a mapping's key: must be a string
            if not isinstance(node, Scalar) or node.yaml_type is not None:
                raise _Bad(node.line, "a key must be a plain name")
            if node.value in parent.items:
                raise _Bad(node.line, f"{node.value}: given twice")
            stack[-1] = (parent, node.value, node.line)
        else:
            parent.items[key] = (key_line, node)
            stack[-1] = (parent, None, 0)

    for event in _events(text):
        line = 1 if event.start_mark is None else event.start_mark.line + 1
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _Bad(line, "one warrant per file (a second YAML document starts here)")
        if isinstance(event, yaml.AliasEvent):
            raise _Bad(line, "aliases (*name) are not allowed in a warrant file")
        if getattr(event, "anchor", None) is not None:
            raise _Bad(line, "anchors (&name) are not allowed in a warrant file")
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise _Bad(line, f"tags ({tag}) are not allowed in a warrant file")
        if isinstance(event, yaml.ScalarEvent):
            add(Scalar(line, event.value, event.style is None))
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise _Bad(line, f"nested deeper than {MAX_DEPTH} levels")
            node: Sequence | Mapping = (
                Sequence(line, [])
                if isinstance(event, yaml.SequenceStartEvent)
                else Mapping(line, {})
            )
            add(node)
            stack.append((node, None, 0))
        elif isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
    return root


# -- typed values ---------------------------------------------------------------------------


def _got(node: Node) -> str:
    if isinstance(node, Sequence):
        return "a list"
    if isinstance(node, Mapping):
        return "a mapping"
    kind = node.yaml_type
    shown = node.value[:40]
    if kind is None:
        return f"the string {shown!r}"
    return f"{kind} ({shown})" if kind != "null" else "null"


def _string(node: Node, field: str) -> str:
    if not isinstance(node, Scalar) or node.yaml_type is not None:
        hint = "; quote it" if isinstance(node, Scalar) and node.yaml_type != "null" else ""
        raise _Bad(node.line, f"{field}: expected a string, got {_got(node)}{hint}")
    return node.value


def _strings(node: Node, field: str) -> list[tuple[int, str]]:
    if not isinstance(node, Sequence):
        raise _Bad(node.line, f"{field}: expected a list of strings, got {_got(node)}")
    return [(item.line, _string(item, f"{field}[{i}]")) for i, item in enumerate(node.items)]


def _timestamp(node: Node, field: str) -> dt.datetime:
    if not isinstance(node, Scalar) or node.yaml_type not in (None, "a timestamp"):
        raise _Bad(node.line, f"{field}: expected {Type.TIMESTAMP.value}, got {_got(node)}")
    try:
        return parse_time(node.value)
    except ValueError:
        raise _Bad(
            node.line,
            f"{field}: {node.value[:40]!r} is not {Type.TIMESTAMP.value} with a zone "
            "(e.g. 2026-01-01T00:00:00Z)",
        ) from None


def _boolean(node: Node, field: str) -> bool:
    if not isinstance(node, Scalar) or not node.plain or not _BOOL.match(node.value):
        raise _Bad(node.line, f"{field}: expected true or false (unquoted), got {_got(node)}")
    return node.value.lower() == "true"


def _window(node: Node, key: str) -> tuple[dt.datetime, dt.datetime]:
    if not isinstance(node, Mapping):
        raise _Bad(node.line, f"{key}: expected {Type.WINDOW.value}, got {_got(node)}")
    for name, (line, _) in node.items.items():
        if name not in WINDOW_FIELDS:
            raise _Bad(line, f"{key}.{name}: unknown field (known: start, end)")
    for name in WINDOW_FIELDS:
        if name not in node.items:
            raise _Bad(node.line, f"{key}.{name}: required")
    start = _timestamp(node.items["start"][1], f"{key}.start")
    end = _timestamp(node.items["end"][1], f"{key}.end")
    return start, end


def _checked(line: int, check: Callable[[], T]) -> T:
    """`check()`, with the API's InvalidArgument (its words, "spec." dropped) at `line`."""
    try:
        return check()
    except InvalidArgument as exc:
        raise _Bad(line, exc.message.removeprefix("spec.")) from None


# -- the warrant ----------------------------------------------------------------------------


def _value(f: SpecField, node: Node) -> Any:
    """The value of field `f` in `node`, read by its declared type and checked by the API's
    rules for the field or its items that do not depend on the server's settings or clock."""
    key = f.yaml
    if f.kind is Kind.WINDOW:
        start, end = _window(node, key)
        _checked(node.line, functools.partial(validation.window, key, start, end, dt.timedelta.max))
        return Window(start, end)
    if f.kind is Kind.TIME:
        return _timestamp(node, key)
    if f.kind is Kind.FLAG:
        return _boolean(node, key)
    if f.many:
        rule = validation.ITEM_RULES.get(f.name)
        items = []
        for i, (at, value) in enumerate(_strings(node, key)):
            path = f"{key}[{i}]"
            if f.kind is Kind.CHOICE:
                items.append(
                    _checked(at, functools.partial(validation.parse_choice, f, value, path))
                )
            else:
                if rule is not None:
                    _checked(at, functools.partial(rule, path, value))
                items.append(value)
        return tuple(items)
    text = _string(node, key)
    text = text.lower() if f.about.lowercase else text  # hex in either case, as the API takes it
    if f.kind is Kind.CHOICE:
        return _checked(node.line, functools.partial(validation.parse_choice, f, text, key))
    return text


def parse_warrant(tree: Node | None) -> WarrantSpec:
    """The spec a file's tree describes, each field checked by its declared type and by the
    API's rules that do not depend on the server's settings or clock; _Bad otherwise."""
    if not isinstance(tree, Mapping):
        raise _Bad(1 if tree is None else tree.line, "a warrant file is a YAML mapping of fields")
    for key, (line, _) in tree.items.items():
        if key not in FIELDS:
            raise _Bad(line, f"{key}: unknown field (known: {', '.join(FIELDS)})")
    given: dict[str, Node] = {}
    for name, field in FIELDS.items():
        entry = tree.items.get(name)
        node = None if entry is None else entry[1]
        if field.nullable and isinstance(node, Scalar) and node.yaml_type == "null":
            node = None
        if node is None:
            if field.required:
                raise _Bad(tree.line, f"{name}: required")
            continue
        given[name] = node

    spec = WarrantSpec(
        **{f.name: _value(f, given[f.yaml]) if f.yaml in given else f.empty() for f in SPEC_FIELDS}
    )
    # The API's own rules for every field (its words), with the field's line; the server's
    # settings (how many targets, how long a window) and clock are the server's to check.
    try:
        validation.validate_spec(
            spec, dt.datetime.min.replace(tzinfo=dt.UTC), 10**6, dt.timedelta.max
        )
    except InvalidArgument as exc:
        name = exc.message.removeprefix("spec.").split(":", 1)[0].split("[", 1)[0].split(".")[0]
        key = next((f.yaml for f in SPEC_FIELDS if f.name == name), name)
        at = given[key].line if key in given else tree.line
        raise _Bad(at, exc.message.removeprefix("spec.")) from None
    return spec


def parse_warrant_text(text: str) -> WarrantSpec:
    """The spec in `text` (a warrant file's contents); _Bad names the line."""
    return parse_warrant(read_tree(text))


def load_warrant_file(path: pathlib.Path) -> WarrantSpec:
    """The warrant in `path`, or WarrantFileError: one line, `FILE:LINE: FIELD: what`."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise WarrantFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise WarrantFileError(f"{path}: larger than {MAX_BYTES} bytes; not a warrant file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise WarrantFileError(f"{path}:{line}: not valid UTF-8 (byte {exc.start})") from None
    try:
        return parse_warrant_text(text)
    except _Bad as bad:
        raise WarrantFileError(f"{path}:{bad.line}: {bad.message}") from None
