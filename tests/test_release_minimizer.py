"""Guarantee 1 in text, through the real pipeline on both backends: the target's own messages,
quotes, forwards, file names, room names and contact labels leave with every third party
pseudonymized, rooms as pseudonyms, member lists by pseudonym, membership times inside the
window; the counts are in the summary, the manifest and release.completed; two warrants cannot
be linked; a field no store declared never leaves; and the guarantee-1 scan catches a leak."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from console_http import ConsoleHttp

from gateway.api.package import write_package
from gateway.leakscan import LeakScanner
from gateway.model import Category, FieldKind, Person, Scope, StoreRecord
from gateway.release.items import Summary
from gateway.testing import make_spec, summary_text

BOTH_BACKENDS = True
OFFICER, REVIEWER = "alice", "bob"
JAN1 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FEB1 = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
ALL = ["subscriber", "logins", "message_metadata", "message_content", "memberships", "contacts"]


def t(day: int, month: int = 1) -> str:
    return f"2026-{month:02d}-{day:02d}T10:00:00Z"


ROWS: list[dict[str, Any]] = [
    {"kind": "account", "id": "u1", "display_name": "Hana Seo", "phone": "+821012340000",
     "email": "hana.seo@example.org", "created_at": "2025-01-01T00:00:00Z"},
    {"kind": "account", "id": "u2", "display_name": "김민수", "phone": "+821098765432",
     "email": "minsu@example.org", "created_at": "2025-01-01T00:00:00Z"},
    {"kind": "account", "id": "u3", "display_name": "Bob Stone", "phone": "+14155550123",
     "email": "bob.stone@example.org", "created_at": "2025-01-01T00:00:00Z"},
    {"kind": "account", "id": "u4", "display_name": "박지수", "phone": "+821055556666",
     "email": None, "created_at": "2025-01-01T00:00:00Z"},
    {"kind": "room", "id": "g1", "name": "Kim Minsu's birthday crew (010-9876-5432)",
     "topic": "ask bob.stone@example.org", "direct": False},
    {"kind": "room", "id": "d1", "name": "Bob", "direct": True},
    {"kind": "membership", "room": "g1", "account": "u1", "joined_at": "2025-12-01T00:00:00Z",
     "left_at": None},
    {"kind": "membership", "room": "g1", "account": "u2", "joined_at": "2025-12-01T00:00:00Z",
     "left_at": None},
    {"kind": "membership", "room": "g1", "account": "u4", "joined_at": "2025-12-01T00:00:00Z",
     "left_at": "2026-03-01T00:00:00Z"},
    {"kind": "membership", "room": "d1", "account": "u1", "joined_at": "2026-01-05T00:00:00Z",
     "left_at": None},
    {"kind": "membership", "room": "d1", "account": "u3", "joined_at": "2026-01-05T00:00:00Z",
     "left_at": None},
    {"kind": "message", "id": "m1", "room": "g1", "sender": "u2", "sent_at": t(2),
     "body": "my new number is 010-2222-3333, tell 지수"},
    {"kind": "message", "id": "m2", "room": "g1", "sender": "u1", "sent_at": t(3),
     "body": "민수랑 지수는 내일 와? call 010-9876-5432 or mail bob.stone@example.org",
     "reply_to": "m1", "quote": "my new number is 010-2222-3333"},
    {"kind": "message", "id": "m3", "room": "g1", "sender": "u1", "sent_at": t(4),
     "body": "the plan, from Bob", "forwarded_from": "u3"},
    {"kind": "message", "id": "m4", "room": "d1", "sender": "u1", "sent_at": t(6),
     "body": "photos attached, ＢＯＢ", "attachment": "minsu_birthday_2026.jpg"},
    {"kind": "message", "id": "m5", "room": "d1", "sender": "u1", "sent_at": t(7),
     "body": "a stranger: 010-7777-8888, 900101-1234567, zz@nowhere.example"},
    {"kind": "contact", "owner": "u1", "contact": "u2", "added_at": t(8),
     "label": "민수 형"},
    {"kind": "contact", "owner": "u1", "contact": "u4", "added_at": t(8),
     "label": "Park"},
    {"kind": "login", "account": "u1", "at": t(9), "ip": "203.0.113.7",
     "device": "Minsu's old phone"},
]  # fmt: skip
CLEAR = ["김민수", "민수", "박지수", "지수", "Bob Stone", "BOB", "ＢＯＢ", "bob.stone@example.org",
         "minsu@example.org", "010-9876-5432", "010-2222-3333", "010-7777-8888", "900101-1234567",
         "zz@nowhere.example", "Kim Minsu", "minsu", "u2", "u3", "u4", '"g1"', '"d1"',
         '"Park"']  # fmt: skip


def release(run: Any, clock: Any, out: pathlib.Path, categories: list[str] = ALL) -> tuple:
    with run.client(OFFICER) as officer:
        w = officer.submit(
            make_spec(["account:u1"], categories, JAN1, FEB1, clock.now + dt.timedelta(days=30))
        )
    with run.client(REVIEWER) as reviewer:
        w = reviewer.approve(w.id)
    with run.client(OFFICER) as officer:
        manifest = write_package(out, w, officer.release(w.id, 0))
    records = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    return w, manifest, records


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in records}


class TestTextLeavesPseudonymized:
    def test_no_third_party_in_clear_and_the_counts(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """Every third party in every text field leaves as the pseudonym the structured fields
        use; the target stays in clear; quotes and forwards are withheld behind a marker."""
        run = start_gateway(ROWS)
        _, manifest, records = release(run, clock, tmp_path / "out")
        raw = (tmp_path / "out" / "records.jsonl").read_text()
        cleaned = re.sub(r"pseud(-[a-z]+)?:[a-z2-7]{24}", "", raw)
        assert [c for c in CLEAR if c in cleaned] == []
        got = by_id(records)
        reply = got["message_content:m2"]
        minsu = reply["quoted"]  # u2's pseudonym, from the structured field
        assert minsu.startswith("pseud:") and reply["reply"] is True
        assert reply["quote"] == f"[quote of {minsu} withheld]"
        assert reply["body"].startswith(f"{minsu}랑 ")
        assert f"call {minsu} or" in reply["body"]
        forward = got["message_content:m3"]
        assert forward["body"] is None and forward["forwarded"] is True
        assert forward["quote"] == f"[forwarded message of {forward['quoted']} withheld]"
        assert got["message_content:m4"]["attachment"].endswith("_birthday_2026.jpg")
        stranger = got["message_content:m5"]["body"]
        assert (
            "pseud-phone:" in stranger and "pseud-rrn:" in stranger and "pseud-email:" in stranger
        )
        contacts = [r for r in records if r["category"] == "contacts"]
        # A label names its person whole, a bare surname ("Park") too: the contact's pseudonym.
        assert [c["label"] for c in contacts] == [c["contact"] for c in contacts]
        assert minsu in [c["label"] for c in contacts] and len(contacts) == 2
        assert "Hana Seo" in raw and "hana.seo@example.org" in raw  # the target's own
        counts = manifest["identifiers_replaced"]
        assert counts["name"] >= 5 and counts["phone"] >= 3 and counts["email"] >= 2
        assert counts["label"] == 2
        assert manifest["quotes_withheld"] == 2 and manifest["texts_withheld"] == 0
        done = next(e for e in run.entries() if e["event"] == "release.completed")
        assert done["identifiers_replaced"] == counts
        assert done["quotes_withheld"] == 2 and done["texts_withheld"] == 0

    def test_rooms_members_and_membership_times(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        _, _, records = release(run, clock, tmp_path / "out", ["memberships", "message_metadata"])
        group = next(r for r in records if r["category"] == "memberships" and not r["direct"])
        assert group["room"].startswith("pseud-room:")
        assert "010" not in group["room_name"] and "Minsu" not in group["room_name"]
        who = group["room_name"].split("'")[0]
        assert who.startswith("pseud:") and group["room_name"] == f"{who}'s birthday crew ({who})"
        assert group["members"] == sorted(group["members"]) and len(group["members"]) == 2
        assert group["joined_at"] == "2026-01-01T00:00:00Z"  # joined 2025-12-01: clipped
        assert group["left_at"] is None
        messages = [r for r in records if r["category"] == "message_metadata"]
        assert {r["room"] for r in messages} <= {r["room"] for r in records}
        assert all(r["room"].startswith("pseud-room:") for r in messages)

    def test_a_text_policy_that_withholds(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """The policy's text column decides: withhold_unresolved keeps texts whose people the
        directory resolves, withholds the one naming a stranger."""
        policy = tmp_path / "policy"
        policy.mkdir()
        source = pathlib.Path(__file__).resolve().parent.parent / "policies"
        for name in ("model.conf", "api_model.conf", "api_policy.csv", "instruments.yaml"):
            (policy / name).write_bytes((source / name).read_bytes())
        (policy / "policy.csv").write_text(
            (source / "policy.csv")
            .read_text()
            .replace(
                "message_content, inside, APPROVED, yes, *, search_warrant, "
                "release_pseudonymized, -, pseudonymize",
                "message_content, inside, APPROVED, yes, *, search_warrant, "
                "release_pseudonymized, -, withhold_unresolved",
            )
        )
        run = start_gateway(ROWS, policy_dir=policy)
        _, manifest, records = release(run, clock, tmp_path / "out", ["message_content"])
        got = by_id(records)
        assert got["message_content:m5"]["body"].startswith("[text withheld")
        assert got["message_content:m2"]["body"].startswith("pseud:")
        assert manifest["texts_withheld"] == 1


def test_the_consoles_release_page_shows_what_the_minimizer_did(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """A person reading the release's page sees the identifiers replaced in text by kind and
    the quotes withheld, as release.completed counts them."""
    run = start_gateway(ROWS, console="127.0.0.1:0")
    release(run, clock, tmp_path / "out")
    done = next(e for e in run.entries() if e["event"] == "release.completed")
    http = ConsoleHttp(run.console_url)
    http.sign_in(OFFICER)
    page = http.get(f"/releases/{done['index']}").text
    table = page.split('id="replaced-in-text"')[1].split("</table>")[0]
    replaced = done["identifiers_replaced"]
    assert replaced["name"] >= 5 and replaced["phone"] >= 3
    for kind, n in replaced.items():
        assert f"<code>{kind}</code>" in table and f'class="num">{n}</td>' in table, kind
    assert f"<strong>{sum(replaced.values())}</strong> identifiers of people replaced" in page
    assert f"<strong>{done['quotes_withheld']}</strong> quotes" in page
    assert done["quotes_withheld"] == 2


@pytest.mark.parametrize("regions, kind", [(None, "pseud-number:"), (("GB", "KR"), "pseud-phone:")])
def test_the_phone_regions_setting_reaches_the_release(
    start_gateway: Any,
    clock: Any,
    tmp_path: pathlib.Path,
    regions: tuple[str, ...] | None,
    kind: str,
) -> None:
    """A London number written nationally is a phone number only where GB is a region the
    deployment reads national numbers as (and a long number, still replaced, elsewhere)."""
    rows = [
        *ROWS,
        {"kind": "message", "id": "m9", "room": "d1", "sender": "u1", "sent_at": t(10),
         "body": "the office: 020 7946 0958"},
    ]  # fmt: skip
    config = {} if regions is None else {"phone_regions": regions}
    run = start_gateway(rows, **config)
    _, _, records = release(run, clock, tmp_path / "out", ["message_content"])
    body = by_id(records)["message_content:m9"]["body"]
    assert body.startswith("the office: " + kind) and "7946" not in body


class TestUnlinkable:
    def test_two_warrants_share_no_pseudonym_and_no_order(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """The same people under two warrants: no pseudonym, room id or member order in
        common."""
        run = start_gateway(ROWS)
        _, _, first = release(run, clock, tmp_path / "a")
        _, _, second = release(run, clock, tmp_path / "b")

        def pseudonyms(records: list[dict[str, Any]]) -> set[str]:
            text = json.dumps(records)
            return {w.strip('",.[]') for w in text.split() if "pseud" in w}

        a, b = pseudonyms(first), pseudonyms(second)
        assert a and b and not (a & b)
        assert [r["id"] for r in first] == [r["id"] for r in second]
        for x, y in zip(first, second, strict=True):
            for key in ("room", "sender", "recipient", "quoted", "contact"):
                if x.get(key) is not None and x[key] != "u1":
                    assert x[key] != y[key], (x["id"], key)


class ExtraFieldStore:
    """The reference store, with a field its shapes do not declare on one message, or its body
    declared safe (a store's bug that would let text out unminimized)."""

    def __init__(self, inner: Any, *, undeclared: bool) -> None:
        self._inner = inner
        self._undeclared = undeclared

    def resolve(self, kind: str, value: str) -> list[str]:
        return self._inner.resolve(kind, value)

    def count(self, scope: Scope) -> int:
        return self._inner.count(scope)

    def records(self, scope: Scope) -> Iterator[StoreRecord]:
        for record in self._inner.records(scope):
            if self._undeclared and record.id == "message_content:m2":
                record = dataclasses.replace(record, fields=dict(record.fields, note="bob"))
            yield record

    def shapes(self) -> Any:
        shapes = dict(self._inner.shapes())
        if not self._undeclared:
            content = shapes[Category.MESSAGE_CONTENT]
            fields = dict(content.fields, body=FieldKind.SAFE)
            shapes[Category.MESSAGE_CONTENT] = dataclasses.replace(content, fields=fields)
        return shapes

    def directory(self, scope: Scope) -> Any:
        return self._inner.directory(scope)

    def everyone(self) -> list[Person]:
        return self._inner.everyone()

    def close(self) -> None:
        self._inner.close()


class TestFailClosed:
    def test_a_field_no_shape_declares_withholds_the_record(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        run.gateway.store = ExtraFieldStore(run.gateway.store, undeclared=True)
        _, manifest, records = release(run, clock, tmp_path / "out", ["message_content"])
        assert "message_content:m2" not in by_id(records)
        assert manifest["withheld"]["undeclared_field"] == 1


@pytest.mark.sqlite_only
def test_the_guarantee_1_scan_catches_a_planted_leak(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """A store that declares its body safe lets text out unminimized: the scan that runs after
    every test's releases names the leak (here called by hand; the fixture would fail)."""
    run = start_gateway(ROWS)
    run.gateway.store = ExtraFieldStore(run.gateway.store, undeclared=False)
    release(run, clock, tmp_path / "out", ["message_content"])
    recorder = start_gateway.checks[id(run.gateway)].recorder
    leaks = recorder.leaks(list(run.gateway.store.everyone()))  # scanned: the fixture's scan passes
    assert any("u2's name '민수'" in leak for leak in leaks), leaks
    assert any("u3's e-mail" in leak for leak in leaks), leaks
    assert any("u2's phone" in leak for leak in leaks), leaks


@pytest.mark.sqlite_only
def test_a_gateway_the_test_stops_itself_is_scanned_as_it_stops(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """Its store is closed by the time the fixture ends: the scan runs as the gateway stops."""
    run = start_gateway(ROWS)
    run.gateway.store = ExtraFieldStore(run.gateway.store, undeclared=False)
    release(run, clock, tmp_path / "out", ["message_content"])
    run.gateway.stop()
    checks = start_gateway.checks[id(run.gateway)]
    assert any("u2's name '민수'" in problem for problem in checks.problems), checks.problems
    checks.problems.clear()  # the leak was planted: let the fixture pass


class TestScanner:
    """The scan on its own: what it flags, and what it must not."""

    PEOPLE = [
        Person("u1", names=("Hana Seo",), phones=("+821012340000",), emails=("hana@x.org",)),
        Person("u2", names=("김민수",), phones=("+821098765432",), emails=("minsu@x.org",)),
        Person("@bob:hs", names=("Bob Stone",), handles=("bob",)),
    ]

    @pytest.mark.parametrize(
        "text",
        [
            "민수랑 갔어",
            "call 010 9876 5432",
            "+82-10-9876-5432",
            "MINSU@X.ORG",
            "ping @bob:hs",
            "bob stone says",
            "room !abcdef:hs",
            "900101-1234567",
            "a stranger 010-7777-8888 and 415 555 0199",
            "mail stranger@other.example",
            "010\u20139876\u20135432",  # en dashes
            "민\u200d수가",  # a zero-width joiner inside
            "https://blog.example/tag/%EB%AF%BC%EC%88%98",  # 민수, percent-encoded
            "https://matrix.to/#/%40bob%3Ahs",
            "call \u0660\u0661\u0660-\u0669\u0668\u0667\u0666-\u0665\u0664\u0663\u0662",
        ],
    )
    def test_flags_third_parties(self, text: str) -> None:
        assert LeakScanner(self.PEOPLE, ["u1"]).scan(text)

    @pytest.mark.parametrize(
        "text",
        [
            "Hana Seo, hana@x.org, 010-1234-0000",
            "pseud:aaaaaaaaaaaaaaaaaaaaaaaa랑 pseud-phone:bbbbbbbbbbbbbbbbbbbbbbbb",
            '{"sent_at": "2026-01-01T00:00:00Z", "sha256": "3829104958a1", "n": 12345}',
            '{"category": "logins", "ip": "198.51.100.183", "at": "2026-06-14T06:05:21Z"}',
        ],
    )
    def test_passes_the_target_and_pseudonyms(self, text: str) -> None:
        assert LeakScanner(self.PEOPLE, ["u1"]).scan(text) == []

    def test_the_summary_is_scanned_without_its_signature(self) -> None:
        """What the recorder scans of a summary: its counts and the checkpoint's origin, not
        the base64 root and signature, where "+u2/" turns up by chance (a flaky finding)."""
        note = "wsg.local/audit\n12\nAbC+u2/xyz=\n\n— wsg.local/audit Zm9v+U2/aa==\n"
        assert LeakScanner(self.PEOPLE, ["u1"]).scan(note)  # why the signature is left out
        summary = Summary(1, {"release": 1}, {"logins": 1}, {}, 0, 1, 7, checkpoint=note)
        text = json.dumps(summary_text(summary))
        assert "wsg.local/audit" in text
        assert LeakScanner(self.PEOPLE, ["u1"]).scan(text) == []
