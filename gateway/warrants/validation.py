"""What a warrant must satisfy: text is normalized, identifiers are checked for tricks.

Everything a caller sends that ends up in the warrant book or the audit log passes here first,
so one rule holds everywhere: Unicode NFC (two spellings of one name are one name), no control
or invisible formatting characters, and no identifier that mixes scripts (a Cyrillic "а" inside
a Latin account id is how a look-alike target is smuggled past a reviewer). Errors are
InvalidArgument naming the field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from gateway.errors import InvalidArgument
from gateway.model import (
    MATRIX_USER_ID,
    PSEUDONYM_TARGET,
    SPEC_FIELDS,
    TARGET_KINDS,
    Kind,
    SpecField,
    WarrantSpec,
    format_time,
)

MAX_WINDOW = dt.timedelta(days=366 * 10)  # a window longer than this is a typo, not a warrant
MAX_TARGETS = 20
MAX_TEXT = 2000
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_INSTRUMENT = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9][a-z0-9_]*)*\Z")


def text(field: str, value: str, max_len: int, multiline: bool = False) -> str:
    """NFC-normalized free text without control or invisible characters."""
    value = unicodedata.normalize("NFC", value)
    if len(value) > max_len:
        raise InvalidArgument(f"{field}: longer than {max_len} characters")
    for ch in value:
        if multiline and ch in "\n\t":
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise InvalidArgument(
                f"{field}: contains the invisible or control character U+{ord(ch):04X}"
            )
    return value


# Scripts that legitimately mix within one name (Unicode TS #39, "highly restrictive"): Japanese
# writes Han with kana, Korean Hangul with Hanja, and either may add Latin letters.
_SCRIPT_SETS = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
)
_PHONE = re.compile(r"^\+[1-9][0-9]{3,14}$")  # E.164: +, country code, at most 15 digits


def _scripts(value: str) -> set[str]:
    """The scripts of the letters in `value`, by the first word of each letter's Unicode name
    (LATIN, CYRILLIC, HANGUL, CJK, ...); digits and punctuation belong to none."""
    return {unicodedata.name(ch, "UNKNOWN").split()[0] for ch in value if ch.isalpha()}


def one_script(field: str, value: str, part: str = "") -> str:
    """`value` if its letters come from one script (or a combination one language writes);
    InvalidArgument naming `field` (and the `part` of it) otherwise: a Cyrillic "а" inside a
    Latin id is a look-alike."""
    scripts = _scripts(value)
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in _SCRIPT_SETS):
        raise InvalidArgument(
            f"{field}: {part + ' ' if part else ''}mixes scripts "
            f"({', '.join(sorted(scripts)).lower()}); look-alike characters are refused in "
            "identifiers"
        )
    return value


def identifier(field: str, value: str, max_len: int = 320) -> str:
    """Like text, and the letters must all come from one script (plus digits and punctuation)."""
    return one_script(field, text(field, value, max_len))


def _no_compatibility_characters(field: str, value: str) -> None:
    """Refuse characters that Unicode itself says stand for another (the Kelvin sign for K,
    fullwidth letters, ligatures, the Ohm sign): as written they look like the ordinary
    letter, and any case folding or normalization turns them into it, so they would let a
    target look like one account and resolve to another."""
    for ch in value:
        if unicodedata.normalize("NFKC", ch) != ch:
            raise InvalidArgument(
                f"{field}: contains U+{ord(ch):04X} {unicodedata.name(ch, '?')}, a look-alike "
                f"of {unicodedata.normalize('NFKC', ch)!r}; write the plain character"
            )


def target(field: str, value: str) -> str:
    """A target as a warrant names it (account:ID, phone:…, email:…, a Matrix id), normalized;
    InvalidArgument naming `field` otherwise. A bare @user:server becomes matrix:@user:server.

    The normalization is NFC and nothing else (no case folding: an identifier is compared
    with the store's exactly, except that e-mail addresses match ASCII letters in either
    case, gateway.stores.reference.records.email_key), so two identifiers never become one.
    Characters that stand for another are refused, and the script check applies to the
    value alone, per kind: an e-mail's local part and domain each in one script."""
    value = value.strip()
    _no_compatibility_characters(field, value)
    value = text(field, value, 320)
    if value.startswith("@"):
        value = "matrix:" + value
    kind, sep, rest = value.partition(":")
    shape = (
        f"{field}: {value[:80]!r} is not account:ID, phone:NUMBER, "
        "email:ADDRESS, a Matrix user id (@user:server) or pseudonym:WARRANT:PSEUDONYM"
    )
    if not sep or kind not in TARGET_KINDS or not rest.strip() or rest != rest.strip():
        raise InvalidArgument(shape)
    if kind == "matrix":
        if not (len(rest) <= 255 and MATRIX_USER_ID.fullmatch(rest)):
            raise InvalidArgument(shape)
    elif kind == "pseudonym":
        if not PSEUDONYM_TARGET.fullmatch(rest):
            raise InvalidArgument(
                f"{field}: {rest[:80]!r} is not WARRANT:PSEUDONYM (e.g. "
                "pseudonym:w-0123456789abcdef:pseud:" + "a" * 24 + ")"
            )
    elif kind == "phone":
        if not _PHONE.match(rest):
            raise InvalidArgument(
                f"{field}: {rest[:40]!r} is not a phone number in E.164 form (+ and 4 to 15 "
                "digits, e.g. +821012345678)"
            )
    elif kind == "email":
        local, at, domain = rest.rpartition("@")
        if not at or not local or not domain or any(c.isspace() for c in rest):
            raise InvalidArgument(f"{field}: {rest[:80]!r} is not an e-mail address")
        one_script(field, local, "the local part")
        one_script(field, domain, "the domain")
    else:
        one_script(field, rest)
    return value


def window(
    field: str, start: dt.datetime, end: dt.datetime, longest: dt.timedelta = MAX_WINDOW
) -> None:
    """Half-open [start, end), both UTC, start before end, and bounded."""
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None or value.utcoffset() != dt.timedelta(0):
            raise InvalidArgument(f"{field}.{name}: must be in UTC")
    if not start < end:
        raise InvalidArgument(f"{field}: start must be before end")
    if end - start > longest:
        raise InvalidArgument(f"{field}: longer than {longest.days} days")


def validate_spec(
    spec: WarrantSpec,
    now: dt.datetime,
    max_targets: int = MAX_TARGETS,
    longest_window: dt.timedelta = MAX_WINDOW,
) -> WarrantSpec:
    """The spec with its text normalized (this module), or InvalidArgument naming the
    first bad field."""
    normalized = _texts(spec)
    for f in SPEC_FIELDS:
        if f.kind is Kind.TEXT and not f.many and f.required and not normalized[f.name].strip():
            raise InvalidArgument(f"spec.{f.name}: required")
    if not spec.targets:
        raise InvalidArgument("spec.targets: at least one target is required")
    if len(spec.targets) > max_targets:
        raise InvalidArgument(f"spec.targets: at most {max_targets} targets")
    targets = [target(f"spec.targets[{i}]", t) for i, t in enumerate(spec.targets)]
    window("spec.window", spec.window.start, spec.window.end, longest_window)
    if not spec.categories:
        raise InvalidArgument("spec.categories: at least one category is required")
    if len(set(spec.categories)) != len(spec.categories):
        raise InvalidArgument("spec.categories: a category is named twice")
    if spec.expires_at <= now:
        raise InvalidArgument(
            f"spec.expires_at: {format_time(spec.expires_at)} is not in the future"
        )
    if spec.document_sha256 is not None and not _HEX64.match(spec.document_sha256):
        raise InvalidArgument("spec.document_sha256: must be 64 lowercase hex digits")
    if spec.instrument is not None and not _INSTRUMENT.match(spec.instrument):
        raise InvalidArgument(
            f"spec.instrument: {spec.instrument[:80]!r} is not an instrument key "
            "(lowercase words joined by dots, e.g. kr.search_warrant)"
        )
    return dataclasses.replace(spec, **{**normalized, "targets": tuple(targets)})


# The rules for one item of a list field, by field name: a reader that places each item (the
# warrant file, by its line) checks them where it sees them. `validate_spec` applies them too.
ITEM_RULES: dict[str, Callable[[str, str], str]] = {"targets": target}
_OWN_RULE = frozenset(ITEM_RULES)  # text fields checked by a rule of their own above


def _texts(spec: WarrantSpec) -> dict[str, Any]:
    """Every text field (gateway.model.fields) normalized by the one rule for free text, or
    an identifier's if its About says so: a new text field is checked without a line here."""
    out: dict[str, Any] = {}
    for f in SPEC_FIELDS:
        value = getattr(spec, f.name)
        if f.kind is not Kind.TEXT or value is None or f.name in _OWN_RULE:
            continue
        if f.many:
            out[f.name] = tuple(
                _text_rule(f, f"spec.{f.name}[{i}]", v) for i, v in enumerate(value)
            )
        else:
            out[f.name] = _text_rule(f, f"spec.{f.name}", value)
    return out


def _text_rule(f: SpecField, path: str, value: str) -> str:
    if f.about.identifier:
        return identifier(path, value, MAX_TEXT)
    return text(path, value, MAX_TEXT, multiline=f.about.multiline)


def parse_choice(field: SpecField, value: str, path: str) -> Any:
    """The member of `field`'s Enum whose value is `value`; InvalidArgument naming `path` and
    the known values otherwise."""
    try:
        return field.choice(value)
    except ValueError:
        known = ", ".join(str(c.value) for c in field.choices or ())
        raise InvalidArgument(
            f"{path}: unknown {field.noun} {value[:80]!r} (known: {known})"
        ) from None
