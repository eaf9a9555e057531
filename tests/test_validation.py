"""Input validation at the edge: normalized text, no invisible characters, no look-alike
identifiers, bounded UTC windows; each refusal names its field and writes nothing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import ClientError
from gateway.errors import InvalidArgument
from gateway.testing import make_spec, ts
from gateway.warrants import validation


def spec_with(clock: Any, **changes: Any) -> Any:
    spec = make_spec(
        ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=30)
    )
    for name, value in changes.items():
        if name == "targets":
            del spec.targets[:]
            spec.targets.extend(value)
        elif name == "window_end":
            spec.window.end.CopyFrom(ts(value))
        else:
            setattr(spec, name, value)
    return spec


@pytest.mark.parametrize(
    "changes, field, says",
    [
        ({"targets": ["account:u\u04301"]}, "spec.targets[0]", "mixes scripts"),
        ({"targets": ["account:u1\u200b"]}, "spec.targets[0]", "U+200B"),
        ({"case_number": "2026-\u200e1"}, "spec.case_number", "U+200E"),
        ({"legal_basis": "ok\x00"}, "spec.legal_basis", "U+0000"),
        ({"authority": "Court\x1b[31m"}, "spec.authority", "U+001B"),
        ({"window_end": JAN1 + dt.timedelta(days=366 * 11)}, "spec.window", "longer than"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    start_gateway: Any, clock: Any, changes: dict, field: str, says: str
) -> None:
    run = start_gateway(ROWS)
    entries_before = run.gateway.audit.size
    with run.client("alice") as alice, pytest.raises(ClientError) as info:
        alice.submit(spec_with(clock, **changes))
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.message.startswith(field) and says in info.value.message, info.value.message
    assert run.gateway.book.list() == []
    # No warrant; the refusal itself is audited (who tried, and why it was refused).
    assert run.gateway.audit.size == entries_before + 1
    refused = json.loads(run.gateway.audit.line(entries_before))
    assert refused["event"] == "warrant.submit_refused" and refused["why"] == info.value.message


def test_text_is_stored_in_nfc_and_multiline_basis_is_kept(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS)
    decomposed = "Cour d'appel de Montre\u0301al"
    with run.client("alice") as alice:
        w = alice.submit(spec_with(clock, authority=decomposed, legal_basis="§ 1\n§ 2"))
        stored = alice.get(w.id)
    assert stored.spec.authority == "Cour d'appel de Montréal" != decomposed
    assert stored.spec.legal_basis == "§ 1\n§ 2"
    entry = json.loads(run.gateway.audit.line(run.gateway.audit.size - 1))
    assert entry["event"] == "warrant.submitted" and entry["case_number"] == "2026-TEST-1"


def test_one_script_identifiers_pass_and_windows_must_be_utc() -> None:
    assert validation.identifier("f", "2026-서울-123") == "2026-서울-123"
    assert validation.identifier("f", "email:someone@example.org") == "email:someone@example.org"
    kst = dt.timezone(dt.timedelta(hours=9))
    with pytest.raises(InvalidArgument, match=r"w\.start: must be in UTC"):
        validation.window(
            "w", dt.datetime(2026, 1, 1, tzinfo=kst), dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
        )
    with pytest.raises(InvalidArgument, match="w: start must be before end"):
        validation.window("w", FEB1, JAN1)
