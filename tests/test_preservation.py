"""Preservation (issue 15, legal hold): an approved preservation request freezes the target's
records in the gateway's own state; the store deletes them; a later request naming the
preservation still releases them, from the copy, minimized as any release; the hold expires
after 90 days unless extended once; expiry and revocation purge the copy; every step audited.
Both backends."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import sqlite3
from typing import Any

import grpc
import psycopg
import pytest
from fixtures_small import FEB1, JAN1, ROWS, at

from gateway.api.client import ClientError
from gateway.api.v1 import wsg_pb2 as pb
from gateway.datadir import DataDir
from gateway.model import Category, Scope, Window
from gateway.testing import make_spec
from gateway.warrants.holds import hold_scope
from gateway.warrants.preservation import (
    FrozenCopy,
    directory_from_text,
    directory_text,
    freeze,
    record_from_line,
    record_line,
)

BOTH_BACKENDS = True

OFFICER, REVIEWER = "alice", "bob"
TARGET = "phone:+821011112222"  # u1
CATEGORIES = ["subscriber", "message_content", "memberships", "contacts"]

# The target writes to the group about their friend (u2) by name and number: text a release
# from the copy must minimize after the store has forgotten both the message and the friend.
MENTION = {
    "kind": "message",
    "id": "m-mention",
    "room": "r-group",
    "sender": "u1",
    "sent_at": at(20),
    "body": "ask Friend, +82 10-3333-4444, about it",
}
THIRD_PARTY = ("Friend", "3333-4444", "33334444", "friend@example.org")


def approved(run: Any, clock: Any, **fields: Any) -> pb.Warrant:
    spec = make_spec([TARGET], fields.pop("categories", CATEGORIES), JAN1, FEB1, clock.now)
    spec.expires_at.FromDatetime(clock.now + dt.timedelta(days=400))
    set_fields(spec, fields)
    with run.client(OFFICER) as officer:
        w = officer.submit(spec)
    with run.client(REVIEWER) as reviewer:
        return reviewer.approve(w.id)


def set_fields(spec: pb.WarrantSpec, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if isinstance(value, list):
            del getattr(spec, name)[:]
            getattr(spec, name).extend(value)
        elif isinstance(value, pb.Window):
            getattr(spec, name).CopyFrom(value)
        else:
            setattr(spec, name, value)


def preservation(run: Any, clock: Any) -> pb.Warrant:
    return approved(run, clock, instrument="preservation")


def released(run: Any, warrant_id: str) -> tuple[list[Any], pb.ReleaseSummary]:
    records: list[Any] = []
    summary = None
    with run.client(OFFICER) as officer:
        for item in officer.release(warrant_id, 0):
            which = item.WhichOneof("item")
            if which == "batch":
                records.extend(item.batch.records)
            elif which == "summary":
                summary = item.summary
    assert summary is not None
    return records, summary


def forget(run: Any) -> None:
    """The messenger deletes: every message, and the friend's account with all of theirs."""
    statements = [
        "DELETE FROM messages",
        "DELETE FROM memberships WHERE account = 'u2'",
        "DELETE FROM contacts WHERE contact = 'u2' OR owner = 'u2'",
        "DELETE FROM logins WHERE account = 'u2'",
        "DELETE FROM accounts WHERE id = 'u2'",
    ]
    behind_its_back(run, DataDir(run.gateway.config.data).store_db, statements)


def entries(run: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in run.entries() if e["event"] == kind]


def payload_text(records: list[Any]) -> str:
    return json.dumps([json.loads(r.payload) for r in records], ensure_ascii=False)


def by_id(records: list[Any]) -> dict[str, Any]:
    return {r.id: r for r in records}


class TestFrozenCopy:
    def test_a_later_warrant_releases_from_the_copy_after_the_store_deleted(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway([*ROWS, MENTION])
        before, _ = released(run, approved(run, clock).id)  # the same scope, from the store
        held = preservation(run, clock)
        own_release, own_summary = released(run, held.id)
        assert own_release == [] and own_summary.released == 0  # a preservation sends nothing

        forget(run)
        gone, _ = released(run, approved(run, clock).id)
        assert not [r for r in gone if r.category == "message_content"]  # the store forgot

        later = approved(run, clock, preserved_by=held.id)
        after, summary = released(run, later.id)
        assert sorted(by_id(after)) == sorted(by_id(before))  # every record, as frozen
        assert [r.category for r in after].count("message_content") == [
            r.category for r in before
        ].count("message_content")
        text = payload_text(after)
        assert "ask " in text and "about it" in text  # the frozen text ...
        for identifier in THIRD_PARTY:  # ... minimized with the frozen directory
            assert identifier not in text, identifier
        assert summary.pseudonymized_parties >= 1

        approvals = {e["warrant"]: e for e in entries(run, "warrant.approved")}
        assert [w for w, e in approvals.items() if e.get("frozen")] == [held.id], approvals
        frozen = approvals[held.id]["frozen"]
        assert frozen["records"] >= len(before) and len(frozen["content_sha256"]) == 64
        copy = {"warrant": held.id, "content_sha256": frozen["content_sha256"]}
        started = [e for e in entries(run, "release.started") if e["warrant"] == later.id]
        completed = [e for e in entries(run, "release.completed") if e["warrant"] == later.id]
        assert started[0]["frozen_copy"] == copy and completed[0]["frozen_copy"] == copy
        assert all(
            e.get("frozen_copy") is None
            for e in entries(run, "release.started")
            if e["warrant"] != later.id
        )

    def test_a_narrower_request_gets_only_what_it_names(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway([*ROWS, MENTION])
        held = preservation(run, clock)
        forget(run)
        spec_window = pb.Window()
        spec_window.start.FromDatetime(dt.datetime(2026, 1, 10, tzinfo=dt.UTC))
        spec_window.end.FromDatetime(FEB1)
        later = approved(
            run, clock, preserved_by=held.id, categories=["message_content"], window=spec_window
        )
        records, _ = released(run, later.id)
        assert {r.category for r in records} == {"message_content"}
        ids = by_id(records)
        assert "message_content:m-mention" in ids and "message_content:m1" not in ids  # m1: Jan 5

    def test_the_store_copy_round_trips_every_record_and_person(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway([*ROWS, MENTION])
        scope = Scope(
            targets=frozenset({"u1"}),
            categories=frozenset(Category),
            window=Window(JAN1, FEB1),
            include_received_direct=True,
        )
        store = run.gateway.store
        copy = freeze(store, scope)
        assert [record_from_line(line) for line in copy.lines] == list(store.records(scope))
        assert directory_from_text(copy.directory) == tuple(store.directory(scope))
        assert all(record_line(record_from_line(line)) == line for line in copy.lines)
        again = FrozenCopy(copy.lines, directory_text(store.directory(scope)))
        assert again.content_sha256 == copy.content_sha256
        edited = FrozenCopy((*copy.lines[:-1], copy.lines[-1].replace("u1", "u9")), copy.directory)
        assert edited.content_sha256 != copy.content_sha256

    def test_the_kept_copy_is_the_frozen_one_line_for_line(
        self, start_gateway: Any, clock: Any
    ) -> None:
        """What the state keeps (PostgreSQL: one COPY; SQLite: executemany) reads back as the
        same lines in the same order, so it hashes to the approval's content_sha256."""
        run = start_gateway(many_rows(300))
        held = preservation(run, clock)
        with run.gateway.backend.warrant_table().reading() as rows:
            kept = rows.frozen_copy(held.id)
        (entry,) = [e for e in entries(run, "warrant.approved") if e["warrant"] == held.id]
        assert kept is not None and len(kept.lines) == entry["frozen"]["records"] > 300
        assert kept.content_sha256 == entry["frozen"]["content_sha256"]
        ids = [record_from_line(line).id for line in kept.lines]
        assert ids == [r.id for r in run.gateway.store.records(hold_scope_of(run, held.id))]

    def test_a_copy_changed_where_it_is_kept_releases_nothing(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway(ROWS)
        held = preservation(run, clock)
        later = approved(run, clock, preserved_by=held.id)
        behind_its_back(
            run,
            DataDir(run.gateway.config.data).state_db,
            ["UPDATE preserved_records SET record = replace(record, 'u1', 'u1 ')"],
        )
        with run.client(OFFICER) as officer, pytest.raises(ClientError) as err:
            list(officer.release(later.id, 0))
        assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "no longer matches what was frozen" in err.value.message
        assert not [e for e in entries(run, "release.batch") if e["warrant"] == later.id]


def many_rows(count: int) -> list[dict[str, Any]]:
    """The small data set and `count` more of the target's messages inside the window."""
    extra = [
        {
            "kind": "message",
            "id": f"m-many-{i}",
            "room": "r-group",
            "sender": "u1",
            "sent_at": f"2026-01-10T12:{i // 60:02d}:{i % 60:02d}Z",
            "body": f"note {i}",
        }
        for i in range(count)
    ]
    return [*ROWS, *extra]


def hold_scope_of(run: Any, warrant_id: str) -> Scope:
    return hold_scope(run.gateway.book.get(warrant_id))


def behind_its_back(run: Any, sqlite_file: pathlib.Path, statements: list[str]) -> None:
    """Run `statements` on the gateway's database behind its back: its schema on PostgreSQL
    (store and state share it), else `sqlite_file`."""
    url = run.gateway.config.database
    if url:
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)
        return
    db = sqlite3.connect(sqlite_file)
    with db:
        for statement in statements:
            db.execute(statement)
    db.close()


class TestIntake:
    @pytest.mark.parametrize(
        "change, says",
        [
            ({"categories": ["logins"]}, "categories logins were not frozen"),
            ({"targets": ["account:u3"]}, "the same accounts are required"),
            ({"include_received_direct": True}, "received direct messages were not frozen"),
        ],
    )
    def test_a_request_beyond_the_copy_is_refused_naming_what(
        self, start_gateway: Any, clock: Any, change: dict[str, Any], says: str
    ) -> None:
        run = start_gateway(ROWS)
        held = preservation(run, clock)
        spec = make_spec([TARGET], CATEGORIES, JAN1, FEB1, clock.now + dt.timedelta(days=30))
        spec.preserved_by = held.id
        set_fields(spec, change)
        with run.client(OFFICER) as officer, pytest.raises(ClientError) as err:
            officer.submit(spec)
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.message.startswith("spec.preserved_by:") and says in err.value.message
        assert says in entries(run, "warrant.submit_refused")[-1]["why"]

    def test_a_window_beyond_the_copy_is_refused(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        held = preservation(run, clock)
        spec = make_spec(
            [TARGET], CATEGORIES, JAN1, FEB1 + dt.timedelta(days=1), clock.now + dt.timedelta(1)
        )
        spec.preserved_by = held.id
        with run.client(OFFICER) as officer, pytest.raises(ClientError) as err:
            officer.submit(spec)
        assert "is not within the frozen" in err.value.message

    @pytest.mark.parametrize("name", ["w-0000000000000000", "not-an-id", "plain"])
    def test_only_a_preservation_with_a_copy_can_be_named(
        self, start_gateway: Any, clock: Any, name: str
    ) -> None:
        run = start_gateway(ROWS)
        plain = approved(run, clock)  # a search warrant: no copy
        spec = make_spec([TARGET], CATEGORIES, JAN1, FEB1, clock.now + dt.timedelta(days=30))
        spec.preserved_by = plain.id if name == "plain" else name
        with run.client(OFFICER) as officer, pytest.raises(ClientError) as err:
            officer.submit(spec)
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.message.startswith("spec.preserved_by:")

    def test_an_unapproved_preservation_has_no_copy(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        spec = make_spec([TARGET], CATEGORIES, JAN1, FEB1, clock.now + dt.timedelta(days=30))
        spec.instrument = "preservation"
        with run.client(OFFICER) as officer:
            pending = officer.submit(spec)
            spec.instrument, spec.preserved_by = "", pending.id
            with pytest.raises(ClientError) as err:
                officer.submit(spec)
        assert "holds no preserved copy" in err.value.message


class TestHoldLife:
    def test_expiry_purges_the_copy_and_a_release_from_it_fails_closed(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway(ROWS)
        held = preservation(run, clock)
        later = approved(run, clock, preserved_by=held.id)
        clock.now += dt.timedelta(days=89)
        with run.client(REVIEWER) as reviewer:
            reviewer.list_due()
        assert not entries(run, "preservation.purged")
        clock.now += dt.timedelta(days=1, seconds=1)  # day 90: the hold ends
        with pytest.raises(ClientError) as err:  # before any sweep: the release checks itself
            released(run, later.id)
        assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "its hold ended" in err.value.message
        assert not [e for e in entries(run, "release.started") if e["warrant"] == later.id]
        with run.client(REVIEWER) as reviewer:
            due = {(d.warrant_id, d.clock): d for d in reviewer.list_due().deadlines}
            reviewer.list_due()  # a second look purges nothing again
        assert due[(held.id, "preservation")].status == "overdue"
        purged = entries(run, "preservation.purged")
        assert len(purged) == 1 and purged[0]["warrant"] == held.id
        assert purged[0]["why"] == "expired" and purged[0]["records"] > 0
        assert run.gateway.book.holds.hold(held.id).purged_at is not None
        with run.gateway.backend.warrant_table().reading() as rows:
            assert rows.frozen_copy(held.id) is None

    def test_one_extension_then_no_more(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        held = preservation(run, clock)
        first_end = run.gateway.book.holds.hold(held.id).expires_at
        with run.client(OFFICER) as officer:
            hold = officer.extend_preservation(held.id, "the investigation goes on")
            assert hold.expires_at.ToDatetime(dt.UTC) == first_end + dt.timedelta(days=90)
            assert hold.extended_by == OFFICER
            with pytest.raises(ClientError) as err:
                officer.extend_preservation(held.id)
        assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "extended once" in err.value.message
        extended = entries(run, "preservation.extended")
        assert len(extended) == 1 and extended[0]["reason"] == "the investigation goes on"
        (refusal,) = entries(run, "preservation.extended_refused")
        assert (refusal["warrant"], refusal["principal"]) == (held.id, OFFICER)
        assert "extended once" in refusal["why"]
        clock.now += dt.timedelta(days=120)  # past the first end, within the extension
        later = approved(run, clock, preserved_by=held.id)
        assert released(run, later.id)[1].released > 0
        clock.now += dt.timedelta(days=61)
        assert run.gateway.book.holds.sweep() == [held.id]
        assert run.gateway.book.holds.sweep() == []

    def test_no_one_without_a_role_may_extend(self, start_gateway: Any, clock: Any) -> None:
        """(An officer's own only, a reviewer's any: tests/test_api_policy.py's matrix.)"""
        run = start_gateway(ROWS)
        held = preservation(run, clock)
        with run.client("mallory") as other, pytest.raises(ClientError) as err:
            other.extend_preservation(held.id)
        assert err.value.code is grpc.StatusCode.PERMISSION_DENIED
        assert not entries(run, "preservation.extended")
        assert not entries(run, "preservation.extended_refused")  # an api.denied entry instead

    def test_only_a_preservation_can_be_extended(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        plain = approved(run, clock)
        with run.client(OFFICER) as officer, pytest.raises(ClientError) as err:
            officer.extend_preservation(plain.id)
        assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "holds no preserved copy" in err.value.message
        assert entries(run, "preservation.extended_refused")[0]["warrant"] == plain.id

    def test_revocation_purges_at_once(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        held = preservation(run, clock)
        later = approved(run, clock, preserved_by=held.id)
        with run.client(REVIEWER) as reviewer:
            reviewer.revoke(held.id, "withdrawn")
        purged = entries(run, "preservation.purged")
        assert [(e["warrant"], e["why"]) for e in purged] == [(held.id, "revoked")]
        with pytest.raises(ClientError) as err:
            released(run, later.id)
        assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
