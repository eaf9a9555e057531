"""The JSONL interchange parser: typed rows from good lines, a numbered error for each bad one."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from gateway.errors import InvalidArgument
from gateway.stores.reference import interchange as ix

UTC = dt.UTC


def lines(*objects: object) -> list[str]:
    return [o if isinstance(o, str) else json.dumps(o) for o in objects]


ACCOUNT = {
    "kind": "account",
    "id": "u1",
    "display_name": "Ana Lee",
    "phone": "+821011112222",
    "email": "Ana@Example.org",
    "created_at": "2026-01-01T00:00:00Z",
}


class TestGoodLines:
    """Every kind of the format parses into its typed row, with times normalized to UTC."""

    def test_every_kind(self) -> None:
        rows = [
            row
            for _, row in ix.parse_lines(
                lines(
                    ACCOUNT,
                    {
                        "kind": "login",
                        "account": "u1",
                        "at": "2026-01-02T09:00:00+09:00",
                        "ip": "2001:DB8::1",
                        "device": "android",
                    },
                    {"kind": "room", "id": "r1", "name": "crew", "direct": False},
                    {
                        "kind": "membership",
                        "room": "r1",
                        "account": "u1",
                        "joined_at": "2026-01-01T00:00:00Z",
                        "left_at": None,
                    },
                    {
                        "kind": "message",
                        "id": "m1",
                        "room": "r1",
                        "sender": "u1",
                        "sent_at": "2026-01-03T00:00:00.250Z",
                        "body": "hi",
                    },
                    {
                        "kind": "contact",
                        "owner": "u1",
                        "contact": "u2",
                        "added_at": "2026-01-04T00:00:00Z",
                    },
                )
            )
        ]
        assert rows == [
            ix.Account(
                "u1",
                "Ana Lee",
                "+821011112222",
                "Ana@Example.org",
                dt.datetime(2026, 1, 1, tzinfo=UTC),
            ),
            ix.Login("u1", dt.datetime(2026, 1, 2, 0, 0, tzinfo=UTC), "2001:db8::1", "android"),
            ix.Room("r1", "crew", False),
            ix.Membership("r1", "u1", dt.datetime(2026, 1, 1, tzinfo=UTC), None),
            ix.Message(
                "m1", "r1", "u1", dt.datetime(2026, 1, 3, 0, 0, 0, 250000, tzinfo=UTC), "hi"
            ),
            ix.Contact("u1", "u2", dt.datetime(2026, 1, 4, tzinfo=UTC)),
        ]

    def test_optional_fields_may_be_null_or_absent(self) -> None:
        ((_, row),) = ix.parse_lines(
            lines(
                {
                    "kind": "account",
                    "id": "u1",
                    "display_name": None,
                    "created_at": "2026-01-01T00:00:00Z",
                }
            )
        )
        assert row == ix.Account("u1", None, None, None, dt.datetime(2026, 1, 1, tzinfo=UTC))

    def test_blank_lines_are_skipped_but_counted(self) -> None:
        numbered = list(ix.parse_lines(["\n", json.dumps(ACCOUNT) + "\n", "   \n"]))
        assert [n for n, _ in numbered] == [2]

    def test_bytes_lines_are_utf8(self) -> None:
        obj = dict(ACCOUNT, display_name="김민수")
        ((_, row),) = ix.parse_lines([json.dumps(obj, ensure_ascii=False).encode()])
        assert row.display_name == "김민수"


GOOD_ROOM = {"kind": "room", "id": "r1", "name": "crew", "direct": False}


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("{not json", "line 2: not valid JSON"),
        ("[1, 2]", "line 2: not a JSON object"),
        ({"id": "x"}, "line 2: missing field 'kind'"),
        ({"kind": "reaction", "id": "x"}, "line 2: unknown kind 'reaction'"),
        ({k: v for k, v in ACCOUNT.items() if k != "id"}, "line 2: account: missing field 'id'"),
        (dict(ACCOUNT, created_at=None), "line 2: account: field 'created_at' must not be null"),
        (
            dict(ACCOUNT, created_at="2026-01-01T00:00:00"),
            "line 2: account: field 'created_at': '2026-01-01T00:00:00' is not an RFC 3339 time",
        ),
        (dict(ACCOUNT, created_at="yesterday"), "is not an RFC 3339 time with a zone"),
        (dict(ACCOUNT, created_at=1767225600), "account: field 'created_at' must be a string"),
        (dict(ACCOUNT, id=""), "line 2: account: field 'id' is empty"),
        (dict(ACCOUNT, id="u\n1"), "field 'id' contains a control character"),
        (dict(ACCOUNT, id="u1\u200b"), "field 'id' contains a control character"),
        (dict(ACCOUNT, id=" u1"), "field 'id' has leading or trailing white space"),
        (dict(ACCOUNT, id=7), "field 'id' must be a string"),
        (dict(ACCOUNT, id="u" * 300), "field 'id' is longer than 256"),
        (dict(ACCOUNT, nickname="x"), "line 2: account: unknown field 'nickname'"),
        (dict(GOOD_ROOM, direct="yes"), "room: field 'direct' must be true or false"),
        (
            {"kind": "login", "account": "u1", "at": "2026-01-01T00:00:00Z", "ip": "300.1.1.1"},
            "login: field 'ip': '300.1.1.1' is not an IP address",
        ),
        (
            {
                "kind": "membership",
                "room": "r1",
                "account": "u1",
                "joined_at": "2026-02-01T00:00:00Z",
                "left_at": "2026-01-01T00:00:00Z",
            },
            "line 2: membership u1 in r1: left_at is before joined_at",
        ),
        (
            {"kind": "contact", "owner": "u1", "contact": "u1", "added_at": "2026-01-01T00:00:00Z"},
            "contact u1->u1: an account cannot be its own contact",
        ),
        (
            '{"kind": "room", "id": "r1", "id": "r2", "name": null, "direct": true}',
            "line 2: field 'id' given twice",
        ),
    ],
)
class TestBadLines:
    """Each malformed line is refused with its line number and what is wrong with it."""

    def test_refused_with_line_number(self, bad: object, expected: str) -> None:
        with pytest.raises(InvalidArgument) as caught:
            list(ix.parse_lines(lines(ACCOUNT, bad, GOOD_ROOM)))
        assert expected in caught.value.message
        assert caught.value.message.startswith("line 2: ")


class TestEncoding:
    """A line that is not UTF-8 is an input error, not a crash."""

    def test_invalid_utf8(self) -> None:
        with pytest.raises(InvalidArgument, match=r"^line 1: not valid UTF-8$"):
            list(ix.parse_lines([b"\xff\xfe{}"]))


class TestCheckId:
    """Identifier rules shared by every id field."""

    @pytest.mark.parametrize("good", ["u1", "@alice:example.org", "!room:ex", "김"])
    def test_accepts_ordinary_ids(self, good: str) -> None:
        assert ix.check_id(good) == good

    @pytest.mark.parametrize("bad", ["", "a\x00b", "a\tb", "x\x7f", "a\u202eb"])
    def test_refuses_empty_and_control(self, bad: str) -> None:
        with pytest.raises(ValueError):
            ix.check_id(bad)
