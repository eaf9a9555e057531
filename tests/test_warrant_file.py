"""Warrant YAML files: DESIGN.md's example parses; mistakes name the field."""

from __future__ import annotations

import pathlib

import pytest

from gateway.warrant_file import WarrantFileError, load_warrant_file

EXAMPLE = """\
case_number: "2026-GO-1234"
authority: "Seoul Central District Court"
legal_basis: "free text"
targets: ["account:u1", "phone:+821012345678", "email:someone@example.org"]
window: {start: "2026-01-01T00:00:00Z", end: "2026-02-01T00:00:00Z"}
categories: [message_content, message_metadata, memberships]
expires_at: "2026-12-31T00:00:00Z"
nondisclosure_until: null
include_received_direct: false
document_sha256: null
"""


class TestWarrantFile:
    def test_design_example_parses(self, tmp_path: pathlib.Path) -> None:
        """The example from DESIGN.md becomes a complete WarrantSpec."""
        path = tmp_path / "w.yaml"
        path.write_text(EXAMPLE)
        spec = load_warrant_file(path)
        assert list(spec.targets)[1] == "phone:+821012345678"
        assert spec.window.end.ToJsonString() == "2026-02-01T00:00:00Z"

    @pytest.mark.parametrize(
        "old, new, field",
        [
            ('"2026-01-01T00:00:00Z"', '"2026-01-01T00:00:00"', "window.start"),
            ('case_number: "2026-GO-1234"\n', "", "case_number"),
            ("legal_basis", "legal_basiz", "legal_basiz"),
            ('targets: ["account:u1", "phone:+821012345678", "email:someone@example.org"]', "targets: account:u1", "targets"),
        ],
    )
    def test_mistakes_name_the_field(self, tmp_path: pathlib.Path, old: str, new: str, field: str) -> None:
        """A missing zone, a missing or unknown field, a wrong type: the error names it."""
        path = tmp_path / "w.yaml"
        path.write_text(EXAMPLE.replace(old, new, 1))
        with pytest.raises(WarrantFileError, match=field):
            load_warrant_file(path)
