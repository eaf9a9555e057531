"""Warrant YAML files: the product design's example parses; mistakes name the field."""

from __future__ import annotations

import pathlib

import pytest

from gateway.model import format_time
from gateway.warrants.file import WarrantFileError, load_warrant_file

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
        """The product design's example (every field) becomes a complete WarrantSpec."""
        path = tmp_path / "w.yaml"
        path.write_text(EXAMPLE)
        spec = load_warrant_file(path)
        assert list(spec.targets)[1] == "phone:+821012345678"
        assert format_time(spec.window.end) == "2026-02-01T00:00:00Z"

    @pytest.mark.parametrize(
        "old, new, field",
        [
            ('"2026-01-01T00:00:00Z"', '"2026-01-01T00:00:00"', "window.start"),
            ('case_number: "2026-GO-1234"\n', "", "case_number"),
            ("legal_basis", "legal_basiz", "legal_basiz"),
            (
                'targets: ["account:u1", "phone:+821012345678", "email:someone@example.org"]',
                "targets: account:u1",
                "targets",
            ),
        ],
    )
    def test_mistakes_name_the_field(
        self, tmp_path: pathlib.Path, old: str, new: str, field: str
    ) -> None:
        """A missing zone, a missing or unknown field, a wrong type: the error names it."""
        path = tmp_path / "w.yaml"
        path.write_text(EXAMPLE.replace(old, new, 1))
        with pytest.raises(WarrantFileError, match=field):
            load_warrant_file(path)


def _refused(tmp_path: pathlib.Path, text: str) -> str:
    """The one-line error a warrant file with `text` gets (it must be refused)."""
    path = tmp_path / "w.yaml"
    path.write_text(text)
    with pytest.raises(WarrantFileError) as caught:
        load_warrant_file(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}:"), message
    return message.removeprefix(f"{path}:")


class TestStrictTypes:
    """Issue 13, item 7: only the declared type of each field is accepted, never coerced."""

    @pytest.mark.parametrize("value", ['"false"', '"no"', "'False'", "no", "yes", "off", "0", "[]"])
    def test_a_boolean_is_only_a_yaml_boolean(self, tmp_path: pathlib.Path, value: str) -> None:
        """A quoted "false" turned received direct messages on: anything but true or false
        is refused at its line, naming the field."""
        text = EXAMPLE.replace(
            "include_received_direct: false", f"include_received_direct: {value}"
        )
        assert _refused(tmp_path, text).startswith("9: include_received_direct: expected true")

    def test_true_and_false_are_read_as_written(self, tmp_path: pathlib.Path) -> None:
        path = tmp_path / "w.yaml"
        for value, expected in (("true", True), ("false", False), ("TRUE", True)):
            path.write_text(
                EXAMPLE.replace(
                    "include_received_direct: false", f"include_received_direct: {value}"
                )
            )
            assert load_warrant_file(path).include_received_direct is expected

    @pytest.mark.parametrize(
        "old, new, where",
        [
            (
                'case_number: "2026-GO-1234"',
                "case_number: 2026",
                "1: case_number: expected a string",
            ),
            ('authority: "Seoul Central District Court"', "authority: [a, b]", "2: authority"),
            ('legal_basis: "free text"', "legal_basis: {a: 1}", "3: legal_basis"),
            (
                'targets: ["account:u1", "phone:+821012345678", "email:someone@example.org"]',
                'targets: ["account:u1", 821012345678]',
                "4: targets[1]: expected a string",
            ),
            (
                'window: {start: "2026-01-01T00:00:00Z", end: "2026-02-01T00:00:00Z"}',
                "window: 2026",
                "5: window",
            ),
            ('start: "2026-01-01T00:00:00Z"', "start: 20260101", "5: window.start"),
            (
                "categories: [message_content, message_metadata, memberships]",
                "categories: {message_content: true}",
                "6: categories: expected a list",
            ),
            ('expires_at: "2026-12-31T00:00:00Z"', "expires_at: true", "7: expires_at"),
            ('expires_at: "2026-12-31T00:00:00Z"', "expires_at: 2026-12-31", "7: expires_at"),
            ("nondisclosure_until: null", "nondisclosure_until: 5", "8: nondisclosure_until"),
            ("document_sha256: null", "document_sha256: 12", "10: document_sha256"),
            ("document_sha256: null", "surprise: 1", "10: surprise: unknown field"),
        ],
    )
    def test_every_field_has_its_declared_type(
        self, tmp_path: pathlib.Path, old: str, new: str, where: str
    ) -> None:
        """A number where a string belongs, a string where a list does, a date without a time:
        refused at the field's line, never str()-ed or guessed."""
        assert old in EXAMPLE
        assert _refused(tmp_path, EXAMPLE.replace(old, new)).startswith(where)

    def test_duplicate_keys_are_refused(self, tmp_path: pathlib.Path) -> None:
        """YAML keeps the last of two equal keys: a second include_received_direct further
        down would quietly win."""
        message = _refused(tmp_path, EXAMPLE + "include_received_direct: true\n")
        assert message.startswith("11: include_received_direct: given twice")
        window = EXAMPLE.replace(
            'end: "2026-02-01T00:00:00Z"}',
            'end: "2026-02-01T00:00:00Z", end: "2027-01-01T00:00:00Z"}',
        )
        assert "end: given twice" in _refused(tmp_path, window)

    def test_the_api_rules_apply_with_the_line(self, tmp_path: pathlib.Path) -> None:
        """A look-alike target or a window that ends before it starts is refused in the file
        in the API's words, at the line it is on."""
        mixed = EXAMPLE.replace('"account:u1"', '"account:u\u04301"')
        assert _refused(tmp_path, mixed).startswith("4: targets[0]: mixes scripts")
        backwards = EXAMPLE.replace('end: "2026-02-01T00:00:00Z"', 'end: "2025-02-01T00:00:00Z"')
        assert _refused(tmp_path, backwards).startswith("5: window: start must be before end")


class TestHostileYaml:
    """Issue 13, item 7: nothing a warrant file says costs more than its size."""

    def test_an_alias_bomb_is_refused_at_once(self, tmp_path: pathlib.Path) -> None:
        """A few hundred bytes of nested aliases would expand to billions of strings."""
        bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        for level in "bcdefghi":
            prev = chr(ord(level) - 1)
            bomb += f"{level}: &{level} [{','.join(['*' + prev] * 9)}]\n"
        assert len(bomb) < 700
        assert "anchors (&name) are not allowed" in _refused(tmp_path, bomb + EXAMPLE)

    def test_any_alias_or_anchor_is_refused(self, tmp_path: pathlib.Path) -> None:
        """Even a harmless-looking reuse: a warrant has no use for references."""
        text = EXAMPLE.replace("targets: [", "targets: &t [").replace(
            "categories: [message_content, message_metadata, memberships]", "categories: *t"
        )
        assert "4: anchors" in _refused(tmp_path, text)

    def test_deep_nesting_is_refused_without_a_traceback(self, tmp_path: pathlib.Path) -> None:
        """Ten thousand open brackets once ended in RecursionError."""
        message = _refused(tmp_path, "targets: " + "[" * 10_000 + "]" * 10_000 + "\n")
        assert "nested deeper than" in message

    def test_a_large_file_is_refused_unread(self, tmp_path: pathlib.Path) -> None:
        path = tmp_path / "w.yaml"
        path.write_text(EXAMPLE + "#" * 100_000 + "\n")
        with pytest.raises(WarrantFileError, match="larger than 65536 bytes"):
            load_warrant_file(path)

    @pytest.mark.parametrize(
        "text, named",
        [
            ("case_number: !!binary aGk=\n", "tags"),
            (EXAMPLE + "---\n" + EXAMPLE, "one warrant per file"),
            (EXAMPLE + "x: [\n", "not valid YAML"),
            ("- a list\n", "a YAML mapping"),
        ],
    )
    def test_other_yaml_features_are_refused(
        self, tmp_path: pathlib.Path, text: str, named: str
    ) -> None:
        assert named in _refused(tmp_path, text)

    def test_invalid_utf8_names_the_line(self, tmp_path: pathlib.Path) -> None:
        path = tmp_path / "w.yaml"
        path.write_bytes(EXAMPLE.encode().replace(b"free text", b"free \xff text"))
        with pytest.raises(WarrantFileError, match=r":3: not valid UTF-8"):
            load_warrant_file(path)

    def test_the_cli_says_it_in_one_line(self, tmp_path: pathlib.Path) -> None:
        """`wsg warrant submit` refuses the file before calling any server: exit 2, one line."""
        from test_cli import wsg

        path = tmp_path / "w.yaml"
        path.write_text(
            EXAMPLE.replace("include_received_direct: false", 'include_received_direct: "no"')
        )
        proc = wsg(
            "warrant",
            "submit",
            str(path),
            "--server",
            "127.0.0.1:1",
            "--identity",
            "a",
            "--insecure",
            check=False,
        )
        assert proc.returncode == 2
        assert (
            proc.stderr.strip().count("\n") == 0
            and f"{path}:9: include_received_direct" in proc.stderr
        )
