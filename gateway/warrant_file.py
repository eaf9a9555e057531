"""Warrant files (YAML, DESIGN.md) to the wire message; errors name the field."""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

import yaml
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.api import wsg_pb2 as pb
from gateway.model import parse_time

FIELDS = {
    "case_number", "authority", "legal_basis", "targets", "window", "categories", "expires_at",
    "nondisclosure_until", "include_received_direct", "document_sha256",
}


class WarrantFileError(ValueError):
    pass


def _ts(raw: Any, field: str) -> Timestamp:
    if isinstance(raw, dt.datetime):  # YAML parses unquoted timestamps itself
        if raw.tzinfo is None:
            raise WarrantFileError(f"{field}: timestamp has no time zone; give it in UTC with Z")
        value = raw.astimezone(dt.UTC)
    elif isinstance(raw, str):
        try:
            value = parse_time(raw)
        except ValueError as exc:
            raise WarrantFileError(f"{field}: {exc}") from None
    else:
        raise WarrantFileError(f"{field}: expected an RFC 3339 timestamp, got {raw!r}")
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _strings(raw: Any, field: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise WarrantFileError(f"{field}: expected a list of strings")
    return raw


def parse_warrant(data: dict[str, Any]) -> pb.WarrantSpec:
    if not isinstance(data, dict):
        raise WarrantFileError("a warrant file is a YAML mapping of fields")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise WarrantFileError(f"unknown field {unknown[0]!r} (known: {', '.join(sorted(FIELDS))})")
    for field in ("case_number", "authority", "targets", "window", "categories", "expires_at"):
        if data.get(field) in (None, ""):
            raise WarrantFileError(f"{field}: required")
    window = data["window"]
    if not isinstance(window, dict) or set(window) != {"start", "end"}:
        raise WarrantFileError("window: expected {start: ..., end: ...}")
    spec = pb.WarrantSpec(
        case_number=str(data["case_number"]),
        authority=str(data["authority"]),
        legal_basis=str(data.get("legal_basis") or ""),
        targets=_strings(data["targets"], "targets"),
        window=pb.Window(start=_ts(window["start"], "window.start"), end=_ts(window["end"], "window.end")),
        categories=_strings(data["categories"], "categories"),
        expires_at=_ts(data["expires_at"], "expires_at"),
        include_received_direct=bool(data.get("include_received_direct") or False),
        document_sha256=str(data.get("document_sha256") or ""),
    )
    if data.get("nondisclosure_until") is not None:
        spec.nondisclosure_until.CopyFrom(_ts(data["nondisclosure_until"], "nondisclosure_until"))
    return spec


def load_warrant_file(path: pathlib.Path) -> pb.WarrantSpec:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise WarrantFileError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise WarrantFileError(f"{path} is not valid YAML: {exc}") from None
    try:
        return parse_warrant(data)
    except WarrantFileError as exc:
        raise WarrantFileError(f"{path}: {exc}") from None
